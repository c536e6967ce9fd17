import numpy as np
import pytest

from mirrorgan_keras.layers import GLU
from tests.layers.roundtrip import assert_config_round_trip, assert_saved_round_trip


def test_glu_matches_numpy(rng):
    x = rng.normal(size=(2, 5, 5, 8)).astype("float32")
    a, b = x[..., :4], x[..., 4:]
    expected = a / (1.0 + np.exp(-b))
    np.testing.assert_allclose(np.asarray(GLU()(x)), expected, atol=1e-6)


def test_glu_halves_channels(rng):
    """Channel k of the output is ``x[k] · σ(x[C + k])``: the first half gated by the second."""
    x = rng.normal(size=(2, 3, 3, 10))
    got = np.asarray(GLU()(x.astype("float32")))
    assert GLU().compute_output_shape((2, 3, 3, 10)) == (2, 3, 3, 5) == got.shape
    np.testing.assert_allclose(got, x[..., :5] / (1.0 + np.exp(-x[..., 5:])), atol=1e-6)


def test_glu_rejects_odd_channels():
    with pytest.raises(ValueError, match="even"):
        GLU()(np.zeros((2, 3), "float32"))


def test_glu_round_trips(rng, tmp_path):
    x = rng.normal(size=(2, 6)).astype("float32")
    assert_config_round_trip(GLU(), x)
    assert_saved_round_trip(GLU(), tmp_path, {"inputs": x})
