"""Loss terms shared by the models (docs/design.md §4, §5.1, §7, §8)."""

from __future__ import annotations

from keras import ops

from mirrorgan_keras.runtime import distribute


def kl_divergence(mu, logvar):
    """KL(N(mu, exp(logvar)) ‖ N(0, I)) of conditioning augmentation, as the reference computes it.

    ``-0.5 · mean(1 + logvar − mu² − exp(logvar))`` over batch and dimensions; inputs
    ``[B, condition_dim]``, output a float32 scalar. Under a ``tf.distribute`` strategy each
    replica returns its share of the global-batch mean
    (:func:`~mirrorgan_keras.runtime.distribute.distributed_mean`); elsewhere the mean itself.
    """
    mu, logvar = ops.cast(mu, "float32"), ops.cast(logvar, "float32")
    return distribute.distributed_mean(-0.5 * (1.0 + logvar - mu**2 - ops.exp(logvar)))


def masked_caption_loss_terms(captions, logits):
    """Per-word cross-entropy ``[B, T]`` of caption logits ``[B, T, V]`` and the float mask of
    real (non-zero) words ``[B, T]``."""
    mask = ops.cast(ops.not_equal(captions, 0), "float32")
    token_losses = ops.sparse_categorical_crossentropy(
        captions, ops.cast(logits, "float32"), from_logits=True
    )
    return token_losses, mask


def masked_caption_loss(captions, logits):
    """Cross-entropy of caption logits against the ids, averaged over real (non-zero) words.

    captions: int ``[B, T]`` (0 = padding); logits: ``[B, T, V]``. Returns a float32 scalar; 0
    when there are no real words. Under a ``tf.distribute`` strategy each replica returns its
    share of the mean over the real words of the global batch
    (:func:`~mirrorgan_keras.runtime.distribute.distributed_mean`).
    """
    token_losses, mask = masked_caption_loss_terms(captions, logits)
    return distribute.distributed_mean(token_losses, mask)


def binary_cross_entropy(logits, label: float):
    """Per-sample BCE of pre-sigmoid logits ``[B, 1]`` against a constant label → ``[B]``."""
    logits = ops.cast(ops.reshape(logits, (-1,)), "float32")
    return ops.binary_crossentropy(ops.full_like(logits, label), logits, from_logits=True)


def _cosine(a, b, axis=-1, eps=1e-8):
    dot = ops.sum(a * b, axis=axis)
    return dot / ops.maximum(ops.norm(a, axis=axis) * ops.norm(b, axis=axis), eps)


def sentence_match_scores(image_codes, sentences):
    """Cosine of every image code with every sentence: ``[Bi, D] × [Bc, D]`` → ``[Bi, Bc]``."""
    norms = ops.maximum(
        ops.norm(image_codes, axis=-1)[:, None] * ops.norm(sentences, axis=-1)[None, :], 1e-8
    )
    return ops.matmul(image_codes, ops.transpose(sentences)) / norms


def word_match_scores(regions, words, word_mask, *, gamma1: float, gamma2: float):
    """DAMSM word-level matching score R(image, caption) of every image with every caption.

    For image ``i`` and caption ``c``: region-word products ``s = v·e`` are softmaxed over the
    caption's real words, then ``γ1·s̄`` over the regions, giving a region context ``c_t`` for
    each word; ``R = log Σ_t exp(γ2 · cos(c_t, e_t))`` over the real words (docs/design.md §4).

    Args:
        regions: ``[Bi, R, R, D]`` (or ``[Bi, N, D]``) region features.
        words: ``[Bc, T, D]`` word features; word_mask: bool ``[Bc, T]``.

    Returns:
        ``[Bi, Bc]`` scores (before γ3).
    """
    regions = ops.cast(regions, "float32")
    words = ops.cast(words, "float32")
    regions = ops.reshape(regions, (ops.shape(regions)[0], -1, ops.shape(regions)[-1]))
    real = ops.cast(word_mask, "bool")[None, :, None, :]  # [1, Bc, 1, T]
    products = ops.einsum("ind,ctd->icnt", regions, words)  # [Bi, Bc, N, T]
    over_words = ops.softmax(ops.where(real, products, -1e9), axis=-1)
    over_regions = ops.softmax(gamma1 * over_words, axis=2)
    context = ops.einsum("icnt,ind->ictd", over_regions, regions)  # [Bi, Bc, T, D]
    similarity = _cosine(context, words[None])  # [Bi, Bc, T]
    mask = ops.cast(word_mask, "float32")[None]
    return ops.log(ops.sum(ops.exp(gamma2 * similarity) * mask, axis=-1) + 1e-12)


def matching_logits(scores, class_ids, gamma3: float):
    """``γ3 · scores`` with same-class off-diagonal pairs masked out (``[B, B]``, diagonal = match).

    Pairs (j, i), j ≠ i, whose class ids are equal are not negatives: their logits are set to a
    large negative value, as the reference does with −∞.
    """
    class_ids = ops.reshape(class_ids, (-1,))
    same_class = ops.equal(class_ids[:, None], class_ids[None, :])
    diagonal = ops.eye(ops.shape(class_ids)[0], dtype="bool")
    masked = ops.logical_and(same_class, ops.logical_not(diagonal))
    return ops.where(masked, -1e9, gamma3 * scores)


def matching_cross_entropy(logits, rows):
    """Per-row CE of a ``[B, B]`` matching-logit matrix whose diagonal holds the positives.

    ``rows``: int ``[b]`` indices of the rows to score (all rows on one device; this replica's
    rows under a strategy). Returns ``[b]``.
    """
    picked = ops.take(logits, rows, axis=0)
    return ops.sparse_categorical_crossentropy(rows, picked, from_logits=True)


def damsm_losses(regions, image_codes, words, sentences, *, word_mask, class_ids,
                 gamma1: float, gamma2: float, gamma3: float):
    """The four DAMSM terms (docs/design.md §4): word and sentence level, images→captions and back.

    Image ``j`` and caption ``j`` of the batch are a pair. Under a ``tf.distribute`` strategy
    the features are gathered from all replicas and each replica returns its share of the
    global-batch mean (see :mod:`mirrorgan_keras.runtime.distribute`).

    Args:
        regions: ``[B, R, R, D]``; image_codes: ``[B, D]``; words: ``[B, T, D]``;
        sentences: ``[B, D]``; word_mask: bool ``[B, T]``; class_ids: int ``[B]``.

    Returns:
        dict ``w0, w1, s0, s1`` of scalars; ``w0``/``s0`` classify each image among the
        captions, ``w1``/``s1`` each caption among the images.
    """
    local_batch = ops.shape(image_codes)[0]
    class_ids = distribute.gather(ops.reshape(class_ids, (-1,)))
    rows = distribute.local_offset(local_batch) + ops.arange(local_batch, dtype="int32")
    word_scores = word_match_scores(
        distribute.gather(regions), distribute.gather(words),
        distribute.gather(ops.cast(word_mask, "int32")),
        gamma1=gamma1, gamma2=gamma2,
    )
    sentence_scores = sentence_match_scores(
        distribute.gather(ops.cast(image_codes, "float32")),
        distribute.gather(ops.cast(sentences, "float32")),
    )
    losses = {}
    for name, scores in (("w", word_scores), ("s", sentence_scores)):
        logits = matching_logits(scores, class_ids, gamma3)
        losses[name + "0"] = distribute.distributed_mean(matching_cross_entropy(logits, rows))
        losses[name + "1"] = distribute.distributed_mean(
            matching_cross_entropy(ops.transpose(logits), rows)
        )
    return losses
