import json

import keras
import numpy as np
import pytest

from mirrorgan_keras.runtime.checkpoint import (
    CheckpointMismatchError,
    TrainingCheckpoint,
    latest_step,
)
from mirrorgan_keras.runtime.run_files import FORMAT_VERSION, WeightsFormatError


def _variables(seed=0, shapes=((3, 2), (4,))):
    rng = np.random.default_rng(seed)
    return [keras.Variable(rng.normal(size=s).astype("float32")) for s in shapes]


def test_save_and_restore_round_trip(tmp_path):
    source = _variables(0)
    TrainingCheckpoint(tmp_path, source, {"a": 1}).save(step=20)
    target = _variables(1)
    assert TrainingCheckpoint(tmp_path, target, {"a": 1}).restore_latest() == 20
    for a, b in zip(source, target, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_no_checkpoint_gives_none(tmp_path):
    assert TrainingCheckpoint(tmp_path / "nothing", _variables(), {}).restore_latest() is None


def test_keeps_only_the_newest(tmp_path):
    checkpoint = TrainingCheckpoint(tmp_path, _variables(), {}, keep=2)
    for step in (1, 2, 3):
        checkpoint.save(step)
    assert [p.name for p in checkpoint.checkpoints()] == ["ckpt-000000002", "ckpt-000000003"]


def test_half_written_checkpoints_are_ignored(tmp_path):
    checkpoint = TrainingCheckpoint(tmp_path, _variables(), {})
    checkpoint.save(5)
    (tmp_path / ".ckpt-9-crashed").mkdir()  # what a crash during save leaves behind
    assert checkpoint.restore_latest() == 5
    assert not any(p.name.startswith(".ckpt") for p in tmp_path.iterdir()
                   if p.name != ".ckpt-9-crashed")


def test_another_configuration_is_refused_with_the_differing_keys(tmp_path):
    TrainingCheckpoint(tmp_path, _variables(), {"generator": {"ngf": 32}}).save(1)
    other = TrainingCheckpoint(tmp_path, _variables(), {"generator": {"ngf": 16}})
    with pytest.raises(CheckpointMismatchError, match=r"generator\.ngf \(checkpoint 32, now 16\)"):
        other.restore_latest()


def test_another_model_is_refused(tmp_path):
    TrainingCheckpoint(tmp_path, _variables(), {}).save(1)
    other = TrainingCheckpoint(tmp_path, _variables(shapes=((3, 3), (4,))), {})
    with pytest.raises(CheckpointMismatchError, match="shapes"):
        other.restore_latest()


def test_manifest_records_step_config_and_names(tmp_path):
    path = TrainingCheckpoint(tmp_path, _variables(), {"x": [1, 2]}).save(7)
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["step"] == 7 and manifest["config"] == {"x": [1, 2]}
    assert manifest["format_version"] == FORMAT_VERSION
    assert manifest["shapes"] == [[3, 2], [4]]


def test_restore_step_and_latest_step(tmp_path):
    checkpoint = TrainingCheckpoint(tmp_path, _variables(), {})
    assert latest_step(tmp_path) == 0
    for step in (2, 4):
        checkpoint.save(step)
    assert latest_step(tmp_path) == 4
    assert checkpoint.restore_step(2) == 2
    with pytest.raises(FileNotFoundError, match="no checkpoint of step 6"):
        checkpoint.restore_step(6)


@pytest.mark.parametrize("version", [None, FORMAT_VERSION + 1])
def test_a_checkpoint_of_another_or_no_format_version_is_refused(tmp_path, version):
    path = TrainingCheckpoint(tmp_path, _variables(), {}).save(3)
    manifest = json.loads((path / "manifest.json").read_text())
    if version is None:
        del manifest["format_version"]
    else:
        manifest["format_version"] = version
    (path / "manifest.json").write_text(json.dumps(manifest))
    written = "no format version" if version is None else f"format version {version}"
    with pytest.raises(WeightsFormatError, match=f"{path} has {written}.*Re-run the stage"):
        TrainingCheckpoint(tmp_path, _variables(), {}).restore_latest()
