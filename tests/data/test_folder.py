import os
import pickle

import numpy as np
import pytest

from mirrorgan_keras.config import TextConfig
from mirrorgan_keras.data.coco import read_coco
from mirrorgan_keras.data.folder import build_from_folder, find_images, main, split_keys
from tests.data.conftest import write_image, write_text


@pytest.fixture
def photos(tmp_path):
    """Nested folder: 6 good images (JPEG, PNG, .jpeg) and 4 bad inputs."""
    root = tmp_path / "photos"
    for index, relative in enumerate(["a/one.jpg", "a/two.png", "b/c/three.jpeg", "four.jpg",
                                      "five.png", "b/six.JPG"]):
        image_format = "PNG" if relative.endswith("png") else "JPEG"
        write_image(str(root / relative), (30, 20), seed=index, image_format=image_format)
        write_text(str(root / os.path.splitext(relative)[0]) + ".txt",
                   f"\ncaption {index} first\n\n  caption {index} second  \n")
    write_image(str(root / "no_caption.jpg"))
    write_image(str(root / "empty.jpg"))
    write_text(str(root / "empty.txt"), "\n \n?!\n")
    (root / "broken.png").write_bytes(b"not a png")
    write_text(str(root / "broken.txt"), "a caption\n")
    write_image(str(root / "latin.jpg"))
    (root / "latin.txt").write_bytes(b"a caf\xe9 caption\nanother one\n")
    write_text(str(root / "notes.md"), "ignored\n")
    return str(root)


def test_builds_a_readable_coco_like_tree_and_reports_skips(photos, tmp_path):
    output = str(tmp_path / "out")
    report = build_from_folder(photos, output, test_fraction=0.25, seed=1)
    assert len(report.train_keys) + len(report.test_keys) == 7
    assert len(report.test_keys) == round(0.25 * 7)
    assert report.missing_captions == [os.path.join(photos, "no_caption.jpg")]
    assert report.empty_caption_files == [os.path.join(photos, "empty.txt")]
    assert report.bad_images == [os.path.join(photos, "broken.png")]
    assert report.non_utf8_files == [os.path.join(photos, "latin.txt")]
    assert report.skipped_count == 3
    all_keys = set(report.train_keys + report.test_keys)
    assert {"a/one", "a/two", "b/c/three", "b/six", "four", "five", "latin"} == all_keys
    with open(os.path.join(output, "train", "filenames.pickle"), "rb") as f:
        assert pickle.load(f) == report.train_keys
    with open(os.path.join(output, "text", "a", "two.txt"), encoding="utf-8") as f:
        assert f.read() == "caption 1 first\ncaption 1 second\n"
    with open(os.path.join(output, "images", "a", "two.jpg"), "rb") as f:
        assert f.read(3) == b"\xff\xd8\xff"  # PNG re-encoded as JPEG
    with open(os.path.join(photos, "a", "one.jpg"), "rb") as a, \
            open(os.path.join(output, "images", "a", "one.jpg"), "rb") as b:
        assert a.read() == b.read()  # JPEG copied as is
    records = read_coco(output, "train", TextConfig(captions_per_image=2))
    assert records.keys == report.train_keys
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".building")]


def test_a_caption_file_that_is_not_text_skips_its_image(photos, tmp_path):
    write_image(os.path.join(photos, "binary.jpg"))
    with open(os.path.join(photos, "binary.txt"), "wb") as f:
        f.write(np.random.default_rng(0).bytes(4000))
    report = build_from_folder(photos, str(tmp_path / "out"))
    assert report.not_text_caption_files == [os.path.join(photos, "binary.txt")]
    assert report.skipped_count == 4 and "binary" not in report.train_keys + report.test_keys


def test_split_is_seeded_and_sorted():
    keys = [f"k{i:02d}" for i in range(20)]
    train, test = split_keys(keys, 0.2, seed=3)
    assert (train, test) == split_keys(keys, 0.2, seed=3)
    assert split_keys(keys, 0.2, seed=4)[1] != test
    assert len(test) == 4 and sorted(train + test) == keys and train == sorted(train)
    assert split_keys(keys, 0.0, seed=0) == (keys, [])


def test_duplicate_names_are_an_error(tmp_path):
    write_image(str(tmp_path / "x.jpg"))
    write_image(str(tmp_path / "x.png"), image_format="PNG")
    with pytest.raises(ValueError, match="two images with the same name"):
        find_images(str(tmp_path))


def test_refuses_a_non_empty_output_and_leaves_nothing_on_failure(photos, tmp_path):
    output = tmp_path / "out"
    output.mkdir()
    (output / "keep.txt").write_text("x")
    with pytest.raises(FileExistsError, match="not empty"):
        build_from_folder(photos, str(output))
    empty_input = tmp_path / "nothing"
    empty_input.mkdir()
    with pytest.raises(ValueError, match="none left for training"):
        build_from_folder(str(empty_input), str(tmp_path / "out2"))
    assert sorted(os.listdir(tmp_path)) == ["nothing", "out", "photos"]
    with pytest.raises(ValueError, match="test_fraction"):
        build_from_folder(photos, str(tmp_path / "out3"), test_fraction=1.0)


def test_command_line(photos, tmp_path, capsys):
    main(["--input_dir", photos, "--output_dir", str(tmp_path / "cli"), "--test_fraction", "0.5",
          "--seed", "2"])
    assert "3 skipped" in capsys.readouterr().out
    assert os.path.isfile(tmp_path / "cli" / "test" / "filenames.pickle")
