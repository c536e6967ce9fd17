import numpy as np

from mirrorgan_keras.layers import ConditioningAugmentation
from tests.layers.roundtrip import assert_config_round_trip, assert_saved_round_trip


def _numpy_ca(layer, sentence, noise):
    kernel, bias = (np.asarray(w) for w in layer.projection.weights)
    projected = sentence @ kernel + bias
    half = projected.shape[-1] // 2
    gated = projected[:, :half] / (1.0 + np.exp(-projected[:, half:]))
    mu, logvar = gated[:, : half // 2], gated[:, half // 2 :]
    return mu + np.exp(0.5 * logvar) * noise, mu, logvar


def test_conditioning_matches_numpy(rng):
    layer = ConditioningAugmentation(100)
    sentence = rng.normal(size=(2, 256)).astype("float32")
    noise = rng.normal(size=(2, 100)).astype("float32")
    got = layer(sentence, noise=noise)
    for g, want in zip(got, _numpy_ca(layer, sentence, noise), strict=True):
        assert g.shape == (2, 100)
        np.testing.assert_allclose(np.asarray(g), want, atol=1e-5)


def test_conditioning_samples_noise_when_omitted(rng):
    layer = ConditioningAugmentation(16, seed=3)
    sentence = rng.normal(size=(64, 8)).astype("float32")
    c1, mu, logvar = (np.asarray(t) for t in layer(sentence))
    c2 = np.asarray(layer(sentence)[0])
    assert not np.allclose(c1, c2)  # fresh noise each call
    eps = (c1 - mu) / np.exp(0.5 * logvar)
    assert abs(eps.mean()) < 0.1 and abs(eps.std() - 1.0) < 0.1


def test_conditioning_round_trips(rng, tmp_path):
    sentence = rng.normal(size=(2, 12)).astype("float32")
    noise = rng.normal(size=(2, 4)).astype("float32")
    assert_config_round_trip(ConditioningAugmentation(4), sentence, noise=noise)
    assert_saved_round_trip(
        ConditioningAugmentation(4), tmp_path, {"sentence": sentence, "noise": noise}
    )
