"""Inception-v3 as the original TF-Slim of tensorflow/models builds it (the first Inception
training code, 2016), the network of StackGAN's fine-tuned birds Inception that defines the CUB
Inception Score (docs/evaluation.md, docs/design.md §9).

The function is ``keras.applications.InceptionV3``'s main path: every unit is a bias-free
convolution, a batch norm with a beta but no gamma (slim's ``scale=False``) and epsilon 1e-3,
then ReLU; the 3×3 stride-1 average pools are "same" and leave the padding out of the mean
(TensorFlow's rule, unlike :mod:`mirrorgan_keras.layers.torch_inception`, whose torchvision
pools count it, and whose batch norms have a gamma). It differs from the Keras application in
its layer names, in a final fully connected layer of ``num_classes`` logits with class 0
reserved for "background" (51 for the birds model: its 50 classes + 1), and in the optional
auxiliary head. Inputs are ``[B, S, S, 3]`` in [-1, 1] (S = 299 for the reference; any S ≥ 75
without the auxiliary head); no transform is applied inside.

Layer names are the slim variable scopes with "/" written "." (Keras forbids "/"), so a
checkpoint variable maps to a layer by name (:mod:`mirrorgan_keras.convert.slim_inception`):

* ``<scope>/weights`` → kernel ``[h, w, in, out]`` of Conv2D ``<scope>`` (every convolution);
* ``<scope>/BatchNorm/beta``, ``moving_mean``, ``moving_variance`` → beta, moving mean,
  moving variance ``[out]`` of BatchNormalization ``<scope>.BatchNorm``;
* ``logits/logits/weights`` ``[2048, C]`` and ``biases`` ``[C]`` → Dense ``logits.logits``;
* ``aux_logits/FC/weights`` ``[768, C]`` and ``biases`` ``[C]`` → Dense ``aux_logits.FC``.

The convolution scopes are ``conv0`` … ``conv4`` (stem, e.g. ``conv0/weights [3, 3, 3, 32]``),
then ``<block>/<branch>/Conv``, ``Conv_1``, ``Conv_2`` … (slim's default names, numbered in
creation order inside a branch), e.g. ``mixed_35x35x256a/branch5x5/Conv_1/weights
[5, 5, 48, 64]``, ``mixed_8x8x2048b/branch3x3dbl/Conv_3/weights [3, 1, 384, 384]``; the blocks
are ``mixed_35x35x256a``, ``mixed_35x35x288a/b``, ``mixed_17x17x768a``–``e``,
``mixed_17x17x1280a`` and ``mixed_8x8x2048a/b``. The auxiliary head (``aux_logits``: 5×5
stride-3 average pool, ``proj`` 1×1 128, ``Conv`` 5×5 768 "valid", ``FC``) feeds only slim's
training loss; it is built on request. Slim's final dropout is the identity at inference and
is left out.
"""

from __future__ import annotations

import itertools

import keras

BN_EPSILON = 1e-3  # inception_model.inference's batch_norm_params
BN_DECAY = 0.9997  # BATCHNORM_MOVING_AVERAGE_DECAY (only used if trained)
BIRDS_CLASSES = 51  # StackGAN's birds model: 50 CUB classes + background class 0
REFERENCE_SIZE = 299
SCOPE_SEPARATOR = "/"
NAME_SEPARATOR = "."
AUX_SCOPE = "aux_logits"
AUX_POOL, AUX_STRIDE, AUX_FILTERS, AUX_FEATURES = 5, 3, 128, 768
POOL_FEATURES = 2048

# The stem: (scope, filters, kernel, strides, padding), and the max pools after two units.
_STEM = (
    ("conv0", 32, 3, 2, "valid"),
    ("conv1", 32, 3, 1, "valid"),
    ("conv2", 64, 3, 1, "same"),
    ("conv3", 80, 1, 1, "valid"),
    ("conv4", 192, 3, 1, "valid"),
)
_POOL_AFTER = {"conv2": "pool1", "conv4": "pool2"}


def layer_name(scope: str) -> str:
    """The Keras layer name of a slim variable scope (``a/b/Conv`` → ``a.b.Conv``)."""
    return scope.replace(SCOPE_SEPARATOR, NAME_SEPARATOR)


def scope_of(name: str) -> str:
    """The slim variable scope of a Keras layer name (inverse of :func:`layer_name`)."""
    return name.replace(NAME_SEPARATOR, SCOPE_SEPARATOR)


