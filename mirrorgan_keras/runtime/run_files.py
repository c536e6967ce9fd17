"""The files of a run directory, and writing files so that no reader sees half of one.

```
<run_dir>/config.json          the configuration (and vocabulary size) of the run
<run_dir>/damsm.weights.h5     pretrained STEM + image encoder
<run_dir>/stream.weights.h5    pretrained captioner
<run_dir>/vocabulary.txt       the vocabulary of the run (mirrorgan_keras.data.vocabulary)
<run_dir>/generator_ema.weights.h5, samples/step_*.png, logs/ (TensorBoard)
<run_dir>/initial_gan/         converted runs (mirrorgan_keras.convert): the generator +
                               discriminators the GAN starts from
<run_dir>/checkpoints/<stage>/ (the chief's), checkpoints/<task>-<index>/<stage>/ (a worker's)
<run_dir>/.lock, .lock-<task>-<index>   the run lock of the chief, of a worker (hold_run_lock)
```

:func:`atomic_path` is the one way the package writes a file or directory that someone may
read while it is written (weights, checkpoints, exports, data sets, caches).
:func:`hold_run_lock` keeps a second training process out of a run directory. Weights files and
checkpoints record :data:`FORMAT_VERSION`; :func:`load_weights` and the checkpoints refuse
another one with :class:`WeightsFormatError`. This module does not import TensorFlow: the plain
data readers use it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import json
import logging
import os
import re
import secrets
import shutil
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import h5py

from mirrorgan_keras.config import WEIGHT_KEYS, MirrorGANConfig, override

if TYPE_CHECKING:
    import keras

logger = logging.getLogger(__name__)

# The layout of the variables of every model this library saves (their names, shapes and order
# in weights files and checkpoints). Bump it when a layer's variables change: files written
# with another version are refused with a message instead of Keras's load errors.
FORMAT_VERSION = 2
_FORMAT_ATTRIBUTE = "mirrorgan_keras_format_version"  # of the root group of a .weights.h5


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, directory: bool = False,
                overwrite: bool = True) -> Iterator[Path]:
    """A new empty file (or, with ``directory``, an empty directory) beside ``target`` to
    write; renamed to ``target`` when the block succeeds, removed when it raises.

    The temporary name is hidden and ends with the target's name (``.<random>-<name>``), so
    suffixes that writers check (``.keras``, ``.weights.h5``) are kept. An existing ``target``
    is replaced (a directory is removed first), or with ``overwrite=False`` the rename raises
    FileExistsError. The target's parent directory is created. Permissions are those of a
    plain new file or directory (the umask applies).

    Example::

        with atomic_path("runs/demo/damsm.weights.h5") as staging:
            model.save_weights(str(staging))
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = _new_staging_path(target, directory)
    try:
        yield staging
        if target.exists() and not overwrite:
            raise FileExistsError(f"{target} exists and is not overwritten")
        if directory and target.is_dir():
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        if directory:
            shutil.rmtree(staging, ignore_errors=True)
        else:
            staging.unlink(missing_ok=True)


_STAGING_NAME = re.compile(r"^\.[0-9a-f]{8}-.")  # .<8 hex digits>-<target name>


