"""Resuming: 2 steps + resume + 2 steps equals 4 steps straight, for the whole MirrorGAN state."""

import keras
import numpy as np
import pytest

from mirrorgan_keras.runtime import distribute
from mirrorgan_keras.runtime.checkpoint import TrainingCheckpoint, latest_step, training_state
from mirrorgan_keras.training.fit import fit_resumable, resume_step
from tests.models.factories import (
    batches_from,
    build_damsm,
    build_mirrorgan,
    build_stream,
    tiny_config,
)


@pytest.fixture(scope="module")
def pretrained():
    config = tiny_config()
    return config, build_damsm(config), build_stream(config)


def _train(pretrained, directory, total_steps, init_seed=0):
    config, damsm, stream = pretrained
    keras.utils.set_random_seed(init_seed)
    gan = build_mirrorgan(config, damsm, stream)
    checkpoint = TrainingCheckpoint(directory, training_state(gan), config.to_dict())
    fit_resumable(gan, lambda step: batches_from(config, 4, step, steps=4 - step),
                  total_steps, checkpoint_every=2, checkpoint=checkpoint, verbose=0)
    return [np.asarray(v) for v in training_state(gan)]


def test_resumed_run_equals_uninterrupted_run(pretrained, tmp_path):
    straight = _train(pretrained, tmp_path / "straight", 4)
    _train(pretrained, tmp_path / "interrupted", 2)
    resumed = _train(pretrained, tmp_path / "interrupted", 4, init_seed=99)  # other init
    for a, b in zip(straight, resumed, strict=True):
        np.testing.assert_allclose(b, a, atol=1e-6)
    assert int(resumed[-1].size) > 0


def _train_on(pretrained, run_dir, total_steps, checkpoint_every):
    """A new model resumed from ``run_dir``: (what fit_resumable returned, the model)."""
    config, damsm, stream = pretrained
    gan = build_mirrorgan(config, damsm, stream)
    checkpoint = TrainingCheckpoint(run_dir, training_state(gan), config.to_dict())
    history = fit_resumable(gan, lambda s: batches_from(config, 4, s, 1), total_steps,
                            checkpoint_every, checkpoint=checkpoint)
    return history, gan


def test_finished_run_does_not_train_again(pretrained, tmp_path):
    _train(pretrained, tmp_path, 2)
    history, gan = _train_on(pretrained, tmp_path, 2, 2)
    assert history is None
    assert int(gan.generator_optimizer.iterations) == 2


def test_interval_that_does_not_divide_the_steps_stops_and_saves_at_the_last_step(
        pretrained, tmp_path):
    _train(pretrained, tmp_path, 3)
    assert latest_step(tmp_path) == 3
    history, gan = _train_on(pretrained, tmp_path, 3, 2)
    assert history is None
    assert int(gan.generator_optimizer.iterations) == 3


def test_interval_must_match_the_checkpoint(pretrained, tmp_path):
    _train(pretrained, tmp_path, 2)
    with pytest.raises(ValueError, match="multiple of checkpoint_every"):
        _train_on(pretrained, tmp_path, 6, 3)


def test_workers_resume_from_the_newest_step_all_of_them_hold(tmp_path, monkeypatch):
    """Simulated second worker: one interval behind is normal (it was killed while writing);
    further behind, it lost its checkpoints and the restart refuses to start over."""
    TrainingCheckpoint(tmp_path, [keras.Variable(0.0)], {}).save(10)

    def with_other_worker_at(step):
        calls = iter((step, -step))  # resume_step asks for the min of the step, then of -step
        monkeypatch.setattr(distribute, "worker_min", lambda s, value: min(value, next(calls)))

    with_other_worker_at(8)
    assert resume_step(tmp_path, None, interval=2) == 8
    with_other_worker_at(0)
    with pytest.raises(RuntimeError, match="steps 0 to 10, more than one interval"):
        resume_step(tmp_path, None, interval=2)
