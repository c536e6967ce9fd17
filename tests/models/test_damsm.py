import keras
import numpy as np
import pytest

from mirrorgan_keras.models import DAMSMLearningRate
from mirrorgan_keras.runtime import precision
from tests.models.factories import batches_from, build_damsm, tiny_config


def test_learning_rate_decays_to_the_floor():
    schedule = DAMSMLearningRate(initial=2e-3, decay=0.98, floor=2e-4)
    assert schedule.learning_rate(0) == pytest.approx(2e-3)
    assert schedule.learning_rate(1) == pytest.approx(2e-3 * 0.98)
    assert 2e-4 * 0.98 <= schedule.learning_rate(500) <= 2e-4


def test_optimizer_restarts_every_epoch_like_the_reference():
    config = tiny_config()
    damsm = build_damsm(config)
    damsm.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=False)
    damsm.fit(batches_from(config, 4, steps=2), epochs=1, verbose=0)
    assert int(damsm.optimizer.iterations) == 2
    schedule = DAMSMLearningRate()
    schedule.set_model(damsm)
    schedule.on_epoch_begin(1)
    assert int(damsm.optimizer.iterations) == 0
    assert all(not np.any(np.asarray(v)) for v in damsm.optimizer.variables
               if "learning_rate" not in v.path)
    assert float(damsm.optimizer.learning_rate) == pytest.approx(2e-3 * 0.98)


def test_damsm_training_lowers_its_loss():
    config = tiny_config()
    damsm = build_damsm(config)
    damsm.compile(optimizer=keras.optimizers.Adam(2e-3, beta_1=0.5), jit_compile=False)
    batch = batches_from(config, 6, steps=1)
    before = damsm.evaluate(batch, verbose=0, return_dict=True)["loss"]
    damsm.fit(batch.repeat(15), epochs=1, verbose=0)
    after = damsm.evaluate(batch, verbose=0, return_dict=True)
    assert after["loss"] < before
    assert set(after) == {"loss", "w0", "w1", "s0", "s1"}


def test_mixed_float16_step_is_loss_scaled_and_restarts_keep_the_scale():
    config = tiny_config()
    with precision.dtype_policy("mixed_float16"):
        damsm = build_damsm(config)
    assert isinstance(damsm.optimizer, keras.optimizers.LossScaleOptimizer)
    history = damsm.fit(batches_from(config, 4, steps=2), verbose=0).history
    assert all(np.isfinite(values[-1]) for values in history.values())
    schedule = DAMSMLearningRate()
    schedule.set_model(damsm)
    schedule.on_epoch_begin(1)
    assert int(damsm.optimizer.iterations) == 0 and float(damsm.optimizer.dynamic_scale) > 0
