"""Batching of evaluation inputs: image arrays, iterables of batches or tf.data datasets."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import keras
import numpy as np

from mirrorgan_keras.data.pipeline import from_uint8

RANGE_TOLERANCE = 1e-3


def num_images(images) -> int | None:
    """N for an array ``[N, H, W, 3]``; None for an iterable of batches of unknown length."""
    return len(images) if isinstance(images, np.ndarray) else None


def image_batches(images, batch_size: int) -> Iterator[np.ndarray]:
    """Float32 batches ``[b, H, W, 3]`` in [-1, 1].

    Args:
        images: an array ``[N, H, W, 3]``, or an iterable (e.g. a ``tf.data.Dataset``) of
            batches: arrays, tensors, or dicts whose ``"images"`` is a batch or an image
            pyramid (its last, largest entry is used).
        batch_size: batch size when ``images`` is an array; batches of an iterable are kept.

    Raises:
        ValueError: a batch is not ``[b, H, W, 3]`` floats within [-1, 1].
    """
    if isinstance(images, np.ndarray):
        batches = (images[i : i + batch_size] for i in range(0, len(images), batch_size))
    elif isinstance(images, Iterable):
        batches = (_batch_images(element) for element in images)
    else:
        raise TypeError(f"images must be an array or an iterable of batches, got {type(images)}")
    for batch in batches:
        yield _checked(batch)


def _batch_images(element):
    """The images of one element of an iterable (see image_batches)."""
    if isinstance(element, dict):
        element = element["images"]
        if isinstance(element, (tuple, list)):
            element = element[-1]
    return keras.ops.convert_to_numpy(element)


def _checked(batch: np.ndarray) -> np.ndarray:
    """The batch as float32, after checking its shape, dtype and value range."""
    batch = np.asarray(batch)
    if batch.ndim != 4 or batch.shape[-1] != 3:
        raise ValueError(f"images must be [N, H, W, 3], got shape {batch.shape}")
    if not np.issubdtype(batch.dtype, np.floating):
        raise ValueError(
            f"images must be floats in [-1, 1], got dtype {batch.dtype} "
            "(convert uint8 images with mirrorgan_keras.data.pipeline.from_uint8: x / 127.5 - 1)"
        )
    if batch.size and np.abs(batch).max() > 1 + RANGE_TOLERANCE:
        raise ValueError(
            f"images must be in [-1, 1], got values in [{batch.min():.3g}, {batch.max():.3g}]"
        )
    return batch.astype(np.float32, copy=False)


def float_batches(images: np.ndarray, batch_size: int = 64) -> Iterator[np.ndarray]:
    """uint8 ``[N, H, W, 3]`` → float32 batches in [-1, 1] (for the metric functions)."""
    for start in range(0, len(images), batch_size):
        yield from_uint8(images[start : start + batch_size])


def map_batches(fn, images, batch_size: int, verbose: int = 1) -> tuple[np.ndarray, ...]:
    """Applies ``fn`` to every batch of :func:`image_batches`, with a progress bar.

    ``fn``: batch ``[b, H, W, 3]`` → an array or a tuple of arrays, each ``[b, ...]``.
    Returns the tuple of the outputs concatenated over all batches, each ``[N, ...]``.
    """
    if not isinstance(images, np.ndarray) and len(getattr(images, "shape", ())) == 4:
        images = keras.ops.convert_to_numpy(images)  # a tensor of all images
    bar = keras.utils.Progbar(num_images(images), verbose=verbose, unit_name="image")
    outputs = []
    for batch in image_batches(images, batch_size):
        result = fn(batch)
        result = result if isinstance(result, (tuple, list)) else (result,)
        outputs.append(tuple(keras.ops.convert_to_numpy(part) for part in result))
        bar.add(len(batch))
    if not outputs:
        raise ValueError("images is empty: there is nothing to evaluate")
    return tuple(np.concatenate(parts) for parts in zip(*outputs, strict=True))
