"""STEM: the semantic text embedding module, DAMSM's bi-LSTM text encoder (docs/design.md §3)."""

from __future__ import annotations

import keras
from keras import ops

from mirrorgan_keras.layers._common import uniform


@keras.saving.register_keras_serializable(package="mirrorgan_keras")
class SemanticTextEncoder(keras.layers.Layer):
    """Word ids → word features and a sentence feature.

    Embedding (U(−0.1, 0.1) init) → dropout → bidirectional LSTM with ``embedding_dim / 2``
    units per direction. Id 0 is padding: padded steps are masked, so the forward state stops at
    the last real word and the backward state starts there; their final hidden states,
    concatenated, are the sentence feature. Word features of padded steps are zero.

    Args:
        vocab_size: number of ids, including padding id 0.
        word_embedding_dim: embedding width (300).
        embedding_dim: width of word and sentence features (256), even.
        dropout: dropout on the embeddings while training (0.5).

    Call:
        captions: int ``[B, T]`` word ids, right-padded with 0.

    Returns:
        ``(words [B, T, embedding_dim], sentence [B, embedding_dim])``.

    Example::

        words, sentence = SemanticTextEncoder(5450)(ids)  # (B, T, 256), (B, 256)
    """

    def __init__(self, vocab_size: int, word_embedding_dim: int = 300, embedding_dim: int = 256,
                 dropout: float = 0.5, **kwargs):
        super().__init__(**kwargs)
        if embedding_dim % 2:
            raise ValueError(f"embedding_dim must be even (two directions), got {embedding_dim}")
        self.vocab_size = vocab_size
        self.word_embedding_dim = word_embedding_dim
        self.embedding_dim = embedding_dim
        self.dropout = dropout
        self.embedding = keras.layers.Embedding(
            vocab_size, word_embedding_dim, embeddings_initializer=uniform(0.1), name="embedding"
        )
        self.embedding_dropout = keras.layers.Dropout(dropout, name="dropout")
        self.rnn = keras.layers.Bidirectional(
            keras.layers.LSTM(embedding_dim // 2, return_sequences=True, return_state=True),
            merge_mode="concat", name="rnn",
        )

    def build(self, captions_shape):
        self.embedding.build(captions_shape)
        self.rnn.build((*captions_shape, self.word_embedding_dim))
        self.built = True

    def call(self, captions, training=None):
        mask = ops.not_equal(captions, 0)
        embedded = self.embedding_dropout(self.embedding(captions), training=training)
        words, forward_h, _, backward_h, _ = self.rnn(embedded, mask=mask, training=training)
        words = words * ops.expand_dims(ops.cast(mask, words.dtype), -1)
        return words, ops.concatenate([forward_h, backward_h], axis=-1)

    def compute_output_shape(self, captions_shape):
        batch, length = captions_shape
        return (batch, length, self.embedding_dim), (batch, self.embedding_dim)

    def get_config(self):
        return {
            **super().get_config(),
            "vocab_size": self.vocab_size,
            "word_embedding_dim": self.word_embedding_dim,
            "embedding_dim": self.embedding_dim,
            "dropout": self.dropout,
        }