def slim_conv(inputs, scope: str, filters: int, kernel, *, strides: int = 1,
              padding: str = "same"):
    """slim's ``ops.conv2d`` with batch norm: conv (no bias) → BN (beta, no gamma) → ReLU.

    ``[B, H, W, in]`` → ``[B, H', W', filters]``; layers ``<scope>``, ``<scope>.BatchNorm``.
    """
    hidden = keras.layers.Conv2D(filters, kernel, strides=strides, padding=padding,
                                 use_bias=False, name=layer_name(scope))(inputs)
    hidden = keras.layers.BatchNormalization(
        scale=False, epsilon=BN_EPSILON, momentum=BN_DECAY,
        name=layer_name(f"{scope}/BatchNorm"))(hidden)
    return keras.layers.ReLU(name=layer_name(f"{scope}/Relu"))(hidden)


def _default_scopes(scope: str):
    """slim's names of the unnamed convolutions created in ``scope``: Conv, Conv_1, …"""
    yield f"{scope}/Conv"
    for index in itertools.count(1):
        yield f"{scope}/Conv_{index}"


def _chain(inputs, scope: str, units):
    """Convolutions ``units`` = ((filters, kernel[, strides, padding]), …) in ``scope``."""
    names, hidden = _default_scopes(scope), inputs
    for filters, kernel, *placement in units:
        strides, padding = placement or (1, "same")
        hidden = slim_conv(hidden, next(names), filters, kernel, strides=strides,
                           padding=padding)
    return hidden


def _split_pair(inputs, names, filters: int, name: str):
    """The 1×3 and 3×1 convolutions of the 8×8 blocks, concatenated: ``2 * filters``."""
    return _concatenate([slim_conv(inputs, next(names), filters, (1, 3)),
                         slim_conv(inputs, next(names), filters, (3, 1))], name)


def _average_pool(inputs, scope: str):
    """3×3 stride-1 "same" average pool; TensorFlow leaves the padding out of the mean."""
    return keras.layers.AveragePooling2D(3, strides=1, padding="same",
                                         name=layer_name(f"{scope}/AvgPool"))(inputs)


def _max_pool(inputs, name: str):
    """3×3 stride-2 "valid" max pool."""
    return keras.layers.MaxPooling2D(3, strides=2, padding="valid", name=name)(inputs)


def _concatenate(branches, name: str):
    return keras.layers.Concatenate(axis=-1, name=layer_name(name))(branches)


def block_35x35(inputs, scope: str, pool_features: int):
    """``mixed_35x35x*``: 64 + 64 + 96 + ``pool_features`` channels."""
    branches = [
        _chain(inputs, f"{scope}/branch1x1", [(64, 1)]),
        _chain(inputs, f"{scope}/branch5x5", [(48, 1), (64, 5)]),
        _chain(inputs, f"{scope}/branch3x3dbl", [(64, 1), (96, 3), (96, 3)]),
        _chain(_average_pool(inputs, f"{scope}/branch_pool"), f"{scope}/branch_pool",
               [(pool_features, 1)]),
    ]
    return _concatenate(branches, scope)


def block_17x17_reduction(inputs, scope: str):
    """``mixed_17x17x768a``: stride 2, 384 + 96 + input channels."""
    branches = [
        _chain(inputs, f"{scope}/branch3x3", [(384, 3, 2, "valid")]),
        _chain(inputs, f"{scope}/branch3x3dbl", [(64, 1), (96, 3), (96, 3, 2, "valid")]),
        _max_pool(inputs, layer_name(f"{scope}/branch_pool/MaxPool")),
    ]
    return _concatenate(branches, scope)


def block_17x17(inputs, scope: str, width: int):
    """``mixed_17x17x768b``–``e``: 4 × 192 channels, 7×7 factorised with ``width`` inside."""
    branches = [
        _chain(inputs, f"{scope}/branch1x1", [(192, 1)]),
        _chain(inputs, f"{scope}/branch7x7", [(width, 1), (width, (1, 7)), (192, (7, 1))]),
        _chain(inputs, f"{scope}/branch7x7dbl",
               [(width, 1), (width, (7, 1)), (width, (1, 7)), (width, (7, 1)), (192, (1, 7))]),
        _chain(_average_pool(inputs, f"{scope}/branch_pool"), f"{scope}/branch_pool",
               [(192, 1)]),
    ]
    return _concatenate(branches, scope)


def block_8x8_reduction(inputs, scope: str):
    """``mixed_17x17x1280a`` (slim kept the name; its output is 8×8×1280): stride 2."""
    branches = [
        _chain(inputs, f"{scope}/branch3x3", [(192, 1), (320, 3, 2, "valid")]),
        _chain(inputs, f"{scope}/branch7x7x3",
               [(192, 1), (192, (1, 7)), (192, (7, 1)), (192, 3, 2, "valid")]),
        _max_pool(inputs, layer_name(f"{scope}/branch_pool/MaxPool")),
    ]
    return _concatenate(branches, scope)


