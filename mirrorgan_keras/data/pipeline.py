"""The tf.data input pipeline of docs/design.md §2: from a :class:`DatasetSplit` to batches of
dicts.

Each batch is::

    {
        "images": tuple of float32 [B, s, s, 3] in [-1, 1], one per s in image_sizes,
        "captions": int32 [B, words_num], word ids right-padded with 0,
        "caption_lengths": int32 [B], in [1, words_num],
        "class_ids": int32 [B],
        "keys": tf.string [B], the image keys (for evaluation),
    }

Per image and epoch: one of its captions, uniformly at random; a caption longer than
``words_num`` keeps a random order-preserving subset of ``words_num`` words. The image is
bbox-cropped (CUB), its shorter side resized to ``int(final · 76/64)`` and cropped to the
final (largest) size: at random with a random horizontal flip when training, centred when
evaluating. Smaller sizes are bilinear resizes of the final crop. The same pipeline with
``image_sizes=(299,)`` is the DAMSM pretraining input (resize 355, crop 299, flip).

Randomness is stateless, keyed by ``(seed, epoch, image index)``: the same seed gives the same
batches, whatever the parallelism, and ``start_step`` resumes a run exactly. ``batch_size`` is
the *global* batch size (``tf.distribute`` splits it over replicas). Batches are not sorted by
caption length: Keras RNNs take a mask instead of packed sequences.

Images are assumed decodable: the readers check them (``ReadOptions.validate_images``).
With ``cache_images`` every image is decoded, bbox-cropped and resized once, before the first
batch, and held in memory as float32 (at least ``(1.19·final)² · 12`` bytes an image, more when
it is not square: 69 KB at 64², 1.1 MB at 256²), for small data sets whose decoding would
otherwise compete with the training step for the CPU; the batches are the same as without.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tensorflow as tf
from keras import ops

from mirrorgan_keras.config import MirrorGANConfig
from mirrorgan_keras.data.records import DatasetSplit

SCALE_RATIO = 76 / 64  # resize before cropping, as in the reference


def steps_per_epoch(records: DatasetSplit, batch_size: int) -> int:
    """Training batches per epoch (the last partial batch is dropped)."""
    return len(records) // batch_size


def make_dataset(
    records: DatasetSplit,
    batch_size: int,
    image_sizes: Sequence[int],
    words_num: int,
    *,
    training: bool,
    seed: int = 0,
    epochs: int | None = None,
    start_step: int = 0,
    cache_images: bool = False,
) -> tf.data.Dataset:
    """Batches of ``records`` as described in the module docstring.

    Args:
      records: a split from the readers.
      batch_size: global batch size.
      image_sizes: output image sides, e.g. ``(64, 128, 256)``; the largest is cropped.
      words_num: caption width.
      training: shuffle every epoch, random crop and flip, drop the last partial batch. Else:
        file order, centre crop, no flip, keep the last partial batch.
      seed: for the shuffle, the caption choice and the augmentation.
      epochs: number of epochs; None = repeat forever when training (use
        ``steps_per_epoch`` with ``fit``), one pass when evaluating.
      start_step: training only: the first batch is the one of this global step (counted
        from epoch 0 of this seed), to resume a run with the same batches; ``epochs`` then
        counts from that step's epoch.
      cache_images: decode, crop and resize every image once and keep it in memory (the
        module docstring); the same batches, less CPU per batch.
    """
    if training and len(records) < batch_size:
        raise ValueError(
            f"{len(records)} {records.split} images are fewer than one batch of {batch_size}"
        )
    if epochs is None and not training:
        epochs = 1
    if start_step and not training:
        raise ValueError("start_step applies to training datasets only")
    start_epoch, skipped_batches = (
        divmod(start_step, steps_per_epoch(records, batch_size)) if start_step else (0, 0)
    )
    epoch_ids = (
        tf.data.Dataset.counter(start_epoch) if epochs is None
        else tf.data.Dataset.range(start_epoch, start_epoch + epochs)
    )
    base_seed = tf.constant([seed, 0], tf.int64)
    order = _epoch_order(len(records), batch_size, training, base_seed)
    dataset = epoch_ids.flat_map(
        lambda epoch: tf.data.Dataset.from_tensor_slices(order(epoch)).map(
            lambda index: (epoch, index)
        )
    ).skip(skipped_batches * batch_size)  # before loading: skipping costs nothing
    if epochs is not None:  # a known length: Keras reads a finite set to its end without a
        # warning that the input "ran out of data"
        per_epoch = steps_per_epoch(records, batch_size) * batch_size if training else len(records)
        dataset = dataset.apply(tf.data.experimental.assert_cardinality(
            epochs * per_epoch - skipped_batches * batch_size))
    load = _example_loader(records, image_sizes, words_num, training, base_seed, cache_images)
    dataset = dataset.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    dataset = dataset.batch(batch_size, drop_remainder=training)
    options = tf.data.Options()
    options.deterministic = True
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options).prefetch(tf.data.AUTOTUNE)


def make_config_dataset(
    records: DatasetSplit,
    config: MirrorGANConfig,
    purpose: str,
    *,
    training: bool,
    seed: int = 0,
    epochs: int | None = None,
    start_step: int = 0,
) -> tf.data.Dataset:
    """:func:`make_dataset` with the batch size and image sizes of ``purpose`` in ``config``.

    ``"gan"``: the generator's image sizes and ``train.batch_size``; ``"damsm"`` /
    ``"stream"``: the encoder's ``image_size`` and batch size of that section. Training sets
    are held in memory when ``compute.cache_images`` says so.
    """
    sizes = {
        "gan": (config.generator.image_sizes, config.train.batch_size),
        "damsm": ((config.damsm.image_size,), config.damsm.batch_size),
        "stream": ((config.stream.image_size,), config.stream.batch_size),
    }
    if purpose not in sizes:
        raise ValueError(f"unknown purpose {purpose!r}; expected one of {sorted(sizes)}")
    image_sizes, batch_size = sizes[purpose]
    return make_dataset(records, batch_size, image_sizes, config.text.words_num,
                        training=training, seed=seed, epochs=epochs, start_step=start_step,
                        cache_images=training and config.compute.cache_images)


def _epoch_order(count: int, batch_size: int, training: bool, base_seed: tf.Tensor):
    """``order(epoch)`` → int64 [M]: the image indices of one epoch.

    Training: a seeded permutation cut to whole batches, so no batch spans two epochs.
    """
    if not training:
        return lambda epoch: tf.range(count, dtype=tf.int64)
    usable = count // batch_size * batch_size

    def order(epoch):
        key = tf.random.experimental.stateless_fold_in(base_seed, epoch)
        return tf.argsort(tf.random.stateless_uniform([count], key))[:usable]

    return order


def _example_loader(
    records: DatasetSplit,
    image_sizes: Sequence[int],
    words_num: int,
    training: bool,
    base_seed: tf.Tensor,
    cache_images: bool,
):
    """``load(epoch, index)`` → the un-batched example dict of image ``index``."""
    keys = tf.constant(records.keys)
    class_ids = tf.constant(records.class_ids, tf.int32)
    captions = _ragged_captions(records.captions)
    sizes = tuple(sorted(image_sizes))
    scaled_image = _scaled_image_reader(records, int(sizes[-1] * SCALE_RATIO))
    if cache_images:
        scaled_image = _in_memory(scaled_image, len(records))

    def load(epoch, index):
        key = tf.random.experimental.stateless_fold_in(
            tf.random.experimental.stateless_fold_in(base_seed, epoch), index
        )
        caption_key, image_key = tf.unstack(tf.random.experimental.stateless_split(key, 2))
        ids, length = sample_caption(captions[index], words_num, caption_key)
        final = crop_image(scaled_image(index), sizes[-1], image_key, training)
        pyramid = {size: tf.image.resize(final, [size, size], antialias=True)
                   for size in sizes[:-1]}
        pyramid[sizes[-1]] = final
        return {
            "images": tuple(pyramid[size] for size in image_sizes),
            "captions": ids,
            "caption_lengths": length,
            "class_ids": class_ids[index],
            "keys": keys[index],
        }

    return load


def _scaled_image_reader(records: DatasetSplit, side: int):
    """``image(index)`` → float32 [h, w, 3]: image ``index`` decoded, bbox-cropped and its
    shorter side resized to ``side``."""
    paths = tf.constant(records.image_paths)
    bboxes = None if records.bboxes is None else tf.constant(records.bboxes, tf.float64)

    def image(index):
        bbox = None if bboxes is None else bboxes[index]
        return resize_shorter_side(decode_image(paths[index], bbox), side)

    return image


def _in_memory(image_at, count: int):
    """``image_at`` (index → float32 [h, w, 3]) computed once for indices 0 … count−1 (in a
    parallel tf.data pass, so each value is the one the pipeline would compute) and read back
    from one flat in-memory tensor."""
    images = list(
        tf.data.Dataset.range(count)
        .map(image_at, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        .as_numpy_iterator()
    )
    lengths = np.array([image.size for image in images], np.int64)
    starts, ends = tf.constant(np.cumsum(lengths) - lengths), tf.constant(np.cumsum(lengths))
    shapes = tf.constant([image.shape for image in images], tf.int64)
    values = tf.constant(np.concatenate([image.reshape(-1) for image in images]))

    def image(index):
        flat = values[starts[index]:ends[index]]
        return tf.reshape(flat, shapes[index])

    return image


def _ragged_captions(captions: list[list[list[int]]]) -> tf.RaggedTensor:
    """int32 ragged [N, (captions), (words)] of the nested id lists."""
    per_image = [len(image) for image in captions]
    per_caption = [len(caption) for image in captions for caption in image]
    words = [word for image in captions for caption in image for word in caption]
    return tf.RaggedTensor.from_nested_row_lengths(
        np.asarray(words, np.int32),
        [np.asarray(per_image, np.int64), np.asarray(per_caption, np.int64)],
    )


def sample_caption(
    captions: tf.RaggedTensor, words_num: int, seed: tf.Tensor
) -> tuple[tf.Tensor, tf.Tensor]:
    """One caption of an image, cut or padded to ``words_num``.

    Args:
      captions: int32 ragged [C, (words)], the captions of one image.
      words_num: output width.
      seed: int64 [2] stateless seed.

    Returns:
      ids int32 [words_num] (a uniform choice among the C captions; when longer than
      ``words_num``, a random order-preserving subset of its words; then right-padded with 0)
      and the length int32 = min(len, words_num).
    """
    choice_key, subset_key = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    choice = tf.random.stateless_uniform(
        [], choice_key, minval=0, maxval=captions.nrows(), dtype=tf.int64
    )
    words = captions[choice]
    count = tf.shape(words)[0]
    kept = tf.sort(tf.argsort(tf.random.stateless_uniform([count], subset_key))[:words_num])
    length = tf.minimum(count, words_num)
    ids = tf.pad(tf.gather(words, kept), [[0, words_num - length]])
    return tf.ensure_shape(ids, [words_num]), length


def decode_image(path: tf.Tensor, bbox: tf.Tensor | None) -> tf.Tensor:
    """uint8 [H, W, 3] of an image file (any format tf.io.decode_image reads), cropped around
    ``bbox`` (float64 [4], x y w h) with :func:`bbox_crop_window`."""
    image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
    if bbox is None:
        return image
    shape = tf.shape(image)
    top, left, bottom, right = tf.unstack(bbox_crop_window(bbox, shape[0], shape[1]))
    return image[top:bottom, left:right]


def bbox_crop_window(bbox: tf.Tensor, height: tf.Tensor, width: tf.Tensor) -> tf.Tensor:
    """The reference crop around a CUB box: int32 [4] (top, left, bottom, right).

    ``r = int(0.75·max(w, h))``, centre ``(int(x + w/2), int(y + h/2))``, window
    ``[c − r, c + r]`` on both axes clipped to the image (so it may be non-square).

    Args:
      bbox: float64 [4] (x, y, w, h) in pixels.
      height, width: int32 scalars, the image size.
    """
    x, y, w, h = tf.unstack(tf.cast(bbox, tf.float64))
    r = tf.cast(0.75 * tf.maximum(w, h), tf.int32)
    cx = tf.cast((2.0 * x + w) / 2.0, tf.int32)
    cy = tf.cast((2.0 * y + h) / 2.0, tf.int32)
    return tf.stack([
        tf.maximum(0, cy - r), tf.maximum(0, cx - r),
        tf.minimum(height, cy + r), tf.minimum(width, cx + r),
    ])


def resize_shorter_side(image: tf.Tensor, size: int) -> tf.Tensor:
    """[H, W, 3] → float32 [h, w, 3] with min(h, w) = size and the other side
    ``int(size · long / short)`` (torchvision ``Scale``), bilinear with antialiasing (PIL)."""
    shape = tf.shape(image)[:2]
    new_shape = size * shape // tf.reduce_min(shape)
    return tf.image.resize(image, new_shape, antialias=True)


def augment_image(image: tf.Tensor, size: int, seed: tf.Tensor, training: bool) -> tf.Tensor:
    """uint8 [H, W, 3] → float32 [size, size, 3] in [-1, 1].

    The shorter side is resized to ``int(size · 76/64)``, then :func:`crop_image`.
    """
    return crop_image(resize_shorter_side(image, int(size * SCALE_RATIO)), size, seed, training)


def crop_image(scaled: tf.Tensor, size: int, seed: tf.Tensor, training: bool) -> tf.Tensor:
    """float32 [h, w, 3] (0–255, shorter side ≥ ``size``) → float32 [size, size, 3] in [-1, 1]:
    a random crop and a random horizontal flip (``training``, stateless with ``seed`` int64
    [2]) or a centre crop."""
    if training:
        crop_key, flip_key = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
        crop = tf.image.stateless_random_crop(scaled, [size, size, 3], crop_key)
        crop = tf.image.stateless_random_flip_left_right(crop, flip_key)
    else:
        shape = tf.shape(scaled)
        top, left = (shape[0] - size) // 2, (shape[1] - size) // 2
        crop = scaled[top:top + size, left:left + size]
    crop = tf.ensure_shape(crop, [size, size, 3])
    return tf.clip_by_value(from_uint8(crop), -1.0, 1.0)


def from_uint8(images):
    """Pixels in [0, 255] (uint8, or floats on that scale) → float32 in [-1, 1], ``x / 127.5 − 1``
    (docs/design.md §2), same shape: the pipeline's scaling, which :func:`to_uint8` inverts. An
    array gives an array, computed in float64 and rounded once (the values the attribute oracle
    has always been trained on); a tensor (also inside a ``tf.function``) gives a tensor."""
    if isinstance(images, np.ndarray):
        return (images.astype(np.float64) / 127.5 - 1.0).astype(np.float32)
    return ops.cast(images, "float32") / 127.5 - 1.0


def to_uint8(images):
    """Images in [-1, 1] (e.g. a generator's) → uint8 in [0, 255], rounded to nearest, same
    shape: the inverse of the pipeline's scaling (:func:`from_uint8`). Takes an array or a
    tensor, also inside a ``tf.function`` or an exported graph; returns a tensor
    (``np.asarray`` of it outside a graph)."""
    scaled = (ops.cast(images, "float32") + 1.0) * 127.5 + 0.5
    return ops.cast(ops.clip(scaled, 0.0, 255.0), "uint8")
