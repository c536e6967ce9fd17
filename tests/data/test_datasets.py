import dataclasses

import pytest

from mirrorgan_keras.config import get_preset
from mirrorgan_keras.data.datasets import load_split, read_dataset
from tests.data.conftest import TEXT


@pytest.mark.parametrize("dataset", ["cub", "synthetic_birds"])
def test_cub_like_names_use_the_cub_reader(cub_tree, dataset):
    records = read_dataset(cub_tree, dataset, "train", TEXT)
    assert records.bboxes is not None and len(records) == 3
    assert read_dataset(cub_tree, dataset, "train", TEXT, use_bbox=False).bboxes is None


def test_coco_name_uses_the_coco_reader(coco_tree):
    assert read_dataset(coco_tree, "coco", "test", TEXT).bboxes is None


def test_load_split_reads_the_config_settings(cub_tree):
    config = get_preset("cub")
    data = dataclasses.replace(config.data, data_dir=cub_tree, use_bbox=False)
    records = load_split(data, TEXT, "test")
    assert len(records) == 2 and records.bboxes is None


def test_unknown_dataset_is_rejected(cub_tree):
    with pytest.raises(ValueError, match="unknown dataset 'flowers'"):
        read_dataset(cub_tree, "flowers", "train", TEXT)


def test_the_earlier_name_birds_says_to_write_cub(cub_tree):
    with pytest.raises(ValueError, match='"birds" is now "cub"'):
        read_dataset(cub_tree, "birds", "train", TEXT)
