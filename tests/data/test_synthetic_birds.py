"""Tests for mirrorgan_keras.data.synthetic_birds."""

import hashlib
import json
import os
import pickle
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from mirrorgan_keras.data import synthetic_birds as sb

NUM_TRAIN, NUM_TEST, SIZE = 32, 8, 64

# Independent reading of the captions: which part a noun after a colour word names.
PART_OF_NOUN = {
    **dict.fromkeys(("crown", "head", "cap", "crowned"), "crown"),
    **dict.fromkeys(("wings", "wing", "winged", "back", "tail"), "wing"),
    **dict.fromkeys(("belly", "breast", "chest", "underside", "abdomen", "bellied"), "belly"),
}
COLOUR_WORDS = {"red", "orange", "yellow", "green", "blue", "black", "white", "brown", "grey"}
POSE_WORDS = {"branch": "perched", "flying": "flying", "flight": "flying"}
SIZE_WORDS = {"small": "small", "short": "short", "tiny": "small", "stubby": "short",
              "large": "large", "long": "long", "big": "large"}  # fmt: skip


def colour_claims(caption):
    """[(part, colour)] for every colour word in the caption; fails on an unattached colour."""
    words = re.findall(r"\w+", caption)
    claims = []
    for i, word in enumerate(words):
        if word not in COLOUR_WORDS:
            continue
        if i > 0 and words[i - 1] == "mostly":  # "mostly blue": the wings, back and tail
            claims.append(("wing", word))
        elif i + 1 < len(words) and words[i + 1] in PART_OF_NOUN:
            claims.append((PART_OF_NOUN[words[i + 1]], word))
        elif i >= 2 and words[i - 1] in ("is", "are") and words[i - 2] in PART_OF_NOUN:
            claims.append((PART_OF_NOUN[words[i - 2]], word))
        else:
            pytest.fail(f"colour {word!r} not attached to a part in {caption!r}")
    return claims


def size_claims(caption):
    """[(attribute, value)] for 'small beak', 'long tail feathers', 'its tail is long', ..."""
    words = re.findall(r"\w+", caption)
    claims = []
    for i, word in enumerate(words):
        target = None
        if word in SIZE_WORDS and i + 1 < len(words):
            target = words[i + 2] if words[i + 1] == "pointed" else words[i + 1]
        elif word in SIZE_WORDS and words[i - 1] == "is":
            target = words[i - 2]
        if target in ("beak", "bill"):
            claims.append(("beak", {"short": "small", "long": "large"}.get(word, SIZE_WORDS[word])))
        elif target == "tail":
            claims.append(("tail", SIZE_WORDS[word]))
    return claims


@pytest.fixture(scope="module")
def birds(tmp_path_factory):
    out = tmp_path_factory.mktemp("birds") / "set"
    info = sb.generate_synthetic_birds(
        str(out), num_train=NUM_TRAIN, num_test=NUM_TEST, image_size=SIZE, seed=3, num_workers=2
    )
    return out, info


def read_lines(path):
    with open(path) as f:
        return f.read().splitlines()


def load_pickle(path):
    with open(path, "rb") as f:
        return pickle.load(f)


def file_digests(root):
    digests = {}
    for directory, _, names in os.walk(root):
        for name in names:
            path = os.path.join(directory, name)
            with open(path, "rb") as f:
                digests[os.path.relpath(path, root)] = hashlib.sha256(f.read()).hexdigest()
    return digests


