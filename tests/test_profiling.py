import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from benchmarks.profiling import (
    MatmulReference,
    graph_flops,
    peak_memory_bytes,
    resident_bytes,
    time_interleaved,
)

B, H, W, C_IN, C_OUT, K = 2, 8, 6, 3, 5, 3
CONV_FLOPS = 2 * B * H * W * K * K * C_IN * C_OUT


def _conv():
    conv = keras.layers.Conv2D(C_OUT, K, padding="same", use_bias=False)
    conv.build((B, H, W, C_IN))
    return conv


def _flops(function, *args):
    return graph_flops(tf.function(function).get_concrete_function(*args))


def test_forward_convolution_and_dense_have_the_analytic_count():
    conv, dense = _conv(), keras.layers.Dense(7)
    dense.build((B, 11))
    assert _flops(conv, tf.zeros((B, H, W, C_IN))) == CONV_FLOPS
    assert _flops(dense, tf.zeros((B, 11))) == 2 * B * 11 * 7


@pytest.mark.parametrize("wrt, factor", [("both", 3), ("kernel", 2), ("input", 2)])
def test_gradients_count_only_what_is_used(wrt, factor):
    """Forward + input gradient + kernel gradient; an unused gradient is pruned (as TensorFlow
    does before running), e.g. the kernel gradient of a frozen layer."""
    conv = _conv()
    images = tf.random.normal((B, H, W, C_IN))

    def step(images):
        with tf.GradientTape() as tape:
            tape.watch(images)
            loss = tf.reduce_sum(conv(images) ** 2)
        sources = {"both": [images, conv.kernel], "kernel": [conv.kernel], "input": [images]}
        return tape.gradient(loss, sources[wrt])

    assert _flops(step, images) == factor * CONV_FLOPS


def test_loops_count_their_body_per_step_and_einsum_its_contraction():
    steps, features, units = 4, 6, 5
    lstm = keras.layers.LSTM(units)
    lstm.build((B, steps, features))
    per_step = 2 * B * (features + units) * 4 * units  # input and recurrent kernels, 4 gates
    assert _flops(lstm, tf.zeros((B, steps, features))) == steps * per_step

    def contraction(a, b):
        return tf.einsum("ind,ctd->icnt", a, b)

    assert _flops(contraction, tf.zeros((2, 3, 4)), tf.zeros((5, 6, 4))) == 2 * 2 * 3 * 4 * 5 * 6


def test_unknown_shapes_are_refused():
    conv = _conv()
    function = tf.function(conv).get_concrete_function(tf.TensorSpec((None, H, W, C_IN)))
    with pytest.raises(ValueError, match="static shapes"):
        graph_flops(function)


class _Reference:
    """Matmul rates 40, 50, 30, 20, … GFLOP/s, one per call."""

    def __init__(self):
        self.rates = iter([40.0, 50.0, 30.0, 20.0, 10.0])

    def gflops(self):
        return next(self.rates)


def test_interleaved_timing_keeps_the_best_step_and_the_best_matmul():
    durations = iter([0.03, 0.01, 0.02])
    timing = time_interleaved(lambda: time.sleep(next(durations)), _Reference(), steps=3,
                              flops=10**7)
    assert timing.matmul_gflops == 50.0  # before the first step and after each: 40 50 30 20
    assert 0.01 <= timing.seconds < 0.02
    assert timing.fraction_of_matmul == pytest.approx(10**7 / timing.seconds / 1e9 / 50.0)
    assert MatmulReference(256).gflops() > 0


def test_peak_memory_counts_what_was_allocated_after_the_baseline():
    baseline = resident_bytes()
    block = np.ones(64 * 2**20, np.uint8)  # 64 MiB, touched
    peak, method = peak_memory_bytes(baseline)
    assert peak >= 60 * 2**20 and "RSS" in method
    del block
