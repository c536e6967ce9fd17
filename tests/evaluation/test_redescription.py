"""STREAM's caption loss averaged over words, and the mismatched pairs it is compared with."""

import numpy as np
import tensorflow as tf

from mirrorgan_keras.evaluation import caption_losses, mismatched_images


class _ConstantLossStream:
    """A captioner whose caption loss is the mean of the images it is given."""

    def caption_loss(self, images, captions, training=None):
        return tf.reduce_mean(images)


def test_caption_losses_weight_each_batch_by_its_words():
    batches = [{"captions": tf.constant([[1, 2, 0], [3, 0, 0]]), "images": (tf.fill([2, 1], 1.0),)},
               {"captions": tf.constant([[1, 2, 3]]), "images": (tf.fill([1, 1], 4.0),)}]
    real, doubled = caption_losses(_ConstantLossStream(), batches,
                                   [lambda b: b["images"][-1], lambda b: 2 * b["images"][-1]])
    assert np.isclose(real, (1.0 * 3 + 4.0 * 3) / 6) and np.isclose(doubled, 2 * real)


def test_mismatched_images_pair_each_caption_with_the_previous_image():
    batch = {"images": (tf.zeros([3, 1]), tf.constant([[0.0], [1.0], [2.0]]))}
    np.testing.assert_array_equal(np.asarray(mismatched_images(batch)), [[2.0], [0.0], [1.0]])
