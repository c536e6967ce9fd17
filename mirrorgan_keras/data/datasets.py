"""One entry point for all data sets, in two forms: :func:`read_dataset` takes the data set's
directory and name (and dispatches to :func:`~mirrorgan_keras.data.cub.read_cub` or
:func:`~mirrorgan_keras.data.coco.read_coco`), :func:`load_split` takes them from a config."""

from __future__ import annotations

from mirrorgan_keras.config import DATASETS, DataConfig, TextConfig, check_dataset
from mirrorgan_keras.data.coco import read_coco
from mirrorgan_keras.data.cub import read_cub
from mirrorgan_keras.data.records import DatasetSplit, ReadOptions

CUB_LIKE = ("cub", "synthetic_birds")  # DataConfig.dataset names read with the CUB layout

__all__ = ["CUB_LIKE", "DATASETS", "read_dataset", "load_split"]


def read_dataset(
    data_dir: str,
    dataset: str,
    split: str,
    text_config: TextConfig,
    *,
    use_bbox: bool = True,
    options: ReadOptions | None = None,
) -> DatasetSplit:
    """Reads ``split`` of the data set named ``dataset`` (as in ``DataConfig.dataset``) in
    ``data_dir``.

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
    """:func:`read_dataset` with the directory, name and box setting of ``data_config``, e.g.
    ``load_split(config.data, config.text, "train")``."""
    return read_dataset(data_config.data_dir, data_config.dataset, split, text_config,
                                use_bbox=data_config.use_bbox, options=options)
