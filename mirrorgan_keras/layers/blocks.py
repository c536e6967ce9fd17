"""Convolutional building blocks of the generator and the discriminators (docs/design.md §5,
§6)."""

from __future__ import annotations

import keras
from keras import ops

from mirrorgan_keras.layers._common import LEAKY_SLOPE, batch_norm, conv2d
from mirrorgan_keras.layers.glu import GLU

# Along each axis, output pixel 2i+a of a 'same' 3×3 convolution of the nearest ×2 upsampling
# sees input pixels i-1, i (a = 0, taps k0 and k1+k2) or i, i+1 (a = 1, taps k0+k1 and k2): a
# stride-2 transposed convolution whose 4 taps are these sums, in the order below.
_UPSAMPLING_TAPS = ((0.0, 0.0, 1.0), (0.0, 1.0, 1.0), (1.0, 1.0, 0.0), (1.0, 0.0, 0.0))


def upsample_conv3x3(inputs, kernel):
    """``conv3×3(nearest ×2 upsampling of inputs)`` with zero 'same' padding and no bias.

    ``inputs [B, H, W, C]``, ``kernel [3, 3, C, F]`` → ``[B, 2H, 2W, F]``. Computed as one
    stride-2 transposed convolution with a 4×4 kernel folded from ``kernel``: the same function
    with 16 instead of 36 multiply-adds per input pixel and output channel and no upsampled
    copy of the input (2.5× faster with its gradient on CPU). Compiles under XLA.
    """
    taps = ops.convert_to_tensor(_UPSAMPLING_TAPS, dtype=kernel.dtype)
    folded = ops.einsum("tr,us,rscf->tufc", taps, taps, kernel)  # [4, 4, F, C]
    return ops.conv_transpose(inputs, folded, strides=2, padding="same")


class _SequentialBlock(keras.layers.Layer):
    """A block whose call applies ``self.steps`` in order; subclasses fill ``steps``."""

    steps: list

    def build(self, input_shape):
        shape = input_shape
        for step in self.steps:
            step.build(shape)
            shape = step.compute_output_shape(shape)
        self.built = True

    def call(self, inputs):
        for step in self.steps:
            inputs = step(inputs)
        return inputs

    def compute_output_shape(self, input_shape):
        for step in self.steps:
            input_shape = step.compute_output_shape(input_shape)
        return input_shape


@keras.saving.register_keras_serializable(package="mirrorgan_keras")
class UpBlock(keras.layers.Layer):
    """Nearest ×2 upsampling → conv3×3 (``2·filters``) → batch norm → GLU.

    The upsampling and the convolution run fused (:func:`upsample_conv3x3`).

    ``[B, H, W, C]`` → ``[B, 2H, 2W, filters]``.

    Example::

        UpBlock(64)(keras.ops.ones((2, 4, 4, 128))).shape  # (2, 8, 8, 64)
    """

    def __init__(self, filters: int, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.conv = conv2d(2 * filters, 3, name="conv")
        self.norm = batch_norm(name="norm")
        self.glu = GLU(name="glu")

    def build(self, input_shape):
        batch, height, width, channels = input_shape
        upsampled = (batch, _times(height, 2), _times(width, 2), channels)
        self.conv.build(upsampled)
        self.norm.build(self.conv.compute_output_shape(upsampled))
        self.built = True

    def call(self, inputs):
        return self.glu(self.norm(upsample_conv3x3(inputs, self.conv.kernel)))

    def compute_output_shape(self, input_shape):
        batch, height, width, _ = input_shape
        return batch, _times(height, 2), _times(width, 2), self.filters

    def get_config(self):
        return {**super().get_config(), "filters": self.filters}


@keras.saving.register_keras_serializable(package="mirrorgan_keras")
class ResBlock(keras.layers.Layer):
    """conv3×3 (2C) → BN → GLU → conv3×3 (C) → BN, added to the input. Shape-preserving.

    Args:
        channels: width ``C`` of the input and output.

    Example::

        ResBlock(64)(keras.ops.ones((2, 64, 64, 64))).shape  # (2, 64, 64, 64)
    """

    def __init__(self, channels: int, **kwargs):
        super().__init__(**kwargs)
        self.channels = channels
        self.conv1 = conv2d(2 * channels, 3, name="conv1")
        self.norm1 = batch_norm(name="norm1")
        self.glu = GLU(name="glu")
        self.conv2 = conv2d(channels, 3, name="conv2")
        self.norm2 = batch_norm(name="norm2")

    def build(self, input_shape):
        doubled = (*input_shape[:-1], 2 * self.channels)
        self.conv1.build(input_shape)
        self.norm1.build(doubled)
        self.conv2.build(input_shape)
        self.norm2.build(input_shape)
        self.built = True

    def call(self, inputs):
        hidden = self.glu(self.norm1(self.conv1(inputs)))
        return inputs + self.norm2(self.conv2(hidden))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "channels": self.channels}


@keras.saving.register_keras_serializable(package="mirrorgan_keras")
class ImageHead(keras.layers.Layer):
    """Bias-free conv3×3 to RGB → tanh: ``[B, H, W, C]`` → image ``[B, H, W, 3]`` in [-1, 1].

    The image is float32 whatever the layer's dtype policy.

    Example::

        ImageHead()(keras.ops.ones((2, 64, 64, 32))).shape  # (2, 64, 64, 3)
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.conv = conv2d(3, 3, name="conv")

    def build(self, input_shape):
        self.conv.build(input_shape)
        self.built = True

    def call(self, inputs):
        return ops.tanh(ops.cast(self.conv(inputs), "float32"))

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 3)


@keras.saving.register_keras_serializable(package="mirrorgan_keras")
class DownBlock(_SequentialBlock):
    """Discriminator downsampling: conv4×4 stride 2 (bias-free) → [BN] → LeakyReLU(0.2).

    ``[B, H, W, C]`` → ``[B, H/2, W/2, filters]``. ``use_batch_norm=False`` for the first layer.

    Example::

        DownBlock(64, use_batch_norm=False)(keras.ops.ones((2, 64, 64, 3))).shape  # (2, 32, 32, 64)
    """

    def __init__(self, filters: int, use_batch_norm: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.use_batch_norm = use_batch_norm
        self.steps = [conv2d(filters, 4, strides=2, name="conv")]
        if use_batch_norm:
            self.steps.append(batch_norm(name="norm"))
        self.steps.append(keras.layers.LeakyReLU(LEAKY_SLOPE, name="act"))

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "use_batch_norm": self.use_batch_norm,
        }


@keras.saving.register_keras_serializable(package="mirrorgan_keras")
class ConvBlock(_SequentialBlock):
    """Discriminator 3×3 block: conv3×3 stride 1 (bias-free) → BN → LeakyReLU(0.2).

    ``[B, H, W, C]`` → ``[B, H, W, filters]``.

    Example::

        ConvBlock(512)(keras.ops.ones((2, 4, 4, 1024))).shape  # (2, 4, 4, 512)
    """

    def __init__(self, filters: int, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.steps = [
            conv2d(filters, 3, name="conv"),
            batch_norm(name="norm"),
            keras.layers.LeakyReLU(LEAKY_SLOPE, name="act"),
        ]

    def get_config(self):
        return {**super().get_config(), "filters": self.filters}


def _times(size, factor):
    return None if size is None else size * factor
