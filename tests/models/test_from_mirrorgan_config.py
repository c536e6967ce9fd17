"""Every model is built from the whole MirrorGANConfig, and loads a weights file."""

import numpy as np
import pytest

from mirrorgan_keras.config import override
from mirrorgan_keras.models import DAMSM, STREAM, GLAMGenerator
from mirrorgan_keras.runtime.run_files import WeightsFormatError, save_weights
from tests.models.factories import VOCAB, tiny_config

BUILDERS = {
    "damsm": lambda config, weights=None: DAMSM.from_mirrorgan_config(config, VOCAB, weights),
    "stream": lambda config, weights=None: STREAM.from_mirrorgan_config(config, VOCAB, weights),
    "generator": lambda config, weights=None: GLAMGenerator.from_mirrorgan_config(config,
                                                                                  weights),
}


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_models_are_built_and_load_their_weights(name, tmp_path):
    config = tiny_config()
    saved = BUILDERS[name](config)
    assert saved.built and saved.weights and saved.name == name
    path = tmp_path / f"{name}.weights.h5"
    save_weights(saved, path)
    # With a weights file the backbones' own weights are not read (this file does not exist).
    missing = str(tmp_path / "missing.weights.h5")
    config = override(override(config, {"damsm.weights": missing}), {"stream.weights": missing})
    loaded = BUILDERS[name](config, path)
    for a, b in zip(saved.weights, loaded.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(b), np.asarray(a))


def test_weights_saved_without_a_format_version_are_refused(tmp_path):
    path = tmp_path / "generator_ema.weights.h5"
    BUILDERS["generator"](tiny_config()).save_weights(path)  # Keras's own file, no version
    with pytest.raises(WeightsFormatError, match="no format version"):
        BUILDERS["generator"](tiny_config(), path)


def test_building_the_generator_draws_no_noise():
    config = tiny_config()
    generator = GLAMGenerator.from_mirrorgan_config(config, seed=4)
    states = [np.asarray(g.state) for g in (generator.noise_generator,
                                            generator.conditioning.seed_generator)]
    fresh = GLAMGenerator(ngf=8, z_dim=8, condition_dim=8, res_blocks=1, stages=2, base_size=16,
                          seed=4)
    for state, generator in zip(states, (fresh.noise_generator,
                                         fresh.conditioning.seed_generator), strict=True):
        np.testing.assert_array_equal(state, np.asarray(generator.state))
