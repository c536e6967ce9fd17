"""Run-directory files and the atomic writes every writer of the package goes through."""

import json

import keras
import numpy as np
import pytest

from mirrorgan_keras.config import get_preset
from mirrorgan_keras.run_files import (
    RunFiles,
    atomic_path,
    load_run_config,
    require_run_file,
    save_weights,
    write_run_config,
)


def test_atomic_file_appears_only_when_the_block_succeeds(tmp_path):
    target = tmp_path / "sub" / "model.weights.h5"
    with atomic_path(target) as staging:
        assert staging.parent == target.parent and staging.name.startswith(".")
        assert staging.name.endswith("-model.weights.h5")  # writers that check the suffix
        assert not target.exists()
        staging.write_text("first")
    assert target.read_text() == "first"
    with pytest.raises(RuntimeError), atomic_path(target) as staging:
        staging.write_text("half")
        raise RuntimeError("killed")
    assert target.read_text() == "first"
    assert sorted(p.name for p in target.parent.iterdir()) == ["model.weights.h5"]


def test_atomic_directory_replaces_or_refuses_an_existing_one(tmp_path):
    target = tmp_path / "ckpt-1"
    for content in ("old", "new"):
        with atomic_path(target, directory=True) as staging:
            (staging / "state").write_text(content)
    assert (target / "state").read_text() == "new"
    with pytest.raises(FileExistsError), atomic_path(target, directory=True,
                                                     overwrite=False) as staging:
        (staging / "state").write_text("never")
    assert (target / "state").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt-1"]


def test_run_config_is_recorded_checked_and_read_back(tmp_path):
    files = RunFiles(tmp_path / "run")
    config = get_preset("birds_tiny")
    write_run_config(files, config, vocab_size=50)
    assert json.loads(files.config.read_text())["vocab_size"] == 50
    assert load_run_config(files.root) == config
    assert load_run_config(files.root, "moved/data").data.data_dir == "moved/data"
    with pytest.raises(ValueError, match="vocabulary size 50 was recorded"):
        write_run_config(files, config, vocab_size=51)


def test_missing_run_file_names_the_recipe(tmp_path):
    with pytest.raises(FileNotFoundError, match="recipes/pretrain_damsm.py"):
        require_run_file(RunFiles(tmp_path).damsm, "recipes/pretrain_damsm.py")
    with pytest.raises(FileNotFoundError, match="a training recipe"):
        load_run_config(tmp_path)


def test_worker_checkpoints_are_its_own(tmp_path):
    assert RunFiles(tmp_path).checkpoints("gan") == tmp_path / "checkpoints" / "gan"
    worker = RunFiles(tmp_path, "worker-1")
    assert not worker.chief
    assert worker.checkpoints("gan") == tmp_path / "checkpoints" / "worker-1" / "gan"


def test_save_weights_writes_loadable_weights_and_no_staging(tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    save_weights(model, tmp_path / "dense.weights.h5")
    copy = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    copy.load_weights(tmp_path / "dense.weights.h5")
    for a, b in zip(model.weights, copy.weights, strict=True):
        np.testing.assert_array_equal(a, b)
    assert [p.name for p in tmp_path.iterdir()] == ["dense.weights.h5"]


def test_config_of_an_older_run_with_dataset_birds_names_the_file_and_the_fix(tmp_path):
    files = RunFiles(tmp_path)
    write_run_config(files, get_preset("cub"), vocab_size=50)
    recorded = json.loads(files.config.read_text())
    recorded["config"]["data"]["dataset"] = "birds"
    files.config.write_text(json.dumps(recorded))
    with pytest.raises(ValueError, match=r'config\.json: data\.dataset "birds" is now "cub"'):
        load_run_config(tmp_path)
