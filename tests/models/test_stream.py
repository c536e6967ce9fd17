import keras
import numpy as np
import pytest
import tensorflow as tf

from mirrorgan_keras.layers import CaptionImageEncoder
from mirrorgan_keras.models import WordPresencePretrainer
from mirrorgan_keras.runtime import precision
from tests.layers import numpy_lstm
from tests.models.factories import VOCAB, batches_from, build_stream, tiny_config


def test_stream_fits_a_fixed_batch():
    config = tiny_config()
    stream = build_stream(config)
    dataset = batches_from(config, 4, steps=1).repeat(20)
    history = stream.fit(dataset, epochs=1, verbose=0)
    first = stream.evaluate(batches_from(config, 4, steps=1), verbose=0, return_dict=True)
    assert np.isfinite(history.history["loss"][-1])
    stream.fit(dataset, epochs=2, verbose=0)
    later = stream.evaluate(batches_from(config, 4, steps=1), verbose=0, return_dict=True)
    assert later["loss"] < first["loss"]


def test_greedy_captions_have_the_requested_length(rng):
    """Each word is the argmax of the decoder's logits after the image feature and the words
    before it: the chain stepped by hand with a NumPy LSTM."""
    config = tiny_config()
    stream = build_stream(config)
    images = rng.uniform(-1, 1, (3, 32, 32, 3)).astype(np.float32)
    stream(images, np.ones((3, 4), np.int32))
    generated = np.asarray(stream.generate(images, max_length=5))
    assert generated.shape == (3, 5)
    decoder = stream.decoder
    step_input = np.asarray(stream.encoder(images, training=False), np.float64)
    state, expected = numpy_lstm.zero_state(3, decoder.lstm.cell), []
    for _ in range(5):
        state = numpy_lstm.lstm_step(decoder.lstm.cell, step_input, state)
        expected.append(numpy_lstm.dense(decoder.vocabulary_logits, state[0]).argmax(-1))
        step_input = np.asarray(decoder.embedding.embeddings, np.float64)[expected[-1]]
    np.testing.assert_array_equal(generated, np.stack(expected, axis=1))


def test_word_presence_pretraining_trains_only_the_backbone_and_its_head():
    config = tiny_config()
    stream = build_stream(config)
    stream(np.zeros((2, 32, 32, 3), np.float32), np.ones((2, 8), np.int32))
    encoder = stream.encoder
    encoder.backbone.trainable = True
    pretrainer = WordPresencePretrainer(encoder, VOCAB)
    pretrainer.compile(optimizer=keras.optimizers.Adam(1e-2), jit_compile=False)
    projection = np.asarray(encoder.projection.kernel).copy()
    backbone = [np.asarray(w).copy() for w in encoder.backbone.trainable_weights]
    dataset = batches_from(config, 4, steps=1).repeat(30)
    losses = pretrainer.fit(dataset, epochs=2, verbose=0).history["word_loss"]
    assert losses[-1] < losses[0]
    np.testing.assert_array_equal(np.asarray(encoder.projection.kernel), projection)
    assert any(not np.array_equal(a, np.asarray(b))
               for a, b in zip(backbone, encoder.backbone.trainable_weights, strict=True))


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_steps_give_finite_losses(policy):
    config = tiny_config()
    with precision.dtype_policy(policy):
        stream = build_stream(config)
        stream(np.zeros((2, 32, 32, 3), np.float32), np.ones((2, 8), np.int32))
        pretrainer = WordPresencePretrainer(stream.encoder, VOCAB)
        pretrainer(np.zeros((2, 32, 32, 3), np.float32))
        pretrainer.compile(optimizer=keras.optimizers.Adam(1e-2))
    dataset = batches_from(config, 4, steps=2)
    words = pretrainer.fit(dataset, verbose=0).history["word_loss"]
    captions = stream.fit(dataset, verbose=0).history["loss"]
    assert np.isfinite(words[-1]) and np.isfinite(captions[-1])


@pytest.mark.slow
def test_resnet_encoder_applies_its_own_preprocessing():
    encoder = CaptionImageEncoder(weights=None)
    images = tf.random.uniform((2, 64, 64, 3), -1.0, 1.0)
    assert encoder(images).shape == (2, 256)
    assert len(encoder.trainable_weights) == 4  # projection and batch norm only
    restored = CaptionImageEncoder.from_config({**encoder.get_config(), "weights": "imagenet"})
    assert restored.weights_source is None  # loading never downloads


def test_small_encoder_keeps_where_a_colour_is():
    """The small CNN's map is flattened, not pooled: every position keeps its own features."""
    encoder = CaptionImageEncoder(8, backbone="small", weights=None, image_size=32)
    assert encoder.backbone.outputs[0].shape[-1] == 2 * 2 * 256  # (32 / 16)² positions × 256
    images = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
    last_map = keras.Model(encoder.backbone.inputs, encoder.backbone.get_layer("act3").output)
    np.testing.assert_allclose(encoder.backbone_features(images),
                               np.reshape(last_map(images), (2, -1)), atol=1e-6)
