"""Loss terms shared by the models (spec §4, §5.1, §7, §8)."""

from __future__ import annotations

from keras import ops


def kl_divergence(mu, logvar):
    """KL(N(mu, exp(logvar)) ‖ N(0, I)) of conditioning augmentation, as the reference computes it.

    ``-0.5 · mean(1 + logvar − mu² − exp(logvar))`` over batch and dimensions; inputs
    ``[B, condition_dim]``, output a scalar.
    """
    return -0.5 * ops.mean(1.0 + logvar - ops.square(mu) - ops.exp(logvar))


def masked_caption_loss(captions, logits):
    """Cross-entropy of caption logits against the ids, averaged over real (non-zero) words.

    captions: int ``[B, T]`` (0 = padding); logits: ``[B, T, V]``. Returns a scalar; 0 when
    there are no real words.
    """
    mask = ops.cast(ops.not_equal(captions, 0), "float32")
    token_losses = ops.sparse_categorical_crossentropy(
        captions, ops.cast(logits, "float32"), from_logits=True
    )
    return ops.sum(token_losses * mask) / ops.maximum(ops.sum(mask), 1.0)
