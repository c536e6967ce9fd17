import numpy as np
import tensorflow as tf

from mirrorgan_keras.figures import to_uint8


def test_to_uint8_maps_the_tanh_range_in_eager_and_graph_code():
    values = np.array([-1.0, -0.999, 0.0, 0.5, 1.0, 3.0, -2.0], np.float32)
    expected = np.floor(np.clip((values.astype(np.float64) + 1) * 127.5 + 0.5, 0, 255))
    eager = to_uint8(values)
    graph = tf.function(to_uint8)(tf.constant(values))
    for converted in (eager, graph):
        assert np.asarray(converted).dtype == np.uint8
        np.testing.assert_array_equal(np.asarray(converted), expected)
    np.testing.assert_array_equal(np.asarray(to_uint8(values[:3])), [0, 0, 128])

