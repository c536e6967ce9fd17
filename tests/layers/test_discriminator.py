import numpy as np
import pytest

from mirrorgan_keras.layers import DiscriminatorLogits, StageDiscriminator
from tests.layers.roundtrip import assert_config_round_trip, assert_saved_round_trip


@pytest.mark.slow
@pytest.mark.parametrize(
    "size, widths",
    [
        (64, [64, 128, 256, 512]),
        (128, [64, 128, 256, 512, 1024, 512]),
        (256, [64, 128, 256, 512, 1024, 2048, 1024, 512]),
    ],
)
def test_stage_discriminator_matches_reference_trunks(size, widths, rng):
    """D_NET64/128/256 of the reference with ndf 64: 4×4×512 features, two [B, 1] logits."""
    d = StageDiscriminator(64, size)
    images = rng.uniform(-1, 1, size=(2, size, size, 3)).astype("float32")
    sentence = rng.normal(size=(2, 256)).astype("float32")
    unconditional, conditional = d(images, sentence)
    assert unconditional.shape == (2, 1) and conditional.shape == (2, 1)
    assert d.trunk(images).shape == (2, 4, 4, 512)
    assert [block.filters for block in d.trunk.layers] == widths
    assert d.conditional_head.joint.steps[0].kernel.shape == (3, 3, 512 + 256, 512)
    assert d.unconditional_head.logit.kernel.shape == (4, 4, 512, 1)


def test_small_discriminator_for_cpu_preset(rng):
    d = StageDiscriminator(16, 32)
    images = rng.uniform(-1, 1, size=(2, 32, 32, 3)).astype("float32")
    d(images, rng.normal(size=(2, 64)).astype("float32"))
    assert d.trunk(images).shape == (2, 4, 4, 64)


def test_conditional_logit_depends_on_sentence_and_unconditional_does_not(rng):
    d = StageDiscriminator(8, 16)
    images = rng.uniform(-1, 1, size=(2, 16, 16, 3)).astype("float32")
    s1, s2 = rng.normal(size=(2, 2, 10)).astype("float32")
    u1, c1 = (np.asarray(t) for t in d(images, s1, training=False))
    u2, c2 = (np.asarray(t) for t in d(images, s2, training=False))
    np.testing.assert_array_equal(u1, u2)
    assert not np.allclose(c1, c2)


def test_logits_head_requires_sentence_when_conditional(rng):
    with pytest.raises(ValueError, match="sentence"):
        DiscriminatorLogits(conditional=True)(rng.normal(size=(2, 4, 4, 8)).astype("float32"))


def test_discriminator_round_trips(rng, tmp_path):
    images = rng.uniform(-1, 1, size=(2, 16, 16, 3)).astype("float32")
    sentence = rng.normal(size=(2, 6)).astype("float32")
    assert_config_round_trip(StageDiscriminator(4, 16), images, sentence)
    assert_saved_round_trip(StageDiscriminator(4, 16), tmp_path,
                            {"image": images, "sentence": sentence})
