"""Fréchet Inception Distance between the pool features of real and generated images.

FID = ‖μ1 − μ2‖² + tr(Σ1 + Σ2 − 2 (Σ1 Σ2)^½), with μ, Σ the mean and covariance of the
2048-d Inception pool features (:class:`~mirrorgan_keras.evaluation.InceptionScorer`). The
real-image statistics are computed once and cached in an ``.npz`` file (arrays ``mu`` and
``sigma``); delete the file to recompute, e.g. after changing the Inception weights.

Typical use::

    scorer = InceptionScorer("imagenet")
    reference = reference_statistics(scorer, real_dataset, "cub_test_fid.npz")
    metrics = inception_metrics(scorer, generated_images, reference)  # IS and FID, one pass
"""

from __future__ import annotations

import os

import numpy as np
import scipy.linalg

from mirrorgan_keras.evaluation.inception import InceptionScorer, inception_score
from mirrorgan_keras.runtime.run_files import atomic_path

SQRTM_EPS = 1e-6
IMAGINARY_TOLERANCE = 1e-3


def feature_statistics(features) -> tuple[np.ndarray, np.ndarray]:
    """Features ``[N, D]`` (N >= 2) → mean ``[D]`` and covariance ``[D, D]`` (N − 1 normalised)."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or len(features) < 2:
        raise ValueError(f"features must be [N >= 2, D], got shape {features.shape}")
    return features.mean(axis=0), np.cov(features, rowvar=False)


def frechet_distance(mu1, sigma1, mu2, sigma2, *, eps: float = SQRTM_EPS) -> float:
    """Fréchet distance between the Gaussians N(mu1, sigma1) and N(mu2, sigma2).

    (Σ1 Σ2)^½ comes from ``scipy.linalg.sqrtm``. When that is not finite (near-singular
    covariances, e.g. fewer samples than dimensions), ``eps · I`` is added to both covariances
    and it is recomputed. A numerically complex root is reduced to its real part if the
    imaginary parts on its diagonal are below 1e-3; larger ones raise a ValueError.

    Args:
        mu1, mu2: means ``[D]``; sigma1, sigma2: covariances ``[D, D]``.
        eps: the diagonal offset used for near-singular covariances.
    """
    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    sigma1, sigma2 = (np.atleast_2d(s).astype(np.float64) for s in (sigma1, sigma2))
    dim = len(mu1)
    if mu2.shape != (dim,) or sigma1.shape != (dim, dim) or sigma2.shape != (dim, dim):
        raise ValueError(
            f"statistics do not match: mu {mu1.shape} / {mu2.shape}, "
            f"sigma {sigma1.shape} / {sigma2.shape}"
        )
    root = scipy.linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(root).all():
        offset = eps * np.eye(dim)
        root = scipy.linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(root):
        imaginary = np.abs(np.diagonal(root).imag).max()
        if imaginary > IMAGINARY_TOLERANCE:
            raise ValueError(f"sqrtm(sigma1 @ sigma2) has imaginary parts up to {imaginary:g}")
        root = root.real
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(root))


def save_statistics(path: str, mu, sigma) -> None:
    """Writes ``mu`` and ``sigma`` to the ``.npz`` file ``path`` (atomically)."""
    with atomic_path(path) as staging, open(staging, "wb") as f:
        np.savez(f, mu=np.asarray(mu), sigma=np.asarray(sigma))


def load_statistics(path: str) -> tuple[np.ndarray, np.ndarray]:
    """Reads ``(mu [D], sigma [D, D])`` written by :func:`save_statistics`."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"FID statistics file {path!r} does not exist")
    with np.load(path) as data:
        if {"mu", "sigma"} - set(data.files):
            raise ValueError(f"{path!r} holds {data.files}, expected arrays 'mu' and 'sigma'")
        mu, sigma = data["mu"], data["sigma"]
    if mu.ndim != 1 or sigma.shape != (len(mu), len(mu)):
        raise ValueError(f"{path!r}: mu {mu.shape} and sigma {sigma.shape} do not match")
    return mu, sigma


def reference_statistics(scorer: InceptionScorer, images,
                         cache_path: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Pool-feature statistics of real images, read from ``cache_path`` if it exists.

    Args:
        scorer: gives the pool features.
        images: real images in [-1, 1]: an array ``[N, H, W, 3]`` or an iterable (e.g. a
            ``tf.data.Dataset`` of the project's batch dicts) of batches.
        cache_path: ``.npz`` file; written after computing when it does not exist yet.

    Returns:
        ``(mu [2048], sigma [2048, 2048])``.
    """
    if cache_path is not None and os.path.exists(cache_path):
        return load_statistics(cache_path)
    mu, sigma = feature_statistics(scorer.predict(images).pool_features)
    if cache_path is not None:
        save_statistics(cache_path, mu, sigma)
    return mu, sigma


def inception_metrics(scorer: InceptionScorer, images, reference: tuple[np.ndarray, np.ndarray],
                      splits: int = 10) -> dict[str, float]:
    """IS (mean, std over ``splits``) and FID against ``reference`` from one Inception pass.

    Returns:
        ``{"inception_score", "inception_score_std", "fid"}``.
    """
    outputs = scorer.predict(images)
    mean, std = inception_score(outputs.probabilities, splits)
    fid = frechet_distance(*feature_statistics(outputs.pool_features), *reference)
    return {"inception_score": mean, "inception_score_std": std, "fid": fid}
