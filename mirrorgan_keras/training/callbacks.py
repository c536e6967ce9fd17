"""Training callbacks: captioned sample sheets of the EMA generator as PNG files and
TensorBoard images (what they show: :mod:`mirrorgan_keras.training.samples`)."""

from __future__ import annotations

import os
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from PIL import Image

from mirrorgan_keras.data.pipeline import to_uint8
from mirrorgan_keras.evaluation.figures import caption_sheet
from mirrorgan_keras.models.generator import draw_noise


class SampleGrid(keras.callbacks.Callback):
    """Every ``every_steps`` steps, renders fixed captions with fixed noise through the EMA
    generator of a :class:`~mirrorgan_keras.models.MirrorGAN`.

    Writes ``<output_dir>/step_<step>.png``
    (:func:`~mirrorgan_keras.evaluation.figures.caption_sheet`: each caption written above its
    row, one column per stage, all shown at the final size, then the real image when given;
    ``captions.txt`` lists the captions too) and, with ``log_dir``, the same sheet as a
    TensorBoard image. Call :meth:`render` for a sheet at any time.

    Args:
        captions: int ``[K, T]`` word ids of the captions to render.
        texts: the K captions as text.
        real_images: None or K uint8 ``[s, s, 3]`` real images, one of each caption's class.
        output_dir: where the PNG files go.
        every_steps: period in training steps (0 = only at the end of training).
        log_dir: TensorBoard log directory, or None.
        seed: seed of the fixed noise.
    """

    def __init__(self, captions, texts: list[str], output_dir: str | os.PathLike, *,
                 real_images: list[np.ndarray] | None = None, every_steps: int = 500,
                 log_dir: str | None = None, seed: int = 100):
        super().__init__()
        self.captions = np.asarray(captions, np.int32)
        self.texts = list(texts)
        self.real_images = real_images
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
        return caption_sheet([[stage[i] for stage in stages] for i in range(count)], self.texts,
                             real_images=self.real_images)

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
