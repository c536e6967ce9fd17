"""GLAM's attention: AttnGAN's local word attention and MirrorGAN's global sentence attention.

docs/design.md §5.3. NHWC throughout: image features ``[B, H, W, C]``, word features ``[B, T, D]``.
"""

from __future__ import annotations

import keras
from keras import ops

from mirrorgan_keras.layers._common import conv2d, dense

# Added to the scores of padded words before the softmax (computed in float32): exp underflows
# to exactly 0, so padding gets exactly zero attention.
_PADDING_SCORE = -1e9


@keras.saving.register_keras_serializable(package="mirrorgan_keras")
class WordAttention(keras.layers.Layer):
    """Local word attention: each pixel attends over the caption's words.

    Words are projected to the image width by a bias-free 1×1 convolution ``U`` (``e' = U·w``);
    pixel ``j`` gets ``beta_j = softmax_l(h_j · e'_l)`` over the real words and the context
    ``sum_l beta_jl e'_l``.

    Each sample is masked by its own caption. The reference repeats the ``[B, T]`` mask
    ``H·W`` times against scores laid out sample by sample, so pixel ``q`` of sample ``b`` gets
    the padding of sample ``(b·H·W + q) mod B`` (AttnGAN issue 93); at batch size 1, or when no
    caption of the batch is padded, both give the same result (docs/conversion.md).

    Args:
        channels: width ``C`` of the image features (ngf).

    Call:
        image: ``[B, H, W, C]``; words: ``[B, T, D]``;
        word_mask: optional bool ``[B, T]``, True for real words, False for padding.

    Returns:
        ``(context [B, H, W, C], attention [B, T, H, W])``; attention sums to 1 over T.

    Example::

        context, maps = WordAttention(32)(image, words, word_mask=ids != 0)
    """

    def __init__(self, channels: int, **kwargs):
        super().__init__(**kwargs)
        self.channels = channels
        self.word_projection = dense(channels, use_bias=False, name="word_projection")

    def build(self, image_shape, words_shape, word_mask_shape=None):
        self.word_projection.build(words_shape)
        self.built = True

    def call(self, image, words, word_mask=None):
        _, height, width, channels = image.shape
        keys = self.word_projection(words)  # [B, T, C]
        queries = ops.reshape(image, (-1, height * width, channels))
        scores = ops.cast(ops.matmul(queries, ops.transpose(keys, (0, 2, 1))), "float32")
        if word_mask is not None:
            real = ops.expand_dims(ops.cast(word_mask, "bool"), 1)
            scores = ops.where(real, scores, _PADDING_SCORE)
        weights = ops.cast(ops.softmax(scores, axis=-1), keys.dtype)  # [B, HW, T]
        context = ops.reshape(ops.matmul(weights, keys), (-1, height, width, channels))
        attention = ops.reshape(
            ops.transpose(weights, (0, 2, 1)), (-1, words.shape[1], height, width)
        )
        return context, attention

    def compute_output_shape(self, image_shape, words_shape, word_mask_shape=None):
        batch, height, width, _ = image_shape
        return (batch, height, width, self.channels), (batch, words_shape[1], height, width)

    def get_config(self):
        return {**super().get_config(), "channels": self.channels}


@keras.saving.register_keras_serializable(package="mirrorgan_keras")
class SentenceAttention(keras.layers.Layer):
    """MirrorGAN's global sentence attention (docs/design.md §5.3 step 2).

    ``v = V·c`` (dense with bias, tiled over the image), ``g = conv1x1(h ⊙ v)`` (bias-free),
    ``sigma = softmax(g)`` over channels at each pixel (in float32), output ``v ⊙ sigma``.

    Args:
        channels: width ``C`` of the image features (ngf).

    Call:
        image: ``[B, H, W, C]``; condition: ``[B, condition_dim]`` (the CA code c).

    Returns:
        ``[B, H, W, C]`` sentence context.

    Example::

        context = SentenceAttention(32)(image, condition)
    """

    def __init__(self, channels: int, **kwargs):
        super().__init__(**kwargs)
        self.channels = channels
        self.sentence_projection = dense(channels, use_bias=True, name="sentence_projection")
        self.gate = conv2d(channels, 1, name="gate")

    def build(self, image_shape, condition_shape):
        self.sentence_projection.build(condition_shape)
        self.gate.build(image_shape)
        self.built = True

    def call(self, image, condition):
        sentence = self.sentence_projection(condition)[:, None, None, :]  # [B, 1, 1, C]
        gate = ops.cast(self.gate(image * sentence), "float32")
        return sentence * ops.cast(ops.softmax(gate, axis=-1), sentence.dtype)

    def compute_output_shape(self, image_shape, condition_shape):
        return (*image_shape[:-1], self.channels)

    def get_config(self):
        return {**super().get_config(), "channels": self.channels}


@keras.saving.register_keras_serializable(package="mirrorgan_keras")
class GlobalLocalAttention(keras.layers.Layer):
    """GLAM's attention module: image, word context and sentence context fused to ``2C``.

    With ``sentence_attention=True`` (MirrorGAN): ``conv1x1([h, Att_w, Att_s])`` (bias-free,
    ``3C → 2C``). With ``sentence_attention=False`` (AttnGAN's stage): ``[h, Att_w]``, no conv.

    Args:
        channels: width ``C`` of the image features (ngf).
        sentence_attention: include the global sentence branch.

    Call:
        image: ``[B, H, W, C]``; words: ``[B, T, D]``; condition: ``[B, condition_dim]``
        (ignored without the sentence branch); word_mask: optional bool ``[B, T]``.

    Returns:
        ``(fused [B, H, W, 2C], word attention [B, T, H, W])``.

    Example::

        fused, maps = GlobalLocalAttention(32)(h, words, c, word_mask=ids != 0)
    """

    def __init__(self, channels: int, sentence_attention: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.channels = channels
        self.sentence_attention = sentence_attention
        self.word_attention = WordAttention(channels, name="word_attention")
        if sentence_attention:
            self.sentence_branch = SentenceAttention(channels, name="sentence_branch")
            self.fuse = conv2d(2 * channels, 1, name="fuse")

    def build(self, image_shape, words_shape, condition_shape=None, word_mask_shape=None):
        self.word_attention.build(image_shape, words_shape)
        if self.sentence_attention:
            if condition_shape is None:
                raise ValueError("GlobalLocalAttention with sentence_attention needs `condition`")
            self.sentence_branch.build(image_shape, condition_shape)
            self.fuse.build((*image_shape[:-1], 3 * self.channels))
        self.built = True

    def call(self, image, words, condition=None, word_mask=None):
        word_context, attention = self.word_attention(image, words, word_mask=word_mask)
        if not self.sentence_attention:
            return ops.concatenate([image, word_context], axis=-1), attention
        sentence_context = self.sentence_branch(image, condition)
        fused = self.fuse(ops.concatenate([image, word_context, sentence_context], axis=-1))
        return fused, attention

    def compute_output_shape(self, image_shape, words_shape, condition_shape=None,
                             word_mask_shape=None):
        batch, height, width, _ = image_shape
        return (batch, height, width, 2 * self.channels), (batch, words_shape[1], height, width)

    def get_config(self):
        return {
            **super().get_config(),
            "channels": self.channels,
            "sentence_attention": self.sentence_attention,
        }
