"""Tiny CUB- and COCO-layout trees written by the tests (real pickles, real JPEGs)."""

import os
import pickle

import numpy as np
import pytest
from PIL import Image

from mirrorgan_keras.config import TextConfig

TEXT = TextConfig(words_num=6, captions_per_image=3)

# key: (caption file text, image size (w, h), bbox (x, y, w, h), class id)
CUB_TRAIN = {
    "001.Red/red_1": (
        "A red bird.\n\nThe bird is RED, with black wings and a very long pointed tail!\n"
        "small red bird\nan extra fourth caption\n",
        (50, 40), (10.0, 8.0, 20.0, 16.0), 1,
    ),
    "001.Red/red_2": (
        "red bird on a branch\nred wings\nthe red bird sings\n", (40, 40),
        (0.0, 0.0, 40.0, 40.0), 1,
    ),
    "002.Blue/blue_1": (
        "a blue bird\nblue and white\nthis bird is blue\n", (60, 30), (30.0, 5.0, 10.0, 20.0), 2,
    ),
}
CUB_TEST = {
    "003.Green/green_1": (
        "a green bird\ngreen feathers everywhere\ngreen\n", (40, 50), (5.0, 5.0, 30.0, 40.0), 3,
    ),
    "003.Green/green_2": (
        "green bird with a short beak\ngreen bird\nnice green bird\n", (30, 30),
        (2.0, 2.0, 5.0, 5.0), 3,
    ),
}
COCO_TRAIN = {
    "COCO_train2014_000000000009": "a plate of food\nfood on a table\ndinner\n",
    "COCO_train2014_000000000025": "a giraffe eating leaves\ntall giraffe\ngiraffe near trees\n",
    "COCO_train2014_000000000030": "a vase with flowers\nflowers\nwhite vase on a table\n",
    "COCO_train2014_000000000034": "a zebra in the grass\nzebra grazing\nstriped zebra\n",
}
COCO_TEST = {
    "COCO_val2014_000000000042": "a dog on a couch\nsleeping dog\nbrown dog\n",
    "COCO_val2014_000000000073": "a motorcycle parked\nred motorcycle\nmotorcycle on a street\n",
}


def write_image(path, size=(40, 30), colour=None, seed=0, image_format="JPEG"):
    """A small image with smooth colour gradients (or one ``colour``)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    width, height = size
    if colour is None:
        rng = np.random.default_rng(seed)
        base = rng.uniform(0, 255, 3)
        y, x = np.mgrid[0:height, 0:width]
        pixels = base + np.stack([x * 3.0, y * 3.0, (x + y) * 1.5], -1)
        pixels = np.clip(pixels, 0, 255).astype(np.uint8)
    else:
        pixels = np.broadcast_to(np.asarray(colour, np.uint8), (height, width, 3))
    Image.fromarray(np.ascontiguousarray(pixels)).save(path, image_format)


def write_pickle(path, value, protocol=4):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(value, f, protocol=protocol)


def write_text(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def write_cub_tree(root, train=None, test=None, class_info=True):
    """Writes a CUB-layout tree at ``root`` and returns ``root`` as str."""
    train = CUB_TRAIN if train is None else train
    test = CUB_TEST if test is None else test
    samples = {**train, **test}
    cub = os.path.join(root, "CUB_200_2011")
    for index, (key, (captions, size, _, _)) in enumerate(samples.items()):
        write_image(os.path.join(cub, "images", key + ".jpg"), size, seed=index)
        write_text(os.path.join(root, "text", key + ".txt"), captions)
    write_text(os.path.join(cub, "images.txt"),
               "".join(f"{i + 1} {key}.jpg\n" for i, key in enumerate(samples)))
    write_text(os.path.join(cub, "bounding_boxes.txt"),
               "".join(f"{i + 1} {' '.join(map(str, s[2]))}\n"
                       for i, s in enumerate(samples.values())))
    for split, split_samples in (("train", train), ("test", test)):
        write_pickle(os.path.join(root, split, "filenames.pickle"), list(split_samples))
        if class_info:
            write_pickle(os.path.join(root, split, "class_info.pickle"),
                         [s[3] for s in split_samples.values()])
    return str(root)


def write_coco_tree(root, train=None, test=None):
    """Writes a COCO-layout tree at ``root`` and returns ``root`` as str."""
    train = COCO_TRAIN if train is None else train
    test = COCO_TEST if test is None else test
    for index, (key, captions) in enumerate({**train, **test}.items()):
        write_image(os.path.join(root, "images", key + ".jpg"), (36, 28), seed=index)
        write_text(os.path.join(root, "text", key + ".txt"), captions)
    for split, split_samples in (("train", train), ("test", test)):
        write_pickle(os.path.join(root, split, "filenames.pickle"), list(split_samples))
    return str(root)


@pytest.fixture
def cub_tree(tmp_path):
    return write_cub_tree(tmp_path / "birds")


@pytest.fixture
def coco_tree(tmp_path):
    return write_coco_tree(tmp_path / "coco")
