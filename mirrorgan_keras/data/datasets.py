"""One entry point for all data sets: ``load_dataset_records`` dispatches on the data set name."""

from __future__ import annotations

from mirrorgan_keras.config import DATASETS, DataConfig, TextConfig, check_dataset
from mirrorgan_keras.data.coco import read_coco
from mirrorgan_keras.data.cub import read_cub
from mirrorgan_keras.data.records import DatasetSplit, ReadOptions

CUB_LIKE = ("cub", "synthetic_birds")  # DataConfig.dataset names read with the CUB layout

__all__ = ["CUB_LIKE", "DATASETS", "load_dataset_records", "load_split"]


def load_dataset_records(
    data_dir: str,
    dataset: str,
    split: str,
    text_config: TextConfig,
    *,
    use_bbox: bool = True,
    options: ReadOptions | None = None,
) -> DatasetSplit:
    """Reads ``split`` of a data set named as in ``DataConfig.dataset``.

    ``use_bbox`` applies to the CUB layout only (COCO has no boxes).
    """
    check_dataset(dataset)
    options = options or ReadOptions()
    if dataset in CUB_LIKE:
        return read_cub(data_dir, split, text_config, use_bbox=use_bbox, options=options)
    return read_coco(data_dir, split, text_config, options)


def load_split(
    data_config: DataConfig, text_config: TextConfig, split: str,
    options: ReadOptions | None = None,
) -> DatasetSplit:
    """``load_dataset_records`` with the settings of a config, e.g.
    ``load_split(config.data, config.text, "train")``."""
    return load_dataset_records(data_config.data_dir, data_config.dataset, split, text_config,
                                use_bbox=data_config.use_bbox, options=options)
