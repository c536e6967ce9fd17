"""The generator's stages: F0 (noise + condition → first feature map) and F_i (refinement)."""

from __future__ import annotations

import math

import keras
from keras import ops

from mirrorgan_keras.layers._common import batch_norm, dense
from mirrorgan_keras.layers.attention import GlobalLocalAttention
from mirrorgan_keras.layers.blocks import ResBlock, UpBlock
from mirrorgan_keras.layers.glu import GLU

_INITIAL_SIDE = 4


@keras.saving.register_keras_serializable(package="mirrorgan_keras")
class InitialStage(keras.layers.Layer):
    """F0 (docs/design.md §5.2): ``[c, z]`` → dense → BN → GLU → 4×4 map → up-blocks →
    ``[B, S, S, ngf]``.

    The 4×4 map has ``ngf·S/4`` channels and each of the ``log2(S/4)`` up-blocks halves them, so
    with ngf 32 and S = 64: 4×4×512 → 8×8×256 → 16×16×128 → 32×32×64 → 64×64×32.

    Args:
        ngf: channels of the output feature map.
        output_size: side ``S`` of the output, a power of two ≥ 8 (64 in the reference).

    Call:
        condition: ``[B, condition_dim]``; noise: ``[B, z_dim]``.

    Returns:
        ``[B, S, S, ngf]``.

    Example::

        h0 = InitialStage(32, 64)(c, z)  # (B, 64, 64, 32)
    """

    def __init__(self, ngf: int, output_size: int = 64, **kwargs):
        super().__init__(**kwargs)
        upsamplings = math.log2(output_size / _INITIAL_SIDE)
        if output_size < 2 * _INITIAL_SIDE or not upsamplings.is_integer():
            raise ValueError(f"output_size must be a power of two >= 8, got {output_size}")
        self.ngf = ngf
        self.output_size = output_size
        self.initial_channels = ngf * 2 ** int(upsamplings)
        self.projection = dense(
            _INITIAL_SIDE * _INITIAL_SIDE * self.initial_channels * 2, use_bias=False,
            name="projection",
        )
        self.norm = batch_norm(name="norm")
        self.glu = GLU(name="glu")
        self.up_blocks = [
            UpBlock(self.initial_channels // 2 ** (i + 1), name=f"up{i}")
            for i in range(int(upsamplings))
        ]

    def build(self, condition_shape, noise_shape):
        joint = (condition_shape[0], condition_shape[-1] + noise_shape[-1])
        self.projection.build(joint)
        self.norm.build(self.projection.compute_output_shape(joint))
        shape = (condition_shape[0], _INITIAL_SIDE, _INITIAL_SIDE, self.initial_channels)
        for block in self.up_blocks:
            block.build(shape)
            shape = block.compute_output_shape(shape)
        self.built = True

    def call(self, condition, noise):
        hidden = self.glu(self.norm(self.projection(ops.concatenate([condition, noise], -1))))
        hidden = ops.reshape(hidden, (-1, _INITIAL_SIDE, _INITIAL_SIDE, self.initial_channels))
        for block in self.up_blocks:
            hidden = block(hidden)
        return hidden

    def compute_output_shape(self, condition_shape, noise_shape):
        return condition_shape[0], self.output_size, self.output_size, self.ngf

    def get_config(self):
        return {**super().get_config(), "ngf": self.ngf, "output_size": self.output_size}


@keras.saving.register_keras_serializable(package="mirrorgan_keras")
class CascadeStage(keras.layers.Layer):
    """F_i (docs/design.md §5.3): global-local attention → residual blocks → up-block.

    ``[B, H, W, ngf]`` → GlobalLocalAttention ``[B, H, W, 2·ngf]`` → ``res_blocks`` × ResBlock →
    UpBlock → ``[B, 2H, 2W, ngf]``.

    Args:
        ngf: channels of the input and output feature maps.
        res_blocks: number of residual blocks (R_NUM: 2 for CUB, 3 for COCO).
        sentence_attention: MirrorGAN's global branch; False gives AttnGAN's stage.

    Call:
        image: ``[B, H, W, ngf]`` previous features; words: ``[B, T, D]``;
        condition: ``[B, condition_dim]``; word_mask: optional bool ``[B, T]``.

    Returns:
        ``(features [B, 2H, 2W, ngf], word attention [B, T, H, W])``.

    Example::

        h1, maps = CascadeStage(32)(h0, words, c, word_mask=ids != 0)
    """

    def __init__(self, ngf: int, res_blocks: int = 2, sentence_attention: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.ngf = ngf
        self.res_blocks = res_blocks
        self.sentence_attention = sentence_attention
        self.attention = GlobalLocalAttention(ngf, sentence_attention, name="attention")
        self.residuals = [ResBlock(2 * ngf, name=f"res{i}") for i in range(res_blocks)]
        self.up_block = UpBlock(ngf, name="up")

    def build(self, image_shape, words_shape, condition_shape=None, word_mask_shape=None):
        self.attention.build(image_shape, words_shape, condition_shape)
        fused = (*image_shape[:-1], 2 * self.ngf)
        for block in self.residuals:
            block.build(fused)
        self.up_block.build(fused)
        self.built = True

    def call(self, image, words, condition=None, word_mask=None):
        hidden, attention = self.attention(image, words, condition, word_mask=word_mask)
        for block in self.residuals:
            hidden = block(hidden)
        return self.up_block(hidden), attention

    def compute_output_shape(self, image_shape, words_shape, condition_shape=None,
                             word_mask_shape=None):
        batch, height, width, _ = image_shape
        return (
            self.up_block.compute_output_shape((batch, height, width, 2 * self.ngf)),
            (batch, words_shape[1], height, width),
        )

    def get_config(self):
        return {
            **super().get_config(),
            "ngf": self.ngf,
            "res_blocks": self.res_blocks,
            "sentence_attention": self.sentence_attention,
        }