def test_layout_is_consistent(birds):
    out, info = birds
    images = [line.split() for line in read_lines(out / "CUB_200_2011" / "images.txt")]
    boxes = [line.split() for line in read_lines(out / "CUB_200_2011" / "bounding_boxes.txt")]
    assert [int(i) for i, _ in images] == list(range(1, NUM_TRAIN + NUM_TEST + 1))
    assert [b[0] for b in boxes] == [i for i, _ in images]
    keys = [name[: -len(".jpg")] for _, name in images]
    splits = {split: load_pickle(out / split / "filenames.pickle") for split in ("train", "test")}
    assert len(splits["train"]) == NUM_TRAIN and len(splits["test"]) == NUM_TEST
    assert sorted(splits["train"] + splits["test"]) == sorted(keys)
    assert splits["train"] == list(info.train_filenames)
    for split, names in splits.items():
        class_ids = load_pickle(out / split / "class_info.pickle")
        assert len(class_ids) == len(names)
        for name, class_id in zip(names, class_ids, strict=True):
            assert info.classes[class_id - 1] == name.split("/")[0]
    for (_, name), box in zip(images, boxes, strict=True):
        with Image.open(out / "CUB_200_2011" / "images" / name) as image:
            assert image.size == (SIZE, SIZE) and image.mode == "RGB"
        x, y, w, h = map(float, box[1:])
        assert 0 <= x and 0 <= y and w > SIZE / 4 and h > SIZE / 4
        assert x + w <= SIZE and y + h <= SIZE
        captions = read_lines(out / "text" / (name[: -len(".jpg")] + ".txt"))
        assert len(captions) == 10 and all(c.strip() for c in captions)
    assert not (out / "captions.pickle").exists()
    metadata = json.loads((out / "attributes.json").read_text())
    assert sorted(metadata["labels"]) == sorted(keys)
    assert metadata["parameters"]["seed"] == 3
    assert metadata["attributes"]["crown"] == list(sb.COLOURS)


def test_same_seed_same_bytes_other_seed_differs(birds, tmp_path):
    out, _ = birds
    kwargs = dict(num_train=NUM_TRAIN, num_test=NUM_TEST, image_size=SIZE)
    sb.generate_synthetic_birds(str(tmp_path / "again"), seed=3, num_workers=1, **kwargs)
    sb.generate_synthetic_birds(str(tmp_path / "other"), seed=4, num_workers=1, **kwargs)
    reference = file_digests(out)
    assert file_digests(tmp_path / "again") == reference
    other = file_digests(tmp_path / "other")
    assert len(set(other.values()) & set(reference.values())) < len(reference) // 10


