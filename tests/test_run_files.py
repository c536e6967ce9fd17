"""Run-directory files and the atomic writes every writer of the package goes through."""

import contextlib
import errno
import json
import re
import subprocess
import sys

import h5py
import keras
import numpy as np
import pytest

from mirrorgan_keras.config import get_preset, override
from mirrorgan_keras.runtime import run_files
from mirrorgan_keras.runtime.run_files import (
    FORMAT_VERSION,
    RunConfigMismatchError,
    RunDirectoryLockedError,
    RunFiles,
    WeightsFormatError,
    atomic_path,
    hold_run_lock,
    load_run_config,
    load_weights,
    remove_leftovers,
    require_run_file,
    save_weights,
    write_run_config,
)

# Takes the lock of the run directory argv[1] (worker argv[2] when given), says so, then waits.
LOCKING_PROCESS = """
import sys, time
from mirrorgan_keras.runtime.run_files import RunFiles, hold_run_lock
with hold_run_lock(RunFiles(sys.argv[1], *sys.argv[2:])):
    print("locked", flush=True)
    time.sleep(120)
"""


@contextlib.contextmanager
def lock_held_by_another_process(run_dir, worker=None):
    """A process that holds the lock of ``run_dir`` (or of its ``worker``); killed at the end."""
    process = subprocess.Popen([sys.executable, "-c", LOCKING_PROCESS, str(run_dir),
                                *([worker] if worker else [])],
                               stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline() == "locked\n"
        yield process
    finally:
        process.kill()
        process.wait()


def test_atomic_file_appears_only_when_the_block_succeeds(tmp_path):
    target = tmp_path / "sub" / "model.weights.h5"
    with atomic_path(target) as staging:
        assert staging.parent == target.parent and staging.name.startswith(".")
        assert staging.name.endswith("-model.weights.h5")  # writers that check the suffix
        assert re.fullmatch(r"\.[0-9a-f]{8}-model\.weights\.h5", staging.name)  # leftovers
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


def test_a_config_that_does_not_fit_the_runs_weights_is_refused_naming_the_fix(tmp_path):
    """A converted run (its DAMSM in torchvision's Inception) and a recipe's preset."""
    files = RunFiles(tmp_path)
    converted = override(get_preset("cub"), {"damsm.backbone": "inception_v3_torch",
                                             "damsm.weights": None})
    write_run_config(files, converted, vocab_size=50)
    write_run_config(files, get_preset("cub"), vocab_size=50)  # no weights yet: any config
    write_run_config(files, converted, vocab_size=50)
    files.damsm.touch()
    with pytest.raises(RunConfigMismatchError, match=re.escape(
            "records other values of keys that the weights in the run (damsm.weights.h5) "
            "depend on: damsm.backbone (run: 'inception_v3_torch', now: 'inception_v3'). Give "
            "the run's values: --set damsm.backbone=inception_v3_torch (or give another "
            "--run_dir)")):
        write_run_config(files, get_preset("cub"), vocab_size=50)
    assert load_run_config(tmp_path) == converted
    fixed = override(get_preset("cub"), {"damsm.backbone": "inception_v3_torch",
                                         "damsm.weights": None, "damsm.batch_size": 8})
    write_run_config(files, fixed, vocab_size=50)  # other training values are fine


def test_missing_run_file_names_the_recipe(tmp_path):
    with pytest.raises(FileNotFoundError, match="recipes/pretrain_damsm.py"):
        require_run_file(RunFiles(tmp_path).damsm, "recipes/pretrain_damsm.py")
    with pytest.raises(FileNotFoundError, match="is not a run directory. The first stage of a "
                                                "run writes it: recipes/pretrain_damsm.py"):
        load_run_config(tmp_path)


def test_worker_checkpoints_are_its_own(tmp_path):
    assert RunFiles(tmp_path).checkpoints("gan") == tmp_path / "checkpoints" / "gan"
    worker = RunFiles(tmp_path, "worker-1")
    assert not worker.chief
    assert worker.checkpoints("gan") == tmp_path / "checkpoints" / "worker-1" / "gan"


def _dense():
    return keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])


def test_save_weights_writes_loadable_weights_and_no_staging(tmp_path):
    model = _dense()
    save_weights(model, tmp_path / "dense.weights.h5")
    copy = _dense()
    load_weights(copy, tmp_path / "dense.weights.h5")
    for a, b in zip(model.weights, copy.weights, strict=True):
        np.testing.assert_array_equal(a, b)
    assert [p.name for p in tmp_path.iterdir()] == ["dense.weights.h5"]
    copy.load_weights(tmp_path / "dense.weights.h5")  # still a plain Keras weights file


def test_weights_of_another_or_no_format_version_are_refused_saying_what_to_do(tmp_path):
    old, other = tmp_path / "old.weights.h5", tmp_path / "other.weights.h5"
    _dense().save_weights(old)  # as before format versions
    save_weights(_dense(), other)
    with h5py.File(other, "a") as weights:
        weights.attrs["mirrorgan_keras_format_version"] = FORMAT_VERSION + 1
    for path, written in ((old, "no format version"),
                          (other, f"format version {FORMAT_VERSION + 1}")):
        with pytest.raises(WeightsFormatError, match=(
                rf"{path} has {written}.*reads format version {FORMAT_VERSION} only\. Re-run "
                r"the stage that wrote it .*or load it with the version of mirrorgan_keras")):
            load_weights(_dense(), path)


