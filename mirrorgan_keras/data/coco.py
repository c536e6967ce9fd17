"""MS-COCO 2014 in the AttnGAN layout (docs/design.md §2): no classes, no bounding boxes.

The folder builder (:mod:`mirrorgan_keras.data.folder`) writes this layout too.
"""

from __future__ import annotations

from mirrorgan_keras.config import TextConfig, get_preset
from mirrorgan_keras.data.layout import DatasetLayout
from mirrorgan_keras.data.records import DatasetSplit, ReadOptions, read_split

COCO_LAYOUT = DatasetLayout(
    name="COCO",
    image_dir="images",
    tree="""\
<data_dir>/
  images/<key>.jpg            e.g. COCO_train2014_000000000009.jpg (keys may contain "/")
  text/<key>.txt              captions, one per line (5 for COCO)
  train/filenames.pickle      list of keys
  test/filenames.pickle
  train/class_info.pickle     class id per key (optional; default: the image index)
  test/class_info.pickle
  captions.pickle             [train_caps, test_caps, ixtoword, wordtoix] (optional: built
                              from text/ when absent)""",
)


def read_coco(
    data_dir: str,
    split: str,
    text_config: TextConfig | None = None,
    options: ReadOptions | None = None,
) -> DatasetSplit:
    """Reads a COCO-layout split ("train" or "test"); text settings default to the coco preset."""
    text_config = text_config or get_preset("coco").text
    return read_split(COCO_LAYOUT, data_dir, split, text_config, options=options or ReadOptions())
