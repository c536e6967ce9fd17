"""CUB-200-2011 in the AttnGAN layout (docs/design.md §2): reader and bounding boxes.

``read_cub`` also reads the synthetic birds (:mod:`mirrorgan_keras.data.synthetic_birds`),
which are written in this layout.
"""

from __future__ import annotations

import functools
import os

import numpy as np

from mirrorgan_keras.config import TextConfig
from mirrorgan_keras.data.layout import DatasetLayout, DatasetLayoutError, require_file
from mirrorgan_keras.data.records import DatasetSplit, ReadOptions, read_split

CUB_LAYOUT = DatasetLayout(
    name="CUB",
    image_dir="CUB_200_2011/images",
    tree="""\
<data_dir>/
  CUB_200_2011/images/<class_dir>/<name>.jpg
  CUB_200_2011/images.txt          "<id> <class_dir>/<name>.jpg" per line
  CUB_200_2011/bounding_boxes.txt  "<id> <x> <y> <w> <h>" per line (needed with use_bbox)
  text/<class_dir>/<name>.txt      captions, one per line
  train/filenames.pickle           list of "<class_dir>/<name>" keys
  test/filenames.pickle
  train/class_info.pickle          class id per key (optional; default: the image index)
  test/class_info.pickle
  captions.pickle                  [train_caps, test_caps, ixtoword, wordtoix] (optional:
                                   built from text/ when absent; or bird_captions.pickle)""",
)


def read_cub(
    data_dir: str,
    split: str,
    text_config: TextConfig | None = None,
    *,
    use_bbox: bool = True,
    options: ReadOptions | None = None,
) -> DatasetSplit:
    """Reads a CUB-layout split ("train" or "test"), with bounding boxes when ``use_bbox``.

    Text settings default to ``TextConfig()`` (CUB: 10 captions per image).
    """
    read_bboxes = functools.partial(read_cub_bboxes, data_dir) if use_bbox else None
    return read_split(CUB_LAYOUT, data_dir, split, text_config or TextConfig(),
                      options=options or ReadOptions(), read_bboxes=read_bboxes)


def _read_table(path: str, columns: int) -> dict[str, list[str]]:
    """``{first field: other fields}`` of a whitespace-separated file with ``columns`` fields."""
    require_file(path)
    rows = {}
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != columns:
                raise DatasetLayoutError(
                    f"malformed {path} line {number}: expected {columns} fields, got {line!r}"
                )
            rows[fields[0]] = fields[1:]
    return rows


def read_cub_bboxes(data_dir: str, keys: list[str]) -> np.ndarray:
    """float64 [len(keys), 4]: the (x, y, w, h) box of each key, joined by image id."""
    images_path = os.path.join(data_dir, "CUB_200_2011", "images.txt")
    boxes_path = os.path.join(data_dir, "CUB_200_2011", "bounding_boxes.txt")
    ids = {os.path.splitext(fields[0])[0]: image_id
           for image_id, fields in _read_table(images_path, 2).items()}
    boxes = _read_table(boxes_path, 5)
    result = np.zeros((len(keys), 4), np.float64)
    for index, key in enumerate(keys):
        if key not in ids:
            raise DatasetLayoutError(f"{images_path} does not list image {key}.jpg")
        if ids[key] not in boxes:
            raise DatasetLayoutError(f"{boxes_path} has no box for image id {ids[key]} ({key})")
        try:
            result[index] = [float(v) for v in boxes[ids[key]]]
        except ValueError:
            raise DatasetLayoutError(
                f"malformed box of image id {ids[key]} in {boxes_path}"
            ) from None
    return result
