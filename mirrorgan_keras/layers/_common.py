"""Factories for the sub-layers every MirrorGAN block uses, with the reference initialisation.

docs/design.md §5.4 and §11: convolution and dense kernels are orthogonal (gain 1), biases zero,
batch norm gamma ~ N(1, 0.02) and beta 0, PyTorch momentum 0.1 (Keras 0.9) and epsilon 1e-5.
Batch norm is synchronized across replicas, so a step on N replicas normalises with the
statistics of the global batch, exactly as one device would.

Two Keras layers are subclassed for speed on CPU, computing the same functions with the same
weights: :class:`PatchConv2D` (small outputs of large kernels as a matrix product) and
:class:`SyncBatchNormalization` (TensorFlow's fused kernel on one replica).
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf
from keras import ops

BN_MOMENTUM = 0.9
BN_EPSILON = 1e-5
LEAKY_SLOPE = 0.2
# Convolutions with at most this many output positions and at least this many kernel weights
# run as a matrix product (PatchConv2D).
MATMUL_MAX_POSITIONS = 16
MATMUL_MIN_WEIGHTS = 2**23


def patch_conv2d(inputs, kernel, strides: tuple[int, int], padding: str):
    """A 2-D convolution as one matrix product: input patches (im2col) × kernel.

    ``inputs [B, H, W, C]`` with static H, W; ``kernel [kh, kw, C, F]``; ``padding`` "same" or
    "valid" as ``keras.ops.conv`` (TensorFlow's SAME). Returns ``[B, H', W', F]``, the same as
    ``keras.ops.conv``; for few output positions and many channels it is several times faster.
    """
    kernel_h, kernel_w, channels, filters = kernel.shape
    (top, bottom, out_h), (left, right, out_w) = (
        _axis_padding(size, k, stride, padding)
        for size, k, stride in zip(inputs.shape[1:3], (kernel_h, kernel_w), strides, strict=True)
    )
    padded = ops.pad(inputs, ((0, 0), (top, bottom), (left, right), (0, 0)))
    row_step, column_step = strides
    patches = ops.concatenate([
        padded[:, i : i + row_step * (out_h - 1) + 1 : row_step,
               j : j + column_step * (out_w - 1) + 1 : column_step, :]
        for i in range(kernel_h) for j in range(kernel_w)
    ], axis=-1)  # [B, H', W', kh·kw·C], in the kernel's (row, column, channel) order
    depth = kernel_h * kernel_w * channels
    product = ops.matmul(ops.reshape(patches, (-1, depth)), ops.reshape(kernel, (depth, filters)))
    return ops.reshape(product, (-1, out_h, out_w, filters))


def _axis_padding(size: int, kernel: int, stride: int, padding: str) -> tuple[int, int, int]:
    """(padding before, padding after, output size) along one axis."""
    if padding == "valid":
        return 0, 0, (size - kernel) // stride + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2, out


@keras.saving.register_keras_serializable(package="mirrorgan_keras")
class PatchConv2D(keras.layers.Conv2D):
    """``keras.layers.Conv2D`` that runs a small output of a large kernel as a matrix product.

    oneDNN's convolution is slow for a few output positions and a very large kernel: the last
    4×4 layers of the 128² and 256² discriminators (8–75 M weights) ran at 20–60 GFLOP/s with
    their gradients on CPU, where a matrix product of the same work runs at 90–130 (float32)
    or 180–300 (bfloat16). With at most ``MATMUL_MAX_POSITIONS`` output positions and at least
    ``MATMUL_MIN_WEIGHTS`` kernel weights (static NHWC input, no dilation or groups) this layer
    computes :func:`patch_conv2d` instead: the same function and weights, 1.4–5× faster.
    Other convolutions, where oneDNN is as fast or faster, are unchanged.
    """

    def convolution_op(self, inputs, kernel):
        height, width = inputs.shape[1:3]
        plain = (self.data_format != "channels_last" or height is None or width is None
                 or self.groups != 1 or tuple(self.dilation_rate) != (1, 1))
        if (plain or math.prod(kernel.shape) < MATMUL_MIN_WEIGHTS
                or _output_positions(height, width, kernel.shape, self) > MATMUL_MAX_POSITIONS):
            return super().convolution_op(inputs, kernel)
        return patch_conv2d(inputs, kernel, tuple(self.strides), self.padding)


def _output_positions(height: int, width: int, kernel_shape, conv: keras.layers.Conv2D) -> int:
    rows, columns = (
        _axis_padding(size, k, stride, conv.padding)[2]
        for size, k, stride in zip((height, width), kernel_shape[:2], conv.strides, strict=True)
    )
    return rows * columns


def orthogonal() -> keras.initializers.Initializer:
    """The kernel initialiser of the generator and discriminators."""
    return keras.initializers.Orthogonal(gain=1.0)


def conv2d(filters: int, kernel_size: int, *, strides: int = 1, use_bias: bool = False,
           padding: str = "same", name: str | None = None) -> keras.layers.Conv2D:
    """A bias-free (by default) NHWC convolution with orthogonal kernel (a
    :class:`PatchConv2D`)."""
    return PatchConv2D(
        filters, kernel_size, strides=strides, padding=padding, use_bias=use_bias,
        kernel_initializer=orthogonal(), bias_initializer="zeros", name=name,
    )


def dense(units: int, use_bias: bool = True, name: str | None = None) -> keras.layers.Dense:
    """A dense layer with orthogonal kernel and zero bias."""
    return keras.layers.Dense(
        units, use_bias=use_bias, kernel_initializer=orthogonal(), bias_initializer="zeros",
        name=name,
    )


@keras.saving.register_keras_serializable(package="mirrorgan_keras")
class SyncBatchNormalization(keras.layers.BatchNormalization):
    """Synchronized ``keras.layers.BatchNormalization`` that trains with TensorFlow's fused
    kernel when there is one replica.

    Keras computes synchronized batch statistics and the normalisation with a dozen
    element-wise ops and reductions, and about as many in the gradient. Training on one
    replica without a GPU, a ``[B, H, W, C]`` input is normalised by ``FusedBatchNormV3``
    instead (one op each way, 2–3× faster with its gradient on CPU): the same batch mean,
    biased variance, epsilon and moving averages (the op's unbiased batch variance is
    rescaled). Several replicas (statistics of the global batch), GPUs (cuDNN's fused kernel
    needs epsilon above 1e-5), inference and other ranks use Keras's computation.
    """

    def call(self, inputs, training=None, mask=None):
        if not self._fused(inputs, training, mask):
            return super().call(inputs, training=training, mask=mask)
        outputs, mean, variance, *_ = tf.raw_ops.FusedBatchNormV3(
            x=inputs, scale=self.gamma, offset=self.beta, mean=tf.zeros([0]),
            variance=tf.zeros([0]), epsilon=self.epsilon, exponential_avg_factor=1.0,
            data_format="NHWC", is_training=True,
        )
        count = tf.cast(tf.reduce_prod(tf.shape(inputs)[:-1]), tf.float32)
        variance *= tf.maximum(count - 1.0, 0.0) / count
        for moving, batch in ((self.moving_mean, mean), (self.moving_variance, variance)):
            moving.assign(moving * self.momentum + batch * (1.0 - self.momentum))
        return ops.cast(outputs, self.compute_dtype)

    def _fused(self, inputs, training, mask) -> bool:
        context = tf.distribute.get_replica_context()
        return bool(
            training and self.trainable and mask is None and len(inputs.shape) == 4
            and self.axis in (-1, 3) and self.center and self.scale and not self.renorm
            and keras.backend.backend() == "tensorflow" and context is not None
            and context.num_replicas_in_sync == 1 and not tf.config.list_logical_devices("GPU")
        )


def batch_norm(
    name: str | None = None, momentum: float = BN_MOMENTUM
) -> keras.layers.BatchNormalization:
    """Batch norm over the last axis with the reference momentum, epsilon and gamma init."""
    return SyncBatchNormalization(
        momentum=momentum, epsilon=BN_EPSILON, synchronized=True,
        gamma_initializer=keras.initializers.RandomNormal(mean=1.0, stddev=0.02), name=name,
    )


def uniform(limit: float = 0.1) -> keras.initializers.Initializer:
    """U(-limit, limit): the reference init of the text embedding and encoder projections."""
    return keras.initializers.RandomUniform(-limit, limit)


def conv_norm_act(hidden, filters: int, strides: int, index: int):
    """conv3×3 (bias-free) → synchronized batch norm → LeakyReLU(0.2), on a functional tensor.

    The unit of the small CNN backbones of the CPU presets.
    """
    hidden = PatchConv2D(filters, 3, strides=strides, padding="same", use_bias=False,
                         name=f"conv{index}")(hidden)
    hidden = SyncBatchNormalization(epsilon=BN_EPSILON, synchronized=True,
                                    name=f"norm{index}")(hidden)
    return keras.layers.LeakyReLU(LEAKY_SLOPE, name=f"act{index}")(hidden)


# Backbones that have no downloadable weights, and where their weights come from instead.
_WEIGHTS_ELSEWHERE = {
    "small": "it trains from scratch",
    "inception_v3_torch": "load converted ones: recipes/convert_torch.py",
}


def check_backbone(backbone: str, choices: tuple[str, ...], weights) -> None:
    """Rejects an unknown backbone name, and a ``weights`` source for a backbone that has no
    downloadable weights ("small", "inception_v3_torch")."""
    if backbone not in choices:
        raise ValueError(f"backbone must be one of {choices}, got {backbone!r}")
    if backbone in _WEIGHTS_ELSEWHERE and weights is not None:
        raise ValueError(f"the {backbone} backbone has no pretrained weights "
                         f"({_WEIGHTS_ELSEWHERE[backbone]}); use weights=None")
