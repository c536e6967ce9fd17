"""Bad input, shared by every reader (exercised through the COCO layout)."""

import dataclasses
import logging
import os
import re

import numpy as np
import pytest

from mirrorgan_keras.config import TextConfig
from mirrorgan_keras.data.coco import read_coco
from mirrorgan_keras.data.layout import DatasetLayoutError, NotTextError
from mirrorgan_keras.data.records import ReadOptions
from mirrorgan_keras.data.vocabulary import read_captions_pickle
from tests.data.conftest import COCO_TRAIN, TEXT, write_coco_tree, write_pickle, write_text

KEYS = list(COCO_TRAIN)


def image_path(root, index):
    return os.path.join(root, "images", KEYS[index] + ".jpg")


def text_path(root, index):
    return os.path.join(root, "text", KEYS[index] + ".txt")


def break_images(root):
    with open(image_path(root, 1), "wb") as f:
        f.write(b"this is not an image")
    with open(image_path(root, 2), "rb") as f:
        data = f.read()
    with open(image_path(root, 2), "wb") as f:
        f.write(data[: len(data) // 2])  # truncated JPEG
    os.remove(image_path(root, 3))


def test_undecodable_truncated_and_missing_images_are_an_error_naming_them(coco_tree):
    break_images(coco_tree)
    with pytest.raises(DatasetLayoutError, match="3 of 4 train images cannot be used") as error:
        read_coco(coco_tree, "train", TEXT)
    message = str(error.value)
    assert image_path(coco_tree, 1) in message and "does not decode" in message
    assert image_path(coco_tree, 2) in message and "truncated" in message
    assert image_path(coco_tree, 3) + ": missing file" in message


def test_bad_images_can_be_skipped_and_are_counted(coco_tree, caplog):
    break_images(coco_tree)
    with caplog.at_level(logging.WARNING):
        records = read_coco(coco_tree, "train", TEXT, ReadOptions(skip_bad_images=True))
    assert records.keys == KEYS[:1]
    assert len(records.captions) == len(records.class_ids) == 1
    assert records.report.skipped_images == [image_path(coco_tree, i) for i in (1, 2, 3)]
    assert records.report.problem_count == 3
    assert "skipping 3 train images" in caplog.text


def test_images_are_not_opened_without_validation(coco_tree):
    break_images(coco_tree)
    records = read_coco(coco_tree, "train", TEXT, ReadOptions(validate_images=False))
    assert len(records) == 4


def test_all_images_bad_is_an_error_even_when_skipping(coco_tree):
    for index in range(len(KEYS)):
        os.remove(image_path(coco_tree, index))
    with pytest.raises(DatasetLayoutError, match="no train image can be used"):
        read_coco(coco_tree, "train", TEXT, ReadOptions(skip_bad_images=True))


def test_blank_lines_are_skipped_silently_and_wordless_lines_are_reported(coco_tree, caplog):
    write_text(text_path(coco_tree, 0), "\n  \nfirst caption\n!!!\n日本語\nsecond\n\nthird\n")
    with caplog.at_level(logging.WARNING):
        records = read_coco(coco_tree, "train", TEXT)
    assert [records.vocabulary.decode(c) for c in records.captions[0]] == [
        "first caption", "second", "third"
    ]
    assert records.report.wordless_lines == [f"{text_path(coco_tree, 0)}:{n}" for n in (4, 5)]
    assert "has no word and is skipped" in caplog.text


def test_too_few_captions_can_be_repeated_with_a_warning(coco_tree, caplog):
    write_text(text_path(coco_tree, 2), "one caption\n\nanother\n")
    with caplog.at_level(logging.WARNING):
        records = read_coco(coco_tree, "train", TEXT, ReadOptions(repeat_missing_captions=True))
    decoded = [records.vocabulary.decode(c) for c in records.captions[2]]
    assert decoded == ["one caption", "another", "one caption"]
    assert records.report.padded_caption_files == [text_path(coco_tree, 2)]
    assert "has 2 of 3 captions; repeating them" in caplog.text


def test_a_file_without_any_caption_is_an_error_even_when_repeating(coco_tree):
    write_text(text_path(coco_tree, 0), "\n...\n")
    with pytest.raises(DatasetLayoutError, match="000000000009.txt has 0 captions"):
        read_coco(coco_tree, "train", TEXT, ReadOptions(repeat_missing_captions=True))


def test_non_utf8_bytes_are_replaced_with_a_warning_naming_the_file(coco_tree, caplog):
    with open(text_path(coco_tree, 1), "wb") as f:
        f.write(b"a caf\xe9 giraffe\n\xff\xfe tall giraffe\ngiraffe\n")
    with caplog.at_level(logging.WARNING):
        records = read_coco(coco_tree, "train", TEXT)
    assert records.vocabulary.decode(records.captions[1][0]) == "a caf giraffe"
    assert records.report.non_utf8_files == [text_path(coco_tree, 1)]
    assert text_path(coco_tree, 1) in caplog.text and "not valid UTF-8" in caplog.text


def test_cached_pickle_with_other_captions_per_image_asks_to_rebuild(coco_tree):
    read_coco(coco_tree, "train", TEXT)
    with pytest.raises(DatasetLayoutError, match="holds 12 captions for 4 images.*delete it"):
        read_coco(coco_tree, "train", TextConfig(captions_per_image=2))


def test_empty_captions_in_a_reference_pickle_count_as_missing(coco_tree):
    read_coco(coco_tree, "train", TEXT)
    path = os.path.join(coco_tree, "captions.pickle")
    captions = read_captions_pickle(path)
    captions.train[0] = []  # the reference keeps captions whose words were all non-ASCII
    ixtoword, wordtoix = captions.vocabulary.to_reference()
    write_pickle(path, [captions.train, captions.test, ixtoword, wordtoix])
    with pytest.raises(DatasetLayoutError, match=r"captions.pickle \(image COCO_train.*9\) has 2"):
        read_coco(coco_tree, "train", TEXT)
    records = read_coco(coco_tree, "train", TEXT, ReadOptions(repeat_missing_captions=True))
    assert records.captions[0][2] == records.captions[0][0]


def test_split_without_images_is_an_error(tmp_path):
    root = write_coco_tree(tmp_path, test={})
    assert len(read_coco(root, "train", TEXT)) == 4
    with pytest.raises(DatasetLayoutError, match="test/filenames.pickle lists no image"):
        read_coco(root, "test", TEXT)


def test_a_binary_caption_file_is_an_error_before_any_vocabulary_is_built(coco_tree):
    with open(text_path(coco_tree, 1), "wb") as f:
        f.write(np.random.default_rng(0).bytes(4000))
    with pytest.raises(NotTextError, match=rf"{text_path(coco_tree, 1)} is not a text file "
                                           r"\(it holds NUL bytes\)"):
        read_coco(coco_tree, "train", TEXT)
    assert not os.path.exists(os.path.join(coco_tree, "captions.pickle"))


def test_a_caption_file_of_control_characters_is_not_text(coco_tree):
    write_text(text_path(coco_tree, 2), "a giraffe\n" + "\x1b[1m\x07" * 20 + "\n")
    with pytest.raises(NotTextError, match=r"40 of its 111 characters are invalid UTF-8 or "
                                           "control characters"):
        read_coco(coco_tree, "train", TEXT)


def test_a_caption_pickle_in_use_says_once_that_the_caption_files_are_not_read(coco_tree,
                                                                                caplog):
    read_coco(coco_tree, "train", TEXT)  # builds captions.pickle
    with caplog.at_level(logging.INFO):
        read_coco(coco_tree, "train", TEXT)
        read_coco(coco_tree, "test", TEXT)
    pickle_path = os.path.join(coco_tree, "captions.pickle")
    notes = [r.getMessage() for r in caplog.records if "are not read" in r.getMessage()]
    assert notes == [f"captions and vocabulary come from {pickle_path}; the caption files "
                     "(text/) are not read: delete it to rebuild it from them after editing "
                     "captions"]


def test_interleave_classes_alternates_classes_and_keeps_every_image():
    from mirrorgan_keras.data.records import DatasetSplit, ReadReport
    from mirrorgan_keras.data.vocabulary import Vocabulary

    class_ids = np.array([3, 3, 3, 5, 5, 7], np.int32)  # class-ordered, as the readers give
    split = DatasetSplit(
        split="test", keys=[f"k{i}" for i in range(6)], image_paths=[f"p{i}" for i in range(6)],
        captions=[[[i + 1]] for i in range(6)], class_ids=class_ids,
        bboxes=np.arange(24.0).reshape(6, 4), vocabulary=Vocabulary(["a"]), report=ReadReport())
    mixed = split.interleave_classes()
    assert mixed.keys == ["k0", "k3", "k5", "k1", "k4", "k2"]
    np.testing.assert_array_equal(mixed.class_ids, [3, 5, 7, 3, 5, 3])
    assert mixed.captions == [[[1]], [[4]], [[6]], [[2]], [[5]], [[3]]]
    np.testing.assert_array_equal(mixed.bboxes[:, 0], [0, 12, 20, 4, 16, 8])


def random_words(count, seed=0):
    rng = np.random.default_rng(seed)
    letters = list("abcdefghijklmnopqrstuvwxyz")
    return " ".join("".join(rng.choice(letters, 8)) for _ in range(count))


def test_an_over_long_caption_line_is_reported_with_its_count(coco_tree, caplog):
    write_text(text_path(coco_tree, 0), f"first caption\n{random_words(10_000)}\nthird\n")
    with caplog.at_level(logging.WARNING):
        records = read_coco(coco_tree, "train", TEXT)
    assert records.report.long_lines == [f"{text_path(coco_tree, 0)}:2 (10000 words)"]
    assert "1 caption lines have over" in caplog.text
    assert re.search(r"100\d\d of the 100\d\d vocabulary words are seen only once", caplog.text)
    assert "--set text.min_word_count=2 leaves them out" in caplog.text


def test_min_word_count_leaves_one_off_words_out_and_one_keeps_every_word(coco_tree):
    write_text(text_path(coco_tree, 0), f"first caption\n{random_words(500)} caption\nfirst\n")
    every_word = read_coco(coco_tree, "train", TEXT).vocabulary
    os.remove(os.path.join(coco_tree, "captions.pickle"))
    text = dataclasses.replace(TEXT, min_word_count=2)
    records = read_coco(coco_tree, "train", text, ReadOptions(repeat_missing_captions=True))
    assert every_word.size - records.vocabulary.size >= 500
    assert "caption" in records.vocabulary and "dinner" not in records.vocabulary
    assert [records.vocabulary.decode(c) for c in records.captions[0]] == [
        "first caption", "caption", "first"]
    assert [records.vocabulary.decode(c) for c in records.captions[1]] == [
        "a giraffe", "giraffe", "giraffe"]
