"""MirrorGAN: the GLAM generator trained against stage discriminators and re-description."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import keras
import tensorflow as tf
from keras import ops

from mirrorgan_keras.config import MirrorGANConfig, TrainConfig
from mirrorgan_keras.layers import RegionImageEncoder, SemanticTextEncoder, StageDiscriminator
from mirrorgan_keras.losses import binary_cross_entropy, damsm_losses, kl_divergence
from mirrorgan_keras.models.generator import GLAMGenerator
from mirrorgan_keras.models.stream import STREAM
from mirrorgan_keras.runtime import distribute, precision
from mirrorgan_keras.runtime.checkpoint import TrainingCheckpoint
from mirrorgan_keras.runtime.run_files import RunFiles, load_run_config


class MirrorGAN(keras.Model):
    """The training model of docs/design.md §8: frozen STEM, GLAM generator, one D per stage,
    STREAM.

    One ``train_step``: encode the captions (frozen STEM), draw noise, run the generator once,
    update each discriminator with its own optimizer on real, fake (detached) and mismatched
    pairs, then update the generator against the updated discriminators with

        L_G = Σ_i [BCE(D_i^u(I_i), 1) + BCE(D_i^c(I_i, s), 1)] + λ_stream·CE_STREAM(I_last)
              + λ_kl·KL + λ_damsm·DAMSM(I_last)

    and fold the new generator weights into an exponential moving average (decay
    ``ema_decay``), which :meth:`sync_ema_generator` copies into ``ema_generator`` for samples
    and export. AttnGAN is ``lambda_stream=0``, ``lambda_damsm>0`` and a generator without
    sentence attention.

    Noise is drawn for the global batch from ``(seed, step)`` and each replica takes its rows,
    so a run is reproducible, resumable and identical on any number of replicas.

    Args:
        generator: the GLAMGenerator to train.
        discriminators: one StageDiscriminator per generated image, smallest first.
        text_encoder: pretrained STEM (frozen here).
        stream: pretrained STREAM (frozen), required when ``lambda_stream > 0``.
        image_encoder: pretrained DAMSM image encoder (frozen), required when
            ``lambda_damsm > 0``.
        lambda_stream, lambda_damsm, lambda_kl: loss weights.
        gammas: DAMSM (γ1, γ2, γ3) for the DAMSM term.
        ema_decay: decay of the generator's moving average.
        seed: base seed of the noise.

    Example::

        gan = MirrorGAN(generator, discriminators, damsm.text_encoder, stream=stream)
        with strategy.scope():
            gan.compile(generator_optimizer, discriminator_optimizers)
            gan.initialize(words_num=18)
        gan.fit(dataset, epochs=...)
    """

    def __init__(self, generator: GLAMGenerator, discriminators: list[StageDiscriminator],
                 text_encoder: SemanticTextEncoder, *, stream: STREAM | None = None,
                 image_encoder: RegionImageEncoder | None = None, lambda_stream: float = 20.0,
                 lambda_damsm: float = 0.0, lambda_kl: float = 1.0,
                 gammas: tuple[float, float, float] = (4.0, 5.0, 10.0), ema_decay: float = 0.999,
                 seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        if len(discriminators) != generator.stages:
            raise ValueError(
                f"need one discriminator per stage: {generator.stages}, got {len(discriminators)}"
            )
        if lambda_stream > 0 and stream is None:
            raise ValueError("lambda_stream > 0 needs a pretrained `stream`")
        if lambda_damsm > 0 and image_encoder is None:
            raise ValueError("lambda_damsm > 0 needs the DAMSM `image_encoder`")
        self.generator = generator
        self.discriminators = list(discriminators)
        self.text_encoder = text_encoder
        self.stream = stream
        self.image_encoder = image_encoder
        for frozen in (text_encoder, stream, image_encoder):
            if frozen is not None:
                frozen.trainable = False
        self.lambda_stream = lambda_stream
        self.lambda_damsm = lambda_damsm
        self.lambda_kl = lambda_kl
        self.gammas = tuple(gammas)
        self.ema_decay = ema_decay
        self.seed = seed
        self.ema_generator = GLAMGenerator.from_config(
            {**generator.get_config(), "name": "ema_generator"}
        )
        self.ema_weights = []
        names = ["d_loss", *(f"d{i}" for i in range(generator.stages)), "g_loss",
                 "g_adversarial", "stream", "kl", "damsm"]
        self.trackers = {name: keras.metrics.Mean(name=name) for name in names}

    @classmethod
    def from_mirrorgan_config(cls, config: MirrorGANConfig, text_encoder, *, stream=None,
                              image_encoder=None, seed: int = 0, **kwargs) -> MirrorGAN:
        """Builds the generator and discriminators that ``config`` describes around the
        pretrained encoders (``image_encoder`` only needed with ``lambda_damsm > 0``)."""
        generator = GLAMGenerator.from_mirrorgan_config(config)
        damsm = config.damsm
        return cls(
            generator, stage_discriminators(config, build=False), text_encoder,
            stream=stream if config.train.lambda_stream > 0 else None,
            image_encoder=image_encoder if config.train.lambda_damsm > 0 else None,
            lambda_stream=config.train.lambda_stream, lambda_damsm=config.train.lambda_damsm,
            lambda_kl=config.train.lambda_kl, gammas=(damsm.gamma1, damsm.gamma2, damsm.gamma3),
            ema_decay=config.train.ema_decay, seed=seed, **kwargs,
        )

    def compile(self, generator_optimizer, discriminator_optimizers, jit_compile: bool = False,
                **kwargs):
        """Takes the generator's optimizer and one optimizer per discriminator (each wrapped
        in a dynamic loss-scale optimizer under the "mixed_float16" policy); ``jit_compile``
        compiles the step with XLA."""
        if len(discriminator_optimizers) != len(self.discriminators):
            raise ValueError("need one optimizer per discriminator")
        generator_optimizer, *discriminator_optimizers = (
            precision.loss_scaled(optimizer, self.dtype_policy)
            for optimizer in (generator_optimizer, *discriminator_optimizers)
        )
        super().compile(optimizer=generator_optimizer, jit_compile=jit_compile, **kwargs)
        self.generator_optimizer = generator_optimizer
        self.discriminator_optimizers = discriminator_optimizers

    def initialize(self, words_num: int):
        """Creates every variable (models, EMA copy, optimizer slots). Call inside the
        strategy's scope, after :meth:`compile` and before training."""
        captions = tf.ones((2, words_num), tf.int32)
        words, sentence = self.text_encoder(captions, training=False)
        outputs = self.generator(sentence, words, captions != 0)
        self.ema_generator(sentence, words, captions != 0)
        for discriminator, images in zip(self.discriminators, outputs["images"], strict=True):
            discriminator(images, sentence)
        if self.stream is not None:
            self.stream(outputs["images"][-1], captions)
        if self.image_encoder is not None:
            self.image_encoder(outputs["images"][-1])
        if not self.ema_weights:
            self.ema_weights = [
                self.add_weight(shape=w.shape, initializer="zeros", trainable=False,
                                aggregation="only_first_replica", name=f"ema_{i}")
                for i, w in enumerate(self.generator.trainable_weights)
            ]
        self.generator_optimizer.build(self.generator.trainable_weights)
        for optimizer, discriminator in zip(self.discriminator_optimizers, self.discriminators,
                                            strict=True):
            optimizer.build(discriminator.trainable_weights)
        self._restart_moving_average()
        self.built = True

    def start_from(self, directory: str | Path, config: MirrorGANConfig):
        """Loads the generator and discriminator weights of :func:`save_initial_state` (e.g.
        converted reference networks) and restarts the moving average from that generator.
        Call after :meth:`initialize`; ``config`` must have the generator, discriminator and
        text width the state was saved with (else ``CheckpointMismatchError``)."""
        checkpoint = TrainingCheckpoint(
            directory, initial_state_variables(self.generator, self.discriminators),
            initial_state_fingerprint(config),
        )
        if checkpoint.restore_latest() is None:
            raise FileNotFoundError(f"{directory} holds no saved initial state")
        self._restart_moving_average()

    def _restart_moving_average(self):
        for average, weight in zip(self.ema_weights, self.generator.trainable_weights, strict=True):
            average.assign(weight)
        self.sync_ema_generator()

    @property
    def metrics(self):
        return list(self.trackers.values())

    def state_variables(self) -> list:
        """Everything training changes, for checkpoints: generator, discriminators, moving
        average and optimizers (the frozen encoders come from their own pretrained files)."""
        variables = network_variables(self.generator, self.discriminators)
        variables += self.ema_weights + self.generator_optimizer.variables
        for optimizer in self.discriminator_optimizers:
            variables += optimizer.variables
        return variables

    def call(self, captions, noise=None, condition_noise=None, training=None):
        """Generates with the training generator: captions ``[B, T]`` → generator outputs."""
        words, sentence = self.text_encoder(captions, training=False)
        return self.generator(sentence, words, captions != 0, noise=noise,
                              condition_noise=condition_noise, training=training)

    def train_step(self, batch):
        captions = batch["captions"]
        real_images = list(batch["images"])
        word_mask = ops.not_equal(captions, 0)
        words, sentence = (
            tf.stop_gradient(t) for t in self.text_encoder(captions, training=False)
        )
        noise, condition_noise = self.replica_noise(tf.shape(captions)[0])
        with tf.GradientTape() as tape:
            outputs = self.generator(sentence, words, word_mask, noise=noise,
                                     condition_noise=condition_noise, training=True)
            with tape.stop_recording():
                losses = self._update_discriminators(real_images, outputs["images"], sentence)
            losses.update(self._generator_losses(outputs, words, sentence, batch))
            scaled_loss = self.generator_optimizer.scale_loss(losses["g_loss"])
        weights = self.generator.trainable_weights
        self.generator_optimizer.apply(tape.gradient(scaled_loss, weights), weights)
        self._update_moving_average()
        return self._track(losses)

    def replica_noise(self, local_batch):
        """(noise, condition_noise) for this replica's rows of the global batch, from
        ``(seed, step)``."""
        replicas = distribute.replica_context().num_replicas_in_sync
        step = tf.cast(self.generator_optimizer.iterations, tf.int64)
        base = tf.constant(self.seed, tf.int64)
        draws = []
        for offset, width in enumerate((self.generator.z_dim, self.generator.condition_dim)):
            seed = tf.stack([base, 2 * step + offset])
            values = _stateless_normal([local_batch * replicas, width], seed)
            draws.append(distribute.replica_slice(values, local_batch))
        return tuple(draws)

    def _update_discriminators(self, real_images, fake_images, sentence):
        mismatched, has_mismatch = _next_sentences(sentence)
        losses = {}
        with tf.GradientTape() as tape:
            stage_losses = [
                _discriminator_loss(d, real, tf.stop_gradient(fake), sentence, mismatched,
                                    has_mismatch)
                for d, real, fake in zip(self.discriminators, real_images, fake_images,
                                         strict=True)
            ]
            scaled_losses = [optimizer.scale_loss(loss) for optimizer, loss
                             in zip(self.discriminator_optimizers, stage_losses, strict=True)]
        weights = [d.trainable_weights for d in self.discriminators]
        gradients = tape.gradient(scaled_losses, weights)
        for optimizer, grads, variables in zip(self.discriminator_optimizers, gradients, weights,
                                               strict=True):
            optimizer.apply(grads, variables)
        for i, loss in enumerate(stage_losses):
            losses[f"d{i}"] = loss
        losses["d_loss"] = tf.add_n(stage_losses)
        return losses

    def _generator_losses(self, outputs, words, sentence, batch):
        terms = []
        for discriminator, image in zip(self.discriminators, outputs["images"], strict=True):
            unconditional, conditional = discriminator(image, sentence, training=True)
            terms.append(distribute.distributed_mean(binary_cross_entropy(unconditional, 1.0)))
            terms.append(distribute.distributed_mean(binary_cross_entropy(conditional, 1.0)))
        adversarial = tf.add_n(terms)
        kl = kl_divergence(outputs["mu"], outputs["logvar"])
        last_image = outputs["images"][-1]
        stream = (
            self.stream.caption_loss(last_image, batch["captions"], training=False)
            if self.lambda_stream > 0 else tf.constant(0.0)
        )
        damsm = tf.constant(0.0)
        if self.lambda_damsm > 0:
            regions, code = self.image_encoder(last_image, training=False)
            gamma1, gamma2, gamma3 = self.gammas
            terms = damsm_losses(regions, code, words, sentence,
                                 word_mask=batch["captions"] != 0, class_ids=batch["class_ids"],
                                 gamma1=gamma1, gamma2=gamma2, gamma3=gamma3)
            damsm = tf.add_n(list(terms.values()))
        total = (adversarial + self.lambda_stream * stream + self.lambda_kl * kl
                 + self.lambda_damsm * damsm)
        return {"g_loss": total, "g_adversarial": adversarial, "stream": stream, "kl": kl,
                "damsm": damsm}

    def _update_moving_average(self):
        for average, weight in zip(self.ema_weights, self.generator.trainable_weights, strict=True):
            average.assign(self.ema_decay * average + (1.0 - self.ema_decay) * weight)

    def sync_ema_generator(self) -> GLAMGenerator:
        """Copies the moving average (and the live batch-norm statistics, as the reference
        keeps them) into ``ema_generator`` and returns it. Call outside ``train_step``."""
        for target, average in zip(self.ema_generator.trainable_weights, self.ema_weights,
                                   strict=True):
            target.assign(average)
        for target, source in zip(self.ema_generator.non_trainable_weights,
                                  self.generator.non_trainable_weights, strict=True):
            target.assign(source)
        return self.ema_generator

    def _track(self, losses):
        for name, value in losses.items():
            self.trackers[name].update_state(distribute.global_sum(value))
        return {name: tracker.result() for name, tracker in self.trackers.items()}


