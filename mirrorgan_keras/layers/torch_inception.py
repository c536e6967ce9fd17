"""Inception-v3 as torchvision computes it, for the reference DAMSM image encoder
(docs/design.md §4).

``keras.applications.InceptionV3`` and torchvision's ``inception_v3`` have the same layers but
are not the same function: Keras's batch norms have no scale (gamma), and its 3×3 average
pools in the mixed blocks leave the zero padding out of the mean, where torchvision's count it
(``count_include_pad=True``: border outputs are sums / 9). Weights converted from PyTorch
(AttnGAN's ``image_encoder*.pth``) need this variant to compute the reference features.

Every unit is torchvision's ``BasicConv2d``: a bias-free convolution, batch norm with scale
and epsilon 1e-3, ReLU. Its Keras layers are named after the torchvision module path, so a
checkpoint key maps to a layer by name: ``Mixed_6e.branch7x7_2.conv.weight`` is the kernel of
layer ``Mixed_6e.branch7x7_2.conv``, ``….bn.weight`` / ``bias`` / ``running_mean`` /
``running_var`` are gamma / beta / moving mean / moving variance of layer ``….bn``.
Convolutions that torchvision pads (stride 1, padding ``k // 2``) use "same", the others
"valid"; the max pools are 3×3 stride 2 "valid", as in torchvision.

AttnGAN's encoder runs the trunk's modules one by one (no ``transform_input``) on images in
[-1, 1], so no input transform is applied here either.

:func:`fid_inception_v3` is the FID Inception: TensorFlow's Inception graph of 2015-12-05, the
network behind every published FID, as pytorch-fid and torch-fidelity port it
(docs/evaluation.md). Its units and names are torchvision's, with three differences: the 3×3
average pools of ``Mixed_5b``–``5d``, ``Mixed_6b``–``6e`` and ``Mixed_7b`` leave the padding
out of the mean (TensorFlow's "SAME" pooling), ``Mixed_7c``'s pool branch takes a 3×3 stride-1
max pool instead, and the classifier ``fc`` has 1008 outputs. No input transform either: the
scorer resizes and scales (:mod:`mirrorgan_keras.evaluation.fid_inception`).

:func:`torchvision_inception_v3` is torchvision's ImageNet classifier whole but its auxiliary
head: the network the FID code of DM-GAN, DF-GAN and GALIP loads, so their published FIDs are
computed with it (docs/evaluation.md).
"""

from __future__ import annotations

import keras

BN_EPSILON = 1e-3  # torchvision's BasicConv2d
BN_MOMENTUM = 0.9  # PyTorch's default momentum 0.1
INCEPTION_SIZE = 299
POOL_FEATURES = 2048
FID_CLASSES = 1008  # the 2015 graph's classifier: ImageNet's 1000 classes and 8 unused
IMAGENET_CLASSES = 1000

# The stem's BasicConv2d units: (torchvision name, filters, kernel, strides, padding), and the
# max pools (torchvision's names) that follow two of them.
_STEM = (
    ("Conv2d_1a_3x3", 32, 3, 2, "valid"),
    ("Conv2d_2a_3x3", 32, 3, 1, "valid"),
    ("Conv2d_2b_3x3", 64, 3, 1, "same"),
    ("Conv2d_3b_1x1", 80, 1, 1, "valid"),
    ("Conv2d_4a_3x3", 192, 3, 1, "valid"),
)
_POOL_AFTER = {"Conv2d_2b_3x3": "maxpool1", "Conv2d_4a_3x3": "maxpool2"}


def basic_conv(inputs, path: str, filters: int, kernel, *, strides: int = 1,
               padding: str = "same"):
    """torchvision's ``BasicConv2d`` at module ``path``: conv (no bias) → BN(eps 1e-3) → ReLU."""
    hidden = keras.layers.Conv2D(filters, kernel, strides=strides, padding=padding,
                                 use_bias=False, name=f"{path}.conv")(inputs)
    hidden = keras.layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM,
                                             name=f"{path}.bn")(hidden)
    return keras.layers.ReLU(name=f"{path}.relu")(hidden)


def average_pool_with_padding(inputs, name: str):
    """3×3 stride-1 average pool over zero padding of 1: every output is a sum / 9, as
    PyTorch's ``avg_pool2d(kernel_size=3, stride=1, padding=1)`` (``count_include_pad``)."""
    padded = keras.layers.ZeroPadding2D(1, name=f"{name}.pad")(inputs)
    return keras.layers.AveragePooling2D(3, strides=1, padding="valid", name=name)(padded)


def average_pool_without_padding(inputs, name: str):
    """3×3 stride-1 average pool whose border outputs average only the cells inside the input,
    as TensorFlow's "SAME" pooling and PyTorch's ``count_include_pad=False``."""
    return keras.layers.AveragePooling2D(3, strides=1, padding="same", name=name)(inputs)


