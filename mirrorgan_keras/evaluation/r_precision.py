"""R-precision (docs/design.md §9, the AttnGAN definition with DM-GAN's reference protocol).

For each generated image the candidates are its true caption and ``num_mismatches`` (99)
captions drawn from other classes; the score of a candidate is the cosine between the DAMSM
image code of the image and the DAMSM sentence embedding of the caption. The image is a hit
at R when the true caption ranks in the top R. Images are shuffled and split into ``folds``
folds (10 × 3,000 for 30,000 images); the R-precision is the mean ± std over the folds.

A mismatched caption that scores equal to the true one counts as ranked above it, so
degenerate (e.g. constant) embeddings score 0, not 1. The DAMSM encoders are the ones the
generator was trained with, which is known to inflate the scores (docs/design.md §9).

Typical use::

    scores = evaluate_r_precision(damsm.text_encoder, damsm.image_encoder, images,
                                  caption_ids, class_ids=class_ids)  # {"top1": ..., ...}
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np

from mirrorgan_keras.evaluation._batches import map_batches

NUM_MISMATCHES = 99
CHUNK = 1024  # images whose candidate scores are computed at once


def mismatch_indices(class_ids, num_mismatches: int = NUM_MISMATCHES, seed: int = 0,
                     candidate_class_ids=None) -> np.ndarray:
    """For every image, indices of mismatched captions from classes other than its own.

    Args:
        class_ids: int ``[N]``, the class of each image.
        num_mismatches: captions per image; drawn without replacement, or with replacement
            when another class offers fewer captions than that.
        seed: numpy seed; the same arguments give the same indices.
        candidate_class_ids: int ``[M]``, the classes of the caption pool the indices point
            into; default ``class_ids`` (the pool is the images' own true captions).

    Returns:
        int ``[N, num_mismatches]`` indices into the caption pool.
    """
    class_ids = np.asarray(class_ids).reshape(-1)
    pool_classes = class_ids if candidate_class_ids is None else np.asarray(candidate_class_ids)
    rng = np.random.default_rng(seed)
    indices = np.empty((len(class_ids), num_mismatches), dtype=np.int64)
    for class_id in np.unique(class_ids):
        pool = np.flatnonzero(pool_classes != class_id)
        if not len(pool):
            raise ValueError(f"no caption of a class other than {class_id} to draw from")
        replace = len(pool) < num_mismatches
        for row in np.flatnonzero(class_ids == class_id):
            indices[row] = rng.choice(pool, num_mismatches, replace=replace)
    return indices


def true_caption_positions(image_codes, true_sentences, mismatch_sentences) -> np.ndarray:
    """Rank of the true caption among the candidates of each image, 0 = best.

    Args:
        image_codes: ``[N, D]``; true_sentences: ``[N, D]``; mismatch_sentences: ``[N, M, D]``.

    Returns:
        int ``[N]``: how many mismatched captions have a cosine >= the true caption's.
    """
    codes = _unit(image_codes)
    true_scores = np.sum(codes * _unit(true_sentences), axis=-1)
    mismatch_scores = np.einsum("nd,nmd->nm", codes, _unit(mismatch_sentences))
    return np.sum(mismatch_scores >= true_scores[:, None], axis=1)


def r_precision_from_positions(positions, ranks: Sequence[int] = (1, 2, 3), folds: int = 10,
                               seed: int = 0) -> dict[str, float]:
    """Mean and std over shuffled folds of the hit rate ``position < R`` for each R.

    Args:
        positions: int ``[N]`` from :func:`true_caption_positions`; N >= folds.
        ranks: the R values.
        folds: number of folds; with N not a multiple of folds, sizes differ by at most one.
        seed: numpy seed of the shuffle.

    Returns:
        ``{"top1": mean, "top1_std": std, ...}`` for every R in ``ranks``.
    """
    positions = np.asarray(positions).reshape(-1)
    if not 1 <= folds <= len(positions):
        raise ValueError(f"folds must be in [1, N={len(positions)}], got {folds}")
    parts = np.array_split(np.random.default_rng(seed).permutation(len(positions)), folds)
    scores = {}
    for rank in ranks:
        per_fold = [np.mean(positions[part] < rank) for part in parts]
        scores[f"top{rank}"] = float(np.mean(per_fold))
        scores[f"top{rank}_std"] = float(np.std(per_fold))
    return scores


def r_precision(image_codes, true_sentences, mismatch_sentences, *,
                ranks: Sequence[int] = (1, 2, 3), folds: int = 10,
                seed: int = 0) -> dict[str, float]:
    """R-precision from embeddings (see the module docstring).

    Args:
        image_codes: ``[N, D]`` DAMSM image codes of the generated images.
        true_sentences: ``[N, D]`` sentence embeddings of their captions.
        mismatch_sentences: ``[N, 99, D]`` sentence embeddings of mismatched captions.
        ranks, folds, seed: see :func:`r_precision_from_positions`.

    Returns:
        ``{"top1": mean, "top1_std": std, "top2": ..., ...}``.
    """
    positions = true_caption_positions(image_codes, true_sentences, mismatch_sentences)
    return r_precision_from_positions(positions, ranks, folds, seed)


def damsm_embeddings(text_encoder, image_encoder, images, captions, *,
                     batch_size: int = 50, verbose: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """DAMSM image codes of images and sentence embeddings of captions, in inference mode.

    Args:
        text_encoder: int ids ``[B, T]`` → ``(words, sentence [B, D])``.
        image_encoder: images ``[B, H, W, 3]`` in [-1, 1] → ``(regions, code [B, D])``.
        images: ``[N, H, W, 3]`` array or an iterable of batches (see ``map_batches``).
        captions: int ``[N, T]`` word ids, 0-padded; caption i belongs to image i.
        batch_size: images / captions per forward pass.

    Returns:
        ``(image_codes [N, D], sentences [N, D])``.
    """
    (codes,) = map_batches(lambda batch: image_encoder(batch, training=False)[1], images,
                           batch_size, verbose)
    captions = np.asarray(captions)
    if captions.ndim != 2 or len(captions) != len(codes):
        raise ValueError(
            f"captions must be int [N={len(codes)}, T] ids, one per image, got {captions.shape}"
        )
    sentences = [
        keras.ops.convert_to_numpy(text_encoder(captions[i : i + batch_size], training=False)[1])
        for i in range(0, len(captions), batch_size)
    ]
    return codes, np.concatenate(sentences)


def evaluate_r_precision(text_encoder, image_encoder, images, captions, *, class_ids,
                         ranks: Sequence[int] = (1, 2, 3), folds: int = 10,
                         num_mismatches: int = NUM_MISMATCHES, seed: int = 0,
                         batch_size: int = 50, verbose: int = 1) -> dict[str, float]:
    """R-precision of generated images, each made from the caption of the same index.

    The mismatched captions are drawn (seeded) from the true captions of images of other
    classes, and the candidate scores are computed in chunks, so 30,000 images need no
    ``[N, 99, D]`` array.

    Args:
        images: ``[N, H, W, 3]`` in [-1, 1], or an iterable of batches in caption order.
        captions: int ``[N, T]`` ids; class_ids: int ``[N]``, the class of each caption.
        Others: see :func:`damsm_embeddings` and :func:`r_precision_from_positions`.
    """
    codes, sentences = damsm_embeddings(text_encoder, image_encoder, images, captions,
                                        batch_size=batch_size, verbose=verbose)
    if np.shape(class_ids) != (len(codes),):
        raise ValueError(f"class_ids must be [N={len(codes)}], got shape {np.shape(class_ids)}")
    mismatches = mismatch_indices(class_ids, num_mismatches, seed)
    positions = np.concatenate([
        true_caption_positions(codes[i : i + CHUNK], sentences[i : i + CHUNK],
                               sentences[mismatches[i : i + CHUNK]])
        for i in range(0, len(codes), CHUNK)
    ])
    return r_precision_from_positions(positions, ranks, folds, seed)


def _unit(vectors) -> np.ndarray:
    """Vectors scaled to unit L2 norm along the last axis (zero vectors stay zero)."""
    vectors = np.asarray(vectors, dtype=np.float64)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-8)
