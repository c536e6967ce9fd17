import numpy as np
import pytest

from mirrorgan_keras.layers import ConvBlock, DownBlock, ImageHead, ResBlock, UpBlock
from mirrorgan_keras.layers.blocks import upsample_conv3x3
from tests.layers.roundtrip import assert_config_round_trip, assert_saved_round_trip


def test_upsample_conv3x3_is_the_convolution_of_the_nearest_upsampling(rng):
    x = rng.normal(size=(2, 3, 4, 5)).astype("float32")
    kernel = rng.normal(size=(3, 3, 5, 6)).astype("float32")
    padded = np.pad(x.repeat(2, axis=1).repeat(2, axis=2), ((0, 0), (1, 1), (1, 1), (0, 0)))
    want = np.zeros((2, 6, 8, 6))
    for i in range(6):
        for j in range(8):
            want[:, i, j] = np.einsum("bhwc,hwco->bo", padded[:, i : i + 3, j : j + 3], kernel)
    np.testing.assert_allclose(np.asarray(upsample_conv3x3(x, kernel)), want, atol=1e-4)


@pytest.mark.parametrize(
    "block, input_shape, output_shape",
    [
        (UpBlock(16), (2, 4, 4, 32), (2, 8, 8, 16)),
        (ResBlock(24), (2, 8, 8, 24), (2, 8, 8, 24)),
        (ImageHead(), (2, 8, 8, 24), (2, 8, 8, 3)),
        (DownBlock(16, use_batch_norm=False), (2, 16, 16, 3), (2, 8, 8, 16)),
        (DownBlock(32), (2, 8, 8, 16), (2, 4, 4, 32)),
        (ConvBlock(8), (2, 4, 4, 40), (2, 4, 4, 8)),
    ],
)
def test_block_shapes_and_round_trips(block, input_shape, output_shape, rng, tmp_path):
    x = rng.normal(size=input_shape).astype("float32")
    assert tuple(block(x).shape) == output_shape
    assert block.compute_output_shape(input_shape) == output_shape
    assert_config_round_trip(block, x)
    clone = type(block).from_config(block.get_config())
    assert_saved_round_trip(clone, tmp_path, {"inputs": x})


def test_up_block_is_conv_bn_glu_of_nearest_upsampling(rng):
    block = UpBlock(4)
    x = rng.normal(size=(1, 2, 2, 3)).astype("float32")
    block(x)
    (kernel,) = (np.asarray(w) for w in block.conv.weights)
    up = x.repeat(2, 1).repeat(2, 2)
    padded = np.pad(up, ((0, 0), (1, 1), (1, 1), (0, 0)))
    conv = np.zeros((1, 4, 4, 8))
    for i in range(4):
        for j in range(4):
            conv[0, i, j] = np.einsum("hwc,hwco->o", padded[0, i : i + 3, j : j + 3], kernel)
    gamma, beta, mean, var = (np.asarray(w) for w in block.norm.weights)
    normed = gamma * (conv - mean) / np.sqrt(var + 1e-5) + beta  # inference mode
    want = normed[..., :4] / (1 + np.exp(-normed[..., 4:]))
    np.testing.assert_allclose(np.asarray(block(x, training=False)), want, atol=1e-5)


def test_res_block_is_identity_when_last_norm_is_zero(rng):
    block = ResBlock(6)
    x = rng.normal(size=(2, 4, 4, 6)).astype("float32")
    block(x)
    block.norm2.gamma.assign(np.zeros(6, "float32"))
    np.testing.assert_allclose(np.asarray(block(x, training=False)), x, atol=1e-6)


def test_batch_norm_uses_reference_momentum_and_epsilon():
    block = UpBlock(4)
    block.build((1, 2, 2, 3))
    assert block.norm.momentum == pytest.approx(0.9)
    assert block.norm.epsilon == pytest.approx(1e-5)


def test_image_head_output_is_in_tanh_range(rng):
    x = rng.normal(size=(2, 8, 8, 16)).astype("float32") * 100
    y = np.asarray(ImageHead()(x))
    assert y.min() >= -1.0 and y.max() <= 1.0