def max_pool_same(inputs, name: str):
    """3×3 stride-1 max pool over a padding of 1 that never wins (the FID graph's ``Mixed_7c``)."""
    return keras.layers.MaxPooling2D(3, strides=1, padding="same", name=name)(inputs)


def max_pool(inputs, name: str):
    """3×3 stride-2 max pool without padding."""
    return keras.layers.MaxPooling2D(3, strides=2, padding="valid", name=name)(inputs)


def _concatenate(branches, name: str):
    return keras.layers.Concatenate(axis=-1, name=name)(branches)


def inception_a(inputs, name: str, pool_features: int, pool=average_pool_with_padding):
    """torchvision's InceptionA (Mixed_5b/5c/5d): 64 + 64 + 96 + pool_features channels.

    ``pool``: the pool branch's 3×3 stride-1 pool (name, input → output), this module's
    ``average_pool_with_padding`` for torchvision, another for the FID graph (as in C and E)."""
    conv = _prefixed(name)
    branch1x1 = basic_conv(inputs, conv("branch1x1"), 64, 1)
    branch5x5 = basic_conv(inputs, conv("branch5x5_1"), 48, 1)
    branch5x5 = basic_conv(branch5x5, conv("branch5x5_2"), 64, 5)
    double = basic_conv(inputs, conv("branch3x3dbl_1"), 64, 1)
    double = basic_conv(double, conv("branch3x3dbl_2"), 96, 3)
    double = basic_conv(double, conv("branch3x3dbl_3"), 96, 3)
    pool = pool(inputs, conv("avg_pool"))
    pool = basic_conv(pool, conv("branch_pool"), pool_features, 1)
    return _concatenate([branch1x1, branch5x5, double, pool], name)


def inception_b(inputs, name: str):
    """torchvision's InceptionB (Mixed_6a): stride 2, 384 + 96 + input channels."""
    conv = _prefixed(name)
    branch3x3 = basic_conv(inputs, conv("branch3x3"), 384, 3, strides=2, padding="valid")
    double = basic_conv(inputs, conv("branch3x3dbl_1"), 64, 1)
    double = basic_conv(double, conv("branch3x3dbl_2"), 96, 3)
    double = basic_conv(double, conv("branch3x3dbl_3"), 96, 3, strides=2, padding="valid")
    pool = max_pool(inputs, conv("max_pool"))
    return _concatenate([branch3x3, double, pool], name)


def inception_c(inputs, name: str, channels_7x7: int, pool=average_pool_with_padding):
    """torchvision's InceptionC (Mixed_6b–6e): 4 × 192 channels."""
    conv, width = _prefixed(name), channels_7x7
    branch1x1 = basic_conv(inputs, conv("branch1x1"), 192, 1)
    branch7x7 = basic_conv(inputs, conv("branch7x7_1"), width, 1)
    branch7x7 = basic_conv(branch7x7, conv("branch7x7_2"), width, (1, 7))
    branch7x7 = basic_conv(branch7x7, conv("branch7x7_3"), 192, (7, 1))
    double = basic_conv(inputs, conv("branch7x7dbl_1"), width, 1)
    double = basic_conv(double, conv("branch7x7dbl_2"), width, (7, 1))
    double = basic_conv(double, conv("branch7x7dbl_3"), width, (1, 7))
    double = basic_conv(double, conv("branch7x7dbl_4"), width, (7, 1))
    double = basic_conv(double, conv("branch7x7dbl_5"), 192, (1, 7))
    pool = pool(inputs, conv("avg_pool"))
    pool = basic_conv(pool, conv("branch_pool"), 192, 1)
    return _concatenate([branch1x1, branch7x7, double, pool], name)


def inception_d(inputs, name: str):
    """torchvision's InceptionD (Mixed_7a): stride 2, 320 + 192 + input channels."""
    conv = _prefixed(name)
    branch3x3 = basic_conv(inputs, conv("branch3x3_1"), 192, 1)
    branch3x3 = basic_conv(branch3x3, conv("branch3x3_2"), 320, 3, strides=2, padding="valid")
    branch7x7 = basic_conv(inputs, conv("branch7x7x3_1"), 192, 1)
    branch7x7 = basic_conv(branch7x7, conv("branch7x7x3_2"), 192, (1, 7))
    branch7x7 = basic_conv(branch7x7, conv("branch7x7x3_3"), 192, (7, 1))
    branch7x7 = basic_conv(branch7x7, conv("branch7x7x3_4"), 192, 3, strides=2,
                           padding="valid")
    pool = max_pool(inputs, conv("max_pool"))
    return _concatenate([branch3x3, branch7x7, pool], name)