def stage_discriminators(config: MirrorGANConfig, *,
                         build: bool = True) -> list[StageDiscriminator]:
    """One StageDiscriminator per generator stage of ``config``, smallest first, with random
    weights (:meth:`StageDiscriminator.from_mirrorgan_config`; ``build`` as there)."""
    return [StageDiscriminator.from_mirrorgan_config(config, stage, build=build)
            for stage in range(config.generator.stages)]


def load_discriminators(run_dir: str | Path) -> list[StageDiscriminator]:
    """A run's discriminators, smallest first: those of its newest GAN checkpoint
    (``checkpoints/mirrorgan/``), else those it starts from (a converted run's
    ``initial_gan/``). The configuration is the run's ``config.json``; a checkpoint written
    with another one raises ``CheckpointMismatchError``.

    Example::

        unconditional, conditional = load_discriminators("runs/demo")[-1](images, sentence)
    """
    config, files = load_run_config(run_dir), RunFiles(run_dir)
    generator = GLAMGenerator.from_mirrorgan_config(config)
    discriminators = stage_discriminators(config)
    trained = TrainingCheckpoint(files.checkpoints("mirrorgan"),
                                 network_variables(generator, discriminators),
                                 config.fingerprint(), prefix=True)
    initial = TrainingCheckpoint(files.initial_gan,
                                 initial_state_variables(generator, discriminators),
                                 initial_state_fingerprint(config))
    if trained.restore_latest() is None and initial.restore_latest() is None:
        raise FileNotFoundError(f"{files.root} holds no GAN checkpoint and no initial state: "
                                "train it (recipes/train_*.py) or convert one first")
    return discriminators


