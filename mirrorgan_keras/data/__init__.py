"""Data: vocabulary and tokenizer, AttnGAN-layout readers (CUB, COCO), the tf.data pipeline.

Typical use::

    from mirrorgan_keras.data import load_split, make_config_dataset, steps_per_epoch

    records = load_split(config.data, config.text, "train")
    dataset = make_config_dataset(records, config, "gan", training=True, seed=0)
    model.fit(dataset, steps_per_epoch=steps_per_epoch(records, config.train.batch_size))

Two forms each, by what the caller holds: ``read_dataset(data_dir, dataset, split, text)`` and
``load_split(config.data, config.text, split)`` read a split (a ``DatasetSplit``);
``make_dataset(records, batch_size, image_sizes, words_num, ...)`` and
``make_config_dataset(records, config, purpose, ...)`` batch it, the second with the batch size
and image sizes that ``config`` gives the purpose ("gan", "damsm", "stream").

The names below are imported lazily on first use, so that importing a light submodule (e.g.
``mirrorgan_keras.data.synthetic_birds`` in spawned worker processes) does not load TensorFlow.
"""

import importlib

_EXPORTS = {
    "COCO_LAYOUT": "coco",
    "read_coco": "coco",
    "CUB_LAYOUT": "cub",
    "read_cub": "cub",
    "read_cub_bboxes": "cub",
    "DATASETS": "datasets",
    "read_dataset": "datasets",
    "load_split": "datasets",
    "FolderBuildReport": "folder",
    "build_from_folder": "folder",
    "DatasetLayout": "layout",
    "DatasetLayoutError": "layout",
    "ReadReport": "layout",
    "augment_image": "pipeline",
    "bbox_crop_window": "pipeline",
    "make_config_dataset": "pipeline",
    "make_dataset": "pipeline",
    "sample_caption": "pipeline",
    "steps_per_epoch": "pipeline",
    "to_uint8": "pipeline",
    "DatasetSplit": "records",
    "ReadOptions": "records",
    "CaptionTokenizer": "tokenizer",
    "tokenize": "text",
    "tokenize_tf": "tokenizer",
    "ReferenceCaptions": "vocabulary",
    "Vocabulary": "vocabulary",
    "read_captions_pickle": "vocabulary",
    "write_captions_pickle": "vocabulary",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
