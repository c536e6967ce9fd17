"""Resumable ``fit``: training in checkpoint intervals over a step-indexed data stream.

Under MultiWorkerMirroredStrategy every worker keeps its own checkpoints (the chief's are the
run's, the others' are private backups) and all of them resume from the same step.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import keras
import tensorflow as tf

from mirrorgan_keras.runtime import distribute
from mirrorgan_keras.runtime.checkpoint import CheckpointEvery, TrainingCheckpoint, latest_step


def fit_resumable(model: keras.Model, dataset_from_step: Callable[[int], tf.data.Dataset],
                  total_steps: int, checkpoint_every: int, *,
                  checkpoint: TrainingCheckpoint | None = None, resume: bool = True,
                  callbacks: Sequence[keras.callbacks.Callback] = (), verbose="auto"):
    """Trains ``model`` for ``total_steps`` steps, checkpointing every ``checkpoint_every``
    steps and at the last one.

    Each ``fit`` epoch is one checkpoint interval (the last one shorter when the interval does
    not divide ``total_steps``), so a checkpoint always falls on an epoch end. With ``resume``
    the newest checkpoint is restored first and training continues from its step on
    ``dataset_from_step(step)``, which must yield the batches of steps ``step``, ``step + 1``,
    … (endless or long enough): the resumed run then equals an uninterrupted one. Under
    several workers the step is :func:`resume_step`'s and every worker writes ``checkpoint``
    (each into its own directory: each one is a backup to restart from). A ``model`` compiled
    in a strategy's scope must be built there with its optimizers
    (:func:`~mirrorgan_keras.runtime.distribute.prepare_fit` is applied to it).

    Returns the ``History`` of this call, or None when the checkpoint is already at the end.
    """
    if checkpoint_every <= 0 or total_steps <= 0:
        raise ValueError("total_steps and checkpoint_every must be positive")
    distribute.prepare_fit(model)
    start = 0
    if checkpoint is not None and resume:
        start = resume_step(checkpoint.directory, model.distribute_strategy, checkpoint_every)
        if start:
            checkpoint.restore_step(start)
    if start >= total_steps:
        return None
    if start % checkpoint_every:
        raise ValueError(
            f"checkpoint at step {start} is not a multiple of checkpoint_every="
            f"{checkpoint_every}; resume with the interval it was written with, or one that "
            f"divides {start} to train on from the end of a shorter run"
        )
    callbacks = [*callbacks, StopAtStep(checkpoint_every, total_steps)]
    if checkpoint is not None:
        callbacks.append(CheckpointEvery(checkpoint, checkpoint_every, last_step=total_steps))
    return model.fit(
        dataset_from_step(start), initial_epoch=start // checkpoint_every,
        epochs=math.ceil(total_steps / checkpoint_every), steps_per_epoch=checkpoint_every,
        callbacks=callbacks, verbose=verbose,
        shuffle=False,  # the data stream shuffles itself (Keras ignores shuffle, and warns)
    )


class StopAtStep(keras.callbacks.Callback):
    """Ends ``fit(steps_per_epoch=steps_per_epoch)`` after global step ``last_step`` (counted
    from epoch 0), within its last epoch when ``steps_per_epoch`` does not divide it."""

    def __init__(self, steps_per_epoch: int, last_step: int):
        super().__init__()
        self.steps_per_epoch = steps_per_epoch
        self.last_step = last_step
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.epoch * self.steps_per_epoch + batch + 1 >= self.last_step:
            self.model.stop_training = True


def resume_step(directory, strategy: tf.distribute.Strategy, interval: int) -> int:
    """The step to resume from: the newest checkpoint in ``directory`` (0 when none), or under
    several workers, each with its own ``directory``, the newest one that all of them hold.

    Training is synchronous and each worker writes its checkpoint (every ``interval`` steps)
    before its next step, so the workers' newest steps differ by at most one interval (a
    worker killed while writing) and the older one is still kept by every worker. A larger
    gap means that a worker lost its checkpoints, and raises rather than starting that far
    back. A collective: all workers call it.
    """
    latest = latest_step(directory)
    oldest = distribute.worker_min(strategy, latest)
    newest = -distribute.worker_min(strategy, -latest)
    if newest - oldest > interval:
        raise RuntimeError(
            f"the workers' newest checkpoints are at steps {oldest} to {newest}, more than one "
            f"interval ({interval} steps) apart: a worker lost its checkpoints (a new machine?). "
            "Copy the chief's <run_dir>/checkpoints/<stage>/ to <run_dir>/checkpoints/"
            "<task>-<index>/<stage>/ on that worker (docs/multi_worker.md)."
        )
    return oldest
