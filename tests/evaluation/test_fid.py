"""Tests for mirrorgan_keras.evaluation.fid."""

import numpy as np
import pytest
import scipy.linalg

from mirrorgan_keras.evaluation import (
    InceptionOutputs,
    feature_statistics,
    frechet_distance,
    inception_metrics,
    load_statistics,
    reference_statistics,
    save_statistics,
)


def test_fid_of_a_set_with_itself_is_zero(rng):
    mu, sigma = feature_statistics(rng.normal(size=(500, 16)) @ rng.normal(size=(16, 16)))
    assert abs(frechet_distance(mu, sigma, mu, sigma)) < 1e-6


def test_fid_of_gaussians_matches_the_closed_form(rng):
    dim, shift = 8, rng.normal(size=8)
    # N(0, I) vs N(m, 4 I): ||m||² + tr(I + 4I - 2 (4I)^½) = ||m||² + 8 · (1 + 4 - 2·2).
    expected = shift @ shift + dim * (1 + 4 - 2 * 2)
    exact = frechet_distance(np.zeros(dim), np.eye(dim), shift, 4 * np.eye(dim))
    np.testing.assert_allclose(exact, expected, rtol=1e-10)
    first = rng.normal(size=(50_000, dim))
    second = shift + 2.0 * rng.normal(size=(50_000, dim))
    sampled = frechet_distance(*feature_statistics(first), *feature_statistics(second))
    np.testing.assert_allclose(sampled, expected, atol=0.15)


def test_fid_with_full_covariances_matches_an_eigenvalue_computation(rng):
    a, b = rng.normal(size=(6, 6)), rng.normal(size=(6, 6))
    sigma1, sigma2 = a @ a.T, b @ b.T
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    # tr((S1 S2)^½) = Σ sqrt(λ_i(S1 S2)); S1 S2 is similar to a PSD matrix: λ_i >= 0.
    trace_root = np.sum(np.sqrt(np.clip(np.linalg.eigvals(sigma1 @ sigma2).real, 0, None)))
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(sigma1 + sigma2) - 2 * trace_root
    np.testing.assert_allclose(frechet_distance(mu1, sigma1, mu2, sigma2), expected, rtol=1e-8)


def test_fid_with_singular_covariances_is_finite(rng):
    features = rng.normal(size=(10, 32))  # fewer samples than dimensions: rank 9
    mu, sigma = feature_statistics(features)
    fid = frechet_distance(mu, sigma, mu, sigma)
    assert np.isfinite(fid) and abs(fid) < 1e-3


def test_fid_offsets_the_covariances_when_the_square_root_is_not_finite(monkeypatch):
    real_sqrtm, calls = scipy.linalg.sqrtm, []

    def failing_once(matrix):
        calls.append(matrix)
        return np.full_like(matrix, np.nan) if len(calls) == 1 else real_sqrtm(matrix)

    monkeypatch.setattr(scipy.linalg, "sqrtm", failing_once)
    # Σ1 = Σ2 = I in 3 dims, offset 0.5: 3 + 3 - 2 · tr(1.5 I) = -3 (the offset only enters
    # the root, as in the reference implementations).
    fid = frechet_distance(np.zeros(3), np.eye(3), np.zeros(3), np.eye(3), eps=0.5)
    assert len(calls) == 2
    np.testing.assert_allclose(fid, -3.0, rtol=1e-12)


def test_fid_rejects_a_clearly_complex_square_root(monkeypatch):
    monkeypatch.setattr(scipy.linalg, "sqrtm", lambda matrix: matrix * (1 + 0.1j))
    with pytest.raises(ValueError, match="imaginary"):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(2), np.eye(2))


def test_fid_rejects_mismatched_statistics():
    with pytest.raises(ValueError, match="do not match"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))


def test_statistics_round_trip_through_npz(tmp_path, rng):
    mu, sigma = feature_statistics(rng.normal(size=(20, 5)))
    path = str(tmp_path / "stats" / "reference.npz")
    save_statistics(path, mu, sigma)
    loaded_mu, loaded_sigma = load_statistics(path)
    np.testing.assert_array_equal(loaded_mu, mu)
    np.testing.assert_array_equal(loaded_sigma, sigma)
    assert sorted(p.name for p in (tmp_path / "stats").iterdir()) == ["reference.npz"]


def test_load_statistics_rejects_missing_and_foreign_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_statistics(str(tmp_path / "missing.npz"))
    np.savez(tmp_path / "other.npz", mean=np.zeros(3))
    with pytest.raises(ValueError, match="'mu' and 'sigma'"):
        load_statistics(str(tmp_path / "other.npz"))


class FeatureScorer:
    """Stands in for InceptionScorer: the 'pool features' are the images' mean colours."""

    def __init__(self):
        self.calls = 0

    def predict(self, images):
        self.calls += 1
        features = np.concatenate([batch.mean(axis=(1, 2)) for batch in images])
        return InceptionOutputs(np.full((len(features), 2), 0.5), features)


def test_reference_statistics_are_computed_once_then_read_from_the_cache(tmp_path, rng):
    batches = [rng.uniform(-1, 1, (4, 8, 8, 3)) for _ in range(3)]
    scorer, path = FeatureScorer(), str(tmp_path / "real.npz")
    mu, sigma = reference_statistics(scorer, batches, path)
    expected_mu, expected_sigma = feature_statistics(np.concatenate(batches).mean(axis=(1, 2)))
    np.testing.assert_allclose(mu, expected_mu)
    np.testing.assert_allclose(sigma, expected_sigma)
    cached_mu, _ = reference_statistics(scorer, batches, path)
    assert scorer.calls == 1
    np.testing.assert_array_equal(cached_mu, mu)


def test_inception_metrics_gives_is_and_fid_from_one_pass(rng):
    batches = [rng.uniform(-1, 1, (5, 8, 8, 3)) for _ in range(2)]
    scorer = FeatureScorer()
    reference = feature_statistics(np.concatenate(batches).mean(axis=(1, 2)))
    metrics = inception_metrics(scorer, batches, reference, splits=2)
    assert scorer.calls == 1
    np.testing.assert_allclose(
        [metrics["inception_score"], metrics["inception_score_std"]], [1.0, 0.0], atol=1e-12
    )
    assert abs(metrics["fid"]) < 1e-6
