"""Atomic, resumable training checkpoints.

A checkpoint is a directory ``<root>/ckpt-<step>/`` holding ``state.npz`` (every variable of
the training state, in order: model weights, batch-norm statistics, seed-generator states,
optimizer slots and step counters, the generator's moving average) and ``manifest.json``
(step, the format version :data:`~mirrorgan_keras.runtime.run_files.FORMAT_VERSION`, the
configuration it was trained with, and each variable's shape). It is written to a temporary
directory and renamed into place, so a crash never leaves half a checkpoint (the next stage
start removes what a killed writer left:
:func:`~mirrorgan_keras.runtime.run_files.remove_leftovers`). Restoring checks the format
version, the configuration and the shapes first and names what differs (another format
version: :class:`~mirrorgan_keras.runtime.run_files.WeightsFormatError`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import keras
import numpy as np

from mirrorgan_keras.config import without_removed_keys
from mirrorgan_keras.runtime.run_files import FORMAT_VERSION, atomic_path, check_format_version

_NAME = re.compile(r"^ckpt-(\d+)$")


class CheckpointMismatchError(ValueError):
    """A checkpoint was written by a different configuration or model."""


class TrainingCheckpoint:
    """Saves and restores a list of variables with the configuration that produced them.

    Args:
        directory: where the ``ckpt-<step>`` directories live.
        variables: the training state, a list of Keras variables in a stable order (e.g.
            ``model.state_variables()``).
        config: JSON-serialisable description of the run; a checkpoint written with another
            value of any key refuses to load.
        keep: how many of the newest checkpoints to keep.
        prefix: ``variables`` are the first variables of the saved state, not all of them
            (to restore a part, e.g. a GAN's networks without its optimizers).

    Example::

        checkpoint = TrainingCheckpoint("runs/cub/checkpoints", gan.state_variables(), config)
        step = checkpoint.restore_latest()  # None when there is none
        checkpoint.save(step=1000)
    """

    def __init__(self, directory: str | os.PathLike, variables: list, config: dict[str, Any],
                 keep: int = 3, *, prefix: bool = False):
        self.directory = Path(directory)
        self.variables = list(variables)
        self.config = json.loads(json.dumps(config))
        self.keep = keep
        self.prefix = prefix

    def save(self, step: int) -> Path:
        """Writes the checkpoint of ``step`` atomically and prunes old ones; returns its path."""
        final = checkpoint_path(self.directory, step)
        with atomic_path(final, directory=True) as staging:
            arrays = {f"v{i:05d}": np.asarray(keras.ops.convert_to_numpy(v))
                      for i, v in enumerate(self.variables)}
            np.savez(staging / "state.npz", **arrays)
            manifest = {"step": step, "format_version": FORMAT_VERSION, "config": self.config,
                        "shapes": [list(a.shape) for a in arrays.values()],
                        "names": [v.path for v in self.variables]}
            (staging / "manifest.json").write_text(json.dumps(manifest, indent=1))
        self._prune()
        return final

    def checkpoints(self) -> list[Path]:
        """Complete checkpoints, oldest first."""
        return list_checkpoints(self.directory)

    def restore_latest(self) -> int | None:
        """Restores the newest checkpoint; returns its step, or None when there is none."""
        found = self.checkpoints()
        return self.restore(found[-1]) if found else None

    def restore_step(self, step: int) -> int:
        """Restores the checkpoint of ``step``; returns ``step``."""
        path = checkpoint_path(self.directory, step)
        if not path.is_dir():
            raise FileNotFoundError(
                f"no checkpoint of step {step} in {self.directory} (it holds "
                f"{[p.name for p in self.checkpoints()]}); was this worker's directory replaced?"
            )
        return self.restore(path)

    def restore(self, path: str | os.PathLike) -> int:
        """Restores the checkpoint at ``path`` into the variables; returns its step."""
        path = Path(path)
        manifest = json.loads((path / "manifest.json").read_text())
        self._check_compatible(manifest, path)
        with np.load(path / "state.npz") as state:
            for i, variable in enumerate(self.variables):
                variable.assign(state[f"v{i:05d}"])
        return int(manifest["step"])

    def _check_compatible(self, manifest: dict, path: Path):
        check_format_version(manifest.get("format_version"), path)
        differences = _config_differences(without_removed_keys(manifest["config"]), self.config)
        if differences:
            raise CheckpointMismatchError(
                f"checkpoint {path} was written by another configuration; differing keys: "
                + ", ".join(f"{k} (checkpoint {a!r}, now {b!r})" for k, a, b in differences[:10])
            )
        shapes = [list(v.shape) for v in self.variables]
        saved = manifest["shapes"][: len(shapes)] if self.prefix else manifest["shapes"]
        if saved != shapes:
            raise CheckpointMismatchError(
                f"checkpoint {path} holds {len(manifest['shapes'])} variables whose shapes do "
                f"not match this model's {len(shapes)}; was it written by another model?"
            )

    def _prune(self):
        for old in self.checkpoints()[: -self.keep]:
            shutil.rmtree(old, ignore_errors=True)


def checkpoint_path(directory: str | os.PathLike, step: int) -> Path:
    """``<directory>/ckpt-<step>``, the checkpoint of ``step``."""
    return Path(directory) / f"ckpt-{step:09d}"


def latest_step(directory: str | os.PathLike) -> int:
    """The step of the newest complete checkpoint in ``directory``; 0 when there is none."""
    found = list_checkpoints(directory)
    return int(_NAME.match(found[-1].name).group(1)) if found else 0


def list_checkpoints(directory: str | os.PathLike) -> list[Path]:
    """The complete ``ckpt-<step>`` directories in ``directory``, oldest first."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = [p for p in directory.iterdir() if _NAME.match(p.name) and p.is_dir()]
    return sorted(found, key=lambda p: int(_NAME.match(p.name).group(1)))


def _config_differences(saved: Any, current: Any, prefix: str = "") -> list[tuple]:
    """(dotted key, saved value, current value) for each leaf that differs."""
    if isinstance(saved, dict) and isinstance(current, dict):
        found = []
        for key in sorted(set(saved) | set(current)):
            found += _config_differences(saved.get(key), current.get(key), f"{prefix}{key}.")
        return found
    return [] if saved == current else [(prefix.rstrip("."), saved, current)]


def training_state(model) -> list:
    """The variables a checkpoint of ``model`` holds: ``model.state_variables()`` when it has
    one, else its variables (weights, batch-norm statistics, seed states) and its optimizer's."""
    if hasattr(model, "state_variables"):
        return model.state_variables()
    return list(model.variables) + list(model.optimizer.variables)


class CheckpointEvery(keras.callbacks.Callback):
    """Saves a :class:`TrainingCheckpoint` at the end of every ``fit`` epoch.

    With ``fit(steps_per_epoch=interval)`` an "epoch" is one checkpoint interval, so the saved
    step is ``(epoch + 1) · interval``, or ``last_step`` for a last epoch cut short there
    (:class:`~mirrorgan_keras.training.fit.StopAtStep`).
    """

    def __init__(self, checkpoint: TrainingCheckpoint, steps_per_epoch: int, *,
                 last_step: int | None = None):
        super().__init__()
        self.checkpoint = checkpoint
        self.steps_per_epoch = steps_per_epoch
        self.last_step = last_step

    def on_epoch_end(self, epoch, logs=None):
        step = (epoch + 1) * self.steps_per_epoch
        self.checkpoint.save(step if self.last_step is None else min(step, self.last_step))
