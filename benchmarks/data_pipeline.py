"""Throughput of the tf.data input pipeline (docs/design.md §2): decoded, cropped, augmented
images/s.

Without ``--data_dir`` it writes ``--num_images`` synthetic 500x375 JPEGs (CUB's typical size)
with bounding boxes and 10 captions each into a temporary CUB-layout tree. It reads the train
split (timing the read, which checks every image), builds the training pipeline for the image
pyramid ending at ``--image_size`` and prints the images/s after ``--warmup`` batches::

    python benchmarks/data_pipeline.py --num_images 300 --image_size 256 --batch_size 12
"""

from __future__ import annotations

import mirrorgan_keras.runtime.quiet_tensorflow  # noqa: F401  (first: before TensorFlow loads)

# isort: split

import argparse
import os
import pickle
import tempfile
import time

import numpy as np
from PIL import Image, ImageDraw

from mirrorgan_keras.config import TextConfig
from mirrorgan_keras.data import make_dataset, read_dataset

WORDS = ("a bird with red blue small large wings tail beak belly crown white black brown "
         "yellow short long pointed this has and the is on branch").split()


def write_synthetic_cub(root: str, count: int, seed: int = 0) -> None:
    """``count`` 500x375 JPEGs (gradient and ellipses) in the CUB layout, 90 % train."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:375, 0:500]
    keys, boxes = [], []
    for index in range(count):
        key = f"{index % 20:03d}.Class/image_{index:05d}"
        colour = rng.uniform(0, 255, 3)
        pixels = np.clip(colour + np.stack([x / 4, y / 3, (x + y) / 6], -1), 0, 255)
        image = Image.fromarray(pixels.astype(np.uint8))
        draw = ImageDraw.Draw(image)
        box = [float(rng.integers(0, 250)), float(rng.integers(0, 180)),
               float(rng.integers(60, 250)), float(rng.integers(60, 195))]
        draw.ellipse([box[0], box[1], box[0] + box[2], box[1] + box[3]],
                     fill=tuple(int(c) for c in rng.integers(0, 255, 3)))
        path = os.path.join(root, "CUB_200_2011", "images", key + ".jpg")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        image.save(path, "JPEG", quality=90)
        text = os.path.join(root, "text", key + ".txt")
        os.makedirs(os.path.dirname(text), exist_ok=True)
        with open(text, "w") as f:
            f.write("\n".join(" ".join(rng.choice(WORDS, rng.integers(8, 25)))
                              for _ in range(10)) + "\n")
        keys.append(key)
        boxes.append(box)
    with open(os.path.join(root, "CUB_200_2011", "images.txt"), "w") as f:
        f.writelines(f"{i + 1} {key}.jpg\n" for i, key in enumerate(keys))
    with open(os.path.join(root, "CUB_200_2011", "bounding_boxes.txt"), "w") as f:
        f.writelines(f"{i + 1} {' '.join(map(str, box))}\n" for i, box in enumerate(boxes))
    split = count * 9 // 10
    for name, split_keys in (("train", keys[:split]), ("test", keys[split:])):
        os.makedirs(os.path.join(root, name))
        with open(os.path.join(root, name, "filenames.pickle"), "wb") as f:
            pickle.dump(split_keys, f, protocol=2)


def measure(data_dir: str, dataset: str, args: argparse.Namespace) -> None:
    start = time.perf_counter()
    records = read_dataset(data_dir, dataset, "train", TextConfig())
    read_seconds = time.perf_counter() - start
    sizes = tuple(args.image_size // 2**i for i in reversed(range(args.stages)))
    batches = iter(make_dataset(records, args.batch_size, sizes, TextConfig().words_num,
                                training=True, seed=0))
    for _ in range(args.warmup):
        next(batches)
    start = time.perf_counter()
    for _ in range(args.batches):
        next(batches)
    seconds = time.perf_counter() - start
    print(f"{'images':>7} {'read s':>7} {'sizes':>14} {'batch':>5} {'images/s':>9} {'CPUs':>4}")
    print(f"{len(records):>7} {read_seconds:>7.2f} {'/'.join(map(str, sizes)):>14} "
          f"{args.batch_size:>5} {args.batches * args.batch_size / seconds:>9.1f} "
          f"{os.cpu_count():>4}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data_dir", help="an existing data set (default: synthetic CUB tree)")
    parser.add_argument("--dataset", default="cub", help="DataConfig.dataset of --data_dir")
    parser.add_argument("--num_images", type=int, default=300)
    parser.add_argument("--image_size", type=int, default=256)
    parser.add_argument("--stages", type=int, default=3)
    parser.add_argument("--batch_size", type=int, default=12)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--batches", type=int, default=40)
    args = parser.parse_args()
    if args.data_dir:
        measure(args.data_dir, args.dataset, args)
        return
    with tempfile.TemporaryDirectory() as root:
        write_synthetic_cub(root, args.num_images)
        measure(root, "cub", args)


if __name__ == "__main__":
    main()
