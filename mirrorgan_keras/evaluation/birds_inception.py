"""The CUB Inception Score protocol: StackGAN's fine-tuned birds Inception (docs/evaluation.md).

The classifier is slim's Inception-v3 with 51 logits
(:mod:`mirrorgan_keras.layers.slim_inception`), read from StackGAN's checkpoint
(:mod:`mirrorgan_keras.convert.slim_inception`) or from its ``.weights.h5`` conversion. Each
uint8 image is resized to 299 × 299 with PIL's bilinear filter on the uint8 RGB image (what the
reference's ``scipy.misc.imresize(..., interp='bilinear')`` does) and mapped to [-1, 1] as
``x / 127.5 - 1`` in float32; logit 0 (background) is dropped before the softmax over the other
50. The reference shuffles the images, scores only ``floor(N / 64)`` batches of 64 (the rest of
the shuffled order is dropped) and splits the predictions into 10 consecutive parts
(:func:`birds_inception_score` does the same with a seeded permutation).

Typical use::

    model = load_birds_inception("birds_inception.weights.h5")
    probabilities = birds_inception_probabilities(model, images_uint8)  # [N, 50]
    mean, std = birds_inception_score(probabilities, seed=0)
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
from PIL import Image
from scipy.special import softmax

from mirrorgan_keras.convert.slim_inception import load_slim_inception_checkpoint
from mirrorgan_keras.convert.state_dict import load_converted_weights
from mirrorgan_keras.evaluation.inception import inception_score
from mirrorgan_keras.layers.slim_inception import BIRDS_CLASSES, REFERENCE_SIZE, slim_inception_v3

BACKGROUND_CLASS = 0
REFERENCE_BATCH = 64
REFERENCE_SPLITS = 10
PIXEL_SCALE = 127.5


def load_birds_inception(path: str | Path, *, num_classes: int = BIRDS_CLASSES,
                         image_size: int = REFERENCE_SIZE) -> keras.Model:
    """The birds Inception from a ``.weights.h5`` conversion (of ``num_classes`` logits, at
    ``image_size``) or from StackGAN's TF checkpoint prefix (moving averages, class count read
    from it, at 299)."""
    if not str(path).endswith(".weights.h5"):
        return load_slim_inception_checkpoint(path)
    if not Path(path).is_file():
        raise FileNotFoundError(f"no weights file {path}")
    model = slim_inception_v3(num_classes, image_size=image_size)
    load_converted_weights(model, path, "StackGAN's birds Inception (slim Inception-v3)")
    return model


def resize_like_reference(images: np.ndarray, size: int = REFERENCE_SIZE) -> np.ndarray:
    """uint8 ``[N, H, W, 3]`` → uint8 ``[N, size, size, 3]`` with PIL's bilinear filter."""
    return np.stack([
        np.asarray(Image.fromarray(image).resize((size, size), Image.Resampling.BILINEAR))
        for image in _checked_uint8(images)
    ])


def to_inception_range(images: np.ndarray) -> np.ndarray:
    """uint8 → float32 in [-1, 1] as the reference maps it: ``x / 127.5 - 1``."""
    return images.astype(np.float32) / np.float32(PIXEL_SCALE) - np.float32(1)


def birds_inception_probabilities(model: keras.Model, images: np.ndarray, *,
                                  batch_size: int = REFERENCE_BATCH) -> np.ndarray:
    """p(y|x) over the 50 bird classes, in the order of ``images``, every image kept.

    Args:
        model: a :func:`slim_inception_v3` model (its input side is the resize target).
        images: uint8 ``[N, H, W, 3]`` RGB images.
        batch_size: images per forward pass (the scores do not depend on it).

    Returns:
        float64 ``[N, num_classes - 1]``: softmax of the logits without class 0.
    """
    images = _checked_uint8(images)
    side = model.inputs[0].shape[1]
    logits = [
        model.predict_on_batch(to_inception_range(resize_like_reference(batch, side)))["logits"]
        for batch in (images[i : i + batch_size] for i in range(0, len(images), batch_size))
    ]
    return known_class_probabilities(np.concatenate(logits))


def known_class_probabilities(logits: np.ndarray) -> np.ndarray:
    """``[N, C]`` logits → ``[N, C - 1]`` softmax without the background class 0."""
    known = np.delete(np.asarray(logits, np.float64), BACKGROUND_CLASS, axis=1)
    return softmax(known, axis=1)


def birds_inception_score(probabilities: np.ndarray, *, splits: int = REFERENCE_SPLITS,
                          batch_size: int = REFERENCE_BATCH,
                          seed: int | None = 0) -> tuple[float, float]:
    """The reference's Inception Score: shuffle, keep ``floor(N / batch_size) * batch_size``
    rows, then ``splits`` consecutive splits (:func:`inception_score`).

    The reference shuffles with NumPy's unseeded global generator, so its score varies a
    little between runs; ``seed`` fixes the permutation here (None: unseeded).
    """
    probabilities = np.asarray(probabilities)
    kept = len(probabilities) // batch_size * batch_size
    if kept == 0:
        raise ValueError(f"need at least batch_size={batch_size} images, got "
                         f"{len(probabilities)}")
    order = np.random.default_rng(seed).permutation(len(probabilities))[:kept]
    return inception_score(probabilities[order], splits=splits)


def _checked_uint8(images) -> np.ndarray:
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must be uint8 [N, H, W, 3] RGB, got {images.dtype} "
                         f"{images.shape}")
    return images
