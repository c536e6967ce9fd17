import dataclasses
import re

import pytest

from mirrorgan_keras.config import (
    PRESETS,
    RULES,
    ConfigValueError,
    DAMSMConfig,
    MirrorGANConfig,
    TrainConfig,
    get_preset,
    override,
)


def test_cub_preset_matches_train_bird_yml():
    config = get_preset("cub")
    assert config.generator.image_sizes == (64, 128, 256)
    assert (config.generator.ngf, config.discriminator.ndf, config.train.batch_size) == (32, 64, 12)
    assert (config.damsm.gamma1, config.damsm.gamma2, config.damsm.gamma3) == (4.0, 5.0, 10.0)
    assert config.text.words_num == 18 and config.text.captions_per_image == 10


def test_coco_preset_uses_attngan_coco_sizes():
    config = get_preset("coco")
    sizes = config.generator.ngf, config.discriminator.ndf, config.generator.res_blocks
    assert sizes == (48, 96, 3)
    assert (config.text.words_num, config.text.captions_per_image) == (12, 5)


def test_birds_tiny_is_small():
    config = get_preset("birds_tiny")
    assert config.generator.image_sizes == (32, 64)
    assert config.damsm.backbone == "small" and config.stream.backbone == "small"


def test_override_and_dict_round_trip():
    config = override(get_preset("cub"), {"train.lambda_stream": 10.0, "generator.ngf": 8})
    assert config.train.lambda_stream == 10.0 and config.generator.ngf == 8
    assert get_preset("cub").generator.ngf == 32  # presets are not mutated
    assert MirrorGANConfig.from_dict(config.to_dict()) == config


@pytest.mark.parametrize("key", ["train.nope", "nope.x", "train"])
def test_override_rejects_unknown_keys(key):
    with pytest.raises(ValueError, match="unknown config key"):
        override(get_preset("cub"), {key: 1})


def test_unknown_preset():
    with pytest.raises(ValueError, match="birds_tiny"):
        get_preset("flowers")


def test_compute_settings_are_checked_and_left_out_of_the_fingerprint():
    fast = override(get_preset("cub"), {"compute.jit_compile": True,
                                        "compute.mixed_precision": "mixed_bfloat16"})
    assert fast.fingerprint() == get_preset("cub").fingerprint()
    assert "compute" not in fast.fingerprint() and fast.to_dict()["compute"]["jit_compile"]
    assert MirrorGANConfig.from_dict(fast.to_dict()) == fast
    with pytest.raises(ValueError, match="mixed_precision"):
        override(get_preset("cub"), {"compute.mixed_precision": "float8"})


def test_data_set_names_are_checked_and_birds_says_to_write_cub():
    assert {get_preset(name).data.dataset for name in ("cub", "coco", "birds_tiny")} == {
        "cub", "coco", "synthetic_birds"}
    with pytest.raises(ValueError, match='"birds" is now "cub"'):
        override(get_preset("cub"), {"data.dataset": "birds"})
    with pytest.raises(ValueError, match="unknown dataset 'flowers'"):
        override(get_preset("cub"), {"data.dataset": "flowers"})


@pytest.mark.parametrize("key, value, expected", [
    ("generator.ngf", "abc", "an integer >= 1"),
    ("train.batch_size", 8.5, "an integer >= 1"),
    ("train.batch_size", 0, "an integer >= 1"),
    ("generator.sentence_attention", 1, "True or False"),
    ("generator.ngf", True, "an integer"),
    ("train.ema_decay", 1.0, r"in \[0, 1\)"),
    ("train.generator_lr", 0.0, "> 0"),
    ("train.lambda_stream", float("nan"), "a number"),
    ("damsm.backbone", "resnet152", "one of"),
    ("stream.backbone", "inception_v3", "one of"),
    ("generator.base_size", 48, "power of two"),
    ("text.embedding_dim", 7, "even"),
    ("damsm.weights", 3, "a string or None"),
])
def test_values_of_the_wrong_type_or_range_are_refused_naming_the_key(key, value, expected):
    with pytest.raises(ConfigValueError, match=rf"^{re.escape(key)}: expected .*{expected}.*"
                                               rf", got {re.escape(repr(value))}$"):
        override(get_preset("cub"), {key: value})


def test_a_float_field_takes_an_int_and_keeps_a_float():
    config = override(get_preset("cub"), {"train.lambda_stream": 10, "damsm.weights": None})
    assert config.train.lambda_stream == 10.0 and isinstance(config.train.lambda_stream, float)
    assert TrainConfig(generator_lr=1).generator_lr == 1.0


def test_sections_and_recorded_configs_are_checked_too():
    with pytest.raises(ConfigValueError, match=r"^damsm\.epochs: expected an integer >= 1"):
        DAMSMConfig(epochs=-1)
    values = get_preset("cub").to_dict()
    values["stream"]["batch_size"] = "128"
    with pytest.raises(ConfigValueError, match=r"^stream\.batch_size: .*got '128'$"):
        MirrorGANConfig.from_dict(values)


def test_every_number_has_a_range_rule():
    config = get_preset("cub")
    numbers = [f"{section}.{f.name}" for section in config.to_dict() if section != "name"
               for f in dataclasses.fields(getattr(config, section))
               if type(getattr(getattr(config, section), f.name)) in (int, float)]
    assert numbers and not [key for key in numbers if key not in RULES]
    for name in PRESETS:  # the presets obey their own rules
        assert MirrorGANConfig.from_dict(get_preset(name).to_dict()) == get_preset(name)


def test_the_image_cache_size_said_is_the_computed_one():
    from mirrorgan_keras.config import ComputeConfig
    from mirrorgan_keras.data.pipeline import SCALE_RATIO

    def megabytes(final):  # float32 RGB, the shorter side scaled by SCALE_RATIO
        return round(int(final * SCALE_RATIO) ** 2 * 3 * 4 / 1e6, 1)

    assert f"{megabytes(256)} MB at 256²" in " ".join(ComputeConfig.__doc__.split())