def test_config_of_an_older_run_with_dataset_birds_names_the_file_and_the_fix(tmp_path):
    files = RunFiles(tmp_path)
    write_run_config(files, get_preset("cub"), vocab_size=50)
    recorded = json.loads(files.config.read_text())
    recorded["config"]["data"]["dataset"] = "birds"
    files.config.write_text(json.dumps(recorded))
    with pytest.raises(ValueError, match=r'config\.json: data\.dataset "birds" is now "cub"'):
        load_run_config(tmp_path)


def _try_lock(run_dir, worker=None) -> subprocess.CompletedProcess:
    """Another process that takes the lock and exits at once."""
    return subprocess.run([sys.executable, "-c", LOCKING_PROCESS.replace("time.sleep(120)", ""),
                           str(run_dir), *([worker] if worker else [])],
                          capture_output=True, text=True, timeout=60)


def test_a_second_process_is_refused_naming_the_holder_until_it_dies(tmp_path):
    with lock_held_by_another_process(tmp_path / "run") as holder:
        refused = _try_lock(tmp_path / "run")
        assert refused.returncode == 1
        assert f"is in use by another training process (pid {holder.pid} on host " in (
            refused.stderr)
        assert _try_lock(tmp_path / "run", "worker-1").returncode == 0  # its own lock
    assert _try_lock(tmp_path / "run").stdout == "locked\n"  # the dead holder's file stays


def test_the_lock_is_reentrant_within_a_process_and_its_record_cleared_on_release(tmp_path):
    files = RunFiles(tmp_path)
    with hold_run_lock(files), hold_run_lock(RunFiles(tmp_path / ".")):
        assert json.loads(files.lock.read_text())["pid"] > 0
        assert _try_lock(tmp_path).returncode == 1
    assert files.lock.read_text() == "" and _try_lock(tmp_path).returncode == 0


def test_a_filesystem_without_locks_gets_a_warning(tmp_path, monkeypatch, caplog):
    def unsupported(descriptor, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(run_files.fcntl, "flock", unsupported)
    with hold_run_lock(RunFiles(tmp_path)):
        pass
    assert "nothing keeps a second training process out" in caplog.text


def test_the_message_names_the_holders_pid_host_start_and_command(tmp_path):
    with lock_held_by_another_process(tmp_path) as holder, pytest.raises(
            RunDirectoryLockedError, match=rf"pid {holder.pid} on host .* since .*: -c"):
        with hold_run_lock(RunFiles(tmp_path)):
            pass


def _plant(files: RunFiles, stage: str) -> tuple[list, list]:
    """What killed writers leave (a 0-byte weights file, a staging checkpoint directory) and
    user files that look a little like it, in the run directory of ``files``."""
    files.root.mkdir(parents=True, exist_ok=True)
    leftover_file = files.root / ".1a2b3c4d-generator_ema.weights.h5"
    leftover_file.touch()
    leftover_directory = files.checkpoints(stage) / ".0badf00d-ckpt-000000004"
    leftover_directory.mkdir(parents=True)
    (leftover_directory / "state.npz").write_bytes(b"half")
    user = [files.root / ".notes", files.root / ".0badf00d", files.root / ".xyz12345-config.json",
            files.root / "0badf00d-x", files.checkpoints(stage) / ".keep"]
    for path in user:
        path.write_text("mine")
    return [leftover_file, leftover_directory], user


def test_leftovers_of_killed_writers_are_removed_and_nothing_else(tmp_path):
    files = RunFiles(tmp_path)
    leftovers, user = _plant(files, "mirrorgan")
    assert sorted(remove_leftovers(files, "mirrorgan")) == sorted(leftovers)
    assert not any(path.exists() for path in leftovers)
    assert all(path.read_text() == "mine" for path in user)


def test_a_worker_sharing_the_run_directory_keeps_its_files_while_it_runs(tmp_path):
    chief = RunFiles(tmp_path)
    (left_file, left_directory), _ = _plant(chief, "damsm")
    with lock_held_by_another_process(tmp_path, "worker-1"):
        assert remove_leftovers(chief, "damsm") == [left_directory]  # its own checkpoints
    assert left_file.exists()
    assert remove_leftovers(chief, "damsm") == [left_file]


def test_an_older_run_with_snapshot_interval_loads_and_resumes(tmp_path):
    """``train.snapshot_interval`` was removed (config.REMOVED_KEYS): a run's config.json and
    checkpoints written with it load and resume, and say nothing."""
    from mirrorgan_keras.runtime.checkpoint import TrainingCheckpoint

    files = RunFiles(tmp_path)
    config = get_preset("cub")
    write_run_config(files, config, vocab_size=50)
    recorded = json.loads(files.config.read_text())
    recorded["config"]["train"]["snapshot_interval"] = 50
    files.config.write_text(json.dumps(recorded))
    old_fingerprint = config.fingerprint()  # what an older run's checkpoints recorded: the
    old_fingerprint["train"]["snapshot_interval"] = 50  # keys of its time, the removed one too
    saved = [keras.Variable(np.arange(3, dtype="float32"))]
    TrainingCheckpoint(files.checkpoints("mirrorgan"), saved, old_fingerprint).save(7)
    loaded = load_run_config(tmp_path)
    assert loaded == config
    restored = [keras.Variable(np.zeros(3, "float32"))]
    checkpoint = TrainingCheckpoint(files.checkpoints("mirrorgan"), restored,
                                    loaded.fingerprint())
    assert checkpoint.restore_latest() == 7
    np.testing.assert_array_equal(np.asarray(restored[0]), [0.0, 1.0, 2.0])
    write_run_config(files, loaded, vocab_size=50)  # the next stage rewrites it without the key
    assert "snapshot_interval" not in json.loads(files.config.read_text())["config"]["train"]
