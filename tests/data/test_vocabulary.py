import pickle

import pytest

from mirrorgan_keras.data.layout import DatasetLayoutError
from mirrorgan_keras.data.vocabulary import (
    ReferenceCaptions,
    Vocabulary,
    read_captions_pickle,
    write_captions_pickle,
)


def test_build_keeps_first_occurrence_order_and_reserves_pad_and_unk():
    vocabulary = Vocabulary.build([["a", "red", "bird"], ["the", "bird", "a"], ["wing"]])
    assert vocabulary.tokens == ("<end>", "a", "red", "bird", "the", "wing", "<unk>")
    assert vocabulary.size == 7 and vocabulary.unk_id == 6
    assert vocabulary.lookup(["bird", "cat", "a"]) == [3, 6, 1]
    assert vocabulary.decode([2, 3, 0, 0]) == "red bird"
    assert "wing" in vocabulary and "cat" not in vocabulary


@pytest.mark.parametrize("words", [["a", "a"], ["a", ""], ["<unk>"], ["<end>"], ["two words"]])
def test_invalid_words_are_rejected(words):
    with pytest.raises(ValueError):
        Vocabulary(words)


def test_text_file_has_one_token_per_line_and_round_trips(tmp_path):
    vocabulary = Vocabulary(["red", "bird"])
    path = tmp_path / "vocabulary.txt"
    vocabulary.save(str(path))
    assert path.read_text(encoding="utf-8") == "<end>\nred\nbird\n<unk>\n"
    assert Vocabulary.load(str(path)) == vocabulary


@pytest.mark.parametrize(
    "content", ["red\nbird\n<unk>\n", "<end>\nred\n", "<end>\nred\nred\n<unk>\n"]
)
def test_malformed_text_file_names_the_file(tmp_path, content):
    path = tmp_path / "vocabulary.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DatasetLayoutError, match="vocabulary.txt"):
        Vocabulary.load(str(path))


def test_captions_pickle_round_trips_in_the_reference_format(tmp_path):
    vocabulary = Vocabulary(["a", "red", "bird"])
    path = str(tmp_path / "captions.pickle")
    write_captions_pickle(path, ReferenceCaptions(vocabulary, [[1, 2, 3]], [[3], [2, 3]]))
    with open(path, "rb") as f:
        train, test, ixtoword, wordtoix = pickle.load(f)
    assert train == [[1, 2, 3]] and test == [[3], [2, 3]]
    assert ixtoword == {0: "<end>", 1: "a", 2: "red", 3: "bird"}
    assert wordtoix == {"<end>": 0, "a": 1, "red": 2, "bird": 3}
    assert read_captions_pickle(path) == (vocabulary, [[1, 2, 3]], [[3], [2, 3]])


def test_reference_vocabulary_keeps_its_ids_and_gets_unk_appended(tmp_path):
    ixtoword = {0: "<end>", 1: "this", 2: "bird", 3: "is"}
    path = tmp_path / "captions.pickle"
    path.write_bytes(pickle.dumps([[[1, 2]], [[2, 3]], ixtoword, {}], protocol=2))
    vocabulary = read_captions_pickle(str(path)).vocabulary
    assert vocabulary.tokens == ("<end>", "this", "bird", "is", "<unk>")


def test_python2_pickle_with_byte_strings_is_read(tmp_path):
    # Protocol 2 as Python 2 writes it: str values are SHORT_BINSTRING ("U"), one not ASCII.
    def py2_str(raw):
        return b"U" + bytes([len(raw)]) + raw

    train = b"](" + b"](K\x01K\x02e" + b"](K\x02e" + b"e"  # [[1, 2], [2]]
    test = b"](" + b"]" + b"e"  # [[]]
    ixtoword = (b"}(K\x00" + py2_str(b"<end>") + b"K\x01" + py2_str(b"red") + b"K\x02"
                + py2_str(b"caf\xe9") + b"u")
    data = b"\x80\x02](" + train + test + ixtoword + b"}" + b"e."
    path = tmp_path / "captions.pickle"
    path.write_bytes(data)
    captions = read_captions_pickle(str(path))
    assert captions.vocabulary.tokens == ("<end>", "red", "café", "<unk>")
    assert captions.train == [[1, 2], [2]] and captions.test == [[]]


@pytest.mark.parametrize(
    "content",
    [
        [[[1]], [[1]], {0: "<end>", 1: "a"}],  # three entries
        [[[1]], [[5]], {0: "<end>", 1: "a"}, {}],  # id out of range
        [[[0]], [[1]], {0: "<end>", 1: "a"}, {}],  # padding id inside a caption
        [[[1]], [[1]], {0: "a", 1: "<end>"}, {}],  # id 0 is not "<end>"
        [[[1]], [[1]], {0: "<end>", 2: "a"}, {}],  # ids with a gap
        [["a b"], [[1]], {0: "<end>", 1: "a"}, {}],  # words instead of ids
    ],
)
def test_malformed_captions_pickle_names_the_file(tmp_path, content):
    path = tmp_path / "captions.pickle"
    path.write_bytes(pickle.dumps(content))
    with pytest.raises(DatasetLayoutError, match="captions.pickle"):
        read_captions_pickle(str(path))


def test_truncated_pickle_names_the_file(tmp_path):
    path = tmp_path / "captions.pickle"
    path.write_bytes(pickle.dumps([[[1]], [[1]], {0: "<end>", 1: "a"}, {}])[:10])
    with pytest.raises(DatasetLayoutError, match="malformed pickle .*captions.pickle"):
        read_captions_pickle(str(path))
