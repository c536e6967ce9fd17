import numpy as np
import pytest

from mirrorgan_keras.layers import CascadeStage, InitialStage
from tests.layers.roundtrip import assert_config_round_trip, assert_saved_round_trip


def test_initial_stage_cub_golden_shape(rng):
    c = rng.normal(size=(2, 100)).astype("float32")
    z = rng.normal(size=(2, 100)).astype("float32")
    stage = InitialStage(32, 64)
    assert stage(c, z).shape == (2, 64, 64, 32)
    assert stage.initial_channels == 512
    assert [b.filters for b in stage.up_blocks] == [256, 128, 64, 32]
    assert stage.projection.kernel.shape == (200, 16384)


def test_initial_stage_coco_widths():
    assert [b.filters for b in InitialStage(48, 64).up_blocks] == [384, 192, 96, 48]


def test_initial_stage_rejects_bad_size():
    with pytest.raises(ValueError, match="power of two"):
        InitialStage(8, 48)


@pytest.mark.parametrize("sentence_attention", [True, False])
def test_cascade_stage_cub_golden_shapes(rng, sentence_attention):
    h = rng.normal(size=(2, 64, 64, 32)).astype("float32")
    words = rng.normal(size=(2, 18, 256)).astype("float32")
    c = rng.normal(size=(2, 100)).astype("float32")
    mask = np.ones((2, 18), bool)
    mask[1, 9:] = False
    stage = CascadeStage(32, 2, sentence_attention)
    features, attention = stage(h, words, c, word_mask=mask)
    assert features.shape == (2, 128, 128, 32)
    assert attention.shape == (2, 18, 64, 64)
    assert np.all(np.asarray(attention)[1, 9:] == 0)
    assert len(stage.residuals) == 2


def test_stages_round_trip(rng, tmp_path):
    h = rng.normal(size=(2, 8, 8, 4)).astype("float32")
    words = rng.normal(size=(2, 5, 6)).astype("float32")
    c = rng.normal(size=(2, 3)).astype("float32")
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
    assert_config_round_trip(CascadeStage(4, 1), h, words, c, word_mask=mask)
    assert_saved_round_trip(
        CascadeStage(4, 1), tmp_path,
        {"image": h, "words": words, "condition": c, "word_mask": mask},
    )
    z = rng.normal(size=(2, 5)).astype("float32")
    assert_config_round_trip(InitialStage(4, 16), c, z)
    assert_saved_round_trip(InitialStage(4, 16), tmp_path, {"condition": c, "noise": z})