def block_8x8(inputs, scope: str):
    """``mixed_8x8x2048*``: 320 + 768 + 768 + 192 = 2048 channels."""
    names = _default_scopes(f"{scope}/branch3x3")
    branch3x3 = slim_conv(inputs, next(names), 384, 1)
    branch3x3 = _split_pair(branch3x3, names, 384, f"{scope}/branch3x3/concat")
    names = _default_scopes(f"{scope}/branch3x3dbl")
    double = slim_conv(inputs, next(names), 448, 1)
    double = slim_conv(double, next(names), 384, 3)
    double = _split_pair(double, names, 384, f"{scope}/branch3x3dbl/concat")
    branches = [
        _chain(inputs, f"{scope}/branch1x1", [(320, 1)]),
        branch3x3,
        double,
        _chain(_average_pool(inputs, f"{scope}/branch_pool"), f"{scope}/branch_pool",
               [(192, 1)]),
    ]
    return _concatenate(branches, scope)


# The mixed blocks in order: (scope, block, extra argument).
_MIXED = (
    ("mixed_35x35x256a", block_35x35, 32),
    ("mixed_35x35x288a", block_35x35, 64),
    ("mixed_35x35x288b", block_35x35, 64),
    ("mixed_17x17x768a", block_17x17_reduction, None),
    ("mixed_17x17x768b", block_17x17, 128),
    ("mixed_17x17x768c", block_17x17, 160),
    ("mixed_17x17x768d", block_17x17, 160),
    ("mixed_17x17x768e", block_17x17, 192),
    ("mixed_17x17x1280a", block_8x8_reduction, None),
    ("mixed_8x8x2048a", block_8x8, None),
    ("mixed_8x8x2048b", block_8x8, None),
)
_AUX_INPUT = "mixed_17x17x768e"


def auxiliary_head(inputs, num_classes: int):
    """slim's ``aux_logits`` head: ``[B, 17, 17, 768]`` → ``[B, num_classes]`` at S = 299.

    Its ``Conv`` kernel covers the whole pooled map (5×5 at S = 299), as in slim.
    """
    hidden = keras.layers.AveragePooling2D(AUX_POOL, strides=AUX_STRIDE, padding="valid",
                                           name=layer_name(f"{AUX_SCOPE}/AvgPool"))(inputs)
    hidden = slim_conv(hidden, f"{AUX_SCOPE}/proj", AUX_FILTERS, 1)
    hidden = slim_conv(hidden, f"{AUX_SCOPE}/Conv", AUX_FEATURES, tuple(hidden.shape[1:3]),
                       padding="valid")
    hidden = keras.layers.Flatten(name=layer_name(f"{AUX_SCOPE}/Flatten"))(hidden)
    return keras.layers.Dense(num_classes, name=layer_name(f"{AUX_SCOPE}/FC"))(hidden)


def slim_inception_v3(num_classes: int = BIRDS_CLASSES, *, image_size: int = REFERENCE_SIZE,
                      aux_logits: bool = False) -> keras.Model:
    """slim's Inception-v3 in inference mode (batch norms use their moving statistics).

    ``[B, S, S, 3]`` in [-1, 1] → ``{"logits": [B, num_classes], "pool": [B, 2048]}`` (the
    global average of ``mixed_8x8x2048b``), plus ``"aux_logits": [B, num_classes]`` with
    ``aux_logits`` (needs S = 299: its kernel shape follows the map). Random weights: load a
    checkpoint with :func:`mirrorgan_keras.convert.load_slim_inception_checkpoint`.
    """
    images = keras.Input((image_size, image_size, 3), name="images")
    hidden = images
    for scope, filters, kernel, strides, padding in _STEM:
        hidden = slim_conv(hidden, scope, filters, kernel, strides=strides, padding=padding)
        if scope in _POOL_AFTER:
            hidden = _max_pool(hidden, _POOL_AFTER[scope])
    outputs = {}
    for scope, block, argument in _MIXED:
        hidden = block(hidden, scope) if argument is None else block(hidden, scope, argument)
        if scope == _AUX_INPUT and aux_logits:
            outputs["aux_logits"] = auxiliary_head(hidden, num_classes)
    pool = keras.layers.GlobalAveragePooling2D(name=layer_name("logits/pool"))(hidden)
    outputs["pool"] = pool
    outputs["logits"] = keras.layers.Dense(num_classes, name=layer_name("logits/logits"))(pool)
    return keras.Model(images, outputs, name="slim_inception_v3")
