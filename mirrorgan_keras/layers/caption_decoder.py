"""STREAM's caption decoder: an LSTM that re-describes an image feature (docs/design.md §7)."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="mirrorgan_keras")
class CaptionDecoder(keras.layers.Layer):
    """Image feature + caption ids → next-word logits (teacher forcing), or greedy captions.

    The LSTM input sequence is ``[x, emb(w_0), …, emb(w_{T−2})]`` where ``x`` is the image
    feature, so the output at step ``t`` predicts word ``w_t``: logits line up with the caption
    ids and the loss is :func:`mirrorgan_keras.losses.masked_caption_loss`. No start or end
    tokens, as in the reference (the vocabulary is STEM's).

    Args:
        vocab_size: number of ids, including padding id 0.
        embed_size: width of the image feature and word embeddings (256).
        hidden_size: LSTM units (512).
        max_length: length of greedy captions (20).

    Call:
        image_features: ``[B, embed_size]``; captions: int ``[B, T]``.

    Returns:
        ``[B, T, vocab_size]`` logits.

    Example::

        logits = CaptionDecoder(5450)(features, ids)
        ids = CaptionDecoder(5450).generate(features)  # (B, 20)
    """

    def __init__(self, vocab_size: int, embed_size: int = 256, hidden_size: int = 512,
                 max_length: int = 20, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size = vocab_size
        self.embed_size = embed_size
        self.hidden_size = hidden_size
        self.max_length = max_length
        self.embedding = keras.layers.Embedding(vocab_size, embed_size, name="embedding")
        self.lstm = keras.layers.LSTM(hidden_size, return_sequences=True, name="lstm")
        self.vocabulary_logits = keras.layers.Dense(vocab_size, name="logits")

    def build(self, image_features_shape, captions_shape):
        batch, length = captions_shape
        self.embedding.build(captions_shape)
        self.lstm.build((batch, length, self.embed_size))
        self.vocabulary_logits.build((batch, length, self.hidden_size))
        self.built = True

    def call(self, image_features, captions, training=None):
        previous_words = self.embedding(captions[:, :-1])
        steps = ops.concatenate([ops.expand_dims(image_features, 1), previous_words], axis=1)
        return self.vocabulary_logits(self.lstm(steps, training=training))

    def generate(self, image_features, max_length: int | None = None):
        """Greedy decoding: ``[B, embed_size]`` → int32 ids ``[B, max_length]``."""
        if not self.built:
            self.build(image_features.shape, (image_features.shape[0], 1))
        batch = ops.shape(image_features)[0]
        state = [ops.zeros((batch, self.hidden_size), image_features.dtype)] * 2
        step_input, words = image_features, []
        for _ in range(max_length or self.max_length):
            output, state = self.lstm.cell(step_input, state, training=False)
            word = ops.cast(ops.argmax(self.vocabulary_logits(output), axis=-1), "int32")
            words.append(word)
            step_input = self.embedding(word)
        return ops.stack(words, axis=1)

    def compute_output_shape(self, image_features_shape, captions_shape):
        return (*captions_shape, self.vocab_size)

    def get_config(self):
        return {
            **super().get_config(),
            "vocab_size": self.vocab_size,
            "embed_size": self.embed_size,
            "hidden_size": self.hidden_size,
            "max_length": self.max_length,
        }
