import numpy as np

from mirrorgan_keras.losses import kl_divergence, masked_caption_loss


def test_kl_divergence_matches_formula(rng):
    mu = rng.normal(size=(4, 10)).astype("float32")
    logvar = rng.normal(size=(4, 10)).astype("float32")
    expected = -0.5 * np.mean(1 + logvar - mu**2 - np.exp(logvar))
    np.testing.assert_allclose(float(kl_divergence(mu, logvar)), expected, atol=1e-5)


def test_kl_divergence_is_zero_at_standard_normal():
    zeros = np.zeros((3, 5), "float32")
    assert float(kl_divergence(zeros, zeros)) == 0.0


def _numpy_masked_ce(ids, logits):
    shifted = logits - logits.max(-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    total, count = 0.0, 0
    for b, t in zip(*np.nonzero(ids), strict=True):
        total -= log_probs[b, t, ids[b, t]]
        count += 1
    return total / count


def test_masked_caption_loss_matches_numpy(rng):
    ids = rng.integers(1, 30, size=(3, 7)).astype("int32")
    ids[0, 4:] = 0
    ids[2, 1:] = 0
    logits = rng.normal(size=(3, 7, 30)).astype("float32") * 3
    np.testing.assert_allclose(
        float(masked_caption_loss(ids, logits)), _numpy_masked_ce(ids, logits), atol=1e-5
    )


def test_masked_caption_loss_ignores_logits_at_padding(rng):
    ids = np.array([[3, 4, 0, 0]], "int32")
    logits = rng.normal(size=(1, 4, 6)).astype("float32")
    changed = logits.copy()
    changed[:, 2:] += 100.0
    assert float(masked_caption_loss(ids, logits)) == float(masked_caption_loss(ids, changed))


def test_masked_caption_loss_of_empty_batch_is_zero():
    ids = np.zeros((2, 3), "int32")
    assert float(masked_caption_loss(ids, np.ones((2, 3, 5), "float32"))) == 0.0


def _numpy_damsm(regions, codes, words, sentences, lengths, classes, g1, g2, g3):
    """docs/design.md §4, one caption at a time against every image, as the reference loops."""
    def cos(a, b):
        return (a * b).sum(-1) / np.maximum(np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1),
                                            1e-8)

    def softmax(x, axis):
        e = np.exp(x - x.max(axis, keepdims=True))
        return e / e.sum(axis, keepdims=True)

    def ce(logits):
        log_p = logits - logits.max(1, keepdims=True)
        log_p = log_p - np.log(np.exp(log_p).sum(1, keepdims=True))
        return -np.mean(np.diag(log_p))

    batch = len(codes)
    v = regions.reshape(batch, -1, regions.shape[-1])  # [B, N, D]
    word_scores = np.zeros((batch, batch))  # [image, caption]
    for i in range(batch):
        e = words[i, : lengths[i]]  # [L, D]
        for j in range(batch):
            s = softmax(v[j] @ e.T, axis=1)  # over words, per region: [N, L]
            alpha = softmax(g1 * s, axis=0)  # over regions, per word
            context = alpha.T @ v[j]  # [L, D]
            word_scores[j, i] = np.log(np.exp(g2 * cos(context, e)).sum())
    sentence_scores = np.array([[cos(codes[j], sentences[i]) for i in range(batch)]
                                for j in range(batch)])
    mask = (classes[:, None] == classes[None, :]) & ~np.eye(batch, dtype=bool)
    out = {}
    for name, scores in (("w", word_scores), ("s", sentence_scores)):
        logits = np.where(mask, -np.inf, g3 * scores)
        out[name + "0"], out[name + "1"] = ce(logits), ce(logits.T)
    return out


def test_damsm_losses_match_numpy(rng):
    from mirrorgan_keras.losses import damsm_losses

    batch, side, dim, length = 5, 3, 6, 7
    regions = rng.normal(size=(batch, side, side, dim)).astype("float32")
    codes = rng.normal(size=(batch, dim)).astype("float32")
    words = rng.normal(size=(batch, length, dim)).astype("float32")
    sentences = rng.normal(size=(batch, dim)).astype("float32")
    lengths = np.array([7, 3, 5, 1, 6])
    mask = np.arange(length)[None, :] < lengths[:, None]
    classes = np.array([0, 1, 0, 2, 1], "int32")
    got = damsm_losses(regions, codes, words, sentences, word_mask=mask, class_ids=classes,
                       gamma1=4.0, gamma2=5.0, gamma3=10.0)
    want = _numpy_damsm(regions, codes, words, sentences, lengths, classes, 4.0, 5.0, 10.0)
    for key in ("w0", "w1", "s0", "s1"):
        np.testing.assert_allclose(float(got[key]), want[key], rtol=1e-5, atol=1e-5)


def test_damsm_loss_is_small_for_matching_features(rng):
    """Captions whose words and sentence equal their own image's features are found."""
    from mirrorgan_keras.losses import damsm_losses

    batch, dim = 4, 8
    regions = rng.normal(size=(batch, 2, 2, dim)).astype("float32")
    words = regions.reshape(batch, 4, dim)
    codes = rng.normal(size=(batch, dim)).astype("float32")
    got = damsm_losses(regions, codes, words, codes, word_mask=np.ones((batch, 4), bool),
                       class_ids=np.arange(batch), gamma1=4.0, gamma2=5.0, gamma3=10.0)
    assert all(float(got[key]) < 0.05 for key in ("w0", "w1", "s0", "s1"))
