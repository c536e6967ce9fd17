"""Training callbacks: sample grids of the EMA generator as PNG files and TensorBoard images,
and the captions and noise they are drawn from."""

from __future__ import annotations

import os
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from PIL import Image

from mirrorgan_keras.figures import to_uint8


def image_grid(rows: list[list[np.ndarray]], pad: int = 2, min_cell: int = 0) -> np.ndarray:
    """Tiles square uint8 images ``rows[r][c]`` (each ``[s, s, 3]``, sizes powers of two) into
    one uint8 image; every cell is nearest-upsampled to the largest image (at least
    ``min_cell``, doubling) so that stages line up."""
    cell = max(max(image.shape[0] for image in row) for row in rows)
    while cell < min_cell:
        cell *= 2
    height = len(rows) * (cell + pad) + pad
    width = max(len(row) for row in rows) * (cell + pad) + pad
    grid = np.full((height, width, 3), 255, np.uint8)
    for r, row in enumerate(rows):
        for c, image in enumerate(row):
            factor = cell // image.shape[0]
            big = image.repeat(factor, axis=0).repeat(factor, axis=1)
            top, left = pad + r * (cell + pad), pad + c * (cell + pad)
            grid[top:top + cell, left:left + cell] = big
    return grid


def draw_noise(generator, count: int, rng: np.random.Generator):
    """Host-side noise for ``count`` samples: z ``[count, z_dim]`` and CA eps
    ``[count, condition_dim]``, float32 from ``rng``."""
    return tuple(rng.standard_normal((count, width)).astype(np.float32)
                 for width in (generator.z_dim, generator.condition_dim))


def sample_captions(records, count: int, choose=None) -> tuple[np.ndarray, list[str]]:
    """The captions a :class:`SampleGrid` shows: one caption of each of ``count`` images
    spread over ``records`` (a DatasetSplit), as ids ``[count, T]`` padded to the longest,
    and their text. ``choose`` picks it from an image's captions (word id lists); default
    the first."""
    choose = choose or (lambda captions: captions[0])
    picks = np.linspace(0, len(records) - 1, count).astype(int)
    captions = [choose(records.captions[i]) for i in picks]
    ids = np.zeros((count, max(len(c) for c in captions)), np.int32)
    for row, caption in enumerate(captions):
        ids[row, :len(caption)] = caption
    return ids, [records.vocabulary.decode(c) for c in captions]


class SampleGrid(keras.callbacks.Callback):
    """Every ``every_steps`` steps, renders fixed captions with fixed noise through the EMA
    generator of a :class:`~mirrorgan_keras.models.MirrorGAN`.

    Writes ``<output_dir>/step_<step>.png`` (one row per caption, one column per stage, all
    shown at the final size; ``captions.txt`` lists the rows) and, with ``log_dir``, the same
    grid as a TensorBoard image. Call :meth:`render` for a grid at any time.

    Args:
        captions: int ``[K, T]`` word ids of the captions to render.
        texts: the K captions as text (for ``captions.txt``).
        output_dir: where the PNG files go.
        every_steps: period in training steps (0 = only at the end of training).
        log_dir: TensorBoard log directory, or None.
        seed: seed of the fixed noise.
    """

    def __init__(self, captions, texts: list[str], output_dir: str | os.PathLike, *,
                 every_steps: int = 500, log_dir: str | None = None, seed: int = 100):
        super().__init__()
        self.captions = np.asarray(captions, np.int32)
        self.texts = list(texts)
        self.output_dir = Path(output_dir)
        self.every_steps = every_steps
        self.log_dir = log_dir
        self.seed = seed
        self._writer = None

    def render(self) -> np.ndarray:
        """The current grid as uint8 ``[H, W, 3]``."""
        gan = self.model
        generator = gan.sync_ema_generator()
        count = len(self.captions)
        noise, condition_noise = draw_noise(generator, count, np.random.default_rng(self.seed))
        words, sentence = gan.text_encoder(self.captions, training=False)
        outputs = generator(sentence, words, self.captions != 0, noise=noise,
                            condition_noise=condition_noise, training=False)
        stages = [np.asarray(to_uint8(images)) for images in outputs["images"]]
        return image_grid([[stage[i] for stage in stages] for i in range(count)], min_cell=128)

    def write(self, step: int) -> Path:
        """Renders and writes the grid of ``step``; returns the PNG path."""
        grid = self.render()
        self.output_dir.mkdir(parents=True, exist_ok=True)
        (self.output_dir / "captions.txt").write_text("\n".join(self.texts) + "\n")
        path = self.output_dir / f"step_{step:07d}.png"
        Image.fromarray(grid).save(path)
        if self.log_dir is not None:
            self._writer = self._writer or tf.summary.create_file_writer(self.log_dir)
            with self._writer.as_default():
                tf.summary.image("samples", grid[None], step=step)
            self._writer.flush()
        return path

    def _step(self) -> int:
        return int(np.asarray(self.model.generator_optimizer.iterations))  # also a distributed one

    def on_train_batch_end(self, batch, logs=None):
        step = self._step()
        if self.every_steps and step % self.every_steps == 0:
            self.write(step)

    def on_train_end(self, logs=None):
        self.write(self._step())
