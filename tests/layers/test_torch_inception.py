"""The torchvision-exact Inception-v3 trunk ("inception_v3_torch" backbone). Its numerical
equality with a PyTorch forward pass is in tests/test_convert.py."""

import keras
import numpy as np
import pytest

from mirrorgan_keras.layers import RegionImageEncoder
from mirrorgan_keras.layers.torch_inception import (
    average_pool_with_padding,
    torch_inception_v3_trunk,
)
from tests.layers.roundtrip import assert_config_round_trip


@pytest.fixture(scope="module")
def trunk():
    return torch_inception_v3_trunk(75)


def _convolutions(model):
    return [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]


def test_average_pool_counts_the_padding():
    inputs = keras.Input((3, 4, 1))
    pool = keras.Model(inputs, average_pool_with_padding(inputs, "pool"))
    pooled = np.asarray(pool(np.ones((1, 3, 4, 1), "float32")))[0, :, :, 0]
    np.testing.assert_allclose(pooled, [[4 / 9, 6 / 9, 6 / 9, 4 / 9],
                                        [6 / 9, 1.0, 1.0, 6 / 9],
                                        [4 / 9, 6 / 9, 6 / 9, 4 / 9]], rtol=1e-6)


def test_same_convolutions_as_keras_inception_plus_scaled_batch_norm(trunk):
    keras_inception = keras.applications.InceptionV3(include_top=False, weights=None,
                                                     input_shape=(75, 75, 3))
    shapes = sorted(tuple(layer.kernel.shape) for layer in _convolutions(trunk))
    assert shapes == sorted(tuple(layer.kernel.shape) for layer in _convolutions(keras_inception))
    assert len(shapes) == 94
    norms = [layer for layer in trunk.layers
             if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(norms) == 94
    assert all(layer.scale and layer.center and layer.epsilon == 1e-3 for layer in norms)


def test_layers_carry_torchvision_module_paths(trunk):
    names = {layer.name for layer in _convolutions(trunk)}
    for path in ("Conv2d_1a_3x3", "Conv2d_4a_3x3", "Mixed_5b.branch_pool", "Mixed_6a.branch3x3",
                 "Mixed_6e.branch7x7dbl_5", "Mixed_7a.branch7x7x3_4", "Mixed_7c.branch3x3dbl_3b"):
        assert f"{path}.conv" in names
        assert trunk.get_layer(f"{path}.bn") is not None


def test_outputs_are_mixed_6e_and_mixed_7c(trunk):
    regions, top = trunk(np.zeros((2, 75, 75, 3), "float32"))
    assert regions.shape == (2, 3, 3, 768) and top.shape == (2, 1, 1, 2048)


def test_region_encoder_takes_the_torch_backbone_without_downloadable_weights():
    with pytest.raises(ValueError, match="inception_v3_torch backbone has no pretrained"):
        RegionImageEncoder(backbone="inception_v3_torch", weights="imagenet")
    encoder = RegionImageEncoder(16, backbone="inception_v3_torch", weights=None, image_size=75)
    images = np.random.default_rng(0).uniform(-1, 1, (1, 64, 64, 3)).astype("float32")
    assert_config_round_trip(encoder, images)
    trainable = [tuple(w.shape) for w in encoder.trainable_weights]
    assert trainable == [(1, 1, 768, 16), (2048, 16), (16,)]
