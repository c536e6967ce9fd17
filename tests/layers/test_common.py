import keras
import numpy as np
import pytest
import tensorflow as tf

from mirrorgan_keras.layers._common import PatchConv2D, SyncBatchNormalization, patch_conv2d


@pytest.mark.parametrize("size, kernel, stride, padding", [
    ((8, 8), 4, 2, "same"), ((4, 5), 3, 1, "same"), ((4, 4), 4, 4, "valid"),
    ((5, 7), 3, 2, "same"), ((7, 6), 2, 1, "valid"), ((3, 3), 1, 1, "same"),
])
def test_patch_convolution_and_its_gradients_equal_the_convolution(size, kernel, stride,
                                                                   padding, rng):
    x = tf.constant(rng.normal(size=(2, *size, 3)), tf.float32)
    w = tf.constant(rng.normal(size=(kernel, kernel, 3, 5)), tf.float32)
    results = []
    for conv in (patch_conv2d, keras.ops.conv):
        with tf.GradientTape() as tape:
            tape.watch([x, w])
            y = conv(x, w, strides=(stride, stride), padding=padding)
            loss = tf.reduce_sum(y**2)
        results.append([y, *tape.gradient(loss, [x, w])])
    for got, want in zip(*results, strict=True):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-4, atol=1e-4)


def _op_types(layer, shape):
    graph = tf.function(layer).get_concrete_function(tf.TensorSpec(shape)).graph
    return {op.type for op in graph.get_operations()}


def test_patch_conv_layer_uses_a_matrix_product_only_for_small_outputs_of_large_kernels(rng):
    big = PatchConv2D(2048, 4, strides=2, padding="same")  # 4·4·256·2048 = 2^23 weights
    big.build((1, 8, 8, 256))
    reference = keras.layers.Conv2D(2048, 4, strides=2, padding="same")
    reference.build((1, 8, 8, 256))
    reference.set_weights(big.get_weights())
    x = rng.normal(size=(1, 8, 8, 256)).astype("float32")
    np.testing.assert_allclose(np.asarray(big(x)), np.asarray(reference(x)), atol=1e-4)
    assert "Conv2D" not in _op_types(big, (1, 8, 8, 256))  # 4×4 = 16 output positions
    assert "Conv2D" in _op_types(big, (1, 16, 16, 256))  # 64 positions: oneDNN's convolution
    small = PatchConv2D(8, 4, strides=2, padding="same")
    assert "Conv2D" in _op_types(small, (1, 8, 8, 256))  # a small kernel: oneDNN's


@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16"])
def test_fused_batch_norm_trains_as_the_reference_formula(policy, rng):
    """Batch mean and biased variance normalise; moving statistics follow momentum 0.9 with
    the biased variance; gradients equal Keras's own batch norm's."""
    x = rng.normal(size=(4, 3, 5, 6)).astype("float32") * 3 + 1
    fused = SyncBatchNormalization(momentum=0.9, epsilon=1e-5, synchronized=True, dtype=policy)
    plain = keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5, synchronized=True,
                                            dtype=policy)
    for layer in (fused, plain):
        layer.build(x.shape)
    plain.set_weights(fused.get_weights())
    results = []
    for layer in (fused, plain):
        inputs = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            y = tf.cast(layer(inputs, training=True), tf.float32)
            loss = tf.reduce_sum(y * tf.sin(tf.range(6, dtype=tf.float32)))
        grads = tape.gradient(loss, [inputs, layer.gamma, layer.beta])
        results.append([y, *grads, layer.moving_mean, layer.moving_variance])
    tolerance = 1e-4 if policy == "float32" else 3e-2  # bfloat16 keeps 8 bits
    for got, want in zip(*results, strict=True):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=tolerance,
                                   atol=tolerance)
    flat = x.reshape(-1, 6)
    gamma, beta = (np.asarray(w) for w in (fused.gamma, fused.beta))
    want = gamma * (x - flat.mean(0)) / np.sqrt(flat.var(0) + 1e-5) + beta
    np.testing.assert_allclose(np.asarray(results[0][0]), want, rtol=tolerance, atol=tolerance)
    np.testing.assert_allclose(np.asarray(fused.moving_variance), 0.9 + 0.1 * flat.var(0),
                               rtol=tolerance / 10)
    graph = tf.function(lambda v: fused(v, training=True)).get_concrete_function(
        tf.TensorSpec(x.shape)).graph
    assert "FusedBatchNormV3" in {op.type for op in graph.get_operations()}
