import numpy as np
import pytest

from mirrorgan_keras.config import get_preset, override
from mirrorgan_keras.models import GLAMGenerator
from tests.layers import numpy_lstm
from tests.models.factories import tiny_config


def _text(rng, batch, length, dim):
    words = rng.normal(size=(batch, length, dim)).astype("float32")
    sentence = rng.normal(size=(batch, dim)).astype("float32")
    mask = np.ones((batch, length), bool)
    mask[0, length // 2 :] = False
    return sentence, words, mask


@pytest.mark.slow
def test_cub_golden_shapes(rng):
    """docs/design.md §5: c 2×100; h0 2×64×64×32; maps 2×18×64² and 2×18×128²; images 64/128/256.
    Values: ``mu | logvar`` are the halves of GLU(Dense(sentence)) (NumPy); each pixel's word
    attention sums to 1 over the caption's real words and is exactly 0 on padding; images are
    in [-1, 1]."""
    sentence, words, mask = _text(rng, 2, 18, 256)
    generator = GLAMGenerator.from_mirrorgan_config(get_preset("cub"))
    outputs = generator(sentence, words, word_mask=mask)
    assert [tuple(i.shape) for i in outputs["images"]] == [
        (2, 64, 64, 3), (2, 128, 128, 3), (2, 256, 256, 3)
    ]
    assert [tuple(a.shape) for a in outputs["attention"]] == [(2, 18, 64, 64), (2, 18, 128, 128)]
    assert outputs["mu"].shape == (2, 100) and outputs["logvar"].shape == (2, 100)
    projected = numpy_lstm.dense(generator.conditioning.projection, sentence)
    gated = projected[:, :200] * numpy_lstm.sigmoid(projected[:, 200:])
    np.testing.assert_allclose(np.asarray(outputs["mu"]), gated[:, :100], atol=1e-4)
    np.testing.assert_allclose(np.asarray(outputs["logvar"]), gated[:, 100:], atol=1e-4)
    for maps in outputs["attention"]:
        maps = np.asarray(maps)
        np.testing.assert_allclose(maps.sum(axis=1), 1.0, atol=1e-4)
        assert np.all(maps[0, 9:] == 0.0) and np.all(maps[:, :9] > 0.0)
    assert all(np.abs(np.asarray(images)).max() <= 1.0 for images in outputs["images"])


def test_same_noise_gives_same_images_and_new_noise_differs(rng):
    config = get_preset("birds_tiny").generator
    sentence, words, mask = _text(rng, 2, 6, 64)
    generator = GLAMGenerator.from_mirrorgan_config(get_preset("birds_tiny"), seed=5)
    z = rng.normal(size=(2, config.z_dim)).astype("float32")
    condition_noise = rng.normal(size=(2, config.condition_dim)).astype("float32")
    first = generator(sentence, words, mask, noise=z, condition_noise=condition_noise,
                      training=False)
    again = generator(sentence, words, mask, noise=z, condition_noise=condition_noise,
                      training=False)
    fresh = generator(sentence, words, mask, training=False)
    np.testing.assert_array_equal(np.asarray(first["images"][-1]), np.asarray(again["images"][-1]))
    assert not np.allclose(np.asarray(first["images"][-1]), np.asarray(fresh["images"][-1]))
    assert [tuple(i.shape) for i in first["images"]] == [(2, 32, 32, 3), (2, 64, 64, 3)]


def test_attngan_configuration_drops_sentence_attention(rng):
    sentence, words, mask = _text(rng, 2, 6, 16)
    sizes = {}
    for flag in (True, False):
        generator = GLAMGenerator.from_mirrorgan_config(
            override(tiny_config(), {"generator.sentence_attention": flag}))
        sizes[flag] = sum(int(np.prod(w.shape)) for w in generator.weights)
        assert not any("sentence_branch" in w.path for w in generator.weights) or flag
    assert sizes[False] < sizes[True]


def test_generator_config_round_trip(rng):
    sentence, words, mask = _text(rng, 2, 6, 16)
    generator = GLAMGenerator(ngf=8, z_dim=4, condition_dim=4, stages=2, base_size=16)
    z = rng.normal(size=(2, 4)).astype("float32")
    expected = generator(sentence, words, mask, noise=z, condition_noise=z, training=False)
    clone = GLAMGenerator.from_config(generator.get_config())
    clone(sentence, words, mask, noise=z, condition_noise=z)
    clone.set_weights(generator.get_weights())
    got = clone(sentence, words, mask, noise=z, condition_noise=z, training=False)
    np.testing.assert_array_equal(np.asarray(got["images"][1]), np.asarray(expected["images"][1]))
