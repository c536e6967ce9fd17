"""Writing and loading the text-to-image SavedModel for TF Serving: raw captions in, images out.

The exported graph is a :class:`~mirrorgan_keras.models.text_to_image.TextToImageModule`: the
caption tokenizer (tensorflow-text) and the vocabulary, the pretrained STEM text encoder and the
EMA generator, so a client sends plain strings; its signatures (``serving_default``,
``generate_from_seed``, ``generate_from_noise``) are described there.

A process loading the SavedModel must ``import tensorflow_text`` first (it registers the
tokenizer's ops; :func:`load_exported` does it); the stock TF Serving model server already links
them. Exports are versioned, ``<export_dir>/<version>/`` as TF Serving expects, and written to a
temporary directory that is renamed into place, so a server polling ``export_dir`` never sees
half a model.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from pathlib import Path

import tensorflow as tf

from mirrorgan_keras.runtime.run_files import atomic_path

METADATA_FILE = "assets.extra/mirrorgan.json"
# What TensorFlow logs (absl, INFO) for every signature when saving: the captured variables and
# lookup table are graph inputs named ``input_1``, ``table_handle``, … — nothing to act on.
RENAMED_INPUTS_NOTICE = "with unsupported characters which will be renamed"


def next_version(export_dir: str | os.PathLike) -> int:
    """1 + the highest integer-named version directory in ``export_dir`` (1 when none)."""
    export_dir = Path(export_dir)
    versions = [int(p.name) for p in export_dir.iterdir() if p.name.isdigit()] \
        if export_dir.is_dir() else []
    return max(versions, default=0) + 1


def export_saved_model(model: tf.Module, export_dir: str | os.PathLike,
                       version: int | None = None, metadata: dict | None = None) -> Path:
    """Writes ``model`` (a :class:`~mirrorgan_keras.models.text_to_image.TextToImageModule`)
    as the SavedModel ``<export_dir>/<version>/`` and returns its path.

    ``version`` defaults to :func:`next_version`; an existing version is never overwritten.
    ``metadata`` (e.g. the training config) goes to ``assets.extra/mirrorgan.json`` beside the
    signatures' description. The model is written to a hidden temporary directory in
    ``export_dir`` and renamed, which TF Serving's version polling ignores until it appears.
    """
    export_dir = Path(export_dir)
    version = next_version(export_dir) if version is None else version
    final = export_dir / str(version)
    if final.exists():
        raise FileExistsError(f"{final} exists: export versions are never overwritten")
    with (atomic_path(final, directory=True, overwrite=False) as staging,
          _without_renamed_inputs_notice()):
        tf.saved_model.save(model, str(staging), signatures=model.signatures())
        description = {"words_num": model.words_num,
                       "signatures": sorted(model.signatures()), **(metadata or {})}
        (staging / METADATA_FILE).parent.mkdir(exist_ok=True)
        (staging / METADATA_FILE).write_text(json.dumps(description, indent=1))
    return final


@contextlib.contextmanager
def _without_renamed_inputs_notice():
    """Drops absl's :data:`RENAMED_INPUTS_NOTICE` records while the block runs."""
    absl_logger = logging.getLogger("absl")

    def keep(record: logging.LogRecord) -> bool:
        return RENAMED_INPUTS_NOTICE not in str(record.msg)

    absl_logger.addFilter(keep)
    try:
        yield
    finally:
        absl_logger.removeFilter(keep)


def latest_export(path: str | os.PathLike) -> Path:
    """The SavedModel at ``path``: ``path`` itself when it holds ``saved_model.pb``, else its
    highest version directory."""
    path = Path(path)
    if (path / "saved_model.pb").exists():
        return path
    if not path.is_dir():
        raise FileNotFoundError(f"no exported model at {path}")
    version = next_version(path) - 1
    if version == 0:
        raise FileNotFoundError(f"{path} holds no saved_model.pb and no version directory")
    return path / str(version)


def load_exported(path: str | os.PathLike):
    """Loads an export (see :func:`latest_export`) after registering the tf.text ops."""
    import tensorflow_text  # noqa: F401  (registers the tokenizer's ops)

    return tf.saved_model.load(str(latest_export(path)))
