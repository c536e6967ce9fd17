"""STREAM's caption loss averaged over words, and the mismatched pairs it is compared with."""

import numpy as np
import tensorflow as tf

from mirrorgan_keras.evaluation import caption_losses, mismatched_images
from mirrorgan_keras.evaluation.redescription import (
    other_class_partners,
    per_caption_losses,
    per_caption_mismatch,
    swap_two_words,
)


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


def test_mismatched_images_pair_each_caption_with_an_image_of_another_class():
    batch = {"images": (tf.zeros([3, 1]), tf.constant([[0.0], [1.0], [2.0]])),
             "class_ids": tf.constant([5, 6, 7])}
    np.testing.assert_array_equal(np.asarray(mismatched_images(batch)), [[2.0], [0.0], [1.0]])


def test_other_class_partners_skip_same_class_rows():
    """Class-ordered rows: the previous row is mostly the same class, so it is skipped."""
    partners = np.asarray(other_class_partners(tf.constant([1, 1, 1, 2, 2, 3])))
    np.testing.assert_array_equal(partners, [5, 5, 5, 2, 2, 4])
    classes = np.array([1, 1, 1, 2, 2, 3])
    assert np.all(classes[partners] != classes)
    np.testing.assert_array_equal(other_class_partners(tf.constant([4, 4, 4])), [2, 0, 1])
    np.testing.assert_array_equal(other_class_partners(tf.constant([4])), [0])


def test_swap_two_words_swaps_the_first_two_different_ones():
    colours = {5, 6, 7}
    np.testing.assert_array_equal(swap_two_words([1, 5, 2, 5, 3, 6, 0], colours),
                                  [1, 6, 2, 5, 3, 5, 0])
    assert swap_two_words([1, 5, 2, 5, 0], colours) is None  # one colour, twice
    assert swap_two_words([1, 2, 3], colours) is None


class _WordOrderStream:
    """A captioner that reads the word at position 1 from the image's first pixel: its loss is
    low for a caption whose second word is that pixel's value."""

    def __call__(self, images, captions, training=None):
        expected = tf.cast(tf.reshape(images[:, 0, 0, 0], [-1, 1]), tf.int32)
        position = tf.range(tf.shape(captions)[1])[None, :]
        target = tf.where(position == 1, expected, captions)  # right everywhere but position 1
        return 10.0 * tf.one_hot(target, 10)


def test_per_caption_losses_and_a_captioner_that_binds_words_to_the_image():
    images = tf.reshape(tf.constant([5.0, 6.0]), [2, 1, 1, 1]) * tf.ones([2, 1, 1, 3])
    captions = np.array([[1, 5, 2, 6, 0], [1, 6, 3, 5, 4]], np.int32)
    losses = per_caption_losses(_WordOrderStream(), images, captions)
    assert losses.shape == (2,) and np.all(losses < 1e-3)
    swapped = np.stack([swap_two_words(c, {5, 6}) for c in captions])
    assert np.all(per_caption_losses(_WordOrderStream(), images, swapped) > 1.0)


class _FixedDAMSM:
    """Encoders whose image code is the image's first row and sentence the caption as floats."""

    def __call__(self, images, captions, training=None):
        sentence = tf.cast(captions, tf.float32)
        return None, sentence, None, images[:, 0, 0, :]


def test_per_caption_mismatch_is_minus_the_sentence_image_cosine():
    images = tf.constant([[1.0, 0.0, 0.0], [0.0, 3.0, 4.0]])[:, None, None, :]
    captions = np.array([[2, 0, 0], [0, 4, 3]], np.int32)
    np.testing.assert_allclose(per_caption_mismatch(_FixedDAMSM(), images, captions),
                               [-1.0, -24 / 25], rtol=1e-6)