def network_variables(generator: GLAMGenerator,
                      discriminators: list[StageDiscriminator]) -> list:
    """The generator's variables, then each discriminator's: the first part of
    :meth:`MirrorGAN.state_variables`, in its order."""
    return [*generator.variables, *(v for d in discriminators for v in d.variables)]


def initial_state_variables(generator: GLAMGenerator,
                            discriminators: list[StageDiscriminator]) -> list:
    """What a GAN run can start from: the generator's weights, then each discriminator's
    (batch-norm statistics included), in a fixed order."""
    return [*generator.weights, *(w for d in discriminators for w in d.weights)]


def initial_state_fingerprint(config: MirrorGANConfig) -> dict:
    """The configuration an initial state must match: generator, discriminator, text width."""
    return {"generator": dataclasses.asdict(config.generator),
            "discriminator": dataclasses.asdict(config.discriminator),
            "embedding_dim": config.text.embedding_dim}


def save_initial_state(directory: str | Path, generator: GLAMGenerator,
                       discriminators: list[StageDiscriminator], config: MirrorGANConfig) -> Path:
    """Writes generator and discriminator weights that :meth:`MirrorGAN.start_from` loads as
    the first state of a run (a step-0 :class:`TrainingCheckpoint` in ``directory``)."""
    checkpoint = TrainingCheckpoint(directory, initial_state_variables(generator, discriminators),
                                    initial_state_fingerprint(config))
    return checkpoint.save(0)


