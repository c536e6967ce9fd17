"""STREAM: the image captioner pretrained on real images, then frozen (docs/design.md §7)."""

from __future__ import annotations

import keras
import tensorflow as tf

from mirrorgan_keras.config import MirrorGANConfig
from mirrorgan_keras.layers import CaptionDecoder, CaptionImageEncoder
from mirrorgan_keras.losses import masked_caption_loss
from mirrorgan_keras.models.damsm import final_images
from mirrorgan_keras.runtime import distribute
from mirrorgan_keras.runtime.run_files import load_weights


@keras.saving.register_keras_serializable(package="mirrorgan_keras")
class STREAM(keras.Model):
    """CNN encoder + caption decoder; ``call(images, captions)`` → logits ``[B, T, V]``.

    ``train_step`` minimises the caption cross-entropy averaged over the real words of the
    global batch; ``test_step`` reports it. The same call re-describes generated images inside
    MirrorGAN, so pretraining and GAN-time inputs share one preprocessing.

    Example::

        stream = STREAM.from_mirrorgan_config(get_preset("birds_tiny"), vocab_size)
        stream.compile(optimizer=keras.optimizers.Adam(1e-3))
        stream.fit(dataset)
    """

    def __init__(self, encoder: CaptionImageEncoder, decoder: CaptionDecoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.loss_tracker = keras.metrics.Mean(name="loss")

    @classmethod
    def from_mirrorgan_config(cls, config: MirrorGANConfig, vocab_size: int, weights_file=None,
                              **kwargs) -> STREAM:
        """The captioner that ``config`` describes for ``vocab_size`` word ids, built (its
        variables exist); with ``weights_file`` its pretrained weights are loaded and the
        backbone's own weights (``stream.weights``) are not read or downloaded."""
        stream = config.stream
        backbone_weights = None if weights_file is not None else stream.weights
        encoder = CaptionImageEncoder(
            stream.embed_size, stream.backbone, backbone_weights, stream.image_size,
            bn_momentum=stream.bn_momentum, freeze_backbone=stream.freeze_backbone,
            name="encoder",
        )
        decoder = CaptionDecoder(vocab_size, stream.embed_size, stream.hidden_size,
                                 stream.max_caption_length, name="decoder")
        model = cls(encoder, decoder, **{"name": "stream", **kwargs})
        size = stream.image_size
        model(keras.ops.zeros((1, size, size, 3)),
              keras.ops.ones((1, config.text.words_num), "int32"))
        if weights_file is not None:
            load_weights(model, weights_file)
        return model

    @property
    def metrics(self):
        return [self.loss_tracker]

    def call(self, images, captions, training=None):
        return self.decoder(self.encoder(images, training=training), captions, training=training)

    def caption_loss(self, images, captions, training=None):
        """This replica's share of the global mean caption cross-entropy (a scalar)."""
        return masked_caption_loss(captions, self(images, captions, training=training))

    def generate(self, images, max_length: int | None = None):
        """Greedy captions: images ``[B, H, W, 3]`` → ids ``[B, max_length]``."""
        return self.decoder.generate(self.encoder(images, training=False), max_length)

    def train_step(self, batch):
        with tf.GradientTape() as tape:
            loss = self.caption_loss(final_images(batch), batch["captions"], training=True)
            scaled_loss = self.optimizer.scale_loss(loss)
        weights = self.trainable_weights
        self.optimizer.apply(tape.gradient(scaled_loss, weights), weights)
        return self._track(loss)

    def test_step(self, batch):
        return self._track(self.caption_loss(final_images(batch), batch["captions"], False))

    def _track(self, loss):
        self.loss_tracker.update_state(distribute.global_sum(loss))
        return {"loss": self.loss_tracker.result()}

    def get_config(self):
        return {
            **super().get_config(),
            "encoder": keras.saving.serialize_keras_object(self.encoder),
            "decoder": keras.saving.serialize_keras_object(self.decoder),
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("encoder", "decoder"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)


class WordPresencePretrainer(keras.Model):
    """Trains a captioner's CNN to tell which words its image's caption contains.

    A stand-in for ImageNet pretraining on presets whose small backbone starts from scratch (no
    downloads): trained end to end by the caption loss alone, such a CNN stays uninformative
    and the decoder learns a pure language model that ignores the image. This model adds a
    dense head over the vocabulary on the backbone's pooled features and minimises the
    multi-label sigmoid cross-entropy against the caption's words (summed over the vocabulary,
    averaged over the global batch). Afterwards the backbone is frozen and STREAM trains on top,
    as the reference does on ImageNet features.

    Call :meth:`fit` on STREAM batches (``images``, ``captions``); the encoder's backbone is
    made trainable for it.
    """

    def __init__(self, encoder: CaptionImageEncoder, vocab_size: int, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.vocab_size = vocab_size
        self.word_logits = keras.layers.Dense(vocab_size, name="word_logits")
        self.loss_tracker = keras.metrics.Mean(name="word_loss")

    @property
    def metrics(self):
        return [self.loss_tracker]

    def call(self, images, training=None):
        return self.word_logits(self.encoder.backbone_features(images, training=training))

    def train_step(self, batch):
        captions = batch["captions"]
        present = tf.reduce_max(tf.one_hot(captions, self.vocab_size), axis=1)
        present = tf.concat([tf.zeros_like(present[:, :1]), present[:, 1:]], axis=1)  # no padding
        with tf.GradientTape() as tape:
            logits = tf.cast(self(final_images(batch), training=True), tf.float32)
            per_image = tf.reduce_sum(
                tf.nn.sigmoid_cross_entropy_with_logits(present, logits), axis=-1
            )
            loss = distribute.distributed_mean(per_image)
            scaled_loss = self.optimizer.scale_loss(loss)
        weights = self.encoder.backbone.trainable_weights + self.word_logits.trainable_weights
        self.optimizer.apply(tape.gradient(scaled_loss, weights), weights)
        self.loss_tracker.update_state(distribute.global_sum(loss))
        return {"word_loss": self.loss_tracker.result()}
