"""Conditioning augmentation (docs/design.md §5.1)."""

from __future__ import annotations

import keras
from keras import ops

from mirrorgan_keras.layers._common import dense
from mirrorgan_keras.layers.glu import GLU


@keras.saving.register_keras_serializable(package="mirrorgan_keras")
class ConditioningAugmentation(keras.layers.Layer):
    """Samples a condition code ``c = mu + exp(logvar / 2) * noise`` from a sentence feature.

    ``Dense(4·condition_dim) → GLU`` gives ``[mu | logvar]``. The KL term that keeps the code
    close to N(0, I) is :func:`mirrorgan_keras.losses.kl_divergence` of ``(mu, logvar)``.

    Args:
        condition_dim: width of ``c`` (100 in the reference).
        seed: seed of the layer's noise generator (used when ``noise`` is not given).

    Call:
        sentence: ``[B, D]`` sentence feature.
        noise: optional ``[B, condition_dim]`` (ε of design.md §5.1; the generator's
            ``condition_noise``); drawn from N(0, I) when omitted. Passing it makes the output
            reproducible (serving with a seed, tests).

    Returns:
        ``(c, mu, logvar)``, each ``[B, condition_dim]``.

    Example::

        c, mu, logvar = ConditioningAugmentation(100)(keras.ops.ones((2, 256)))
    """

    def __init__(self, condition_dim: int = 100, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.condition_dim = condition_dim
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.projection = dense(4 * condition_dim, name="projection")
        self.glu = GLU(name="glu")

    def build(self, sentence_shape):
        self.projection.build(sentence_shape)
        self.built = True

    def call(self, sentence, noise=None):
        mu, logvar = ops.split(self.glu(self.projection(sentence)), 2, axis=-1)
        if noise is None:
            noise = keras.random.normal(ops.shape(mu), seed=self.seed_generator, dtype=mu.dtype)
        return mu + ops.exp(0.5 * logvar) * noise, mu, logvar

    def compute_output_shape(self, sentence_shape):
        shape = (sentence_shape[0], self.condition_dim)
        return shape, shape, shape

    def get_config(self):
        return {**super().get_config(), "condition_dim": self.condition_dim, "seed": self.seed}
