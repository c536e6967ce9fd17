"""Turns a folder of captioned images into the COCO-like AttnGAN layout.

Input: any tree of images (``.jpg .jpeg .png .bmp .gif .webp``, sub-folders allowed), each
with a same-named ``.txt`` caption file next to it, one caption per line. Output::

    <output_dir>/images/<key>.jpg     <output_dir>/text/<key>.txt
    <output_dir>/train/filenames.pickle   <output_dir>/test/filenames.pickle

where ``key`` is the image path relative to ``input_dir`` without extension, "/"-separated
(sub-folders are kept, so names never collide). The COCO-like layout is chosen because a
folder has neither bounding boxes nor classes (every image is its own class). Read it with
``DataConfig(dataset="coco", data_dir=output_dir, use_bbox=False)`` and a ``TextConfig``
whose ``captions_per_image`` suits the data.

JPEGs are copied byte for byte, other formats re-encoded as JPEG (quality 95); caption files
are rewritten as UTF-8 without blank lines. Skipped, logged and listed in the returned
:class:`FolderBuildReport`: images without caption file, images that do not decode, caption
files that are not text (:func:`~mirrorgan_keras.data.layout.not_text_reason`) or without any
word. The split is a seeded permutation with ``round(test_fraction · N)``
test images. The output is built in a temporary sibling directory and renamed when complete.

Command line::

    python -m mirrorgan_keras.data.folder --input_dir photos --output_dir data/photos \\
        --test_fraction 0.1 --seed 0
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import pickle
import shutil
from collections.abc import Sequence

import numpy as np
from PIL import Image

from mirrorgan_keras.data.coco import COCO_LAYOUT
from mirrorgan_keras.data.layout import NotTextError, image_problem, read_text
from mirrorgan_keras.data.text import tokenize
from mirrorgan_keras.runtime.run_files import atomic_path

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")


@dataclasses.dataclass
class FolderBuildReport:
    """The keys written per split and the inputs skipped or repaired (paths)."""

    train_keys: list[str] = dataclasses.field(default_factory=list)
    test_keys: list[str] = dataclasses.field(default_factory=list)
    missing_captions: list[str] = dataclasses.field(default_factory=list)  # images skipped
    bad_images: list[str] = dataclasses.field(default_factory=list)  # skipped
    empty_caption_files: list[str] = dataclasses.field(default_factory=list)  # skipped
    not_text_caption_files: list[str] = dataclasses.field(default_factory=list)  # skipped
    non_utf8_files: list[str] = dataclasses.field(default_factory=list)  # bytes replaced

    @property
    def skipped_count(self) -> int:
        """Number of images left out."""
        return (len(self.missing_captions) + len(self.bad_images)
                + len(self.empty_caption_files) + len(self.not_text_caption_files))


def find_images(input_dir: str) -> dict[str, str]:
    """``{key: image path}`` of every image under ``input_dir``, sorted by key."""
    images: dict[str, str] = {}
    for root, dirs, files in os.walk(input_dir):
        dirs.sort()
        for name in sorted(files):
            stem, extension = os.path.splitext(name)
            if extension.lower() not in IMAGE_EXTENSIONS:
                continue
            path = os.path.join(root, name)
            key = os.path.relpath(os.path.join(root, stem), input_dir).replace(os.sep, "/")
            if key in images:
                raise ValueError(f"two images with the same name: {images[key]} and {path}")
            images[key] = path
    return dict(sorted(images.items()))


def split_keys(keys: Sequence[str], test_fraction: float, seed: int) -> tuple[list, list]:
    """(train, test) keys, each sorted; ``round(test_fraction · N)`` seeded test keys."""
    permutation = np.random.default_rng(seed).permutation(len(keys))
    test_count = round(test_fraction * len(keys))
    test = sorted(keys[i] for i in permutation[:test_count])
    train = sorted(keys[i] for i in permutation[test_count:])
    return train, test


def _copy_example(key: str, image_path: str, output_dir: str, report: FolderBuildReport) -> bool:
    """Writes the image and captions of ``key``; False (logged, reported) when skipped."""
    text_path = os.path.splitext(image_path)[0] + ".txt"
    if not os.path.isfile(text_path):
        logger.warning("skipping %s: no caption file %s", image_path, text_path)
        report.missing_captions.append(image_path)
        return False
    try:
        text = read_text(text_path, report.non_utf8_files)
    except NotTextError as error:
        logger.warning("skipping %s: %s", image_path, error)
        report.not_text_caption_files.append(text_path)
        return False
    lines = [line.strip() for line in text.split("\n")]
    lines = [line for line in lines if line]
    if not any(tokenize(line) for line in lines):
        logger.warning("skipping %s: %s has no caption with words", image_path, text_path)
        report.empty_caption_files.append(text_path)
        return False
    problem = image_problem(image_path)
    if problem:
        logger.warning("skipping %s: %s", image_path, problem)
        report.bad_images.append(image_path)
        return False
    target = COCO_LAYOUT.image_path(output_dir, key)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with Image.open(image_path) as image:
        if image.format == "JPEG":
            shutil.copyfile(image_path, target)
        else:
            image.convert("RGB").save(target, "JPEG", quality=95)
    caption_target = COCO_LAYOUT.text_path(output_dir, key)
    os.makedirs(os.path.dirname(caption_target), exist_ok=True)
    with open(caption_target, "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(lines) + "\n")
    return True


def build_from_folder(
    input_dir: str, output_dir: str, test_fraction: float = 0.1, seed: int = 0
) -> FolderBuildReport:
    """Builds the layout described in the module docstring; ``output_dir`` must not exist or
    be empty. Raises ValueError when no image is usable or the train split would be empty."""
    if not os.path.isdir(input_dir):
        raise FileNotFoundError(f"input directory {input_dir} does not exist")
    if os.path.exists(output_dir) and os.listdir(output_dir):
        raise FileExistsError(f"output directory {output_dir} exists and is not empty")
    if not 0.0 <= test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction}")
    report = FolderBuildReport()
    with atomic_path(os.path.abspath(output_dir), directory=True) as staging:
        images = find_images(input_dir)
        kept = [key for key, path in images.items()
                if _copy_example(key, path, str(staging), report)]
        report.train_keys, report.test_keys = split_keys(kept, test_fraction, seed)
        if not report.train_keys:
            raise ValueError(
                f"{input_dir}: {len(kept)} usable of {len(images)} images, none left for training"
            )
        for split, keys in (("train", report.train_keys), ("test", report.test_keys)):
            (staging / split).mkdir()
            with open(staging / split / "filenames.pickle", "wb") as f:
                pickle.dump(keys, f, protocol=2)
    logger.info(
        "%s: %d train and %d test images written, %d skipped", output_dir,
        len(report.train_keys), len(report.test_keys), report.skipped_count,
    )
    return report


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input_dir", required=True, help="images with same-named .txt files")
    parser.add_argument("--output_dir", required=True, help="new AttnGAN COCO-like data dir")
    parser.add_argument("--test_fraction", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    report = build_from_folder(args.input_dir, args.output_dir, args.test_fraction, args.seed)
    print(
        f"{args.output_dir}: {len(report.train_keys)} train, {len(report.test_keys)} test, "
        f"{report.skipped_count} skipped ({len(report.missing_captions)} without captions, "
        f"{len(report.bad_images)} undecodable, {len(report.empty_caption_files)} with empty "
        f"captions, {len(report.not_text_caption_files)} with caption files that are not "
        f"text), {len(report.non_utf8_files)} caption files with invalid UTF-8"
    )


if __name__ == "__main__":
    main()
