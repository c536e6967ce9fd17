"""One step on 2 replicas (2 logical CPU devices) equals one step on one device, whole batch."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from mirrorgan_keras.runtime import distribute
from mirrorgan_keras.runtime.checkpoint import training_state
from tests.models.factories import (
    batches_from,
    build_damsm,
    build_mirrorgan,
    build_stream,
    random_batch,
    tiny_config,
)

GLOBAL_BATCH = 8


def _sgd_mirrorgan(config):
    damsm, stream = build_damsm(config), build_stream(config)
    optimizers = keras.optimizers.SGD(0.1), [keras.optimizers.SGD(0.1) for _ in range(2)]
    return build_mirrorgan(config, damsm, stream, optimizers)


def _initialized_damsm(config):
    damsm = build_damsm(config)
    damsm(*(lambda b: (b["images"][-1], b["captions"]))(next(iter(
        batches_from(config, 2, steps=1).as_numpy_iterator()))))
    damsm.optimizer.build(damsm.trainable_weights)
    return damsm


def _initialized_stream(config):
    stream = build_stream(config)
    batch = next(iter(batches_from(config, 2, steps=1).as_numpy_iterator()))
    stream(batch["images"][-1], batch["captions"])
    stream.optimizer.build(stream.trainable_weights)
    return stream


BUILDERS = {"damsm": _initialized_damsm, "stream": _initialized_stream,
            "mirrorgan": _sgd_mirrorgan}


def _full_state(model):
    """The training state plus the frozen pretrained encoders a MirrorGAN holds."""
    frozen = [getattr(model, name, None) for name in ("text_encoder", "stream", "image_encoder")]
    frozen_variables = [v for part in frozen if part is not None for v in part.variables]
    return training_state(model) + (frozen_variables if hasattr(model, "generator") else [])


def _one_step(strategy, build, config, initial=None):
    with strategy.scope():
        model = build(config)
    state = _full_state(model)
    if initial is not None:
        for variable, value in zip(state, initial, strict=True):
            variable.assign(value)
    before = [np.asarray(v).copy() for v in state]
    logs = model.fit(batches_from(config, GLOBAL_BATCH, steps=1), verbose=0).history
    return before, [np.asarray(v) for v in state], {k: v[-1] for k, v in logs.items()}


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_two_replicas_match_one_device(name, two_replicas):
    config = tiny_config()
    one = tf.distribute.OneDeviceStrategy("/cpu:0")
    two = two_replicas
    initial, single, single_logs = _one_step(one, BUILDERS[name], config)
    _, mirrored, mirrored_logs = _one_step(two, BUILDERS[name], config, initial)
    changed = sum(not np.allclose(a, b) for a, b in zip(initial, single, strict=True))
    assert changed > len(initial) // 4  # the step really trained something
    for a, b in zip(single, mirrored, strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=2e-5)
    for key, value in single_logs.items():
        assert mirrored_logs[key] == pytest.approx(value, rel=1e-4, abs=1e-5), key


def test_distributed_mean_is_the_global_mean_when_summed_over_replicas(two_replicas):
    strategy = two_replicas
    values = tf.constant([1.0, 2.0, 3.0, 10.0])
    weights = tf.constant([1.0, 1.0, 0.0, 1.0])
    dataset = strategy.experimental_distribute_dataset(
        tf.data.Dataset.from_tensor_slices((values, weights)).batch(4)
    )
    shares = strategy.run(distribute.distributed_mean, args=next(iter(dataset)))
    total = strategy.reduce(tf.distribute.ReduceOp.SUM, shares, axis=None)
    assert float(total) == pytest.approx((1 + 2 + 10) / 3)


def test_make_strategy():
    assert distribute.make_strategy("default") is tf.distribute.get_strategy()
    assert isinstance(distribute.make_strategy("one_device"), tf.distribute.OneDeviceStrategy)
    with pytest.raises(ValueError, match="unknown strategy"):
        distribute.make_strategy("tpu")


def test_clipping_uses_the_dense_norm_of_embedding_gradients():
    """A repeated word's IndexedSlices rows must be summed before the norm, as PyTorch does."""
    slices = tf.IndexedSlices(tf.constant([[3.0, 0.0], [3.0, 0.0]]), tf.constant([1, 1]),
                              tf.constant([4, 2]))
    (clipped,) = distribute.clip_by_global_norm([slices], 100.0)
    np.testing.assert_allclose(np.asarray(clipped)[1], [6.0, 0.0])
    (clipped,) = distribute.clip_by_global_norm([slices], 3.0)
    assert float(tf.norm(clipped)) == pytest.approx(3.0)


def test_uneven_last_batch_gives_the_single_device_damsm_loss(two_replicas):
    """The last batch of an evaluation splits unevenly over replicas (13 samples: 4 + 4, then
    3 + 2); the DAMSM loss, which matches every sample with every other in a batch, must still
    be the one of one device."""
    config = tiny_config()
    data = tf.data.Dataset.from_tensor_slices(random_batch(config, 13, seed=3)).batch(8)
    results, initial = [], None
    for strategy in (tf.distribute.OneDeviceStrategy("/cpu:0"), two_replicas):
        with strategy.scope():
            damsm = _initialized_damsm(config)
        state = training_state(damsm)
        initial = initial or [np.asarray(v).copy() for v in state]
        for variable, value in zip(state, initial, strict=True):
            variable.assign(value)
        results.append(damsm.evaluate(data, verbose=0, return_dict=True))
    for key, value in results[0].items():
        assert results[1][key] == pytest.approx(value, rel=1e-4), key


def test_one_process_is_the_chief_and_agrees_with_itself(two_replicas):
    for strategy in (tf.distribute.get_strategy(), two_replicas):
        assert distribute.is_chief(strategy) and distribute.worker_name(strategy) is None
        assert distribute.worker_min(strategy, 7) == 7
