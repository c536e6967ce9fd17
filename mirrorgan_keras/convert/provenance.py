"""Which file a conversion was made from: a ``<output>.source.json`` beside a converted
``.weights.h5`` with the source's path and SHA-256, so that scores computed with the
conversion can still be traced to (and checked against) the published file.

Example::

    record_conversion_source("fid_inception.weights.h5", "pt_inception-2015-12-05-6726825d.pth")
    conversion_source("fid_inception.weights.h5")  # {"path": ..., "sha256": "6726825d..."}
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from mirrorgan_keras.runtime.run_files import atomic_path

HASH_CHUNK = 1 << 20
SOURCE_SUFFIX = ".source.json"


def weight_files(path: str | Path) -> list[Path]:
    """``[path]`` for a file; a TF checkpoint prefix's files (sorted by name); [] for neither."""
    path = Path(path)
    return [path] if path.is_file() else sorted(path.parent.glob(f"{path.name}.*"))


def sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file, or of a TF checkpoint prefix's files (sorted by name)."""
    files = weight_files(path)
    if not files:
        raise FileNotFoundError(f"{path} does not exist (neither a file nor a checkpoint prefix)")
    digest = hashlib.sha256()
    for file in files:
        with open(file, "rb") as stream:
            while chunk := stream.read(HASH_CHUNK):
                digest.update(chunk)
    return digest.hexdigest()


def file_record(path: str | Path) -> dict:
    """``{"path", "sha256"}`` of a file, with ``"converted_from"`` (the same for its source)
    when it is a recorded conversion."""
    record = {"path": str(path), "sha256": sha256(path)}
    source = conversion_source(path)
    if source is not None:
        record["converted_from"] = source
    return record


def record_conversion_source(output: str | Path, source: str | Path) -> None:
    """Writes ``<output>.source.json``: ``source``'s path and SHA-256."""
    record = {"path": str(source), "sha256": sha256(source)}
    with atomic_path(f"{output}{SOURCE_SUFFIX}") as staging:
        staging.write_text(json.dumps(record, indent=1))


def conversion_source(output: str | Path) -> dict | None:
    """The source record of a converted file; None when it has none."""
    path = Path(f"{output}{SOURCE_SUFFIX}")
    return json.loads(path.read_text()) if path.is_file() else None
