"""Tiny configurations, batches and models shared by the model tests."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from mirrorgan_keras.config import (
    DAMSMConfig,
    DiscriminatorConfig,
    GeneratorConfig,
    MirrorGANConfig,
    StreamConfig,
    TextConfig,
    TrainConfig,
)
from mirrorgan_keras.data.vocabulary import Vocabulary
from mirrorgan_keras.models import DAMSM, STREAM, GLAMGenerator, MirrorGAN, adam_optimizers
from mirrorgan_keras.runtime.run_files import RunFiles, save_weights, write_run_config

VOCAB = 30
# The words of the README's quick-start caption, then fillers: VOCAB ids with <end> and <unk>.
RUN_WORDS = ["this", "bird", "has", "a", "red", "crown", "blue", "wings", "and", "yellow",
             "belly", *(f"w{i}" for i in range(VOCAB - 13))]


def tiny_config(**train) -> MirrorGANConfig:
    """16² → 32², a few channels: a whole MirrorGAN step in well under a second."""
    return MirrorGANConfig(
        name="tiny",
        text=TextConfig(words_num=8, word_embedding_dim=16, embedding_dim=16, dropout=0.0),
        generator=GeneratorConfig(ngf=8, z_dim=8, condition_dim=8, res_blocks=1, stages=2,
                                  base_size=16),
        discriminator=DiscriminatorConfig(ndf=4),
        damsm=DAMSMConfig(backbone="small", weights=None, image_size=32, freeze_backbone=False),
        stream=StreamConfig(backbone="small", weights=None, image_size=32, embed_size=16,
                            hidden_size=16, freeze_backbone=False),
        train=TrainConfig(**{"lambda_damsm": 1.0, **train}),
    )


def random_batch(config: MirrorGANConfig, batch: int, seed: int = 0) -> dict:
    """Images in [-1, 1] for every stage, right-padded captions, two classes."""
    rng = np.random.default_rng(seed)
    captions = np.zeros((batch, config.text.words_num), "int32")
    for row in range(batch):
        length = rng.integers(2, config.text.words_num + 1)
        captions[row, :length] = rng.integers(1, VOCAB, size=length)
    images = tuple(rng.uniform(-1, 1, (batch, s, s, 3)).astype("float32")
                   for s in config.generator.image_sizes)
    return {"images": images, "captions": captions,
            "class_ids": (np.arange(batch) % 2).astype("int32")}


def batches_from(config: MirrorGANConfig, batch: int, start_step: int = 0,
                 steps: int = 8) -> tf.data.Dataset:
    """A deterministic stream whose element ``i`` is the batch of step ``start_step + i``."""
    batches = [random_batch(config, batch, seed=step)
               for step in range(start_step, start_step + steps)]
    stacked = keras.tree.map_structure(lambda *parts: np.stack(parts), *batches)
    return tf.data.Dataset.from_tensor_slices(stacked)


def build_damsm(config: MirrorGANConfig) -> DAMSM:
    damsm = DAMSM.from_mirrorgan_config(config, VOCAB)
    damsm.compile(optimizer=keras.optimizers.SGD(0.5), jit_compile=False)
    return damsm


def build_stream(config: MirrorGANConfig) -> STREAM:
    stream = STREAM.from_mirrorgan_config(config, VOCAB)
    stream.compile(optimizer=keras.optimizers.SGD(0.5), jit_compile=False)
    return stream


def build_mirrorgan(config: MirrorGANConfig, damsm: DAMSM, stream: STREAM,
                    optimizers=None, jit_compile: bool = False) -> MirrorGAN:
    """A compiled, initialised MirrorGAN; call inside the strategy's scope."""
    gan = MirrorGAN.from_mirrorgan_config(config, damsm.text_encoder, stream=stream,
                                          image_encoder=damsm.image_encoder, seed=7)
    generator_optimizer, discriminator_optimizers = optimizers or adam_optimizers(
        config.train, config.generator.stages
    )
    gan.compile(generator_optimizer, discriminator_optimizers, jit_compile=jit_compile)
    gan.initialize(config.text.words_num)
    return gan


def write_tiny_run(run_dir: Path) -> Path:
    """A run directory as a conversion writes it (config.json, vocabulary.txt of
    :data:`RUN_WORDS`, DAMSM and EMA generator weights), with the random weights of
    :func:`tiny_config`: no data set needed to load it."""
    config, files = tiny_config(), RunFiles(run_dir)
    vocabulary = Vocabulary(RUN_WORDS)
    write_run_config(files, config, vocabulary.size)
    vocabulary.save(str(files.vocabulary))
    save_weights(build_damsm(config), files.damsm)
    save_weights(GLAMGenerator.from_mirrorgan_config(config, seed=3), files.generator)
    return files.root
