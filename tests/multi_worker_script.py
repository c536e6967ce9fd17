"""One process of the localhost clusters of tests/test_multi_worker.py.

    python -m tests.multi_worker_script '<job as JSON>'

The job names the cluster (``"cluster"``: the workers' ``host:port``, ``"index"``: this
worker's; no cluster = one process under the default strategy), the run configuration
(``MirrorGANConfig.to_dict()``) and the pretrained ``damsm``/``stream`` weight files, and a mode:

- ``"step"``: one MirrorGAN step with SGD optimizers on the first batch of the real input
  pipeline; the initial state comes from ``"init"`` (.npz, written there when absent) and the
  state after the step goes to ``<out>.<index>.npz``.
- ``"train"``: :func:`mirrorgan_keras.training.stages.train_mirrorgan` into ``"run_dir"`` for
  ``"steps"`` steps with ``"checkpoint_every"``; each finished step is appended to
  ``"step_log"`` (one file per worker: ``<step_log>.<index>``). The worker whose index is
  ``"pause_index"`` stops after step ``"pause_at"``: it writes ``"marker"`` and waits to be
  killed (and exits by itself after :data:`PAUSE_SECONDS`).
"""

from __future__ import annotations

import inspect
import json
import os
import sys
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from mirrorgan_keras.config import MirrorGANConfig
from mirrorgan_keras.data import load_split, make_config_dataset
from mirrorgan_keras.models import DAMSM, STREAM, MirrorGAN
from mirrorgan_keras.runtime import distribute
from mirrorgan_keras.runtime.checkpoint import training_state
from mirrorgan_keras.training import stages
from mirrorgan_keras.training.fit import fit_resumable

PAUSE_SECONDS = 120


def one_step(job: dict, strategy: tf.distribute.Strategy):
    """Mode "step" (see the module docstring)."""
    config = MirrorGANConfig.from_dict(job["config"])
    train = load_split(config.data, config.text, "train")
    vocab_size = train.vocabulary.size
    with strategy.scope():
        damsm = DAMSM.from_mirrorgan_config(config, vocab_size, job["damsm"])
        stream = STREAM.from_mirrorgan_config(config, vocab_size, job["stream"])
        gan = MirrorGAN.from_mirrorgan_config(config, damsm.text_encoder, stream=stream,
                                              image_encoder=damsm.image_encoder, seed=7)
        gan.compile(keras.optimizers.SGD(0.1),
                    [keras.optimizers.SGD(0.1) for _ in range(config.generator.stages)])
        gan.initialize(config.text.words_num)
    state = training_state(gan)
    init = Path(job["init"])
    if init.exists():
        with np.load(init) as values:
            for i, variable in enumerate(state):
                variable.assign(values[f"v{i:05d}"])
    else:
        _save_state(state, init)
    dataset = make_config_dataset(train, config, "gan", training=True, seed=0)
    distribute.prepare_fit(gan).fit(dataset, epochs=1, steps_per_epoch=1, verbose=0)
    _save_state(state, Path(f"{job['out']}.{job.get('index', 0)}.npz"))


def _save_state(variables, path: Path):
    np.savez(path, **{f"v{i:05d}": np.asarray(v) for i, v in enumerate(variables)})


class StepLog(keras.callbacks.Callback):
    """Appends each finished step (the optimizer's step counter) to ``path``; after step
    ``pause_at`` writes ``marker`` and sleeps until killed (at most PAUSE_SECONDS)."""

    def __init__(self, path: str, pause_at: int | None = None, marker: str | None = None):
        super().__init__()
        self.path, self.pause_at, self.marker = path, pause_at, marker

    def on_train_batch_end(self, batch, logs=None):
        step = int(np.asarray(self.model.optimizer.iterations))
        with open(self.path, "a") as log:
            log.write(f"{step}\n")
        if step == self.pause_at:
            Path(self.marker).write_text(str(step))
            time.sleep(PAUSE_SECONDS)
            os._exit(3)


def _fit_with(callback):
    """``fit_resumable`` with ``callback`` added to its callbacks."""
    signature = inspect.signature(fit_resumable)

    def fit(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        bound.arguments["callbacks"] = [*bound.arguments["callbacks"], callback]
        return fit_resumable(*bound.args, **bound.kwargs)

    return fit


def train(job: dict, strategy: tf.distribute.Strategy):
    """Mode "train" (see the module docstring)."""
    index = job.get("index", 0)
    pause = job.get("pause_at") if job.get("pause_index") == index else None
    stages.fit_resumable = _fit_with(
        StepLog(f"{job['step_log']}.{index}", pause, job.get("marker"))
    )
    config = MirrorGANConfig.from_dict(job["config"])
    stages.train_mirrorgan(config, job["run_dir"], strategy, steps=job["steps"],
                           checkpoint_every=job["checkpoint_every"],
                           sample_every=job["checkpoint_every"], damsm_weights=job["damsm"],
                           stream_weights=job["stream"], verbose=0)


def main(job: dict):
    keras.utils.set_random_seed(0)  # the same initial weights in every launch
    if job.get("cluster"):
        os.environ["TF_CONFIG"] = json.dumps({
            "cluster": {"worker": job["cluster"]},
            "task": {"type": "worker", "index": job["index"]},
        })
    strategy = distribute.make_strategy("multi_worker" if job.get("cluster") else "default")
    {"step": one_step, "train": train}[job["mode"]](job, strategy)


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