def test_regenerating_replaces_an_earlier_set_but_not_other_directories(tmp_path):
    target = tmp_path / "set"
    for seed in (0, 1):
        sb.generate_synthetic_birds(str(target), num_train=9, num_test=1, num_workers=1, seed=seed)
    assert json.loads((target / "attributes.json").read_text())["parameters"]["seed"] == 1
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="other"):
        sb.generate_synthetic_birds(str(tmp_path / "other"), num_train=9, num_test=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other", "set"]


def test_test_classes_are_unseen_but_every_colour_is_trained(birds):
    out, info = birds
    labels = json.loads((out / "attributes.json").read_text())["labels"]
    assert not set(info.train_classes) & set(info.test_classes)
    train = {name.split("/")[0] for name in info.train_filenames}
    test = {name.split("/")[0] for name in info.test_filenames}
    assert train and test and not train & test
    colour_triples = {
        split: {tuple(labels[k][p] for p in sb.COLOUR_PARTS) for k in keys}
        for split, keys in (("train", info.train_filenames), ("test", info.test_filenames))
    }
    assert not colour_triples["train"] & colour_triples["test"]
    for j, part in enumerate(sb.COLOUR_PARTS):
        assert {t[j] for t in colour_triples["train"]} == set(range(len(sb.COLOURS))), part
    for triple in colour_triples["train"] | colour_triples["test"]:
        assert triple[1] not in (triple[0], triple[2])  # wings always differ from head and belly


def test_captions_are_truthful_and_cover_the_colour_parts(birds):
    out, info = birds
    metadata = json.loads((out / "attributes.json").read_text())
    vocab = metadata["attributes"]
    for key in info.train_filenames[::3] + info.test_filenames:
        truth = {name: vocab[name][i] for name, i in metadata["labels"][key].items()}
        captions = read_lines(out / "text" / f"{key}.txt")
        assert len(set(captions)) == len(captions)
        mentions = {part: 0 for part in sb.COLOUR_PARTS}
        for caption in captions:
            assert caption == caption.lower() and caption.endswith(".")
            assert len(re.findall(r"\w+", caption)) <= sb.MAX_CAPTION_WORDS
            colours, sizes = colour_claims(caption), size_claims(caption)
            for part, colour in colours:
                assert truth[part] == colour, (caption, truth)
                mentions[part] += 1
            for attribute, value in sizes:
                assert truth[attribute] == value, (caption, truth)
            words = re.findall(r"\w+", caption)
            poses = {pose for word, pose in POSE_WORDS.items() if word in words}
            assert poses <= {truth["pose"]}, (caption, truth)
            assert len({p for p, _ in colours}) + len(sizes) + len(poses) >= 2, caption
        assert min(mentions.values()) >= 3, (captions, mentions)


@pytest.mark.parametrize("size", [64, 128, 256])
def test_drawn_parts_show_their_colours(size):
    rng = np.random.default_rng(size)
    names = list(sb.PALETTE)
    palette = np.array([sb.PALETTE[n] for n in names], float)
    for _ in range(12):
        attrs = sb.BirdAttributes(
            *(str(rng.choice(sb.ATTRIBUTE_VOCABULARIES[n])) for n in sb.ATTRIBUTE_VOCABULARIES)
        )
        image, bbox, parts = sb.draw_bird(attrs, size, rng)
        assert image.shape == (size, size, 3) and image.dtype == np.uint8
        assert parts.shape == (size, size)
        for part in sb.COLOUR_PARTS:
            mask = parts == sb.PART_LABELS[part]
            assert mask.sum() > 0.01 * size * size, part
            mean = image[mask].astype(float).mean(axis=0)
            nearest = names[int(np.argmin(((palette - mean) ** 2).sum(axis=1)))]
            assert nearest == getattr(attrs, part), (part, mean)
        x, y, w, h = bbox
        assert 0 <= x and 0 <= y and x + w <= size and y + h <= size
        ys, xs = np.nonzero(parts > sb.PART_LABELS["branch"])  # pixel centres are at k + 0.5
        assert x <= xs.min() + 0.5 and xs.max() + 0.5 <= x + w
        assert y <= ys.min() + 0.5 and ys.max() + 0.5 <= y + h
        head = parts == sb.PART_LABELS["crown"]
        assert head.sum() > 0.04 * size * size  # big enough to learn at 64 px


def test_describe_bird_is_deterministic_and_validates_attributes():
    attrs = sb.BirdAttributes("red", "blue", "white", beak="large", tail="long", pose="flying")
    first = sb.describe_bird(attrs, np.random.default_rng(1), 12)
    assert first == sb.describe_bird(attrs, np.random.default_rng(1), 12)
    assert len(first) == 12
    with pytest.raises(ValueError, match="crown='purple'"):
        sb.BirdAttributes("purple", "blue", "white")


def test_cli_writes_the_set(tmp_path):
    out = tmp_path / "cli"
    sb.main(["--output_dir", str(out), "--num_train", "9", "--num_test", "2",
             "--image_size", "64", "--seed", "5", "--num_workers", "1"])  # fmt: skip
    assert len(read_lines(out / "CUB_200_2011" / "images.txt")) == 11
    assert json.loads((out / "attributes.json").read_text())["parameters"]["image_size"] == 64


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_train": 5}, "num_train"),
        ({"image_size": 16}, "image_size"),
        ({"captions_per_image": 0}, "captions_per_image"),
    ],
)
def test_bad_arguments_are_named(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        sb.generate_synthetic_birds(str(tmp_path / "set"), **{"num_train": 9, **kwargs})
    assert not (tmp_path / "set").exists()


MAIN_SCRIPT = """
import os
import sys

with open(sys.argv[2], "a") as log:  # every process that runs this script
    log.write(f"{os.getpid()}\\n")

from mirrorgan_keras.data.synthetic_birds import generate_synthetic_birds

if __name__ == "__main__":
    generate_synthetic_birds(sys.argv[1], num_train=9, num_test=2, image_size=32,
                             num_workers=2)
    print(sys.modules["__main__"].__file__)
"""


def test_worker_processes_do_not_run_the_callers_main_script(tmp_path):
    """A recipe imports TensorFlow: its workers would too if they re-ran it, as spawned
    processes normally do."""
    script = tmp_path / "main_script.py"
    script.write_text(MAIN_SCRIPT)
    result = subprocess.run([sys.executable, str(script), str(tmp_path / "set"),
                             str(tmp_path / "pids")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == str(script)  # the main module is as it was
    assert len(read_lines(tmp_path / "pids")) == 1
    assert (tmp_path / "set" / "attributes.json").exists()


def test_command_line_runs_its_worker_processes(tmp_path):
    """``python -m``: the jobs name functions the workers can import (not ``__main__``'s)."""
    command = [sys.executable, "-m", "mirrorgan_keras.data.synthetic_birds",
               "--output_dir", str(tmp_path / "set"), "--num_train", "9", "--num_test", "2",
               "--image_size", "32", "--num_workers", "2"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "wrote 9 train / 2 test images" in result.stdout and not result.stderr
