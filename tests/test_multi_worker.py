"""MultiWorkerMirroredStrategy on 2 worker processes on 127.0.0.1 (1 CPU device each).

(a) One MirrorGAN step on 2 workers, each on its half of the global batch of the real input
pipeline, gives the weights of one process on the whole batch (SGD, so a wrong loss scale
shows). (b) After a worker is killed and the whole cluster restarted, training continues
from the newest backup every worker holds, reaches the weights the undisturbed run had at the
same step and trains no step twice. Every launch has a deadline; workers still running at the
end are killed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from mirrorgan_keras.config import override
from mirrorgan_keras.data import load_split
from mirrorgan_keras.data.synthetic_birds import generate_synthetic_birds
from mirrorgan_keras.models import DAMSM, STREAM
from mirrorgan_keras.runtime import run_files
from tests import multi_worker_script
from tests.models.factories import tiny_config

pytestmark = pytest.mark.slow  # a minute or more of subprocess clusters; still run in CI

REPO = Path(__file__).resolve().parents[1]
WORKERS = 2
LAUNCH_SECONDS = 300  # deadline of one cluster launch (a few times its length on a busy CPU)
ENV = {**{k: v for k, v in os.environ.items() if k != "TF_CONFIG"},
       "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "2", "KERAS_BACKEND": "tensorflow"}


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> dict:
    """The job fields every launch shares: a tiny config on 24 synthetic birds (global batch
    8: 3 steps per epoch) and pretrained-encoder files (random weights serve)."""
    root = tmp_path_factory.mktemp("multi_worker")
    generate_synthetic_birds(root / "birds", num_train=24, num_test=8, image_size=64,
                             num_workers=1)
    config = override(tiny_config(), {
        "data.dataset": "synthetic_birds", "data.data_dir": str(root / "birds"),
        "text.words_num": 18, "train.batch_size": 8,
    })
    vocab_size = load_split(config.data, config.text, "train").vocabulary.size
    files = run_files.RunFiles(root)
    keras.utils.set_random_seed(0)
    run_files.save_weights(DAMSM.from_mirrorgan_config(config, vocab_size), files.damsm)
    run_files.save_weights(STREAM.from_mirrorgan_config(config, vocab_size), files.stream)
    return {"config": config.to_dict(), "damsm": str(files.damsm), "stream": str(files.stream)}


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@contextlib.contextmanager
def _cluster(job: dict, logs: Path):
    """Starts the workers of ``job`` on free localhost ports (output in ``logs.<index>``);
    yields their processes; kills those still running on exit."""
    cluster = [f"127.0.0.1:{port}" for port in _free_ports(WORKERS)]
    processes = []
    try:
        for index in range(WORKERS):
            argument = json.dumps({**job, "cluster": cluster, "index": index})
            with open(f"{logs}.{index}", "w") as output:
                processes.append(subprocess.Popen(
                    [sys.executable, "-m", "tests.multi_worker_script", argument], cwd=REPO,
                    env=ENV, stdout=output, stderr=subprocess.STDOUT,
                ))
        yield processes
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
            process.wait()


def _tail(logs: Path) -> str:
    return "\n".join(f"--- worker {i}:\n" + Path(f"{logs}.{i}").read_text()[-3000:]
                     for i in range(WORKERS))


def _run(job: dict, logs: Path):
    """One launch of the cluster that must finish without error before the deadline."""
    with _cluster(job, logs) as processes:
        deadline = time.monotonic() + LAUNCH_SECONDS
        try:
            codes = [p.wait(timeout=max(deadline - time.monotonic(), 0)) for p in processes]
        except subprocess.TimeoutExpired:
            pytest.fail(f"cluster still running after {LAUNCH_SECONDS} s\n{_tail(logs)}")
    assert codes == [0] * WORKERS, _tail(logs)


def _npz(path) -> list[np.ndarray]:
    with np.load(path) as values:
        return [values[key] for key in sorted(values.files)]


def test_one_step_on_two_workers_equals_one_process(setup, tmp_path):
    job = {**setup, "mode": "step", "init": str(tmp_path / "init.npz"),
           "out": str(tmp_path / "after")}
    # Reference: this process, default strategy, the whole batch; writes the initial state.
    multi_worker_script.one_step({**job, "out": str(tmp_path / "single")},
                                 tf.distribute.get_strategy())
    _run(job, tmp_path / "log")
    initial, single = _npz(tmp_path / "init.npz"), _npz(tmp_path / "single.0.npz")
    changed = sum(not np.allclose(a, b) for a, b in zip(initial, single, strict=True))
    assert changed > len(initial) // 4  # the step really trained something
    for index in range(WORKERS):
        for a, b in zip(single, _npz(tmp_path / f"after.{index}.npz"), strict=True):
            np.testing.assert_allclose(b, a, rtol=1e-4, atol=2e-5)


def _steps(log: Path, index: int = 0) -> list[int]:
    return [int(line) for line in Path(f"{log}.{index}").read_text().split()]


def _state(run: Path, step: int, worker: str = "") -> tuple[list[np.ndarray], list[str]]:
    """Arrays and variable names of the checkpoint of ``step``: the chief's, or a backup."""
    path = run / "checkpoints" / worker / "mirrorgan" / f"ckpt-{step:09d}"
    return _npz(path / "state.npz"), json.loads((path / "manifest.json").read_text())["names"]


