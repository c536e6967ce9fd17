import numpy as np
import pytest

from mirrorgan_keras.layers import SemanticTextEncoder
from tests.layers import numpy_lstm
from tests.layers.roundtrip import assert_config_round_trip, assert_saved_round_trip

VOCAB = 50


@pytest.fixture
def captions(rng):
    ids = np.zeros((3, 18), "int32")
    for row, length in enumerate((18, 9, 1)):
        ids[row, :length] = rng.integers(1, VOCAB, size=length)
    return ids


def test_cub_golden_shapes(captions):
    """At CUB's sizes (300 → 2 × 128): each caption's real words through a NumPy forward and
    backward LSTM give its word features, the two final states its sentence feature."""
    encoder = SemanticTextEncoder(VOCAB)
    words, sentence = (np.asarray(t) for t in encoder(captions[:2]))
    assert words.shape == (2, 18, 256) and sentence.shape == (2, 256)
    table = np.asarray(encoder.embedding.embeddings, np.float64)
    for row, length in enumerate((18, 9)):
        embedded = table[captions[row : row + 1, :length]]
        forward = numpy_lstm.lstm(encoder.rnn.forward_layer.cell, embedded)[0]
        backward = numpy_lstm.lstm(encoder.rnn.backward_layer.cell, embedded[:, ::-1])[0, ::-1]
        np.testing.assert_allclose(words[row, :length], np.concatenate([forward, backward], -1),
                                   atol=1e-5)
        np.testing.assert_allclose(sentence[row], np.concatenate([forward[-1], backward[0]]),
                                   atol=1e-5)


def test_sentence_is_unchanged_by_appended_padding(captions):
    encoder = SemanticTextEncoder(VOCAB)
    words, sentence = encoder(captions)
    longer = np.pad(captions, ((0, 0), (0, 7)))
    words_longer, sentence_longer = encoder(longer)
    np.testing.assert_allclose(np.asarray(sentence_longer), np.asarray(sentence), atol=1e-6)
    np.testing.assert_allclose(np.asarray(words_longer)[:, :18], np.asarray(words), atol=1e-6)


def test_features_equal_those_of_each_caption_alone(captions):
    """Each direction's state comes from the last real word, as with PyTorch's packed RNN."""
    encoder = SemanticTextEncoder(VOCAB)
    words, sentence = (np.asarray(t) for t in encoder(captions))
    for row in range(len(captions)):
        length = int(np.count_nonzero(captions[row]))
        alone_words, alone_sentence = encoder(captions[row : row + 1, :length])
        np.testing.assert_allclose(sentence[row], np.asarray(alone_sentence)[0], atol=1e-5)
        np.testing.assert_allclose(words[row, :length], np.asarray(alone_words)[0], atol=1e-5)


def test_padded_word_features_are_zero(captions):
    words, _ = SemanticTextEncoder(VOCAB)(captions)
    assert np.all(np.asarray(words)[1, 9:] == 0.0)


def test_dropout_only_in_training(captions):
    encoder = SemanticTextEncoder(VOCAB)
    first = np.asarray(encoder(captions, training=False)[1])
    np.testing.assert_array_equal(np.asarray(encoder(captions, training=False)[1]), first)
    assert not np.allclose(np.asarray(encoder(captions, training=True)[1]), first)


def test_embedding_init_is_uniform_point_one():
    encoder = SemanticTextEncoder(2000, word_embedding_dim=300)
    encoder.build((None, 18))
    table = np.asarray(encoder.embedding.embeddings)
    assert table.shape == (2000, 300)
    assert table.min() >= -0.1 and table.max() <= 0.1 and table.std() > 0.05


def test_text_encoder_round_trips(captions, tmp_path):
    encoder = SemanticTextEncoder(VOCAB, word_embedding_dim=16, embedding_dim=12)
    assert_config_round_trip(encoder, captions)
    assert_saved_round_trip(
        SemanticTextEncoder(VOCAB, word_embedding_dim=16, embedding_dim=12), tmp_path,
        {"captions": captions},
    )


def test_odd_embedding_dim_is_rejected():
    with pytest.raises(ValueError, match="even"):
        SemanticTextEncoder(VOCAB, embedding_dim=255)
