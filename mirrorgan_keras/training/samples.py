"""What the training's sample sheets show: captions spread over a split and the real images
they describe."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import tensorflow as tf

from mirrorgan_keras.data.pipeline import to_uint8


class SampleCaptions(NamedTuple):
    """The captions a :class:`SampleGrid` shows: word ids ``[K, T]`` (padded to the longest),
    their text, and the index of the image each comes from in its DatasetSplit."""

    ids: np.ndarray
    texts: list[str]
    indices: np.ndarray


def sample_captions(records, count: int, choose=None) -> SampleCaptions:
    """One caption of each of ``count`` images spread over ``records`` (a DatasetSplit).
    ``choose`` picks it from an image's captions (word id lists); default the first."""
    choose = choose or (lambda captions: captions[0])
    picks = np.linspace(0, len(records) - 1, count).astype(int)
    captions = [choose(records.captions[i]) for i in picks]
    ids = np.zeros((count, max(len(c) for c in captions)), np.int32)
    for row, caption in enumerate(captions):
        ids[row, :len(caption)] = caption
    return SampleCaptions(ids, [records.vocabulary.decode(c) for c in captions], picks)


def real_images(records, indices, size: int) -> list[np.ndarray]:
    """The images at ``indices`` of ``records`` (a DatasetSplit) as the evaluation pipeline
    reads them (box crop, shorter side resized, centre crop), as uint8 ``[size, size, 3]``."""
    from mirrorgan_keras.data.pipeline import augment_image, decode_image  # imports TF text

    unused_seed = tf.zeros([2], tf.int64)  # only a training crop is random
    images = []
    for i in indices:
        bbox = None if records.bboxes is None else tf.constant(records.bboxes[i], tf.float64)
        image = decode_image(tf.constant(records.image_paths[i]), bbox)
        images.append(np.asarray(to_uint8(augment_image(image, size, unused_seed,
                                                        training=False))))
    return images
