"""DAMSM pretraining: STEM and the region image encoder trained to match (docs/design.md §4)."""

from __future__ import annotations

import keras
import tensorflow as tf

from mirrorgan_keras.config import MirrorGANConfig
from mirrorgan_keras.layers import RegionImageEncoder, SemanticTextEncoder
from mirrorgan_keras.losses import damsm_losses
from mirrorgan_keras.runtime import distribute
from mirrorgan_keras.runtime.run_files import load_weights

LOSS_NAMES = ("w0", "w1", "s0", "s1")


def final_images(batch):
    """The largest image of a batch whose ``images`` is a tensor or a tuple (pyramid)."""
    images = batch["images"]
    return images[-1] if isinstance(images, (tuple, list)) else images


@keras.saving.register_keras_serializable(package="mirrorgan_keras")
class DAMSM(keras.Model):
    """The text encoder (STEM) and image encoder trained with the DAMSM losses.

    ``train_step`` takes a batch dict (``images`` [B, S, S, 3] in [-1, 1] or a pyramid whose
    last entry is used, ``captions`` int [B, T], ``class_ids`` int [B]) and minimises
    ``w0 + w1 + s0 + s1``. The text encoder's gradient is clipped to a global norm of
    ``rnn_grad_clip`` (over all replicas), as in the reference.

    Example::

        damsm = DAMSM.from_mirrorgan_config(get_preset("birds_tiny"), vocab_size)
        damsm.compile(optimizer=keras.optimizers.Adam(2e-3, beta_1=0.5))
        damsm.fit(dataset)
    """

    def __init__(self, vocab_size: int, text_encoder: SemanticTextEncoder,
                 image_encoder: RegionImageEncoder, *, gamma1: float = 4.0, gamma2: float = 5.0,
                 gamma3: float = 10.0, rnn_grad_clip: float = 0.25, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size = vocab_size
        self.text_encoder = text_encoder
        self.image_encoder = image_encoder
        self.gamma1, self.gamma2, self.gamma3 = gamma1, gamma2, gamma3
        self.rnn_grad_clip = rnn_grad_clip
        self.loss_trackers = {
            name: keras.metrics.Mean(name=name) for name in (*LOSS_NAMES, "loss")
        }

    @classmethod
    def from_mirrorgan_config(cls, config: MirrorGANConfig, vocab_size: int, weights_file=None,
                              **kwargs) -> DAMSM:
        """The DAMSM that ``config`` describes for ``vocab_size`` word ids, built (its
        variables exist); with ``weights_file`` its pretrained weights are loaded and the
        backbone's own weights (``damsm.weights``) are not read or downloaded."""
        text, damsm = config.text, config.damsm
        backbone_weights = None if weights_file is not None else damsm.weights
        text_encoder = SemanticTextEncoder(
            vocab_size, text.word_embedding_dim, text.embedding_dim, text.dropout,
            name="text_encoder",
        )
        image_encoder = RegionImageEncoder(
            text.embedding_dim, damsm.backbone, backbone_weights, damsm.image_size,
            freeze_backbone=damsm.freeze_backbone, name="image_encoder",
        )
        model = cls(vocab_size, text_encoder, image_encoder, gamma1=damsm.gamma1,
                    gamma2=damsm.gamma2, gamma3=damsm.gamma3, rnn_grad_clip=damsm.rnn_grad_clip,
                    **{"name": "damsm", **kwargs})
        size = damsm.image_size
        model(keras.ops.zeros((1, size, size, 3)), keras.ops.ones((1, text.words_num), "int32"))
        if weights_file is not None:
            load_weights(model, weights_file)
        return model

    @property
    def metrics(self):
        return list(self.loss_trackers.values())

    def call(self, images, captions, training=None):
        """Returns ``(words, sentence, regions, code)`` for a batch of pairs."""
        words, sentence = self.text_encoder(captions, training=training)
        regions, code = self.image_encoder(images, training=training)
        return words, sentence, regions, code

    def compute_losses(self, batch, training):
        captions = batch["captions"]
        words, sentence, regions, code = self(final_images(batch), captions, training=training)
        losses = damsm_losses(regions, code, words, sentence, word_mask=captions != 0,
                              class_ids=batch["class_ids"], gamma1=self.gamma1,
                              gamma2=self.gamma2, gamma3=self.gamma3)
        losses["loss"] = sum(losses[name] for name in LOSS_NAMES)
        return losses

    def train_step(self, batch):
        with tf.GradientTape() as tape:
            losses = self.compute_losses(batch, training=True)
            scaled_loss = self.optimizer.scale_loss(losses["loss"])
        text_weights = self.text_encoder.trainable_weights
        image_weights = self.image_encoder.trainable_weights
        text_grads, image_grads = tape.gradient(scaled_loss, [text_weights, image_weights])
        # Gradients of a loss scaled by s: clipping them at s·clip is clipping the true ones.
        text_grads = distribute.clip_by_global_norm(
            text_grads, self.optimizer.scale_loss(self.rnn_grad_clip)
        )
        self.optimizer.apply(text_grads + image_grads, text_weights + image_weights)
        return self._track(losses)

    def test_step(self, batch):
        return self._track(self.compute_losses(batch, training=False))

    def _track(self, losses):
        for name, value in losses.items():
            self.loss_trackers[name].update_state(distribute.global_sum(value))
        return {name: tracker.result() for name, tracker in self.loss_trackers.items()}

    def get_config(self):
        return {
            **super().get_config(),
            "vocab_size": self.vocab_size,
            "text_encoder": keras.saving.serialize_keras_object(self.text_encoder),
            "image_encoder": keras.saving.serialize_keras_object(self.image_encoder),
            "gamma1": self.gamma1,
            "gamma2": self.gamma2,
            "gamma3": self.gamma3,
            "rnn_grad_clip": self.rnn_grad_clip,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("text_encoder", "image_encoder"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)


class DAMSMLearningRate(keras.callbacks.Callback):
    """The reference DAMSM schedule: lr × ``decay`` per epoch while above ``floor``.

    With ``reset_moments`` the optimizer starts every epoch afresh (moments and step count, so
    bias correction restarts too), as the reference re-creates its Adam every epoch.
    """

    def __init__(self, initial: float = 2e-3, decay: float = 0.98, floor: float = 2e-4,
                 reset_moments: bool = True):
        super().__init__()
        self.initial, self.decay, self.floor = initial, decay, floor
        self.reset_moments = reset_moments

    def learning_rate(self, epoch: int) -> float:
        rate = self.initial
        for _ in range(epoch):
            if rate > self.floor:
                rate *= self.decay
        return rate

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = self.model.optimizer
        optimizer.learning_rate = self.learning_rate(epoch)
        if self.reset_moments and epoch > 0:
            inner = getattr(optimizer, "inner_optimizer", optimizer)  # keep a loss scale
            for variable in inner.variables:
                if "learning_rate" not in variable.path:
                    variable.assign(tf.zeros_like(variable))
