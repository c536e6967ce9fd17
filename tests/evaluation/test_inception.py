"""Tests for mirrorgan_keras.evaluation.inception."""

import keras
import numpy as np
import pytest

from mirrorgan_keras.evaluation import InceptionScorer, inception_score, load_classifier


def test_inception_score_of_uniform_predictions_is_one():
    mean, std = inception_score(np.full((100, 7), 1 / 7), splits=10)
    np.testing.assert_allclose([mean, std], [1.0, 0.0], atol=1e-12)


@pytest.mark.parametrize("num_classes", [2, 10, 50])
def test_inception_score_of_one_hot_predictions_is_the_class_count(num_classes):
    splits = 5
    probabilities = np.tile(np.eye(num_classes), (splits, 1))  # every class once per split
    mean, std = inception_score(probabilities, splits=splits)
    np.testing.assert_allclose([mean, std], [num_classes, 0.0], atol=1e-9)


def test_inception_score_of_a_two_class_mixture_matches_the_closed_form():
    a = 0.8  # half the rows (a, 1 - a), half (1 - a, a): p(y) = (1/2, 1/2)
    probabilities = np.array([[a, 1 - a], [1 - a, a]] * 50)
    kl = a * np.log(2 * a) + (1 - a) * np.log(2 * (1 - a))
    mean, _ = inception_score(probabilities, splits=10)
    np.testing.assert_allclose(mean, np.exp(kl), rtol=1e-12)


def test_inception_score_reports_mean_and_std_over_splits():
    probabilities = np.concatenate([np.tile(np.eye(2), (3, 1)), np.full((6, 2), 0.5)])
    mean, std = inception_score(probabilities, splits=2)  # split scores 2 and 1
    np.testing.assert_allclose([mean, std], [1.5, 0.5], atol=1e-12)


@pytest.mark.parametrize(
    "probabilities, splits, message",
    [
        (np.full((5, 2), 0.5), 10, "splits"),
        (np.full((10, 2), 0.4), 2, "sum to 1"),
        (np.full(10, 0.5), 2, r"\[N, K\]"),
    ],
)
def test_inception_score_rejects_bad_input(probabilities, splits, message):
    with pytest.raises(ValueError, match=message):
        inception_score(probabilities, splits)


@pytest.fixture(scope="module")
def random_scorer():
    return InceptionScorer(weights=None, batch_size=2, verbose=0)


def test_scorer_with_random_weights_gives_probabilities_and_pool_features(random_scorer):
    images = np.random.default_rng(0).uniform(-1, 1, (3, 64, 64, 3)).astype(np.float32)
    outputs = random_scorer.predict(images)
    assert outputs.probabilities.shape == (3, 1000)
    assert outputs.pool_features.shape == (3, 2048)
    np.testing.assert_allclose(outputs.probabilities.sum(axis=1), 1.0, atol=1e-9)
    # The same images as an iterable of batch dicts (image pyramids) give the same outputs.
    batches = [{"images": (images[:2, ::2, ::2], images[:2])}, {"images": (None, images[2:])}]
    again = random_scorer.predict(batches)
    np.testing.assert_allclose(again.pool_features, outputs.pool_features, atol=1e-5)


def test_scorer_rejects_uint8_and_out_of_range_images(random_scorer):
    with pytest.raises(ValueError, match="127.5"):
        random_scorer.predict(np.zeros((2, 32, 32, 3), np.uint8))
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        random_scorer.predict(np.full((2, 32, 32, 3), 255.0, np.float32))


def tiny_classifier(side=32, classes=4):
    """An Inception-like classifier: conv → 'avg_pool' → softmax dense."""
    images = keras.Input((side, side, 3))
    hidden = keras.layers.Conv2D(8, 3, activation="relu")(images)
    pool = keras.layers.GlobalAveragePooling2D(name="avg_pool")(hidden)
    probabilities = keras.layers.Dense(classes, activation="softmax", name="predictions")(pool)
    return keras.Model(images, probabilities)


def test_scorer_loads_a_keras_file_with_softmax_output_and_renormalises(tmp_path):
    classifier = tiny_classifier()
    path = str(tmp_path / "birds_inception.keras")
    classifier.save(path)
    images = np.random.default_rng(1).uniform(-1, 1, (5, 48, 48, 3)).astype(np.float32)
    expected = keras.ops.convert_to_numpy(
        classifier(keras.ops.image.resize(images, (32, 32), "bilinear"))
    )
    scorer = InceptionScorer(path, class_indices=[1, 2, 3], verbose=0)
    outputs = scorer.predict(images)
    assert outputs.pool_features.shape == (5, 8)
    subset = expected[:, 1:]
    np.testing.assert_allclose(
        outputs.probabilities, subset / subset.sum(axis=1, keepdims=True), rtol=1e-4
    )
    with pytest.raises(ValueError, match="4 classes"):
        InceptionScorer(path, num_classes=50, verbose=0)


def test_scorer_rejects_unknown_weights(tmp_path):
    with pytest.raises(FileNotFoundError):
        InceptionScorer(str(tmp_path / "missing.weights.h5"), verbose=0)
    (tmp_path / "model.ckpt").write_text("")
    with pytest.raises(ValueError, match=".weights.h5"):
        InceptionScorer(str(tmp_path / "model.ckpt"), verbose=0)
    with pytest.raises(ValueError, match="1000 classes"):
        InceptionScorer("imagenet", num_classes=50, verbose=0)


@pytest.mark.slow
def test_scorer_loads_a_weights_file_with_its_own_class_count(tmp_path):
    path = str(tmp_path / "birds.weights.h5")
    classifier = load_classifier(None, num_classes=5)
    classifier.save_weights(path)
    loaded = load_classifier(path, num_classes=5)
    for saved, restored in zip(classifier.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(saved, restored)
    images = np.random.default_rng(2).uniform(-1, 1, (2, 40, 40, 3)).astype(np.float32)
    outputs = InceptionScorer(path, num_classes=5, verbose=0).predict(images)
    assert outputs.probabilities.shape == (2, 5)
