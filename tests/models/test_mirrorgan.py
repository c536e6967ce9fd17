import keras
import numpy as np
import pytest
import tensorflow as tf

from mirrorgan_keras.losses import damsm_losses
from mirrorgan_keras.models.mirrorgan import _next_sentences, _stateless_normal
from mirrorgan_keras.runtime import precision
from tests.models.factories import (
    batches_from,
    build_damsm,
    build_mirrorgan,
    build_stream,
    random_batch,
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
    batch = random_batch(config, 4, seed=1)
    captions = batch["captions"]
    words, sentence = gan.text_encoder(captions, training=False)
    noise, condition_noise = gan.replica_noise(4)
    outputs = gan.generator(sentence, words, captions != 0, noise=noise,
                            condition_noise=condition_noise, training=True)
    losses = gan._generator_losses(outputs, words, sentence, batch)
    for name, value in recomputed_generator_losses(gan, config, outputs, batch).items():
        assert float(losses[name]) == pytest.approx(value, rel=1e-4, abs=1e-7), name


def recomputed_generator_losses(gan, config, outputs, batch) -> dict:
    """The generator's loss terms recomputed in NumPy from the models' outputs (docs/design.md
    §8): Σ over stages of the mean BCE(D^u, 1) and BCE(D^c, 1) = log(1 + e^−logit); STREAM's
    cross-entropy of the last image's caption over its real words; the KL of N(mu, e^logvar)
    from N(0, I), averaged over its elements; the DAMSM terms; and g_loss, their weighted
    sum with the configuration's λ."""
    captions, train, last_image = batch["captions"], config.train, outputs["images"][-1]
    words, sentence = gan.text_encoder(captions, training=False)
    adversarial = sum(np.mean(np.logaddexp(0.0, -np.asarray(logits, np.float64)))
                      for discriminator, image in zip(gan.discriminators, outputs["images"],
                                                      strict=True)
                      for logits in discriminator(image, sentence, training=True))
    logits = np.asarray(gan.stream(last_image, captions, training=False), np.float64)
    top = logits.max(-1, keepdims=True)
    log_probs = logits - top - np.log(np.exp(logits - top).sum(-1, keepdims=True))
    word_losses = -np.take_along_axis(log_probs, captions[..., None], -1)[..., 0]
    stream = word_losses[captions != 0].mean()
    mu, logvar = (np.asarray(outputs[key], np.float64) for key in ("mu", "logvar"))
    kl = -0.5 * np.mean(1.0 + logvar - mu**2 - np.exp(logvar))
    regions, code = gan.image_encoder(last_image, training=False)
    damsm = sum(float(term) for term in damsm_losses(
        regions, code, words, sentence, word_mask=captions != 0, class_ids=batch["class_ids"],
        gamma1=config.damsm.gamma1, gamma2=config.damsm.gamma2,
        gamma3=config.damsm.gamma3).values())
    total = (adversarial + train.lambda_stream * stream + train.lambda_kl * kl
             + train.lambda_damsm * damsm)
    return {"g_adversarial": adversarial, "stream": stream, "kl": kl, "damsm": damsm,
            "g_loss": total}


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
        gan = MirrorGAN.from_mirrorgan_config(config, damsm.text_encoder,
                                              stream=build_stream(config),
                                              image_encoder=damsm.image_encoder)
        gan.compile(keras.optimizers.Adam(), [keras.optimizers.Adam()])


def test_noise_is_standard_normal_and_the_same_under_xla():
    def draw():
        return _stateless_normal([200_000], tf.constant([3, 4], tf.int64))

    values = np.asarray(tf.function(draw)())
    assert abs(values.mean()) < 0.01 and abs(values.std() - 1.0) < 0.01
    assert abs(np.mean(values > 1.0) - 0.1587) < 0.003  # P(Z > 1)
    np.testing.assert_allclose(np.asarray(tf.function(draw, jit_compile=True)()), values,
                               atol=1e-5)


def _one_sgd_step(config, policy=None, jit_compile=False):
    """(model, weights before, weights after, logs) of one SGD(0.1) step from the same initial
    weights. The weights are the model's variables (including the moving average and
    batch-norm statistics), not its optimizers'."""
    keras.utils.set_random_seed(5)
    optimizers = keras.optimizers.SGD(0.1), [keras.optimizers.SGD(0.1) for _ in range(2)]
    with precision.dtype_policy(policy):
        gan = build_mirrorgan(config, build_damsm(config), build_stream(config), optimizers,
                              jit_compile=jit_compile)
    for optimizer in (gan.generator_optimizer, *gan.discriminator_optimizers):
        if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
            optimizer.dynamic_scale.assign(8.0)  # no overflow: the step is taken, not skipped
    before = _values(gan.weights)
    logs = gan.fit(batches_from(config, 4, steps=1), verbose=0).history
    return gan, before, _values(gan.weights), {k: v[-1] for k, v in logs.items()}


def test_xla_step_equals_the_plain_step(config):
    """XLA sums in another order: the losses agree to 1e-5, every variable's change to 0.2 %
    of its size (plus float32 rounding of the value: the moving average moves by 1e-5)."""
    _, start, plain, plain_logs = _one_sgd_step(config)
    gan, xla_start, xla, xla_logs = _one_sgd_step(config, jit_compile=True)
    assert gan.jit_compile
    for a, b in zip(start, xla_start, strict=True):
        np.testing.assert_array_equal(a, b)
    for before, a, b in zip(start, plain, xla, strict=True):
        if a.dtype.kind == "f":
            change = np.linalg.norm(a - before)
            assert np.linalg.norm(b - a) <= 2e-3 * change + 1e-6 * np.sqrt(a.size)
        else:
            np.testing.assert_array_equal(b, a)
    for key, value in plain_logs.items():
        assert xla_logs[key] == pytest.approx(value, rel=1e-5, abs=1e-6), key


def _update(before, after):
    """The step's change of every floating variable, flattened."""
    return np.concatenate([(b - a).ravel() for a, b in zip(before, after, strict=True)
                           if a.dtype.kind == "f"])


@pytest.mark.parametrize("policy, tolerance", [("mixed_bfloat16", 0.3), ("mixed_float16", 0.1)])
def test_mixed_precision_step_is_close_to_float32(config, policy, tolerance):
    """Variables, losses and images stay float32; the update is the float32 one up to the
    compute precision (bfloat16 keeps 8 bits, float16 11), so float16's loss scaling (every
    optimizer wrapped) is undone."""
    _, start, reference, _ = _one_sgd_step(config)
    gan, mixed_start, mixed, logs = _one_sgd_step(config, policy)
    assert gan.generator.compute_dtype == policy.removeprefix("mixed_")
    scaled = [isinstance(o, keras.optimizers.LossScaleOptimizer)
              for o in (gan.generator_optimizer, *gan.discriminator_optimizers)]
    assert scaled == [policy == "mixed_float16"] * 3
    assert all(v.dtype in ("float32", "int64") for v in gan.state_variables())
    assert all(np.isfinite(value) for value in logs.values())
    want, got = _update(start, reference), _update(mixed_start, mixed)
    assert np.linalg.norm(got - want) < tolerance * np.linalg.norm(want)
    outputs = gan(np.asarray(random_batch(config, 2)["captions"]))
    assert all(images.dtype == "float32" for images in outputs["images"])



def test_start_from_a_saved_initial_state_sets_generator_average_and_discriminators(
        config, tmp_path):
    from mirrorgan_keras.config import override
    from mirrorgan_keras.models import save_initial_state
    from mirrorgan_keras.runtime.checkpoint import CheckpointMismatchError

    damsm, stream = build_damsm(config), build_stream(config)
    source = build_mirrorgan(config, damsm, stream)
    save_initial_state(tmp_path / "initial", source.generator, source.discriminators, config)
    keras.utils.set_random_seed(99)
    gan = build_mirrorgan(config, damsm, stream)
    gan.start_from(tmp_path / "initial", config)
    for models in ((source.generator, gan.generator), (source.generator, gan.ema_generator),
                   *zip(source.discriminators, gan.discriminators, strict=True)):
        for want, got in zip(*(m.weights for m in models), strict=True):
            np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
    for average, weight in zip(gan.ema_weights, source.generator.trainable_weights, strict=True):
        np.testing.assert_array_equal(np.asarray(average), np.asarray(weight))
    with pytest.raises(CheckpointMismatchError, match="discriminator.ndf"):
        gan.start_from(tmp_path / "initial", override(config, {"discriminator.ndf": 8}))


def _logits(discriminators, config, seed=5):
    """Every discriminator's (unconditional, conditional) logits, inference mode, on random
    images and sentences: a list of ``[B, 1]`` arrays."""
    rng = np.random.default_rng(seed)
    sentence = rng.standard_normal((3, config.text.embedding_dim)).astype("float32")
    return [np.asarray(logits) for d, size in zip(discriminators, config.generator.image_sizes,
                                                  strict=True)
            for logits in d(rng.uniform(-1, 1, (3, size, size, 3)).astype("float32"), sentence,
                            training=False)]


def test_a_runs_discriminators_load_in_one_call_with_the_training_models_logits(
        gan, config, tmp_path):
    from mirrorgan_keras.models import load_discriminators, save_initial_state
    from mirrorgan_keras.runtime.checkpoint import TrainingCheckpoint
    from mirrorgan_keras.runtime.run_files import RunFiles, write_run_config
    from tests.models.factories import VOCAB

    files = RunFiles(tmp_path)
    write_run_config(files, config, VOCAB)
    with pytest.raises(FileNotFoundError, match="no GAN checkpoint"):
        load_discriminators(tmp_path)
    save_initial_state(files.initial_gan, gan.generator, gan.discriminators, config)
    initial = _logits(gan.discriminators, config)
    gan.fit(batches_from(config, 4, steps=1), verbose=0)
    trained = _logits(gan.discriminators, config)
    for got, want in zip(_logits(load_discriminators(tmp_path), config), initial, strict=True):
        np.testing.assert_array_equal(got, want)  # a converted run: its initial state
    TrainingCheckpoint(files.checkpoints("mirrorgan"), gan.state_variables(),
                       config.fingerprint()).save(1)
    for got, want in zip(_logits(load_discriminators(tmp_path), config), trained, strict=True):
        np.testing.assert_array_equal(got, want)  # the newest checkpoint wins
    assert not np.allclose(trained[0], initial[0])
