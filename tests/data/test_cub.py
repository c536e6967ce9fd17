import os
import pickle

import numpy as np
import pytest

from mirrorgan_keras.data.cub import read_cub
from mirrorgan_keras.data.layout import DatasetLayoutError
from mirrorgan_keras.data.vocabulary import ReferenceCaptions, Vocabulary, write_captions_pickle
from tests.data.conftest import CUB_TEST, CUB_TRAIN, TEXT, write_cub_tree, write_pickle


def test_reads_keys_paths_captions_classes_and_boxes(cub_tree):
    records = read_cub(cub_tree, "train", TEXT)
    assert records.keys == list(CUB_TRAIN) and len(records) == 3
    assert records.image_paths[0] == os.path.join(
        cub_tree, "CUB_200_2011", "images", "001.Red", "red_1.jpg"
    )
    decoded = [records.vocabulary.decode(c) for c in records.captions[0]]
    # first 3 lines with words, blank line skipped, 4th caption ignored
    assert decoded == [
        "a red bird",
        "the bird is red with black wings and a very long pointed tail",
        "small red bird",
    ]
    np.testing.assert_array_equal(records.class_ids, [1, 1, 2])
    assert records.class_ids.dtype == np.int32
    np.testing.assert_array_equal(records.bboxes, [s[2] for s in CUB_TRAIN.values()])
    assert records.report.problem_count == 0


def test_vocabulary_is_built_from_train_and_test_and_cached(cub_tree):
    train = read_cub(cub_tree, "train", TEXT)
    test = read_cub(cub_tree, "test", TEXT)
    assert train.vocabulary == test.vocabulary
    assert {"green", "feathers", "beak"} <= set(train.vocabulary.tokens)  # test-only words
    assert train.vocabulary.tokens[:4] == ("<end>", "a", "red", "bird")  # first occurrence
    with open(os.path.join(cub_tree, "captions.pickle"), "rb") as f:
        train_caps, test_caps, ixtoword, _ = pickle.load(f)
    assert len(train_caps) == 3 * 3 and len(test_caps) == 2 * 3
    assert train_caps[:3] == train.captions[0]
    assert ixtoword[1] == "a"


def test_existing_captions_pickle_wins_over_the_text_files(cub_tree):
    vocabulary = Vocabulary(["only", "these", "words"])
    train = [[1, 2, 3]] * 3 * 3
    test = [[3, 2]] * 2 * 3
    write_captions_pickle(os.path.join(cub_tree, "bird_captions.pickle"),
                          ReferenceCaptions(vocabulary, train, test))
    records = read_cub(cub_tree, "test", TEXT)
    assert records.vocabulary == vocabulary
    assert records.captions[1] == [[3, 2]] * 3


def test_without_class_info_the_image_index_is_the_class(tmp_path):
    root = write_cub_tree(tmp_path, class_info=False)
    np.testing.assert_array_equal(read_cub(root, "test", TEXT).class_ids, [0, 1])


def test_python2_filenames_pickle_with_bytes_keys(cub_tree):
    write_pickle(os.path.join(cub_tree, "test", "filenames.pickle"),
                 [key.encode() for key in CUB_TEST], protocol=2)
    assert read_cub(cub_tree, "test", TEXT).keys == list(CUB_TEST)


def test_boxes_are_not_needed_without_use_bbox(cub_tree):
    os.remove(os.path.join(cub_tree, "CUB_200_2011", "bounding_boxes.txt"))
    assert read_cub(cub_tree, "train", TEXT, use_bbox=False).bboxes is None
    with pytest.raises(DatasetLayoutError, match="missing file: .*bounding_boxes.txt"):
        read_cub(cub_tree, "train", TEXT)


@pytest.mark.parametrize(
    ("relative", "content", "message"),
    [
        ("CUB_200_2011/images.txt", None, "missing file: .*images.txt"),
        ("train/filenames.pickle", None, "missing file: .*train/filenames.pickle"),
        ("CUB_200_2011/bounding_boxes.txt", "1 10 8 20\n", "bounding_boxes.txt line 1"),
        ("CUB_200_2011/bounding_boxes.txt", "1 a b c d\n", "malformed box .*bounding_boxes"),
        ("CUB_200_2011/bounding_boxes.txt", "9 1 1 1 1\n", "bounding_boxes.txt has no box"),
        ("CUB_200_2011/images.txt", "1 001.Red/red_1.jpg\n", "images.txt does not list"),
        ("train/filenames.pickle", b"not a pickle", "malformed pickle .*filenames.pickle"),
        ("train/class_info.pickle", [1, 2], "class_info.pickle: 2 class ids for 3 images"),
        ("text/001.Red/red_2.txt", None, "missing file: .*red_2.txt"),
    ],
)
def test_missing_or_malformed_files_are_named_with_the_expected_tree(
    cub_tree, relative, content, message
):
    path = os.path.join(cub_tree, relative)
    if content is None:
        os.remove(path)
    elif isinstance(content, str):
        with open(path, "w") as f:
            f.write(content)
    elif isinstance(content, bytes):
        with open(path, "wb") as f:
            f.write(content)
    else:
        write_pickle(path, content)
    with pytest.raises(DatasetLayoutError, match=message) as error:
        read_cub(cub_tree, "train", TEXT)
    assert "Expected CUB layout" in str(error.value)
    assert "CUB_200_2011/bounding_boxes.txt" in str(error.value)


def test_unknown_split_is_rejected(cub_tree):
    with pytest.raises(ValueError, match="unknown split"):
        read_cub(cub_tree, "val", TEXT)
