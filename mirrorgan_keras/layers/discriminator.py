"""A stage discriminator with unconditional and sentence-conditional logits (docs/design.md §6)."""

from __future__ import annotations

import math

import keras
from keras import ops

from mirrorgan_keras.config import MirrorGANConfig
from mirrorgan_keras.layers._common import conv2d
from mirrorgan_keras.layers.blocks import ConvBlock, DownBlock

_FEATURE_SIDE = 4


@keras.saving.register_keras_serializable(package="mirrorgan_keras")
class DiscriminatorLogits(keras.layers.Layer):
    """A logit head on 4×4 discriminator features.

    Unconditional: conv4×4 stride 4 (with bias) → ``[B, 1]``. Conditional: the raw sentence
    feature tiled to 4×4 and concatenated, ConvBlock back to the feature width, then the same
    conv. Logits are pre-sigmoid.

    Args:
        conditional: whether the head takes a sentence feature.

    Call:
        features: ``[B, 4, 4, F]``; sentence: ``[B, D]`` (conditional only).

    Returns:
        ``[B, 1]`` logits.

    Example::

        DiscriminatorLogits(conditional=True)(features, sentence)  # (B, 1)
    """

    def __init__(self, conditional: bool, **kwargs):
        super().__init__(**kwargs)
        self.conditional = conditional
        self.joint = None
        self.logit = conv2d(1, _FEATURE_SIDE, strides=_FEATURE_SIDE, use_bias=True,
                            padding="valid", name="logit")

    def build(self, features_shape, sentence_shape=None):
        if self.conditional:
            if sentence_shape is None:
                raise ValueError("a conditional DiscriminatorLogits needs `sentence`")
            self.joint = ConvBlock(features_shape[-1], name="joint")
            self.joint.build((*features_shape[:-1], features_shape[-1] + sentence_shape[-1]))
        self.logit.build(features_shape)
        self.built = True

    def call(self, features, sentence=None):
        if self.conditional:
            height, width = features.shape[1], features.shape[2]
            tiled = ops.tile(sentence[:, None, None, :], (1, height, width, 1))
            features = self.joint(ops.concatenate([features, tiled], axis=-1))
        return ops.reshape(self.logit(features), (-1, 1))

    def compute_output_shape(self, features_shape, sentence_shape=None):
        return features_shape[0], 1

    def get_config(self):
        return {**super().get_config(), "conditional": self.conditional}


@keras.saving.register_keras_serializable(package="mirrorgan_keras")
class StageDiscriminator(keras.layers.Layer):
    """D_i for images of side S: a downsampling trunk to 4×4 and two logit heads.

    The trunk has ``log2(S/4)`` DownBlocks (the first without BN) doubling from ``ndf``, then
    ConvBlocks halving back to ``8·ndf``; for S = 64/128/256 this is the reference D_NET64/128/256
    (feature 4×4×512 with ndf 64). Smaller S ends with fewer channels (``ndf·S/8``).

    Args:
        ndf: width of the first layer.
        image_size: side ``S`` of the images this stage judges, a power of two ≥ 8.

    Call:
        image: ``[B, S, S, 3]``; sentence: ``[B, D]`` raw sentence feature.

    Returns:
        ``(unconditional [B, 1], conditional [B, 1])`` logits, ``heads(trunk(image), sentence)``:
        ``trunk(image)`` gives the ``[B, 4, 4, F]`` features and :meth:`heads` their logits, so
        that real features are computed once for matched and mismatched pairs.

    Example::

        uncond, cond = StageDiscriminator(64, 128)(images, sentence)
        discriminators = [StageDiscriminator.from_mirrorgan_config(config, stage)
                          for stage in range(config.generator.stages)]
    """

    def __init__(self, ndf: int, image_size: int, **kwargs):
        super().__init__(**kwargs)
        downsamplings = math.log2(image_size / _FEATURE_SIDE)
        if image_size < 2 * _FEATURE_SIDE or not downsamplings.is_integer():
            raise ValueError(f"image_size must be a power of two >= 8, got {image_size}")
        self.ndf = ndf
        self.image_size = image_size
        self.trunk = keras.Sequential(_trunk_blocks(ndf, int(downsamplings)), name="trunk")
        self.unconditional_head = DiscriminatorLogits(False, name="unconditional")
        self.conditional_head = DiscriminatorLogits(True, name="conditional")

    @classmethod
    def from_mirrorgan_config(cls, config: MirrorGANConfig, stage: int, *, build: bool = True,
                              **kwargs) -> StageDiscriminator:
        """D_stage that ``config`` describes (``discriminator.ndf``, the stage's image size
        ``generator.image_sizes[stage]``, named ``discriminator<stage>``), built for sentences
        of ``text.embedding_dim`` (its variables exist, random). ``build=False`` leaves the
        variables to the first call: :meth:`MirrorGAN.initialize` creates them after the EMA
        generator's, the order a seeded run's initial weights come from."""
        size = config.generator.image_sizes[stage]
        discriminator = cls(config.discriminator.ndf, size,
                            **{"name": f"discriminator{stage}", **kwargs})
        if build:
            discriminator(ops.zeros((1, size, size, 3)),
                          ops.zeros((1, config.text.embedding_dim)))
        return discriminator

    @property
    def feature_channels(self) -> int:
        return self.trunk.layers[-1].filters

    def build(self, image_shape, sentence_shape):
        self.trunk.build(image_shape)
        features = (image_shape[0], _FEATURE_SIDE, _FEATURE_SIDE, self.feature_channels)
        self.unconditional_head.build(features)
        self.conditional_head.build(features, sentence_shape)
        self.built = True

    def call(self, image, sentence, training=None):
        return self.heads(self.trunk(image, training=training), sentence, training=training)

    def heads(self, features, sentence, training=None):
        """Trunk features ``[B, 4, 4, F]``, sentence ``[B, D]`` → ``(unconditional [B, 1],
        conditional [B, 1])`` logits."""
        return (self.unconditional_head(features, training=training),
                self.conditional_head(features, sentence, training=training))

    def compute_output_shape(self, image_shape, sentence_shape):
        return (image_shape[0], 1), (image_shape[0], 1)

    def get_config(self):
        return {**super().get_config(), "ndf": self.ndf, "image_size": self.image_size}


def _trunk_blocks(ndf: int, downsamplings: int) -> list[keras.layers.Layer]:
    """DownBlocks ndf, 2ndf, … then ConvBlocks halving to at most 8·ndf."""
    blocks = [DownBlock(ndf, use_batch_norm=False, name="down0")]
    channels = ndf
    for i in range(1, downsamplings):
        channels *= 2
        blocks.append(DownBlock(channels, name=f"down{i}"))
    target = min(channels, 8 * ndf)
    while channels > target:
        channels //= 2
        blocks.append(ConvBlock(channels, name=f"conv{len(blocks)}"))
    return blocks