def _stateless_normal(shape, seed):
    """N(0, 1) samples from the stateless Philox bits of ``seed`` by the Box–Muller transform.

    The same numbers with and without XLA: ``tf.random.stateless_normal`` (and ``_uniform``)
    give other numbers once compiled, the raw bits do not.
    """
    bits = tf.random.stateless_uniform([2, *shape], seed=seed, minval=None, maxval=None,
                                       dtype=tf.uint32)
    uniform = (tf.cast(tf.bitwise.right_shift(bits, 8), tf.float32) + 1.0) / 2.0**24  # (0, 1]
    return tf.sqrt(-2.0 * tf.math.log(uniform[0])) * tf.cos(2.0 * math.pi * uniform[1])


def _next_sentences(sentence):
    """Sentence ``k+1`` of the global batch for each local sample ``k`` and whether it exists
    (the last sample of the global batch has none), as the reference's mismatched pairs."""
    local_batch = tf.shape(sentence)[0]
    gathered = distribute.gather(sentence)
    total = tf.shape(gathered)[0]
    index = distribute.local_offset(local_batch) + tf.range(local_batch) + 1
    return tf.gather(gathered, tf.minimum(index, total - 1)), index < total


def _discriminator_loss(discriminator, real, fake, sentence, mismatched, has_mismatch):
    """docs/design.md §8: (real-uncond + real-cond)/2 + (fake-uncond + fake-cond + mismatched)/3."""
    real_features = discriminator.trunk(real, training=True)
    real_unconditional, real_conditional = discriminator.heads(real_features, sentence,
                                                               training=True)
    fake_unconditional, fake_conditional = discriminator(fake, sentence, training=True)
    mismatched_conditional = discriminator.conditional_head(real_features, mismatched,
                                                            training=True)
    mean = distribute.distributed_mean
    real_loss = (mean(binary_cross_entropy(real_unconditional, 1.0))
                 + mean(binary_cross_entropy(real_conditional, 1.0)))
    fake_loss = (
        mean(binary_cross_entropy(fake_unconditional, 0.0))
        + mean(binary_cross_entropy(fake_conditional, 0.0))
        + mean(binary_cross_entropy(mismatched_conditional, 0.0), has_mismatch)
    )
    return real_loss / 2.0 + fake_loss / 3.0


def adam_optimizers(train: TrainConfig, stages: int):
    """The reference optimizers: Adam(lr, β1 0.5, β2 0.999) for G and for each of ``stages`` Ds.

    Returns ``(generator_optimizer, [discriminator_optimizer, ...])``.
    """
    def adam(rate):
        return keras.optimizers.Adam(rate, beta_1=train.beta_1, beta_2=train.beta_2)

    return adam(train.generator_lr), [adam(train.discriminator_lr) for _ in range(stages)]
