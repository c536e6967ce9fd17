"""Tests for mirrorgan_keras.evaluation.r_precision."""

import keras
import numpy as np
import pytest

from mirrorgan_keras.evaluation import (
    damsm_embeddings,
    evaluate_r_precision,
    mismatch_indices,
    r_precision,
    r_precision_from_positions,
    true_caption_positions,
)
from mirrorgan_keras.layers import RegionImageEncoder, SemanticTextEncoder


def embedded_set(rng, num_images=1000, num_classes=50, dim=32):
    """Random sentence embeddings with class ids and their mismatched captions."""
    sentences = rng.normal(size=(num_images, dim))
    class_ids = rng.integers(num_classes, size=num_images)
    return sentences, class_ids, sentences[mismatch_indices(class_ids, seed=1)]


def test_r_precision_of_perfectly_matched_embeddings_is_one(rng):
    sentences, _, mismatches = embedded_set(rng)
    scores = r_precision(2.0 * sentences, sentences, mismatches)  # cosine ignores the scale
    assert scores == {"top1": 1.0, "top1_std": 0.0, "top2": 1.0, "top2_std": 0.0,
                      "top3": 1.0, "top3_std": 0.0}


def test_r_precision_of_random_embeddings_is_r_over_100(rng):
    sentences, _, mismatches = embedded_set(rng, num_images=4000)
    scores = r_precision(rng.normal(size=sentences.shape), sentences, mismatches)
    for rank in (1, 2, 3):  # binomial std of the mean over 4000 images is < 0.003
        assert abs(scores[f"top{rank}"] - rank / 100) < 0.012
        assert scores[f"top{rank}_std"] > 0


def test_ties_count_against_the_true_caption():
    codes, sentences = np.ones((20, 4)), np.ones((20, 4))
    positions = true_caption_positions(codes, sentences, np.ones((20, 99, 4)))
    np.testing.assert_array_equal(positions, 99)
    assert r_precision_from_positions(positions, folds=4)["top3"] == 0.0


def test_folds_are_shuffled_seeded_and_may_be_uneven():
    positions = np.array([0] * 5 + [50] * 6)  # 11 images in 3 folds of 4, 4 and 3
    scores = r_precision_from_positions(positions, ranks=(1,), folds=3, seed=0)
    again = r_precision_from_positions(positions, ranks=(1,), folds=3, seed=0)
    assert scores == again
    # The mean of the fold means weighs the folds equally; it stays near 5/11.
    assert 0.3 < scores["top1"] < 0.6
    with pytest.raises(ValueError, match="folds"):
        r_precision_from_positions(positions, folds=12)


def test_mismatches_never_come_from_the_same_class(rng):
    class_ids = rng.integers(20, size=500)
    indices = mismatch_indices(class_ids, seed=3)
    assert indices.shape == (500, 99)
    assert not np.any(class_ids[indices] == class_ids[:, None])
    assert all(len(set(row)) == 99 for row in indices)  # without replacement
    np.testing.assert_array_equal(indices, mismatch_indices(class_ids, seed=3))
    assert not np.array_equal(indices, mismatch_indices(class_ids, seed=4))


def test_mismatches_from_a_small_or_separate_pool():
    class_ids = np.array([0, 0, 1, 1, 2])
    indices = mismatch_indices(class_ids, num_mismatches=5)  # 3 other captions: replacement
    assert not np.any(class_ids[indices] == class_ids[:, None])
    pool_classes = np.array([2, 2, 1, 0, 0, 0, 3])
    pooled = mismatch_indices(class_ids, 3, candidate_class_ids=pool_classes)
    assert pooled.max() < len(pool_classes)
    assert not np.any(pool_classes[pooled] == class_ids[:, None])
    with pytest.raises(ValueError, match="other than 7"):
        mismatch_indices(np.full(4, 7))


class ColourImageEncoder:
    """Fake DAMSM image encoder: the code of an image is its mean colour."""

    def __call__(self, images, training=None):
        assert training is False
        return None, images.mean(axis=(1, 2))


class TableTextEncoder:
    """Fake DAMSM text encoder: the sentence of a caption is a table row of its first id."""

    def __init__(self, table):
        self.table = table

    def __call__(self, ids, training=None):
        assert training is False
        return None, self.table[np.asarray(ids)[:, 0]]


def test_evaluate_r_precision_with_matching_encoders_is_one(rng):
    num_images = 300
    colours = rng.uniform(-1, 1, (num_images, 3))
    images = np.broadcast_to(colours[:, None, None], (num_images, 4, 4, 3)).astype(np.float32)
    captions = np.zeros((num_images, 5), np.int32)
    captions[:, 0] = np.arange(1, num_images + 1)
    table = np.concatenate([np.zeros((1, 3)), colours])
    class_ids = np.arange(num_images) % 30
    codes, sentences = damsm_embeddings(TableTextEncoder(table), ColourImageEncoder(), images,
                                        captions, batch_size=64, verbose=0)
    np.testing.assert_allclose(codes, colours, atol=1e-6)
    np.testing.assert_allclose(sentences, colours)
    from_tensor, _ = damsm_embeddings(TableTextEncoder(table), ColourImageEncoder(),
                                      keras.ops.convert_to_tensor(images), captions, verbose=0)
    np.testing.assert_allclose(from_tensor, codes, atol=1e-6)
    scores = evaluate_r_precision(TableTextEncoder(table), ColourImageEncoder(), images,
                                  captions, class_ids=class_ids, batch_size=64, verbose=0)
    assert scores["top1"] == 1.0


def test_damsm_embeddings_with_the_project_encoders(rng):
    text_encoder = SemanticTextEncoder(vocab_size=30, embedding_dim=16)
    image_encoder = RegionImageEncoder(16, backbone="small", weights=None, image_size=32)
    images = rng.uniform(-1, 1, (5, 64, 64, 3)).astype(np.float32)
    captions = rng.integers(1, 30, size=(5, 7))
    codes, sentences = damsm_embeddings(text_encoder, image_encoder, images, captions,
                                        batch_size=2, verbose=0)
    assert codes.shape == sentences.shape == (5, 16)
    with pytest.raises(ValueError, match="one per image"):
        damsm_embeddings(text_encoder, image_encoder, images, captions[:4], verbose=0)