def _new_staging_path(target: Path, directory: bool) -> Path:
    """Creates and returns ``<parent>/.<random>-<name>`` (:data:`_STAGING_NAME`), a file or a
    directory."""
    while True:
        staging = target.parent / f".{secrets.token_hex(4)}-{target.name}"
        try:
            if directory:
                staging.mkdir()
            else:
                os.close(os.open(staging, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
            return staging
        except FileExistsError:
            continue


@dataclasses.dataclass(frozen=True)
class RunFiles:
    """Where a run keeps its files. ``worker``: the name of a non-chief worker of a cluster
    (:func:`~mirrorgan_keras.runtime.distribute.worker_name`), None on the chief or in one
    process."""

    root: Path
    worker: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "root", Path(self.root))

    config = property(lambda self: self.root / "config.json")
    damsm = property(lambda self: self.root / "damsm.weights.h5")
    stream = property(lambda self: self.root / "stream.weights.h5")
    generator = property(lambda self: self.root / "generator_ema.weights.h5")
    vocabulary = property(lambda self: self.root / "vocabulary.txt")
    initial_gan = property(lambda self: self.root / "initial_gan")
    samples = property(lambda self: self.root / "samples")
    logs = property(lambda self: self.root / "logs")

    chief = property(lambda self: self.worker is None)
    # One lock per worker: workers that share a run directory do not lock each other out.
    lock = property(lambda self: self.root / (".lock" if self.chief else f".lock-{self.worker}"))

    def saved_models(self) -> dict[Path, tuple[str, ...]]:
        """``{weights file or directory of the run: the models it holds}`` (``WEIGHT_KEYS``
        names), for those that exist."""
        models = {self.damsm: ("damsm",), self.stream: ("stream",),
                  self.generator: ("generator",), self.initial_gan: ("generator", "discriminator")}
        return {path: names for path, names in models.items() if path.exists()}

    def checkpoints(self, stage: str) -> Path:
        """The stage's checkpoints; a non-chief worker's own backups of them."""
        return self.root / "checkpoints" / (stage if self.chief else f"{self.worker}/{stage}")


class RunDirectoryLockedError(RuntimeError):
    """Another live process holds the run directory's lock; the message names it."""


_HELD_LOCKS: set[Path] = set()  # the lock files this process holds
_NO_LOCKING = (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS)  # a filesystem without flock


@contextlib.contextmanager
def hold_run_lock(files: RunFiles) -> Iterator[None]:
    """Holds the lock of ``files`` (``<run_dir>/.lock``, a worker's ``.lock-<worker>``) for the
    block, or raises :class:`RunDirectoryLockedError` naming the process that holds it.

    The lock is ``fcntl.flock`` on that file: the operating system releases it when its process
    ends, killed or not, so a lock file left by a dead process never blocks. The file records
    the holder's pid, host, command and start time for the message. Reentrant within a process
    (a recipe holds it across the stages it runs). A filesystem that does not support flock
    gets a warning and no lock.
    """
    path = Path(os.path.abspath(files.lock))
    if path in _HELD_LOCKS:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        _lock_or_refuse(descriptor, path)
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, json.dumps(_holder()).encode(), 0)
        _HELD_LOCKS.add(path)
        try:
            yield
        finally:
            _HELD_LOCKS.discard(path)
            os.ftruncate(descriptor, 0)
    finally:
        os.close(descriptor)  # releases the lock


def _lock_or_refuse(descriptor: int, path: Path) -> None:
    """Takes the exclusive flock of ``path`` without waiting, or raises naming its holder."""
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise RunDirectoryLockedError(
            f"{path.parent} is in use by another training process ({_describe_holder(path)}); "
            "wait for it to end or stop it, or give another --run_dir"
        ) from None
    except OSError as error:
        if error.errno not in _NO_LOCKING:
            raise
        logger.warning("cannot lock %s (%s): nothing keeps a second training process out of "
                       "%s", path, error.strerror, path.parent)


def _holder() -> dict:
    """What the lock file records about this process."""
    return {"pid": os.getpid(), "host": socket.gethostname(), "command": " ".join(sys.argv),
            "since": time.strftime("%Y-%m-%d %H:%M:%S")}


def _describe_holder(path: Path) -> str:
    """``pid 123 on host h since …: command`` from a lock file (written just after locking)."""
    try:
        holder = json.loads(path.read_text())
        return (f"pid {holder['pid']} on host {holder['host']} since {holder['since']}: "
                f"{holder['command']}")
    except (OSError, ValueError, KeyError, TypeError):
        return "a process that has not recorded itself yet"


def remove_leftovers(files: RunFiles, stage: str) -> list[Path]:
    """Removes what killed writers left (:func:`atomic_path`'s temporary names, nothing else)
    in the run directory and in this worker's checkpoints of ``stage``; returns the paths.

    Call it holding :func:`hold_run_lock`: no process of this worker writes there then. The
    run directory itself is skipped while another worker that shares it holds its lock.
    """
    directories = [files.checkpoints(stage)]
    if not _shared_with_a_live_worker(files):
        directories.append(files.root)
    removed = [path for directory in directories if directory.is_dir()
               for path in directory.iterdir() if _STAGING_NAME.match(path.name)]
    for path in removed:
        logger.info("removing %s, left by a killed writer", path)
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    return removed


