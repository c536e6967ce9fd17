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