def test_killed_worker_resumes_from_the_common_backup(setup, tmp_path):
    """Launch 1 trains steps 1-4 undisturbed (backups at 2 and 4) and worker 1 is killed after
    step 5. Its backup of step 4 is then made incomplete, as if it had been killed while
    writing it. The restarted cluster must agree on step 2, train steps 3-6 once each, and be
    at step 4 exactly where the undisturbed launch was."""
    run, marker = tmp_path / "run", tmp_path / "paused"
    job = {**setup, "mode": "train", "steps": 6, "checkpoint_every": 2, "run_dir": str(run)}
    backups = run / "checkpoints" / "worker-1" / "mirrorgan"
    first = {**job, "step_log": str(tmp_path / "steps-1"), "pause_index": 1, "pause_at": 5,
             "marker": str(marker)}
    with _cluster(first, tmp_path / "log-1") as (chief, worker):
        deadline = time.monotonic() + LAUNCH_SECONDS
        while not marker.exists():  # worker 1 finished step 5
            assert worker.poll() is None and time.monotonic() < deadline, _tail(tmp_path / "log-1")
            time.sleep(0.1)
        assert sorted(p.name for p in backups.iterdir()) == ["ckpt-000000002", "ckpt-000000004"]
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        assert chief.wait(timeout=60) != 0  # the chief fails by itself: its peer is gone
    assert _steps(tmp_path / "steps-1") == [1, 2, 3, 4, 5]
    undisturbed, _ = _state(run, 4)  # before the restart writes step 4 again
    killed = backups / ".0badf00d-ckpt-000000004"  # atomic_path's staging name
    shutil.move(backups / "ckpt-000000004", killed)
    (killed / "manifest.json").unlink()

    _run({**job, "step_log": str(tmp_path / "steps-2")}, tmp_path / "log-2")  # same command
    for index in range(WORKERS):
        assert _steps(tmp_path / "steps-2", index) == [3, 4, 5, 6]  # from step 2, once each
    assert not killed.exists()  # removed when the stage started
    for a, b in zip(undisturbed, _state(run, 4)[0], strict=True):
        np.testing.assert_allclose(b, a, atol=1e-6)
    final, names = _state(run, 6)
    counters = [value for name, value in zip(names, final, strict=True)
                if name.endswith("/iteration")]
    assert len(counters) >= 3 and all(int(c) == 6 for c in counters)  # G and 2 D optimizers
    for a, b in zip(final, _state(run, 6, "worker-1")[0], strict=True):
        np.testing.assert_array_equal(b, a)
    assert (run / "generator_ema.weights.h5").exists() and (run / "config.json").exists()
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["mirrorgan", "worker-1"]