def _shared_with_a_live_worker(files: RunFiles) -> bool:
    """Whether another lock file of the run directory is held (or cannot be tested)."""
    own = Path(os.path.abspath(files.lock))
    for path in files.root.glob(".lock*"):
        if Path(os.path.abspath(path)) == own:
            continue
        with open(path, "rb") as lock_file:
            try:
                fcntl.flock(lock_file, fcntl.LOCK_SH | fcntl.LOCK_NB)  # released on close
            except OSError:
                return True
    return False


class RunDirectoryNotWritableError(OSError):
    """A run directory, or its checkpoints' directory, cannot be written."""


def check_writable(files: RunFiles, stage: str) -> None:
    """Raises :class:`RunDirectoryNotWritableError` when the run directory or the checkpoints
    of ``stage`` cannot be created or written (a file in the way, no write permission)."""
    for directory in (files.root, files.checkpoints(stage)):
        existing = next(path for path in (directory, *directory.parents) if path.exists())
        if not existing.is_dir():
            reason = f"{existing} is a file, not a directory"
        elif not os.access(existing, os.W_OK | os.X_OK):
            reason = f"{existing} is not writable by this user"
        else:
            continue
        raise RunDirectoryNotWritableError(
            f"cannot write the run's files in {directory}: {reason}. Give another --run_dir, "
            "or make it writable"
        )


def require_run_file(path: Path, recipe: str):
    """Raises FileNotFoundError naming the ``recipe`` that writes ``path`` when it is missing."""
    if not Path(path).exists():
        raise FileNotFoundError(f"{path} not found: run `python {recipe}` with the same "
                                "--run_dir first, or pass the weights file")


class RunConfigMismatchError(ValueError):
    """A configuration differs from the run's in what its weight files depend on."""


def write_run_config(files: RunFiles, config: MirrorGANConfig, vocab_size: int):
    """Records the configuration of the run. When one is recorded, the vocabulary size and the
    keys that the run's weight files depend on (:data:`~mirrorgan_keras.config.WEIGHT_KEYS`)
    must not change: ValueError, or :class:`RunConfigMismatchError` naming the keys and the
    ``--set`` flags that give the run's values — or, when the recorded ``config.json`` itself
    disagrees with the run's checkpoints (:func:`check_config_fits_checkpoints`), the values to
    restore in it."""
    values = {"config": config.to_dict(), "vocab_size": vocab_size}
    if files.config.exists():
        recorded = json.loads(files.config.read_text())
        if recorded["vocab_size"] != vocab_size:
            raise ValueError(f"{files.config}: vocabulary size {recorded['vocab_size']} was "
                             f"recorded, the data now gives {vocab_size}")
        check_config_fits_checkpoints(files, recorded["config"])
        _check_weight_keys(files, recorded["config"], values["config"])
    with atomic_path(files.config) as staging:
        staging.write_text(json.dumps(values, indent=1))


def _weight_keys(files: RunFiles) -> list[str]:
    """The configuration keys that the run's existing weight files depend on."""
    return list(dict.fromkeys(key for names in files.saved_models().values() for name in names
                              for key in WEIGHT_KEYS[name]))


def _check_weight_keys(files: RunFiles, recorded: dict, current: dict) -> None:
    """Raises RunConfigMismatchError when ``current`` (a config dict) differs from ``recorded``
    in a key that the run's existing weight files depend on."""
    differing = [(key, _lookup(recorded, key), _lookup(current, key))
                 for key in _weight_keys(files) if _lookup(recorded, key) != _lookup(current, key)]
    if differing:
        raise RunConfigMismatchError(
            f"{files.config} records other values of keys that the weights in the run "
            f"({', '.join(path.name for path in files.saved_models())}) depend on: "
            + ", ".join(f"{key} (run: {old!r}, now: {new!r})" for key, old, new in differing)
            + ". Give the run's values: "
            + " ".join(f"--set {key}={old}" for key, old, _ in differing)
            + " (or give another --run_dir)"
        )


_ABSENT = object()  # a key a recorded configuration does not have


def _lookup(values: dict, dotted: str, default=None):
    section, _, key = dotted.partition(".")
    return values.get(section, {}).get(key, default)


def newest_checkpoint_config(files: RunFiles) -> tuple[Path, dict] | None:
    """The newest checkpoint of the run (its stages' and the converted initial state's, by
    time written) and the configuration it recorded; None without any."""
    manifests = [*files.root.glob("checkpoints/*/ckpt-*/manifest.json"),
                 *files.initial_gan.glob("ckpt-*/manifest.json")]
    if not manifests:
        return None
    newest = max(manifests, key=lambda path: path.stat().st_mtime)
    return newest.parent, json.loads(newest.read_text())["config"]


