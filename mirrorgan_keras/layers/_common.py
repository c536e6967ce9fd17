"""Factories for the sub-layers every MirrorGAN block uses, with the reference initialisation.

Spec §5.4 and §12: convolution and dense kernels are orthogonal (gain 1), biases zero, batch
norm gamma ~ N(1, 0.02) and beta 0, PyTorch momentum 0.1 (Keras 0.9) and epsilon 1e-5.
Batch norm is synchronized across replicas, so a step on N replicas normalises with the
statistics of the global batch, exactly as one device would.
"""

from __future__ import annotations

import keras

BN_MOMENTUM = 0.9
BN_EPSILON = 1e-5
LEAKY_SLOPE = 0.2


def orthogonal() -> keras.initializers.Initializer:
    """The kernel initialiser of the generator and discriminators."""
    return keras.initializers.Orthogonal(gain=1.0)


def conv2d(filters: int, kernel_size: int, strides: int = 1, use_bias: bool = False,
           padding: str = "same", name: str | None = None) -> keras.layers.Conv2D:
    """A bias-free (by default) NHWC convolution with orthogonal kernel."""
    return keras.layers.Conv2D(
        filters, kernel_size, strides=strides, padding=padding, use_bias=use_bias,
        kernel_initializer=orthogonal(), bias_initializer="zeros", name=name,
    )


def dense(units: int, use_bias: bool = True, name: str | None = None) -> keras.layers.Dense:
    """A dense layer with orthogonal kernel and zero bias."""
    return keras.layers.Dense(
        units, use_bias=use_bias, kernel_initializer=orthogonal(), bias_initializer="zeros",
        name=name,
    )


def batch_norm(
    name: str | None = None, momentum: float = BN_MOMENTUM
) -> keras.layers.BatchNormalization:
    """Batch norm over the last axis with the reference momentum, epsilon and gamma init."""
    return keras.layers.BatchNormalization(
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
    hidden = keras.layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False,
                                 name=f"conv{index}")(hidden)
    hidden = keras.layers.BatchNormalization(epsilon=BN_EPSILON, synchronized=True,
                                             name=f"norm{index}")(hidden)
    return keras.layers.LeakyReLU(LEAKY_SLOPE, name=f"act{index}")(hidden)


def check_backbone(backbone: str, choices: tuple[str, ...], weights) -> None:
    """Rejects an unknown backbone name, and pretrained weights for the "small" backbone."""
    if backbone not in choices:
        raise ValueError(f"backbone must be one of {choices}, got {backbone!r}")
    if backbone == "small" and weights is not None:
        raise ValueError("the small backbone has no pretrained weights; use weights=None")
