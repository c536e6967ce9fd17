"""Serialization checks shared by the layer tests."""

from __future__ import annotations

import keras
import numpy as np


def _outputs(layer, args, kwargs):
    return [np.asarray(t) for t in keras.tree.flatten(layer(*args, **kwargs))]


def assert_config_round_trip(layer, *args, **kwargs):
    """``from_config(get_config())`` with the same weights gives identical outputs."""
    expected = _outputs(layer, args, kwargs)
    clone = type(layer).from_config(layer.get_config())
    clone(*args, **kwargs)
    clone.set_weights(layer.get_weights())
    for got, want in zip(_outputs(clone, args, kwargs), expected, strict=True):
        np.testing.assert_array_equal(got, want)


def assert_saved_round_trip(layer, tmp_path, inputs: dict, **constants):
    """A functional model around ``layer`` saved as ``.keras`` and loaded gives identical outputs.

    ``inputs`` maps the layer's call argument names to NumPy arrays (batch first); they become
    ``keras.Input``s. ``constants`` are passed to the call unchanged.
    """
    symbolic = {
        name: keras.Input(value.shape[1:], dtype=value.dtype.name, name=name)
        for name, value in inputs.items()
    }
    outputs = layer(**symbolic, **constants)
    model = keras.Model(symbolic, outputs)
    expected = [np.asarray(t) for t in keras.tree.flatten(model(inputs))]
    path = tmp_path / "layer.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    got = [np.asarray(t) for t in keras.tree.flatten(restored(inputs))]
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_array_equal(a, b)