def check_config_fits_checkpoints(files: RunFiles, recorded: dict) -> None:
    """Raises RunConfigMismatchError when ``recorded``, the config dict of ``config.json``,
    differs from the configuration the run's newest checkpoint recorded in a key that the run's
    weight files depend on: ``config.json`` was changed after they were written (by hand), and
    only restoring it makes the run loadable again. The message names each key with both
    values."""
    newest = newest_checkpoint_config(files)
    if newest is None:
        return
    path, trained = newest
    differing = [(key, _lookup(recorded, key), value) for key in _weight_keys(files)
                 if (value := _lookup(trained, key, _ABSENT)) is not _ABSENT
                 and value != _lookup(recorded, key)]
    if differing:
        raise RunConfigMismatchError(
            f"{files.config} disagrees with the run's checkpoints and weights files "
            f"({', '.join(p.name for p in files.saved_models())}): "
            + ", ".join(f"{key} (config.json: {now!r}, checkpoint {path.relative_to(files.root)}:"
                        f" {then!r})" for key, now, then in differing)
            + ". config.json was changed after they were written; restore it to the values the "
            "weights were trained with: " + ", ".join(f"{key} = {then!r}"
                                                      for key, _, then in differing)
        )


def load_run_config(run_dir, data_dir: str | None = None) -> MirrorGANConfig:
    """The configuration a run recorded in ``<run_dir>/config.json``, with ``data_dir`` (when
    given) for a data set that has moved since; RunConfigMismatchError when ``config.json``
    disagrees with the run's checkpoints (:func:`check_config_fits_checkpoints`)."""
    files = RunFiles(run_dir)
    if not files.config.exists():
        raise FileNotFoundError(
            f"{files.config} not found: {files.root} is not a run directory. The first stage of "
            "a run writes it: recipes/pretrain_damsm.py (then pretrain_stream.py and train_cub.py "
            "or train_coco.py), or recipes/train_synthetic_birds.py, recipes/demo.py or "
            "recipes/convert_torch.py, which write a whole run"
        )
    recorded = json.loads(files.config.read_text())["config"]
    try:
        config = MirrorGANConfig.from_dict(recorded)
    except ValueError as error:
        raise ValueError(f"{files.config}: {error}") from None
    check_config_fits_checkpoints(files, recorded)
    return override(config, {"data.data_dir": data_dir}) if data_dir else config


class WeightsFormatError(ValueError):
    """A weights file or checkpoint of another :data:`FORMAT_VERSION` (or of none)."""


def check_format_version(found: int | None, path) -> None:
    """Raises :class:`WeightsFormatError` when ``found``, the format version recorded in the
    file or checkpoint at ``path`` (None: none), is not :data:`FORMAT_VERSION`."""
    if found == FORMAT_VERSION:
        return
    written = ("no format version (it was written before versions were recorded)"
               if found is None else f"format version {found}")
    raise WeightsFormatError(
        f"{path} has {written}; this version of mirrorgan_keras reads format version "
        f"{FORMAT_VERSION} only. Re-run the stage that wrote it (recipes/pretrain_damsm.py, "
        "pretrain_stream.py, train_*.py, or convert_torch.py for converted weights), or load "
        "it with the version of mirrorgan_keras that wrote it."
    )


def save_weights(model: keras.Model, path: Path):
    """``model.save_weights(path)`` with :data:`FORMAT_VERSION` recorded in the file, through
    :func:`atomic_path`: a reader never sees half a file, and workers that write the same
    weights at once do not clash."""
    with atomic_path(path) as staging:
        model.save_weights(str(staging))
        with h5py.File(staging, "a") as weights:
            weights.attrs[_FORMAT_ATTRIBUTE] = FORMAT_VERSION


def load_weights(model: keras.Model, path) -> None:
    """``model.load_weights(path)`` for a file of :func:`save_weights`, whose format version is
    checked first (:func:`check_format_version`)."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"weights file {path} not found")
    with h5py.File(path, "r") as weights:
        found = weights.attrs.get(_FORMAT_ATTRIBUTE)
    check_format_version(None if found is None else int(found), path)
    model.load_weights(str(path))
