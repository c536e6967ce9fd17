"""Synthetic birds: a procedurally drawn, CUB-style text-to-image data set that needs no download.

Every image is a cartoon bird drawn with PIL: body, belly, a large head (the "crown"), wing,
tail, beak, eye and, when perched, legs on a branch, over a soft two-colour gradient. The bird's
look is fixed by attributes:

==========  ==================================================  =====================
attribute   values                                              in captions
==========  ==================================================  =====================
crown       :data:`COLOURS` (whole head, colour of the crown)   yes
wing        :data:`COLOURS` (wings, back and tail)              yes
belly       :data:`COLOURS` (breast and belly)                  yes
beak        :data:`BEAK_SIZES`                                  yes
tail        :data:`TAIL_LENGTHS`                                yes
pose        :data:`POSES` (perched on a branch or flying)       yes
facing      :data:`FACINGS`                                     no (flip augmentation)
background  :data:`BACKGROUNDS`                                 no
==========  ==================================================  =====================

A class ("species") is a (crown, wing, belly) colour combination whose wing colour differs from
the crown and belly colours, so the three regions are always distinguishable. As in CUB's
150/50 split, test classes are combinations never seen in training, while every colour of every
part does occur among the training classes. Beak, tail, pose, facing and background vary per
image, together with small jitter of position, scale, tilt and shade.

Each image has ``captions_per_image`` distinct, always truthful captions in CUB style, at most
:data:`MAX_CAPTION_WORDS` words, each naming at least two attributes; every colour part is named
in at least 3 of 10 captions. Facing is never described because the training pipeline flips
images horizontally.

:func:`generate_synthetic_birds` (or ``python -m mirrorgan_keras.data.synthetic_birds``) writes
the AttnGAN CUB layout (docs/design.md §2) plus ``attributes.json`` with the per-image attribute
labels, so the CUB reader loads it unchanged and an oracle attribute classifier can be trained
on it.
:func:`draw_bird` and :func:`describe_bird` make single samples in memory. Output is a pure
function of the arguments: each image uses its own seed derived from ``(seed, index)``, so the
number of worker processes does not change a byte.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import multiprocessing
import os
import pickle
import sys
import time
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageDraw

from mirrorgan_keras.runtime.run_files import atomic_path

COLOURS = ("red", "orange", "yellow", "green", "blue", "black", "white", "brown", "grey")
PALETTE = {
    "red": (215, 35, 35),
    "orange": (245, 135, 20),
    "yellow": (245, 215, 40),
    "green": (45, 155, 55),
    "blue": (35, 75, 210),
    "black": (25, 25, 25),
    "white": (245, 245, 240),
    "brown": (125, 75, 35),
    "grey": (135, 135, 135),
}
COLOUR_PARTS = ("crown", "wing", "belly")
BEAK_SIZES = ("small", "large")
TAIL_LENGTHS = ("short", "long")
POSES = ("perched", "flying")
FACINGS = ("left", "right")
BACKGROUNDS = ("sky", "forest", "sand", "dusk")
ATTRIBUTE_VOCABULARIES = {
    "crown": COLOURS,
    "wing": COLOURS,
    "belly": COLOURS,
    "beak": BEAK_SIZES,
    "tail": TAIL_LENGTHS,
    "pose": POSES,
    "facing": FACINGS,
    "background": BACKGROUNDS,
}
# Labels of the part map returned by draw_bird (0 is background).
PART_LABELS = {
    "background": 0,
    "branch": 1,
    "tail": 2,
    "legs": 3,
    "body": 4,
    "belly": 5,
    "crown": 6,
    "wing": 7,
    "beak": 8,
    "eye": 9,
    "eye_ring": 10,
    "outline": 11,
}
MIN_IMAGE_SIZE = 32
MAX_CAPTION_WORDS = 18
MAX_CAPTIONS = 50  # per image; far fewer than the distinct captions of any bird
JPEG_QUALITY = 95

_BACKGROUND_GRADIENTS = {  # (top colour, bottom colour)
    "sky": ((165, 200, 240), (225, 238, 250)),
    "forest": ((165, 200, 150), (215, 235, 200)),
    "sand": ((232, 210, 170), (246, 236, 215)),
    "dusk": ((212, 188, 222), (246, 216, 196)),
}
_FIXED_COLOURS = {
    "branch": (100, 80, 62),
    "legs": (70, 55, 45),
    "beak": (85, 70, 60),
    "eye": (15, 15, 15),
    "eye_ring": (250, 250, 250),
    "outline": (35, 30, 30),
}
_SUPERSAMPLE = 2  # drawn at 2x and box-filtered down, for smooth edges at 64 px


@dataclasses.dataclass(frozen=True)
class BirdAttributes:
    """The attribute values of one bird, as vocabulary words (see ATTRIBUTE_VOCABULARIES)."""

    crown: str
    wing: str
    belly: str
    beak: str = "small"
    tail: str = "short"
    pose: str = "perched"
    facing: str = "right"
    background: str = "sky"

    def __post_init__(self):
        for name, vocabulary in ATTRIBUTE_VOCABULARIES.items():
            if getattr(self, name) not in vocabulary:
                raise ValueError(
                    f"attribute {name}={getattr(self, name)!r} is not one of {vocabulary}"
                )

    def labels(self) -> dict[str, int]:
        """Integer label of every attribute: its index in ATTRIBUTE_VOCABULARIES."""
        return {
            name: vocab.index(getattr(self, name)) for name, vocab in ATTRIBUTE_VOCABULARIES.items()
        }


class DrawnBird(NamedTuple):
    """A drawn bird.

    image: uint8 [S, S, 3]. bbox: (x, y, w, h) in pixels, the box of all bird pixels (branch
    excluded). parts: uint8 [S, S] part map, values from PART_LABELS.
    """

    image: np.ndarray
    bbox: tuple[float, float, float, float]
    parts: np.ndarray


@dataclasses.dataclass(frozen=True)
class SyntheticBirdsInfo:
    """What generate_synthetic_birds wrote."""

    output_dir: str
    image_size: int
    captions_per_image: int
    seed: int
    train_filenames: tuple[str, ...]
    test_filenames: tuple[str, ...]
    train_classes: tuple[str, ...]  # class dirs, class id = position in classes + 1
    test_classes: tuple[str, ...]

    @property
    def classes(self) -> tuple[str, ...]:
        """All class dirs; class id i (1-based) is classes[i - 1]."""
        return self.train_classes + self.test_classes


# --------------------------------------------------------------------------------- drawing


def _ellipse(cx: float, cy: float, rx: float, ry: float, angle: float = 0.0, n: int = 48):
    """Points [n, 2] of an ellipse rotated by `angle` radians, in bird coordinates."""
    t = np.linspace(0.0, 2.0 * math.pi, n, endpoint=False)
    x, y = rx * np.cos(t), ry * np.sin(t)
    c, s = math.cos(angle), math.sin(angle)
    return np.stack([cx + c * x - s * y, cy + s * x + c * y], axis=1)


def _bird_shapes(attributes: BirdAttributes) -> list[tuple[str, np.ndarray, str | None]]:
    """Polygons of the bird facing right, body centre at the origin, y down, 1 = image size.

    Returns (part, points [n, 2], part it may only paint over or None) in painting order.
    Legs are two line segments (points 0-1 and 2-3), everything else a closed polygon.
    """
    tail = 0.09 if attributes.tail == "short" else 0.19
    beak, half = (0.06, 0.022) if attributes.beak == "small" else (0.12, 0.036)
    hx, hy, hr = 0.19, -0.14, 0.15  # head centre and radius
    tail_polygon = [[-0.15, -0.05], [-0.15 - tail, -0.09], [-0.15 - tail, 0.04], [-0.15, 0.05]]
    legs = [[0.0, 0.12], [-0.02, 0.23], [0.06, 0.12], [0.06, 0.23]]
    raised_wing = [[0.06, -0.06], [-0.14, -0.05], [-0.22, -0.33], [-0.08, -0.30]]
    beak_polygon = [[hx + hr - 0.02, hy - half], [hx + hr - 0.01 + beak, hy + 0.015],
                    [hx + hr - 0.02, hy + half + 0.02]]  # fmt: skip
    shapes = [("tail", np.array(tail_polygon), None)]
    if attributes.pose == "perched":
        shapes.append(("legs", np.array(legs), None))
    shapes += [
        ("body", _ellipse(0.0, 0.0, 0.24, 0.155), None),
        ("belly", _ellipse(0.06, 0.12, 0.24, 0.14), "body"),
        ("crown", _ellipse(hx, hy, hr, hr), None),
        ("wing", np.array(raised_wing), None)
        if attributes.pose == "flying"
        else ("wing", _ellipse(-0.05, -0.015, 0.16, 0.08, math.radians(12)), None),
        ("beak", np.array(beak_polygon), None),
        ("eye", _ellipse(hx + 0.055, hy - 0.03, 0.027, 0.027, n=24), None),
    ]
    return shapes


def _background(name: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """Vertical gradient, float [size, size, 3], colours jittered by up to 8 levels."""
    top, bottom = (np.array(c, float) + rng.uniform(-8, 8, 3) for c in _BACKGROUND_GRADIENTS[name])
    t = np.linspace(0.0, 1.0, size)[:, None, None]
    return np.broadcast_to((1 - t) * top + t * bottom, (size, size, 3))


def _paint_parts(attributes: BirdAttributes, size: int, rng: np.random.Generator) -> np.ndarray:
    """Part map uint8 [size, size] of the bird with position/scale/tilt jitter applied."""
    scale = rng.uniform(0.95, 1.1) * size
    tilt = math.radians(rng.uniform(-10, 10))
    centre = np.array([0.5 + rng.uniform(-0.04, 0.04), rng.uniform(0.47, 0.53)]) * size
    if attributes.pose == "flying":
        centre[1] += 0.07 * size
    mirror = np.array([-1.0 if attributes.facing == "left" else 1.0, 1.0])
    rotation = np.array([[math.cos(tilt), -math.sin(tilt)], [math.sin(tilt), math.cos(tilt)]])

    def to_pixels(points) -> list[tuple[float, float]]:
        shifted = np.asarray(points) - [0.06, 0.0]  # centre the bird's extent, not its body
        return [tuple(p) for p in (shifted @ rotation.T) * mirror * scale + centre]

    line_width = max(1, round(size / 80))
    parts = Image.new("L", (size, size), PART_LABELS["background"])
    if attributes.pose == "perched":  # along the feet, tilted with the bird
        branch = to_pixels([[-2.0, 0.245], [2.0, 0.245]])
        width = max(2, round(size / 22))
        ImageDraw.Draw(parts).line(branch, fill=PART_LABELS["branch"], width=width)
    labels = np.asarray(parts).copy()
    for name, points, paint_over in _bird_shapes(attributes):
        fill, edge = Image.new("1", (size, size)), Image.new("1", (size, size))
        if name == "legs":
            for leg in (points[:2], points[2:]):
                ImageDraw.Draw(fill).line(to_pixels(leg), fill=1, width=2 * line_width)
        else:
            ImageDraw.Draw(fill).polygon(to_pixels(points), fill=1)
            ImageDraw.Draw(edge).polygon(to_pixels(points), outline=1, width=line_width)
        fill, edge = np.asarray(fill), np.asarray(edge)
        if paint_over is not None:
            allowed = labels == PART_LABELS[paint_over]
            fill, edge = fill & allowed, edge & allowed
        labels[fill] = PART_LABELS[name]
        labels[edge] = PART_LABELS["eye_ring" if name == "eye" else "outline"]
    return labels


def draw_bird(attributes: BirdAttributes, image_size: int, rng: np.random.Generator) -> DrawnBird:
    """Draws one bird.

    Args:
        attributes: what to draw.
        image_size: S, side of the square image in pixels (64 to 256 tested; any S >= 32 works).
        rng: source of the position/scale/tilt/shade jitter.
    Returns:
        DrawnBird with image uint8 [S, S, 3], bbox (x, y, w, h) and part map uint8 [S, S].
    """
    if image_size < MIN_IMAGE_SIZE:
        raise ValueError(f"image_size must be >= {MIN_IMAGE_SIZE}, got {image_size}")
    big = image_size * _SUPERSAMPLE
    labels = _paint_parts(attributes, big, rng)
    colours = np.zeros((len(PART_LABELS), 3))
    for name, rgb in _FIXED_COLOURS.items():
        colours[PART_LABELS[name]] = rgb
    for name, colour in (
        ("crown", attributes.crown),
        ("wing", attributes.wing),
        ("belly", attributes.belly),
    ):
        colours[PART_LABELS[name]] = np.array(PALETTE[colour]) + rng.uniform(-10, 10, 3)
    colours[PART_LABELS["body"]] = colours[PART_LABELS["tail"]] = colours[PART_LABELS["wing"]]
    image = np.where(
        (labels == 0)[..., None], _background(attributes.background, big, rng), colours[labels]
    )
    image = image.reshape(image_size, _SUPERSAMPLE, image_size, _SUPERSAMPLE, 3).mean(axis=(1, 3))
    image = np.clip(np.round(image), 0, 255).astype(np.uint8)

    ys, xs = np.nonzero(labels > PART_LABELS["branch"])
    x0, y0 = xs.min() / _SUPERSAMPLE, ys.min() / _SUPERSAMPLE
    x1, y1 = (xs.max() + 1) / _SUPERSAMPLE, (ys.max() + 1) / _SUPERSAMPLE
    parts = labels[_SUPERSAMPLE // 2 :: _SUPERSAMPLE, _SUPERSAMPLE // 2 :: _SUPERSAMPLE]
    return DrawnBird(image, (float(x0), float(y0), float(x1 - x0), float(y1 - y0)), parts)


# -------------------------------------------------------------------------------- captions

_CROWN_NOUNS = ("crown", "head", "cap")
_WING_NOUNS = ("wings", "wing feathers")
_BELLY_NOUNS = ("belly", "breast", "chest", "underside", "abdomen")
_SIZE_PHRASES = {
    ("beak", "small"): ("a small beak", "a short beak", "a tiny bill", "a short pointed bill"),
    ("beak", "large"): ("a large beak", "a long beak", "a big bill", "a long pointed bill"),
    ("tail", "short"): ("a short tail", "a stubby tail", "short tail feathers"),
    ("tail", "long"): ("a long tail", "long tail feathers"),
}
_PREDICATES = {  # "its <noun> <verb> <value>"
    "crown": (("crown", "is"), ("head", "is")),
    "wing": (("wings", "are"),),
    "belly": (("belly", "is"), ("breast", "is")),
    "beak": (("beak", "is"), ("bill", "is")),
    "tail": (("tail", "is"),),
}
_POSE_CLAUSES = {
    "perched": ("perched on a branch", "sitting on a branch", "resting on a branch"),
    "flying": ("flying", "in flight", "flying through the air"),
}


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _noun_phrase(part: str, attributes: BirdAttributes, rng: np.random.Generator) -> str:
    """'a red crown', 'blue wings', 'a long tail', ... for one attribute."""
    if part in ("beak", "tail"):
        return str(rng.choice(_SIZE_PHRASES[part, getattr(attributes, part)]))
    colour = getattr(attributes, part)
    if part == "wing":
        return f"{colour} {rng.choice(_WING_NOUNS)}"
    noun = rng.choice(_CROWN_NOUNS if part == "crown" else _BELLY_NOUNS)
    return f"{_article(colour)} {colour} {noun}"


def _join(phrases: Sequence[str]) -> str:
    return phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]


def _sentence(parts: list[str], attributes: BirdAttributes, rng: np.random.Generator) -> str:
    """One caption naming every attribute in `parts` (crown/wing/belly/beak/tail/pose/mostly)."""
    parts = list(parts)
    opening = "this bird has", "the bird has", "a bird with", "this is a bird with"
    if "mostly" in parts:
        parts.remove("mostly")
        opening = (
            f"the bird is mostly {attributes.wing} with",
            f"a mostly {attributes.wing} bird with",
        )
    elif "pose" in parts:
        parts.remove("pose")
        clause = str(rng.choice(_POSE_CLAUSES[attributes.pose]))
        opening = (f"this bird is {clause} and has", f"a bird {clause} with")
    elif rng.random() < 0.25 and parts[0] in ("crown", "belly"):
        adjective = "crowned" if parts[0] == "crown" else "bellied"
        opening = (
            f"{_article(getattr(attributes, parts[0]))} {getattr(attributes, parts[0])} "
            f"{adjective} bird with",
        )
        parts = parts[1:]
    rng.shuffle(parts)
    tail_clause = ""
    if len(parts) >= 2 and rng.random() < 0.3 and parts[-1] in _PREDICATES:
        noun, verb = _PREDICATES[parts[-1]][rng.integers(len(_PREDICATES[parts[-1]]))]
        tail_clause = f", and its {noun} {verb} {getattr(attributes, parts.pop())}"
    return (
        f"{rng.choice(opening)} {_join([_noun_phrase(p, attributes, rng) for p in parts])}"
        f"{tail_clause}."
    )


def describe_bird(
    attributes: BirdAttributes, rng: np.random.Generator, count: int = 10
) -> list[str]:
    """`count` distinct truthful captions (lowercase, <= MAX_CAPTION_WORDS words).

    Each names >= 2 attributes; caption i names two of crown/wing/belly (the one left out
    rotates) or all three, so over 10 captions each colour part is named at least 3 times.
    """
    if not 1 <= count <= MAX_CAPTIONS:
        raise ValueError(f"count must be in [1, {MAX_CAPTIONS}], got {count}")
    captions: list[str] = []
    skipped = rng.integers(3)
    extras = ["beak", "tail", "pose", "mostly"]
    while len(captions) < count:
        colour_parts = [p for j, p in enumerate(COLOUR_PARTS) if j != (skipped + len(captions)) % 3]
        if rng.random() < 0.3:
            colour_parts = list(COLOUR_PARTS)
        chosen = colour_parts + list(rng.choice(extras, rng.integers(3), replace=False))
        if "mostly" in chosen:  # "mostly <wing colour>" already names the wings; no pose
            chosen = [p for p in chosen if p not in ("wing", "pose")]
        caption = _sentence(chosen, attributes, rng)
        if len(caption.split()) <= MAX_CAPTION_WORDS and caption not in captions:
            captions.append(caption)
    return captions


# --------------------------------------------------------------------------------- data set


def class_dir_name(class_id: int, crown: str, wing: str, belly: str) -> str:
    """'001.red_crown_blue_wing_white_belly' for class id 1 (1-based, as in CUB)."""
    return f"{class_id:03d}.{crown}_crown_{wing}_wing_{belly}_belly"


def _choose_classes(rng: np.random.Generator, num_train: int, num_test: int):
    """Disjoint lists of (crown, wing, belly) colour triples for the train and test splits.

    The first len(COLOURS) training classes use every colour once per part, so any
    num_train >= len(COLOURS) images (assigned to classes in turn) cover every colour.
    """
    n = len(COLOURS)
    valid = [(c, w, b) for c in range(n) for w in range(n) for b in range(n) if w not in (c, b)]
    if num_train < n or num_train + num_test > len(valid):
        raise ValueError(
            f"need {n} <= train classes and train + test classes <= {len(valid)}, "
            f"got {num_train} train and {num_test} test classes"
        )
    order = [int(v) for v in rng.permutation(n)]
    wing_shift = int(rng.integers(1, n))
    belly_shift = int(rng.choice([s for s in range(n) if s != wing_shift]))
    covering = [
        (order[k], order[(k + wing_shift) % n], order[(k + belly_shift) % n]) for k in range(n)
    ]
    rest = [valid[i] for i in rng.permutation(len(valid)) if valid[i] not in covering]
    train = covering + rest[: num_train - n]
    test = rest[num_train - n : num_train - n + num_test]
    return (
        [tuple(COLOURS[v] for v in c) for c in train],
        [tuple(COLOURS[v] for v in c) for c in test],
    )


def _render_job(job: tuple[str, dict, int, int, int, int, str]):
    """Worker: draws image `index`, writes its JPEG and caption file; returns (key, bbox)."""
    key, attributes, image_size, captions_per_image, seed, index, root = job
    attributes = BirdAttributes(**attributes)
    draw_rng, text_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence([seed, index]).spawn(2)
    )
    bird = draw_bird(attributes, image_size, draw_rng)
    Image.fromarray(bird.image).save(
        os.path.join(root, "CUB_200_2011", "images", key + ".jpg"),
        quality=JPEG_QUALITY,
        subsampling=0,
    )
    with open(os.path.join(root, "text", key + ".txt"), "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(describe_bird(attributes, text_rng, captions_per_image)) + "\n")
    return key, bird.bbox


@contextlib.contextmanager
def _without_main_module():
    """While the worker processes start, hides where the main module came from.

    A spawned process first re-runs the parent's main script or module (to unpickle what it
    defines): for a recipe that is an import of TensorFlow in every worker. The render jobs
    name only this module's functions, so the workers need none of it.
    """
    main = sys.modules["__main__"]
    origin = {name: getattr(main, name) for name in ("__file__", "__spec__") if hasattr(main, name)}
    main.__spec__ = None
    if hasattr(main, "__file__"):
        del main.__file__
    try:
        yield
    finally:
        for name, value in origin.items():
            setattr(main, name, value)


def _prepare_output(output_dir: str) -> None:
    """Refuses an existing non-empty directory unless it holds an earlier synthetic birds set."""
    if os.path.isdir(output_dir) and os.listdir(output_dir):
        if not os.path.isfile(os.path.join(output_dir, "attributes.json")):
            raise FileExistsError(
                f"output_dir {output_dir!r} is not empty and holds no "
                "attributes.json of an earlier synthetic birds set; not replacing it"
            )


def _write_pickle(path: str, value) -> None:
    with open(path, "wb") as f:
        pickle.dump(value, f, protocol=4)


def _write_index(root: str, info: SyntheticBirdsInfo, bboxes: dict, metadata: dict) -> None:
    """images.txt, bounding_boxes.txt, split pickles and attributes.json."""
    keys = sorted(bboxes)
    with open(os.path.join(root, "CUB_200_2011", "images.txt"), "w", newline="\n") as f:
        f.writelines(f"{i} {key}.jpg\n" for i, key in enumerate(keys, start=1))
    with open(os.path.join(root, "CUB_200_2011", "bounding_boxes.txt"), "w", newline="\n") as f:
        f.writelines(
            f"{i} " + " ".join(f"{v:.1f}" for v in bboxes[key]) + "\n"
            for i, key in enumerate(keys, start=1)
        )
    class_ids = {name: i for i, name in enumerate(info.classes, start=1)}
    for split, names in (("train", info.train_filenames), ("test", info.test_filenames)):
        os.makedirs(os.path.join(root, split))
        _write_pickle(os.path.join(root, split, "filenames.pickle"), list(names))
        _write_pickle(
            os.path.join(root, split, "class_info.pickle"),
            [class_ids[name.split("/")[0]] for name in names],
        )
    with open(os.path.join(root, "attributes.json"), "w", newline="\n") as f:
        json.dump(metadata, f, indent=1)
        f.write("\n")


def generate_synthetic_birds(
    output_dir: str,
    *,
    num_train: int = 2400,
    num_test: int = 600,
    image_size: int = 128,
    captions_per_image: int = 10,
    seed: int = 0,
    num_workers: int = 2,
    num_train_classes: int = 150,
    num_test_classes: int = 50,
) -> SyntheticBirdsInfo:
    """Writes the synthetic birds data set in the AttnGAN CUB layout (docs/design.md §2).

    Images go to classes in turn, so classes get equal counts; a split uses
    min(num_*_classes, num_*) classes. The set is built in a temporary sibling directory and
    renamed to `output_dir`, which must be absent, empty, or an earlier synthetic birds set
    (then it is replaced). Needs num_train >= 9 so that every colour occurs in training.

    Returns:
        SyntheticBirdsInfo with the sorted "<class_dir>/<name>" keys of both splits.
    """
    limits = {  # name: (value, lowest, highest)
        "num_train": (num_train, len(COLOURS), math.inf),  # every colour once in training
        "num_test": (num_test, 0, math.inf),
        "image_size": (image_size, MIN_IMAGE_SIZE, math.inf),
        "captions_per_image": (captions_per_image, 1, MAX_CAPTIONS),
    }
    for name, (value, lowest, highest) in limits.items():
        if not lowest <= value <= highest:
            raise ValueError(f"{name} must be in [{lowest}, {highest}], got {value}")
    output_dir = os.path.abspath(output_dir)
    _prepare_output(output_dir)
    rng = np.random.default_rng(seed)
    train_colours, test_colours = _choose_classes(
        rng, min(num_train_classes, num_train), min(num_test_classes, num_test)
    )
    class_dirs = [class_dir_name(i, *c) for i, c in enumerate(train_colours + test_colours, 1)]
    train_dirs, test_dirs = class_dirs[: len(train_colours)], class_dirs[len(train_colours) :]

    attributes, split_keys = {}, {"train": [], "test": []}
    for split, count, colours, dirs in (
        ("train", num_train, train_colours, train_dirs),
        ("test", num_test, test_colours, test_dirs),
    ):
        for j in range(count):
            key = f"{dirs[j % len(dirs)]}/bird_{len(attributes):05d}"
            crown, wing, belly = colours[j % len(dirs)]
            attributes[key] = BirdAttributes(
                crown,
                wing,
                belly,
                **{
                    name: str(rng.choice(ATTRIBUTE_VOCABULARIES[name]))
                    for name in ("beak", "tail", "pose", "facing", "background")
                },
            )
            split_keys[split].append(key)

    with atomic_path(output_dir, directory=True) as staging:
        root = str(staging)
        for class_dir in class_dirs:
            os.makedirs(os.path.join(root, "CUB_200_2011", "images", class_dir))
            os.makedirs(os.path.join(root, "text", class_dir))
        jobs = [
            (key, dataclasses.asdict(a), image_size, captions_per_image, seed, index, root)
            for index, (key, a) in enumerate(attributes.items())
        ]
        if num_workers > 1:
            with _without_main_module():
                pool = multiprocessing.get_context("spawn").Pool(num_workers)
            with pool:
                bboxes = dict(
                    pool.map(_render_job, jobs, chunksize=max(1, len(jobs) // (8 * num_workers)))
                )
        else:
            bboxes = dict(map(_render_job, jobs))
        info = SyntheticBirdsInfo(
            output_dir,
            image_size,
            captions_per_image,
            seed,
            tuple(sorted(split_keys["train"])),
            tuple(sorted(split_keys["test"])),
            tuple(train_dirs),
            tuple(test_dirs),
        )
        metadata = {
            "generator": "mirrorgan_keras.data.synthetic_birds",
            "parameters": {
                "seed": seed,
                "num_train": num_train,
                "num_test": num_test,
                "image_size": image_size,
                "captions_per_image": captions_per_image,
                "num_train_classes": len(train_dirs),
                "num_test_classes": len(test_dirs),
            },
            "attributes": {name: list(vocab) for name, vocab in ATTRIBUTE_VOCABULARIES.items()},
            "palette": {name: list(rgb) for name, rgb in PALETTE.items()},
            "classes": [
                {"id": i, "dir": d, "split": "train" if d in train_dirs else "test"}
                for i, d in enumerate(class_dirs, start=1)
            ],
            "labels": {key: attributes[key].labels() for key in sorted(attributes)},
        }
        _write_index(root, info, bboxes, metadata)
    return info


def main(argv: Sequence[str] | None = None) -> None:
    """CLI: python -m mirrorgan_keras.data.synthetic_birds --output_dir DIR [...]."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--num_train", type=int, default=2400)
    parser.add_argument("--num_test", type=int, default=600)
    parser.add_argument("--image_size", type=int, default=128)
    parser.add_argument("--captions_per_image", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num_workers", type=int, default=2)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    info = generate_synthetic_birds(**vars(args))
    print(
        f"wrote {len(info.train_filenames)} train / {len(info.test_filenames)} test images "
        f"({len(info.train_classes)} / {len(info.test_classes)} classes) at "
        f"{info.image_size}px to {info.output_dir} in {time.perf_counter() - start:.1f} s"
    )


if __name__ == "__main__":
    # The module's own copy of main: the jobs sent to the workers then name functions of
    # mirrorgan_keras.data.synthetic_birds, which a worker imports, not of __main__.
    from mirrorgan_keras.data.synthetic_birds import main as module_main

    module_main()
