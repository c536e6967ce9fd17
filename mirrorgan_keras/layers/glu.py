"""Gated linear unit over the channel axis."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="mirrorgan_keras")
class GLU(keras.layers.Layer):
    """Splits the last axis in two halves ``a | b`` and returns ``a * sigmoid(b)``.

    Input ``[..., 2C]`` → output ``[..., C]``; the last axis must be even.

    Example::

        GLU()(keras.ops.ones((2, 8, 8, 64))).shape  # (2, 8, 8, 32)
    """

    def call(self, inputs):
        channels = inputs.shape[-1]
        if channels is not None and channels % 2:
            raise ValueError(f"GLU needs an even last axis, got {channels}")
        value, gate = ops.split(inputs, 2, axis=-1)
        return value * ops.sigmoid(gate)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] // 2)
