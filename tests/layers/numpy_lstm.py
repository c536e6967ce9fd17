"""A NumPy LSTM with the weights of a Keras LSTM cell: the independent reference of the
caption-decoder, STREAM and text-encoder tests."""

import numpy as np


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def lstm_step(cell, x: np.ndarray, state: tuple) -> tuple:
    """One step of a Keras ``LSTMCell`` in float64: ``x [B, I]``, ``state = (h, c)`` each
    ``[B, H]`` → the new ``(h, c)``. Gates in Keras's order i, f, c̃, o::

        z = x·W + h·U + b;  c' = σ(f)·c + σ(i)·tanh(c̃);  h' = σ(o)·tanh(c')
    """
    kernel, recurrent, bias = (np.asarray(w, np.float64)
                               for w in (cell.kernel, cell.recurrent_kernel, cell.bias))
    h, c = state
    i, f, candidate, o = np.split(x @ kernel + h @ recurrent + bias, 4, axis=-1)
    c = sigmoid(f) * c + sigmoid(i) * np.tanh(candidate)
    return sigmoid(o) * np.tanh(c), c


def zero_state(batch: int, cell) -> tuple:
    """``(h, c)`` zeros ``[batch, units]``."""
    return (np.zeros((batch, cell.units)),) * 2


def lstm(cell, inputs: np.ndarray) -> np.ndarray:
    """Hidden states ``[B, T, H]`` of ``inputs [B, T, I]`` from a zero state."""
    state, outputs = zero_state(len(inputs), cell), []
    for t in range(inputs.shape[1]):
        state = lstm_step(cell, inputs[:, t], state)
        outputs.append(state[0])
    return np.stack(outputs, axis=1)


def dense(layer, x: np.ndarray) -> np.ndarray:
    """``x·W + b`` of a Keras Dense layer, in float64."""
    return x @ np.asarray(layer.kernel, np.float64) + np.asarray(layer.bias, np.float64)
