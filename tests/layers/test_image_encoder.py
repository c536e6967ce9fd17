import numpy as np
import pytest

from mirrorgan_keras.layers import RegionImageEncoder
from tests.layers.roundtrip import assert_config_round_trip


@pytest.fixture
def images(rng):
    return rng.uniform(-1, 1, size=(2, 64, 64, 3)).astype("float32")


def _moving_means(encoder):
    weights = encoder.backbone.non_trainable_weights
    return [np.asarray(w) for w in weights if "moving_mean" in w.path]


@pytest.mark.slow
def test_inception_golden_shapes_and_frozen_trunk(images):
    encoder = RegionImageEncoder(weights=None)
    regions, code = encoder(images)
    assert regions.shape == (2, 17, 17, 256) and code.shape == (2, 256)
    trainable = [tuple(w.shape) for w in encoder.trainable_weights]
    assert trainable == [(1, 1, 768, 256), (2048, 256), (256,)]
    means = _moving_means(encoder)
    encoder(images, training=True)
    for a, b in zip(means, _moving_means(encoder), strict=True):
        np.testing.assert_array_equal(a, b)  # frozen backbone runs in inference mode


@pytest.mark.slow
def test_inception_loads_a_local_weights_file(tmp_path, images):
    import keras

    source = keras.applications.InceptionV3(include_top=False, weights=None,
                                            input_shape=(299, 299, 3))
    path = tmp_path / "inception.weights.h5"
    source.save_weights(path)
    encoder = RegionImageEncoder(weights=str(path))
    loaded = encoder.backbone.weights
    assert len(loaded) == len(source.weights)
    for got, want in zip((loaded[0], loaded[-1]), (source.weights[0], source.weights[-1]),
                         strict=True):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


def test_small_backbone_has_the_same_outputs(images):
    encoder = RegionImageEncoder(backbone="small", weights=None, image_size=68,
                                 freeze_backbone=False)
    regions, code = encoder(images)
    assert regions.shape == (2, 17, 17, 256) and code.shape == (2, 256)
    assert len(encoder.trainable_weights) > 3  # trained from scratch on CPU presets


def test_projection_init_is_uniform_point_one(images):
    encoder = RegionImageEncoder(64, backbone="small", weights=None, image_size=32)
    encoder(images)
    kernel = np.asarray(encoder.code_projection.kernel)
    assert kernel.min() >= -0.1 and kernel.max() <= 0.1


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="backbone"):
        RegionImageEncoder(backbone="vgg")
    with pytest.raises(ValueError, match="weights=None"):
        RegionImageEncoder(backbone="small", weights="imagenet")


def test_loading_never_downloads(images):
    config = RegionImageEncoder(32, backbone="small", weights=None, image_size=32).get_config()
    config["backbone"], config["weights"] = "inception_v3", "imagenet"
    config["image_size"] = 75
    restored = RegionImageEncoder.from_config(config)  # would download with weights="imagenet"
    assert restored.weights_source is None


def test_image_encoder_round_trips(images, tmp_path):
    import keras

    encoder = RegionImageEncoder(32, backbone="small", weights=None, image_size=32)
    assert_config_round_trip(encoder, images)
    inputs = keras.Input((64, 64, 3))
    model = keras.Model(inputs, encoder(inputs))
    path = tmp_path / "encoder.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    for got, want in zip(restored(images), model(images), strict=True):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
