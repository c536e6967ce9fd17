import keras
import numpy as np
import pytest
import tensorflow as tf

from mirrorgan_keras.models.mirrorgan import _next_sentences
from tests.models.factories import (
    batches_from,
    build_damsm,
    build_mirrorgan,
    build_stream,
    tiny_config,
)


@pytest.fixture
def config():
    return tiny_config()


@pytest.fixture
def gan(config):
    return build_mirrorgan(config, build_damsm(config), build_stream(config))


def _values(variables):
    return [np.asarray(v).copy() for v in variables]


def test_one_step_updates_generator_discriminators_and_not_frozen_parts(gan, config):
    frozen = gan.text_encoder.weights + gan.stream.weights + gan.image_encoder.weights
    before_frozen = _values(frozen)
    before_g = _values(gan.generator.trainable_weights)
    before_d = [_values(d.trainable_weights) for d in gan.discriminators]
    history = gan.fit(batches_from(config, 4, steps=1), verbose=0).history
    assert set(history) >= {"d_loss", "d0", "d1", "g_loss", "stream", "kl", "damsm"}
    for a, b in zip(before_frozen, _values(frozen), strict=True):
        np.testing.assert_array_equal(a, b)
    assert all(not np.array_equal(a, b)
               for a, b in zip(before_g, _values(gan.generator.trainable_weights), strict=True)
               if a.ndim > 1)
    for before, d in zip(before_d, gan.discriminators, strict=True):
        assert any(not np.array_equal(a, b)
                   for a, b in zip(before, _values(d.trainable_weights), strict=True))
    assert int(gan.generator_optimizer.iterations) == 1
    assert all(int(o.iterations) == 1 for o in gan.discriminator_optimizers)


def test_generator_loss_is_the_weighted_sum(gan, config):
    logs = gan.fit(batches_from(config, 4, steps=1), verbose=0).history
    logs = {k: v[-1] for k, v in logs.items()}
    train = config.train
    expected = (logs["g_adversarial"] + train.lambda_stream * logs["stream"]
                + train.lambda_kl * logs["kl"] + train.lambda_damsm * logs["damsm"])
    assert logs["g_loss"] == pytest.approx(expected, rel=1e-5)
    assert logs["d_loss"] == pytest.approx(logs["d0"] + logs["d1"], rel=1e-5)


def test_moving_average_follows_the_reference_formula(gan, config):
    start = _values(gan.generator.trainable_weights)
    gan.fit(batches_from(config, 4, steps=1), verbose=0)
    now = _values(gan.generator.trainable_weights)
    decay = config.train.ema_decay
    for average, a, b in zip(gan.ema_weights, start, now, strict=True):
        np.testing.assert_allclose(np.asarray(average), decay * a + (1 - decay) * b, atol=1e-6)
    ema = gan.sync_ema_generator()
    np.testing.assert_array_equal(np.asarray(ema.trainable_weights[0]),
                                  np.asarray(gan.ema_weights[0]))


def test_noise_depends_on_seed_and_step_only(gan):
    z1, eps1 = (np.asarray(t) for t in gan.replica_noise(3))
    z2, _ = (np.asarray(t) for t in gan.replica_noise(3))
    np.testing.assert_array_equal(z1, z2)
    assert z1.shape == (3, 8) and eps1.shape == (3, 8) and not np.allclose(z1, eps1[:, :8])
    gan.generator_optimizer.iterations.assign(5)
    assert not np.allclose(np.asarray(gan.replica_noise(3)[0]), z1)


def test_mismatched_pairs_are_the_next_sentence_and_skip_the_last():
    sentence = tf.constant(np.arange(8, dtype="float32").reshape(4, 2))
    mismatched, valid = _next_sentences(sentence)
    np.testing.assert_array_equal(np.asarray(mismatched)[:3], np.asarray(sentence)[1:])
    np.testing.assert_array_equal(np.asarray(valid), [True, True, True, False])


def test_attngan_configuration_needs_no_stream(config):
    attngan = tiny_config(lambda_stream=0.0, lambda_damsm=5.0)
    damsm = build_damsm(attngan)
    gan = build_mirrorgan(attngan, damsm, stream=None)
    assert gan.stream is None and gan.image_encoder is not None
    logs = gan.fit(batches_from(attngan, 4, steps=1), verbose=0).history
    assert logs["stream"][-1] == 0.0 and logs["damsm"][-1] > 0.0


def test_missing_pretrained_parts_are_reported(config):
    from mirrorgan_keras.models import MirrorGAN

    damsm = build_damsm(config)
    with pytest.raises(ValueError, match="stream"):
        MirrorGAN.from_mirrorgan_config(config, damsm.text_encoder, stream=None,
                                        image_encoder=damsm.image_encoder)
    with pytest.raises(ValueError, match="one optimizer per discriminator"):
        gan = MirrorGAN.from_mirrorgan_config(config, damsm.text_encoder, build_stream(config),
                                              damsm.image_encoder)
        gan.compile(keras.optimizers.Adam(), [keras.optimizers.Adam()])
