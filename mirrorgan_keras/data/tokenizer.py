r"""Caption tokenisation inside the TensorFlow graph, identical to the pure Python one.

:func:`~mirrorgan_keras.data.text.tokenize` applies the reference's word rules in Python (to
read data sets and build vocabularies); :func:`tokenize_tf` and :class:`CaptionTokenizer` apply
them in the graph with tensorflow-text, so they run in ``tf.data`` and inside exported
SavedModels.

Two details keep both implementations equal on any input:

- RE2 (TensorFlow's regex engine) reads ``\w`` as ASCII only, so the graph splits on
  ``[^\p{L}\p{N}_]+``, which is Python's Unicode ``\w`` (e.g. "naïve" stays one token, "nave").
- The graph lowercases with ``tf.strings.lower(..., encoding="utf-8")``, which applies the same
  Unicode lowercase mapping as ``str.lower`` (e.g. "İ" → "i̇"). ``tensorflow_text.case_fold_utf8``
  is *not* used: its NFKC folding turns "x²" into "x2" and "ﬁ" into "fi", unlike the reference.

A SavedModel that holds a :class:`CaptionTokenizer` loads only in a process that has run
``import tensorflow_text`` (it registers the ``RegexSplitWithOffsets`` op).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import tensorflow as tf
import tensorflow_text as tf_text

if TYPE_CHECKING:
    from mirrorgan_keras.data.vocabulary import Vocabulary

NON_WORD_PATTERN_RE2 = r"[^\p{L}\p{N}_]+"
NON_ASCII_PATTERN_RE2 = r"[^\x00-\x7f]+"


def tokenize_tf(captions: tf.Tensor) -> tf.RaggedTensor:
    """Graph version of :func:`~mirrorgan_keras.data.text.tokenize`: tf.string [B] → ragged
    tf.string [B, (words)]."""
    lowered = tf.strings.lower(captions, encoding="utf-8")
    tokens = tf_text.regex_split(lowered, NON_WORD_PATTERN_RE2)
    tokens = tf.ragged.map_flat_values(tf.strings.regex_replace, tokens, NON_ASCII_PATTERN_RE2, "")
    return tf.ragged.boolean_mask(tokens, tf.strings.length(tokens) > 0)


class CaptionTokenizer(tf.Module):
    """Maps raw captions to padded word ids in the graph (for inference and serving).

    Call: ``captions`` tf.string [B] → ``(ids, lengths)``: ids int32 [B, words_num], the first
    ``words_num`` known words of each caption right-padded with 0 (``"<end>"``), and lengths
    int32 [B]. A caption with no vocabulary word at all (empty, only punctuation, only unknown
    words) raises ``tf.errors.InvalidArgumentError`` that shows the caption.

    Args:
      vocabulary: the :class:`~mirrorgan_keras.data.vocabulary.Vocabulary` of the text encoder.
      words_num: width of the id matrix; longer captions are truncated.
      drop_unknown: True drops words that are not in the vocabulary (the reference does this
        for user-written sentences, and it keeps ids valid for encoders trained on a reference
        vocabulary without ``"<unk>"``); False maps them to ``vocabulary.unk_id``.

    Example::

        tokenizer = CaptionTokenizer(vocabulary, words_num=18)
        ids, lengths = tokenizer(tf.constant(["a red bird with black wings"]))
    """

    def __init__(self, vocabulary: Vocabulary, words_num: int, drop_unknown: bool = True,
                 name: str | None = None):
        super().__init__(name=name)
        if words_num < 1:
            raise ValueError(f"words_num must be >= 1, got {words_num}")
        self.words_num = words_num
        self.drop_unknown = drop_unknown
        words = list(vocabulary.tokens[1:vocabulary.unk_id])
        initializer = tf.lookup.KeyValueTensorInitializer(
            tf.constant(words, tf.string),
            tf.range(1, len(words) + 1, dtype=tf.int32),
        )
        default_id = -1 if drop_unknown else vocabulary.unk_id
        self.table = tf.lookup.StaticHashTable(initializer, default_value=default_id)

    def word_ids(self, captions: tf.Tensor) -> tf.RaggedTensor:
        """``captions`` tf.string [B] → ragged int32 [B, (words)]: the id of every word (unknown
        words dropped or ``unk_id``, see ``drop_unknown``), not truncated, never raising."""
        ids = tf.ragged.map_flat_values(self.table.lookup, tokenize_tf(captions))
        return tf.ragged.boolean_mask(ids, ids >= 0) if self.drop_unknown else ids

    def __call__(self, captions: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        captions = tf.convert_to_tensor(captions, tf.string)
        ids = self.word_ids(captions)[:, : self.words_num]
        lengths = tf.cast(ids.row_lengths(), tf.int32)
        check = tf.debugging.Assert(
            tf.reduce_all(lengths > 0),
            ["CaptionTokenizer: caption without any vocabulary word:",
             tf.boolean_mask(captions, lengths == 0)],
        )
        with tf.control_dependencies([check]):
            padded = ids.to_tensor(default_value=0, shape=[None, self.words_num])
            return padded, tf.identity(lengths)
