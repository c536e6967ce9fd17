"""The GLAM generator: conditioning augmentation, F0 and the cascade of refinement stages."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from mirrorgan_keras.config import MirrorGANConfig
from mirrorgan_keras.layers import CascadeStage, ConditioningAugmentation, ImageHead, InitialStage
from mirrorgan_keras.runtime.run_files import load_weights


@keras.saving.register_keras_serializable(package="mirrorgan_keras")
class GLAMGenerator(keras.Model):
    """Sentence and word features (+ noise) → one image per stage (docs/design.md §5).

    ``c = CA(sentence)``; ``h0 = F0([c, z])``; ``h_i = F_i(h_{i−1}, words, c)``; each ``h_i``
    goes through its own ImageHead. With the CUB configuration the images are 64², 128², 256².

    Args:
        ngf, z_dim, condition_dim, res_blocks, stages, base_size, sentence_attention: as in
            :class:`mirrorgan_keras.config.GeneratorConfig`.
        seed: seed of the noise (z and the condition noise) when it is not passed in.

    Call:
        sentence: ``[B, D]``; words: ``[B, T, D]``; word_mask: optional bool ``[B, T]``;
        noise: optional z ``[B, z_dim]``; condition_noise: optional ``[B, condition_dim]``, the
        conditioning augmentation's noise (ε of docs/design.md §5.1). Both noises are drawn
        from N(0, I) when omitted.

    Returns:
        dict with ``images`` (list of ``[B, S_i, S_i, 3]`` in [-1, 1]), ``attention`` (list of
        word attention maps ``[B, T, S_i, S_i]``, one per refinement stage, at its input size),
        ``mu`` and ``logvar`` (``[B, condition_dim]``, for the KL term).

    Example::

        generator = GLAMGenerator.from_mirrorgan_config(get_preset("cub"))
        outputs = generator(sentence, words, word_mask=ids != 0)
    """

    def __init__(self, *, ngf: int = 32, z_dim: int = 100, condition_dim: int = 100,
                 res_blocks: int = 2, stages: int = 3, base_size: int = 64,
                 sentence_attention: bool = True, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.ngf = ngf
        self.z_dim = z_dim
        self.condition_dim = condition_dim
        self.res_blocks = res_blocks
        self.stages = stages
        self.base_size = base_size
        self.sentence_attention = sentence_attention
        self.seed = seed
        self.noise_generator = keras.random.SeedGenerator(seed)
        self.conditioning = ConditioningAugmentation(
            condition_dim, seed=None if seed is None else seed + 1, name="conditioning"
        )
        self.initial_stage = InitialStage(ngf, base_size, name="stage0")
        self.refinement_stages = [
            CascadeStage(ngf, res_blocks, sentence_attention, name=f"stage{i}")
            for i in range(1, stages)
        ]
        self.image_heads = [ImageHead(name=f"image{i}") for i in range(stages)]

    @classmethod
    def from_mirrorgan_config(cls, config: MirrorGANConfig, weights_file=None,
                              **kwargs) -> GLAMGenerator:
        """The generator that ``config`` describes, built (its variables exist, no noise is
        drawn for it); with ``weights_file`` its saved weights (e.g. a run's EMA generator)
        are loaded."""
        generator = config.generator
        model = cls(
            ngf=generator.ngf, z_dim=generator.z_dim, condition_dim=generator.condition_dim,
            res_blocks=generator.res_blocks, stages=generator.stages,
            base_size=generator.base_size, sentence_attention=generator.sentence_attention,
            **{"name": "generator", **kwargs},
        )
        dim, words_num = config.text.embedding_dim, config.text.words_num
        model(keras.ops.zeros((1, dim)), keras.ops.zeros((1, words_num, dim)),
              keras.ops.ones((1, words_num), "bool"), noise=keras.ops.zeros((1, model.z_dim)),
              condition_noise=keras.ops.zeros((1, model.condition_dim)))
        if weights_file is not None:
            load_weights(model, weights_file)
        return model

    def call(self, sentence, words, word_mask=None, *, noise=None, condition_noise=None,
             training=None):
        condition, mu, logvar = self.conditioning(sentence, noise=condition_noise)
        if noise is None:
            noise = keras.random.normal(
                (ops.shape(sentence)[0], self.z_dim), seed=self.noise_generator,
                dtype=condition.dtype,
            )
        hidden = self.initial_stage(condition, noise)
        images = [self.image_heads[0](hidden)]
        attention_maps = []
        for stage, head in zip(self.refinement_stages, self.image_heads[1:], strict=True):
            hidden, attention = stage(hidden, words, condition, word_mask=word_mask)
            images.append(head(hidden))
            attention_maps.append(attention)
        return {"images": images, "attention": attention_maps, "mu": mu, "logvar": logvar}

    def get_config(self):
        return {
            **super().get_config(),
            "ngf": self.ngf,
            "z_dim": self.z_dim,
            "condition_dim": self.condition_dim,
            "res_blocks": self.res_blocks,
            "stages": self.stages,
            "base_size": self.base_size,
            "sentence_attention": self.sentence_attention,
            "seed": self.seed,
        }


def draw_noise(generator, count: int, rng: np.random.Generator):
    """Host-side noise for ``count`` samples: ``(noise, condition_noise)``, z ``[count, z_dim]``
    and the conditioning augmentation's ``[count, condition_dim]``, float32 from ``rng``."""
    return tuple(rng.standard_normal((count, width)).astype(np.float32)
                 for width in (generator.z_dim, generator.condition_dim))
