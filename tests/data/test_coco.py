import os

import numpy as np
import pytest

from mirrorgan_keras.data.coco import read_coco
from mirrorgan_keras.data.layout import DatasetLayoutError
from tests.data.conftest import COCO_TEST, COCO_TRAIN, TEXT, write_coco_tree, write_text


def test_reads_a_coco_split_without_boxes_or_classes(coco_tree):
    records = read_coco(coco_tree, "test", TEXT)
    assert records.keys == list(COCO_TEST)
    assert records.image_paths[0] == os.path.join(coco_tree, "images", list(COCO_TEST)[0] + ".jpg")
    assert records.bboxes is None
    np.testing.assert_array_equal(records.class_ids, [0, 1])
    assert records.vocabulary.decode(records.captions[1][2]) == "motorcycle on a street"


def test_default_text_settings_are_the_coco_preset(tmp_path):
    train = {key: text + "four\nfive\n" for key, text in COCO_TRAIN.items()}
    test = {key: text + "four\nfive\n" for key, text in COCO_TEST.items()}
    root = write_coco_tree(tmp_path, train=train, test=test)
    records = read_coco(root, "train")
    assert all(len(captions) == 5 for captions in records.captions)


def test_keys_may_contain_sub_folders(tmp_path):
    root = write_coco_tree(tmp_path, train={"a/b/c": "one\ntwo\nthree\n"})
    records = read_coco(root, "train", TEXT)
    assert records.image_paths == [os.path.join(root, "images", "a/b/c.jpg")]


def test_missing_file_error_shows_the_coco_tree(coco_tree):
    os.remove(os.path.join(coco_tree, "test", "filenames.pickle"))
    with pytest.raises(DatasetLayoutError, match="test/filenames.pickle") as error:
        read_coco(coco_tree, "train", TEXT)
    assert "Expected COCO layout" in str(error.value) and "images/<key>.jpg" in str(error.value)


def test_caption_file_with_too_few_captions_is_named(tmp_path):
    root = write_coco_tree(tmp_path)
    write_text(os.path.join(root, "text", list(COCO_TRAIN)[1] + ".txt"), "only one\n\n")
    with pytest.raises(DatasetLayoutError, match="000000000025.txt has 1 captions with words, 3"):
        read_coco(root, "train", TEXT)
