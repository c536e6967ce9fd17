import numpy as np
import pytest

from mirrorgan_keras.layers import CaptionDecoder
from mirrorgan_keras.losses import masked_caption_loss
from tests.layers import numpy_lstm
from tests.layers.roundtrip import assert_config_round_trip, assert_saved_round_trip

VOCAB, EMBED, HIDDEN = 40, 16, 24


@pytest.fixture
def inputs(rng):
    features = rng.normal(size=(2, EMBED)).astype("float32")
    ids = rng.integers(1, VOCAB, size=(2, 9)).astype("int32")
    ids[1, 5:] = 0
    return features, ids


def test_teacher_forcing_shapes(inputs, rng):
    """Logits at step t = Dense(LSTM([x, emb(w_0), …, emb(w_{t−1})])): a NumPy LSTM over those
    inputs gives them, and changing the words from t on leaves steps 0 … t unchanged."""
    features, ids = inputs
    decoder = CaptionDecoder(VOCAB, EMBED, HIDDEN)
    logits = np.asarray(decoder(features, ids))
    assert logits.shape == (2, 9, VOCAB)
    embeddings = np.asarray(decoder.embedding.embeddings, np.float64)
    steps = np.concatenate([features[:, None], embeddings[ids[:, :-1]]], axis=1)
    hidden = numpy_lstm.lstm(decoder.lstm.cell, steps)
    expected = numpy_lstm.dense(decoder.vocabulary_logits, hidden)
    np.testing.assert_allclose(logits, expected, atol=1e-5)
    for t in range(1, ids.shape[1]):
        later = ids.copy()
        later[:, t:] = rng.integers(1, VOCAB, size=later[:, t:].shape)
        np.testing.assert_array_equal(np.asarray(decoder(features, later))[:, :t + 1],
                                      logits[:, :t + 1])


def test_default_sizes_are_streams():
    decoder = CaptionDecoder(5450)
    assert (decoder.embed_size, decoder.hidden_size, decoder.max_length) == (256, 512, 20)


def test_step_t_sees_the_image_and_words_before_t_only(inputs):
    features, ids = inputs
    decoder = CaptionDecoder(VOCAB, EMBED, HIDDEN)
    base = np.asarray(decoder(features, ids))
    changed_ids = ids.copy()
    changed_ids[:, 4] = (ids[:, 4] % (VOCAB - 1)) + 1
    changed = np.asarray(decoder(features, changed_ids))
    np.testing.assert_array_equal(changed[:, :5], base[:, :5])  # steps 0..4 predict words 0..4
    assert not np.allclose(changed[:, 5:], base[:, 5:])
    other_image = np.asarray(decoder(features + 1.0, ids))
    assert not np.allclose(other_image[:, 0], base[:, 0])  # step 0 depends on the image


def test_greedy_generation_agrees_with_teacher_forcing(inputs):
    features, _ = inputs
    decoder = CaptionDecoder(VOCAB, EMBED, HIDDEN, max_length=7)
    generated = np.asarray(decoder.generate(features))
    assert generated.shape == (2, 7) and generated.dtype == np.int32
    forced = np.asarray(decoder(features, generated))
    np.testing.assert_array_equal(forced.argmax(-1), generated)
    assert decoder.generate(features, max_length=3).shape == (2, 3)


def test_loss_decreases_when_fitting_one_caption(inputs):
    import keras
    import tensorflow as tf

    features, ids = inputs
    decoder = CaptionDecoder(VOCAB, EMBED, HIDDEN)
    optimizer = keras.optimizers.Adam(0.01)
    first = None
    for _ in range(30):
        with tf.GradientTape() as tape:
            loss = masked_caption_loss(ids, decoder(features, ids, training=True))
        optimizer.apply(tape.gradient(loss, decoder.trainable_weights), decoder.trainable_weights)
        first = float(loss) if first is None else first
    assert float(loss) < 0.5 * first


def test_caption_decoder_round_trips(inputs, tmp_path):
    features, ids = inputs
    assert_config_round_trip(CaptionDecoder(VOCAB, EMBED, HIDDEN), features, ids)
    assert_saved_round_trip(
        CaptionDecoder(VOCAB, EMBED, HIDDEN), tmp_path,
        {"image_features": features, "captions": ids},
    )
