"""Resumable ``fit``: training in checkpoint intervals over a step-indexed data stream."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import keras
import tensorflow as tf

from mirrorgan_keras.checkpoint import CheckpointEvery, TrainingCheckpoint


def fit_resumable(model: keras.Model, dataset_from_step: Callable[[int], tf.data.Dataset],
                  total_steps: int, checkpoint_every: int,
                  checkpoint: TrainingCheckpoint | None = None, resume: bool = True,
                  callbacks: Sequence[keras.callbacks.Callback] = (), verbose="auto"):
    """Trains ``model`` for ``total_steps`` steps, checkpointing every ``checkpoint_every``.

    Each ``fit`` epoch is one checkpoint interval, so a checkpoint always falls on an epoch
    end. With ``resume`` the newest checkpoint is restored first and training continues from
    its step on ``dataset_from_step(step)``, which must yield the batches of steps ``step``,
    ``step + 1``, … (endless or long enough): the resumed run then equals an uninterrupted one.

    Returns the ``History`` of this call, or None when the checkpoint is already at the end.
    """
    if checkpoint_every <= 0 or total_steps <= 0:
        raise ValueError("total_steps and checkpoint_every must be positive")
    start = (checkpoint.restore_latest() if checkpoint is not None and resume else None) or 0
    if start % checkpoint_every:
        raise ValueError(
            f"checkpoint at step {start} is not a multiple of checkpoint_every="
            f"{checkpoint_every}; resume with the interval it was written with"
        )
    epochs = math.ceil(total_steps / checkpoint_every)
    if start >= epochs * checkpoint_every:
        return None
    callbacks = list(callbacks)
    if checkpoint is not None:
        callbacks.append(CheckpointEvery(checkpoint, checkpoint_every))
    return model.fit(
        dataset_from_step(start), initial_epoch=start // checkpoint_every, epochs=epochs,
        steps_per_epoch=checkpoint_every, callbacks=callbacks, verbose=verbose,
    )
