import numpy as np
import pytest
import tensorflow as tf

from mirrorgan_keras.data.text import tokenize
from mirrorgan_keras.data.tokenizer import CaptionTokenizer, tokenize_tf
from mirrorgan_keras.data.vocabulary import Vocabulary

TRICKY = [
    "A small bird, with RED wings!!",
    "it's 2 birds... 3.5 cm long; 10% white",
    "café au lait naïve Zoë",
    "emoji 🐦bird😀 and ☃ snowman",
    "multiple   spaces\tand\ttabs\n new line",
    "well-known black-and-white bird — em–dash",
    "snake_case_word and __dunder__",
    "İstanbul KELVIN \u212a sign, x² ½ ﬁsh Ｆullwidth",
    "e\u0301t\u00e9 decomposed and composed",
    "日本語 только кириллица",
    "",
    "   ",
    "!!! ??? ...",
]
WORDS = ["a", "small", "bird", "with", "red", "wings", "black", "white", "the"]


@pytest.fixture
def vocabulary():
    return Vocabulary(WORDS)


@pytest.mark.parametrize("text", TRICKY)
def test_graph_tokenizer_matches_python(text):
    tokens = tokenize_tf(tf.constant([text])).to_list()[0]
    assert [t.decode("ascii") for t in tokens] == tokenize(text)


def test_caption_tokenizer_pads_truncates_and_counts(vocabulary):
    tokenizer = CaptionTokenizer(vocabulary, words_num=4)
    ids, lengths = tokenizer(tf.constant(["A red bird.", "the small bird with red wings"]))
    assert ids.dtype == tf.int32 and lengths.dtype == tf.int32
    expected = [vocabulary.lookup(["a", "red", "bird"]) + [0],
                vocabulary.lookup(["the", "small", "bird", "with"])]
    np.testing.assert_array_equal(ids.numpy(), expected)
    np.testing.assert_array_equal(lengths.numpy(), [3, 4])


def test_unknown_words_are_dropped_or_mapped_to_unk(vocabulary):
    captions = tf.constant(["a purple bird"])
    ids, lengths = CaptionTokenizer(vocabulary, 4)(captions)
    np.testing.assert_array_equal(ids.numpy(), [vocabulary.lookup(["a", "bird"]) + [0, 0]])
    ids, lengths = CaptionTokenizer(vocabulary, 4, drop_unknown=False)(captions)
    np.testing.assert_array_equal(ids.numpy()[0, :3], [1, vocabulary.unk_id, 3])
    assert lengths.numpy().tolist() == [3]


@pytest.mark.parametrize("caption", ["purple dragon", "", "!!!"])
def test_caption_without_known_words_is_an_error_naming_it(vocabulary, caption):
    tokenizer = CaptionTokenizer(vocabulary, 4)
    with pytest.raises(tf.errors.InvalidArgumentError, match="without any vocabulary word"):
        tokenizer(tf.constant(["a red bird", caption]))


def test_caption_tokenizer_runs_in_tf_data(vocabulary):
    tokenizer = CaptionTokenizer(vocabulary, 5)
    dataset = tf.data.Dataset.from_tensor_slices(["a red bird", "black and white wings"]).batch(2)
    ids, lengths = next(iter(dataset.map(tokenizer)))
    np.testing.assert_array_equal(lengths.numpy(), [3, 3])
    expected = vocabulary.lookup(["black", "white", "wings"]) + [0, 0]
    np.testing.assert_array_equal(ids.numpy()[1], expected)
    unknown = tf.data.Dataset.from_tensor_slices(["a bird", "zzz"]).batch(2).map(tokenizer)
    with pytest.raises(tf.errors.InvalidArgumentError, match="zzz"):
        next(iter(unknown))


def test_caption_tokenizer_survives_a_saved_model(vocabulary, tmp_path):
    module = tf.Module()
    module.tokenizer = CaptionTokenizer(vocabulary, 6)
    module.tokenize = tf.function(
        module.tokenizer, input_signature=[tf.TensorSpec([None], tf.string)]
    )
    tf.saved_model.save(module, str(tmp_path / "model"))
    restored = tf.saved_model.load(str(tmp_path / "model"))
    captions = tf.constant(["The SMALL bird, with red wings!", "white bird"])
    expected, actual = module.tokenize(captions), restored.tokenize(captions)
    for a, b in zip(expected, actual, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    with pytest.raises(tf.errors.InvalidArgumentError, match="without any vocabulary word"):
        restored.tokenize(tf.constant(["zzz"]))


def test_words_num_must_be_positive(vocabulary):
    with pytest.raises(ValueError, match="words_num"):
        CaptionTokenizer(vocabulary, 0)
