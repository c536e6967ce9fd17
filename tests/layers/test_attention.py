import numpy as np
import pytest

from mirrorgan_keras.layers import GlobalLocalAttention, SentenceAttention, WordAttention
from tests.layers.roundtrip import assert_config_round_trip, assert_saved_round_trip

B, H, W, C, T, D, CDIM = 2, 5, 6, 8, 7, 12, 10


def _softmax(x, axis):
    e = np.exp(x - x.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


def _numpy_word_attention(layer, image, words, mask):
    """β_jl = softmax_l over real words of h_j·(U w_l); context_j = Σ_l β_jl U w_l."""
    (u,) = (np.asarray(w) for w in layer.word_projection.weights)
    keys = words @ u  # [B, T, C]
    context = np.zeros(image.shape, np.float64)
    attention = np.zeros((image.shape[0], words.shape[1], *image.shape[1:3]))
    for b in range(image.shape[0]):
        real = np.flatnonzero(mask[b])
        for i in range(image.shape[1]):
            for j in range(image.shape[2]):
                beta = _softmax(keys[b, real] @ image[b, i, j], axis=0)
                context[b, i, j] = beta @ keys[b, real]
                attention[b, real, i, j] = beta
    return context, attention


def _numpy_sentence_attention(layer, image, condition):
    """v = V c + b; σ = softmax_channels(conv1x1(h ⊙ v)); out = v ⊙ σ."""
    v_kernel, v_bias = (np.asarray(w) for w in layer.sentence_projection.weights)
    (gate,) = (np.asarray(w) for w in layer.gate.weights)
    v = (condition @ v_kernel + v_bias)[:, None, None, :]
    sigma = _softmax((image * v) @ gate[0, 0], axis=-1)
    return v * sigma


@pytest.fixture
def inputs(rng):
    image = rng.normal(size=(B, H, W, C)).astype("float32")
    words = rng.normal(size=(B, T, D)).astype("float32")
    mask = np.ones((B, T), bool)
    mask[0, 4:] = False
    condition = rng.normal(size=(B, CDIM)).astype("float32")
    return image, words, mask, condition


def test_word_attention_matches_numpy(inputs):
    image, words, mask, _ = inputs
    layer = WordAttention(C)
    context, attention = layer(image, words, word_mask=mask)
    assert context.shape == (B, H, W, C) and attention.shape == (B, T, H, W)
    want_context, want_attention = _numpy_word_attention(layer, image, words, mask)
    np.testing.assert_allclose(np.asarray(context), want_context, atol=1e-5)
    np.testing.assert_allclose(np.asarray(attention), want_attention, atol=1e-5)


def test_padded_words_get_exactly_zero_attention(inputs):
    image, words, mask, _ = inputs
    words = words * 50.0  # large scores must not leak through the mask
    _, attention = WordAttention(C)(image, words, word_mask=mask)
    attention = np.asarray(attention)
    assert np.all(attention[0, 4:] == 0.0)
    np.testing.assert_allclose(attention.sum(axis=1), 1.0, atol=1e-5)


def test_word_attention_ignores_padded_word_values(inputs):
    image, words, mask, _ = inputs
    layer = WordAttention(C)
    changed = words.copy()
    changed[0, 4:] = 1e3
    got = layer(image, changed, word_mask=mask)
    want = layer(image, words, word_mask=mask)
    for a, b in zip(got, want, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_sentence_attention_matches_numpy(inputs):
    image, _, _, condition = inputs
    layer = SentenceAttention(C)
    got = np.asarray(layer(image, condition))
    assert got.shape == (B, H, W, C)
    np.testing.assert_allclose(got, _numpy_sentence_attention(layer, image, condition), atol=1e-5)


def test_global_local_attention_matches_numpy(inputs):
    image, words, mask, condition = inputs
    layer = GlobalLocalAttention(C)
    fused, attention = layer(image, words, condition, word_mask=mask)
    word_context, want_attention = _numpy_word_attention(layer.word_attention, image, words, mask)
    sentence_context = _numpy_sentence_attention(layer.sentence_branch, image, condition)
    (fuse,) = (np.asarray(w) for w in layer.fuse.weights)
    want = np.concatenate([image, word_context, sentence_context], -1) @ fuse[0, 0]
    assert fused.shape == (B, H, W, 2 * C)
    np.testing.assert_allclose(np.asarray(fused), want, atol=1e-5)
    np.testing.assert_allclose(np.asarray(attention), want_attention, atol=1e-5)


def test_global_local_attention_without_sentence_branch_is_attngan(inputs):
    image, words, mask, condition = inputs
    layer = GlobalLocalAttention(C, sentence_attention=False)
    fused, _ = layer(image, words, condition, word_mask=mask)
    word_context, _ = _numpy_word_attention(layer.word_attention, image, words, mask)
    np.testing.assert_allclose(
        np.asarray(fused), np.concatenate([image, word_context], -1), atol=1e-5
    )
    assert len(layer.weights) == 1  # only U: no sentence projection, gate or fuse conv


def test_global_local_attention_needs_condition_with_sentence_branch(inputs):
    image, words, mask, _ = inputs
    with pytest.raises(ValueError, match="condition"):
        GlobalLocalAttention(C)(image, words, word_mask=mask)


@pytest.mark.parametrize("sentence_attention", [True, False])
def test_global_local_attention_round_trips(inputs, tmp_path, sentence_attention):
    image, words, mask, condition = inputs
    layer = GlobalLocalAttention(C, sentence_attention=sentence_attention)
    assert_config_round_trip(layer, image, words, condition, word_mask=mask)
    assert_saved_round_trip(
        GlobalLocalAttention(C, sentence_attention=sentence_attention), tmp_path,
        {"image": image, "words": words, "condition": condition, "word_mask": mask},
    )


def test_word_and_sentence_attention_round_trip(inputs, tmp_path):
    image, words, mask, condition = inputs
    assert_config_round_trip(WordAttention(C), image, words, word_mask=mask)
    assert_config_round_trip(SentenceAttention(C), image, condition)
    assert_saved_round_trip(
        SentenceAttention(C), tmp_path, {"image": image, "condition": condition}
    )