def inception_e(inputs, name: str, pool=average_pool_with_padding):
    """torchvision's InceptionE (Mixed_7b/7c): 320 + 768 + 768 + 192 = 2048 channels."""
    conv = _prefixed(name)
    branch1x1 = basic_conv(inputs, conv("branch1x1"), 320, 1)
    branch3x3 = basic_conv(inputs, conv("branch3x3_1"), 384, 1)
    branch3x3 = _concatenate([basic_conv(branch3x3, conv("branch3x3_2a"), 384, (1, 3)),
                              basic_conv(branch3x3, conv("branch3x3_2b"), 384, (3, 1))],
                             conv("branch3x3"))
    double = basic_conv(inputs, conv("branch3x3dbl_1"), 448, 1)
    double = basic_conv(double, conv("branch3x3dbl_2"), 384, 3)
    double = _concatenate([basic_conv(double, conv("branch3x3dbl_3a"), 384, (1, 3)),
                           basic_conv(double, conv("branch3x3dbl_3b"), 384, (3, 1))],
                          conv("branch3x3dbl"))
    pool = pool(inputs, conv("avg_pool"))
    pool = basic_conv(pool, conv("branch_pool"), 192, 1)
    return _concatenate([branch1x1, branch3x3, double, pool], name)


def _prefixed(name: str):
    return lambda child: f"{name}.{child}"


# The mixed blocks in order: (torchvision name, block, extra argument).
_MIXED = (
    ("Mixed_5b", inception_a, 32),
    ("Mixed_5c", inception_a, 64),
    ("Mixed_5d", inception_a, 64),
    ("Mixed_6a", inception_b, None),
    ("Mixed_6b", inception_c, 128),
    ("Mixed_6c", inception_c, 160),
    ("Mixed_6d", inception_c, 160),
    ("Mixed_6e", inception_c, 192),
    ("Mixed_7a", inception_d, None),
    ("Mixed_7b", inception_e, None),
    ("Mixed_7c", inception_e, None),
)


def torch_inception_v3_trunk(image_size: int = 299) -> keras.Model:
    """torchvision's Inception-v3 up to ``Mixed_7c``, without ``transform_input``.

    ``[B, S, S, 3]`` → ``(Mixed_6e [B, 17, 17, 768], Mixed_7c [B, 8, 8, 2048])`` at S = 299
    (S ≥ 75; at 75: 3×3 and 1×1). Random weights: load converted ones
    (:mod:`mirrorgan_keras.convert`). Layer names are torchvision's module paths (module
    docstring).
    """
    images = keras.Input((image_size, image_size, 3))
    outputs = _trunk(images, {})
    return keras.Model(images, [outputs["Mixed_6e"], outputs["Mixed_7c"]],
                       name="torch_inception_v3_trunk")


# The FID graph's pool branches where they are not torchvision's.
_FID_POOLS = {
    **{name: average_pool_without_padding
       for name in ("Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6b", "Mixed_6c", "Mixed_6d",
                    "Mixed_6e", "Mixed_7b")},
    "Mixed_7c": max_pool_same,
}


def torchvision_inception_v3() -> keras.Model:
    """torchvision's Inception-v3 classifier without its auxiliary head, random weights until
    loaded (:func:`mirrorgan_keras.convert.load_fid_inception_weights`).

    ``[B, 299, 299, 3]`` (no input transform) → ``(pool [B, 2048], logits [B, 1000])``.
    """
    return _classifier({}, IMAGENET_CLASSES, "torchvision_inception_v3")


def fid_inception_v3() -> keras.Model:
    """The FID Inception (module docstring), random weights until loaded
    (:func:`mirrorgan_keras.convert.load_fid_inception_weights`).

    ``[B, 299, 299, 3]`` in [-1, 1] → ``(pool [B, 2048], logits [B, 1008])``: the global
    average pool of ``Mixed_7c`` (FID's features) and the classifier ``fc`` on it. Layer names
    are pytorch-fid's module paths (``Mixed_7c.branch_pool.conv``, ``fc``).
    """
    return _classifier(_FID_POOLS, FID_CLASSES, "fid_inception_v3")


def _classifier(pools: dict, classes: int, name: str) -> keras.Model:
    """The trunk with ``pools``, its global average pool and the classifier ``fc``."""
    images = keras.Input((INCEPTION_SIZE, INCEPTION_SIZE, 3))
    hidden = _trunk(images, pools)["Mixed_7c"]
    pool = keras.layers.GlobalAveragePooling2D(name="avgpool")(hidden)
    logits = keras.layers.Dense(classes, name="fc")(pool)
    return keras.Model(images, [pool, logits], name=name)


def _trunk(images, pools: dict) -> dict:
    """The stem and the mixed blocks on ``images``: ``{block name: its output}``; ``pools``
    replaces the pool branch of the blocks it names."""
    hidden = images
    for name, filters, kernel, strides, padding in _STEM:
        hidden = basic_conv(hidden, name, filters, kernel, strides=strides, padding=padding)
        if name in _POOL_AFTER:
            hidden = max_pool(hidden, _POOL_AFTER[name])
    outputs = {}
    for name, block, argument in _MIXED:
        extra = {} if name not in pools else {"pool": pools[name]}
        hidden = block(hidden, name, *(() if argument is None else (argument,)), **extra)
        outputs[name] = hidden
    return outputs
