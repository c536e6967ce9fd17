"""Configuration as data: frozen dataclasses and the named presets.

Numbers come from the official configs (docs/design.md §1):

- ``"cub"``: MirrorGAN's ``train_bird.yml`` (ngf 32, ndf 64, batch 12, 64/128/256).
- ``"coco"``: AttnGAN's COCO sizes (ngf 48, ndf 96, 3 res-blocks, 12 words, 5 captions) with the
  STREAM loss added, since MirrorGAN ships no COCO config.
- ``"birds_tiny"``: a CPU preset for the synthetic birds (32² → 64², ngf = ndf = 16, small CNN
  backbones, a faster generator learning rate) that trains end to end in minutes on 2 cores.

Every value is checked when a configuration is made (so also by :func:`override` and
:meth:`MirrorGANConfig.from_dict`): its type (an ``int`` field refuses ``8.5``, ``"abc"`` and
``True``; a ``float`` field takes an ``int``) and its range (:data:`RULES`). The error names the
dotted key, the value and what was expected.

``compute`` says how the steps run (XLA, mixed precision), not what they compute; it is left
out of the checkpoint fingerprint (:meth:`MirrorGANConfig.fingerprint`), so a run may resume
with other settings.

Example::

    config = get_preset("cub")
    config = override(config, {"train.lambda_stream": 10.0, "generator.sentence_attention": False})
"""

from __future__ import annotations

import dataclasses
import functools
import math
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

DATASETS = ("cub", "synthetic_birds", "coco")  # the values of DataConfig.dataset
DAMSM_BACKBONES = ("inception_v3", "inception_v3_torch", "small")
STREAM_BACKBONES = ("resnet152", "small")
MIXED_PRECISION_POLICIES = (None, "float32", "mixed_bfloat16", "mixed_float16")


class ConfigValueError(ValueError):
    """A configuration value of the wrong type or out of range; the message names its key."""


class _Section:
    """Base of the configuration dataclasses: checks every field when one is made."""

    def __post_init__(self):
        check_fields(self)


@dataclass(frozen=True)
class TextConfig(_Section):
    """Caption handling and the STEM text encoder (docs/design.md §2, §3)."""

    words_num: int = 18  # captions are cut (random order-preserving subset) or padded to this
    captions_per_image: int = 10
    # words seen fewer times in the captions are left out of a vocabulary built from caption
    # files (docs/data.md, Vocabulary); 1 keeps every word, as the reference
    min_word_count: int = 1
    word_embedding_dim: int = 300  # STEM embedding width
    embedding_dim: int = 256  # nef: word and sentence feature width (both directions)
    dropout: float = 0.5


@dataclass(frozen=True)
class GeneratorConfig(_Section):
    """The GLAM generator (docs/design.md §5)."""

    ngf: int = 32
    z_dim: int = 100
    condition_dim: int = 100
    res_blocks: int = 2  # R_NUM per refinement stage
    stages: int = 3  # number of generated images (BRANCH_NUM)
    base_size: int = 64  # size of the first stage's image
    sentence_attention: bool = True  # False gives AttnGAN's refinement stage

    @property
    def image_sizes(self) -> tuple[int, ...]:
        """Side of the image each stage produces, e.g. (64, 128, 256)."""
        return tuple(self.base_size * 2**i for i in range(self.stages))


@dataclass(frozen=True)
class DiscriminatorConfig(_Section):
    """One discriminator per stage (docs/design.md §6)."""

    ndf: int = 64


@dataclass(frozen=True)
class DAMSMConfig(_Section):
    """DAMSM image encoder and pretraining (docs/design.md §4)."""

    # DAMSM_BACKBONES: "inception_v3" (Keras's), "inception_v3_torch" (torchvision's function,
    # for DAMSM encoders converted from PyTorch: recipes/convert_torch.py) or "small" (CPU preset)
    backbone: str = "inception_v3"
    weights: str | None = "imagenet"  # None, "imagenet" or a local weights file (inception_v3)
    image_size: int = 299  # backbone input side
    freeze_backbone: bool = True  # the reference freezes ImageNet Inception; False for "small"
    gamma1: float = 4.0
    gamma2: float = 5.0
    gamma3: float = 10.0
    learning_rate: float = 2e-3
    batch_size: int = 48
    epochs: int = 600
    rnn_grad_clip: float = 0.25


@dataclass(frozen=True)
class StreamConfig(_Section):
    """STREAM image captioner (docs/design.md §7)."""

    backbone: str = "resnet152"  # or "small" (CPU preset)
    weights: str | None = "imagenet"
    image_size: int = 224
    embed_size: int = 256
    hidden_size: int = 512
    bn_momentum: float = 0.99  # PyTorch momentum 0.01
    freeze_backbone: bool = True
    # Without pretrained weights: epochs of training the CNN to predict its caption's words
    # before it is frozen (models.WordPresencePretrainer); 0 = none.
    word_pretraining_epochs: int = 0
    max_caption_length: int = 20  # greedy sampling length
    learning_rate: float = 1e-3
    batch_size: int = 128
    epochs: int = 5


@dataclass(frozen=True)
class TrainConfig(_Section):
    """MirrorGAN training loop (docs/design.md §8)."""

    batch_size: int = 12
    max_epoch: int = 650
    generator_lr: float = 2e-4
    discriminator_lr: float = 2e-4
    beta_1: float = 0.5
    beta_2: float = 0.999
    lambda_stream: float = 20.0  # paper's best; the released yml uses 10
    lambda_damsm: float = 0.0  # 0 = MirrorGAN code; 5 (CUB) / 50 (COCO) = AttnGAN
    lambda_kl: float = 1.0
    ema_decay: float = 0.999


@dataclass(frozen=True)
class ComputeConfig(_Section):
    """How every training step is computed (docs/performance.md).

    ``jit_compile``: compile the steps with XLA (on a 2-core CPU it was slower: measure first).
    ``mixed_precision``: a Keras dtype policy: None or "float32" (default), "mixed_bfloat16"
    (CPUs with AMX/AVX-512 BF16, TPUs, recent GPUs) or "mixed_float16" (GPUs; with dynamic loss
    scaling). Variables, losses, softmaxes, batch-norm statistics and the images stay float32.
    ``cache_images``: decode, crop and resize the training images once and hold them in memory
    (float32, at least 69 KB an image at 64², 1.1 MB at 256²: for small data sets; the same
    batches).
    """

    jit_compile: bool = False
    mixed_precision: str | None = None
    cache_images: bool = False


def check_dataset(name: str) -> None:
    """Raises ValueError when ``name`` is not one of :data:`DATASETS`; says what to write
    for "birds", the earlier name of "cub"."""
    if name == "birds":
        raise ConfigValueError(
            'data.dataset "birds" is now "cub" (CUB-200-2011; the synthetic set is '
            '"synthetic_birds"): write "dataset": "cub" in the configuration (for a run, in '
            'the "data" section of <run_dir>/config.json)'
        )
    if name not in DATASETS:
        raise ConfigValueError(f"data.dataset: unknown dataset {name!r}; expected one of "
                               f"{DATASETS}")


@dataclass(frozen=True)
class DataConfig(_Section):
    """Where the data lives and how it is read (docs/design.md §2)."""

    dataset: str = "cub"  # "cub" (CUB-200-2011), "synthetic_birds" (CUB layout) or "coco"
    data_dir: str = "data/birds"
    use_bbox: bool = True  # CUB bounding-box crop
    skip_bad_images: bool = False  # skip (and count) images that do not decode, else stop

    def __post_init__(self):
        super().__post_init__()
        check_dataset(self.dataset)


@dataclass(frozen=True)
class MirrorGANConfig(_Section):
    """Everything that defines one MirrorGAN setup."""

    name: str = "cub"
    text: TextConfig = field(default_factory=TextConfig)
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    damsm: DAMSMConfig = field(default_factory=DAMSMConfig)
    stream: StreamConfig = field(default_factory=StreamConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    data: DataConfig = field(default_factory=DataConfig)
    compute: ComputeConfig = field(default_factory=ComputeConfig)

    def to_dict(self) -> dict[str, Any]:
        """Nested plain dict, for JSON files."""
        return dataclasses.asdict(self)

    def fingerprint(self) -> dict[str, Any]:
        """:meth:`to_dict` without ``compute``, ``text.min_word_count`` (the vocabulary it gives
        is checked itself: ``vocabulary.txt``) and ``data.skip_bad_images`` (a run that read
        its images without it had no bad one): what a checkpoint must match to resume."""
        values = self.to_dict()
        del values["compute"], values["text"]["min_word_count"], values["data"]["skip_bad_images"]
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> MirrorGANConfig:
        """Inverse of :meth:`to_dict`; the :data:`REMOVED_KEYS` of older files are dropped."""
        kwargs = {}
        for key, value in without_removed_keys(values).items():
            if key != "name" and key not in _SECTION_TYPES:
                raise ConfigValueError(
                    f"unknown config section {key!r}; expected one of {sorted(_SECTION_TYPES)}"
                )
            kwargs[key] = value if key == "name" else _SECTION_TYPES[key](**value)
        return cls(**kwargs)


# Keys that configurations had and no longer have: {dotted key: why}. An older run's
# config.json and checkpoints still hold them; :func:`without_removed_keys` drops them on read.
REMOVED_KEYS = {
    "train.snapshot_interval": "recorded only: checkpoints follow the recipes' --checkpoint_every",
}


def without_removed_keys(values: dict[str, Any]) -> dict[str, Any]:
    """A copy of a configuration dict (:meth:`MirrorGANConfig.to_dict` or ``fingerprint``) without
    :data:`REMOVED_KEYS`; other dicts pass unchanged."""
    values = {key: dict(value) if isinstance(value, dict) else value
              for key, value in values.items()}
    for dotted in REMOVED_KEYS:
        section, _, key = dotted.partition(".")
        if isinstance(values.get(section), dict):
            values[section].pop(key, None)
    return values


_SECTION_TYPES = {name: hint for name, hint in typing.get_type_hints(MirrorGANConfig).items()
                  if name != "name"}  # {"text": TextConfig, …}
_SECTION_NAMES = {hint: name for name, hint in _SECTION_TYPES.items()}


@dataclass(frozen=True)
class Rule:
    """What a value must be beyond its type: ``expected`` (said in errors) and ``test``."""

    expected: str
    test: Callable[[Any], bool]


def at_least(low) -> Rule:
    return Rule(f">= {low}", lambda value: value >= low)


def one_of(choices: tuple) -> Rule:
    return Rule(f"(one of {choices})", lambda value: value in choices)


POSITIVE = Rule("> 0", lambda value: value > 0)
FRACTION = Rule("in [0, 1)", lambda value: 0 <= value < 1)
EVEN = Rule("that is even and >= 2", lambda value: value >= 2 and value % 2 == 0)
POWER_OF_TWO = Rule("that is a power of two >= 8",
                    lambda value: value >= 8 and value & (value - 1) == 0)

# The range of every number (and the choices of some strings), by dotted key.
RULES: dict[str, Rule] = {
    "text.words_num": at_least(1),
    "text.captions_per_image": at_least(1),
    "text.min_word_count": at_least(1),
    "text.word_embedding_dim": at_least(1),
    "text.embedding_dim": EVEN,  # half per direction of the bidirectional LSTM
    "text.dropout": FRACTION,
    "generator.ngf": at_least(1),
    "generator.z_dim": at_least(1),
    "generator.condition_dim": at_least(1),
    "generator.res_blocks": at_least(0),
    "generator.stages": at_least(1),
    "generator.base_size": POWER_OF_TWO,  # 4² doubled by each up-sampling
    "discriminator.ndf": at_least(1),
    "damsm.backbone": one_of(DAMSM_BACKBONES),
    "damsm.image_size": at_least(1),
    "damsm.gamma1": POSITIVE,
    "damsm.gamma2": POSITIVE,
    "damsm.gamma3": POSITIVE,
    "damsm.learning_rate": POSITIVE,
    "damsm.batch_size": at_least(1),
    "damsm.epochs": at_least(1),
    "damsm.rnn_grad_clip": POSITIVE,
    "stream.backbone": one_of(STREAM_BACKBONES),
    "stream.image_size": at_least(1),
    "stream.embed_size": at_least(1),
    "stream.hidden_size": at_least(1),
    "stream.bn_momentum": FRACTION,
    "stream.word_pretraining_epochs": at_least(0),
    "stream.max_caption_length": at_least(1),
    "stream.learning_rate": POSITIVE,
    "stream.batch_size": at_least(1),
    "stream.epochs": at_least(1),
    "train.batch_size": at_least(1),
    "train.max_epoch": at_least(1),
    "train.generator_lr": POSITIVE,
    "train.discriminator_lr": POSITIVE,
    "train.beta_1": FRACTION,
    "train.beta_2": FRACTION,
    "train.lambda_stream": at_least(0),
    "train.lambda_damsm": at_least(0),
    "train.lambda_kl": at_least(0),
    "train.ema_decay": FRACTION,
    "compute.mixed_precision": one_of(MIXED_PRECISION_POLICIES),
}

# The keys that each saved model's weights depend on (their shapes, and the input size the
# encoders were trained at): a run's weight files are only loaded with the values they were
# written with.
WEIGHT_KEYS: dict[str, tuple[str, ...]] = {
    "damsm": ("text.word_embedding_dim", "text.embedding_dim", "damsm.backbone",
              "damsm.image_size"),
    "stream": ("stream.backbone", "stream.image_size", "stream.embed_size", "stream.hidden_size"),
    "generator": ("text.embedding_dim", "generator.ngf", "generator.z_dim",
                  "generator.condition_dim", "generator.res_blocks", "generator.stages",
                  "generator.base_size", "generator.sentence_attention"),
    "discriminator": ("text.embedding_dim", "generator.stages", "generator.base_size",
                      "discriminator.ndf"),
}

_TYPE_NAMES = {bool: "True or False", int: "an integer", float: "a number", str: "a string",
               type(None): "None"}


def check_fields(section) -> None:
    """Checks the type (and the :data:`RULES` range) of every field of a configuration
    dataclass; a float field's int becomes a float. Raises ConfigValueError naming the key."""
    prefix = f"{_SECTION_NAMES[type(section)]}." if type(section) in _SECTION_NAMES else ""
    for name, hint in _field_types(type(section)).items():
        key, value = prefix + name, getattr(section, name)
        kinds = typing.get_args(hint) or (hint,)  # str | None → (str, NoneType)
        rule = RULES.get(key)
        if not any(_is_of(kind, value) for kind in kinds) or (
                rule is not None and value is not None and not rule.test(value)):
            expected = " or ".join(_TYPE_NAMES.get(kind, kind.__name__) for kind in kinds)
            raise ConfigValueError(f"{key}: expected {expected}"
                                   f"{f' {rule.expected}' if rule else ''}, got {value!r}")
        if kinds == (float,):
            object.__setattr__(section, name, float(value))


@functools.cache
def _field_types(cls) -> dict[str, Any]:
    """``{field name: its type}`` of a configuration dataclass."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _is_of(kind, value) -> bool:
    """Whether ``value`` is of the field type ``kind``: a bool is no number, an int is a float,
    a float is finite."""
    if kind is type(None):
        return value is None
    if isinstance(value, bool) or kind is bool:
        return kind is bool and isinstance(value, bool)
    if kind is float:
        return isinstance(value, (int, float)) and math.isfinite(value)
    return isinstance(value, kind)


def _cub() -> MirrorGANConfig:
    return MirrorGANConfig(name="cub")


def _coco() -> MirrorGANConfig:
    return MirrorGANConfig(
        name="coco",
        text=TextConfig(words_num=12, captions_per_image=5),
        generator=GeneratorConfig(ngf=48, res_blocks=3),
        discriminator=DiscriminatorConfig(ndf=96),
        damsm=DAMSMConfig(),
        train=TrainConfig(batch_size=14, max_epoch=120),
        data=DataConfig(dataset="coco", data_dir="data/coco", use_bbox=False),
    )


def _birds_tiny() -> MirrorGANConfig:
    # Tuned so the demo's birds follow their captions within its 15-minute CPU budget; every
    # choice and what it measured: docs/experiments.md.
    return MirrorGANConfig(
        name="birds_tiny",
        text=TextConfig(
            words_num=18, captions_per_image=10, word_embedding_dim=64, embedding_dim=64
        ),
        generator=GeneratorConfig(
            ngf=16, z_dim=32, condition_dim=32, res_blocks=1, stages=2, base_size=32
        ),
        discriminator=DiscriminatorConfig(ndf=16),
        damsm=DAMSMConfig(
            backbone="small", weights=None, image_size=36, freeze_backbone=False, batch_size=32,
            epochs=24,
        ),
        # The CNN is trained with the captioner (nothing pretrained to keep frozen) and keeps
        # its spatial map, so STREAM can tell which part has which colour.
        stream=StreamConfig(
            backbone="small", weights=None, image_size=32, embed_size=64, hidden_size=128,
            freeze_backbone=False, word_pretraining_epochs=0, learning_rate=2e-3, batch_size=32,
            epochs=60,
        ),
        # A short CPU run: a faster moving average (horizon ~100 steps instead of ~1000), a
        # generator learning rate 16× the reference's 2e-4 (the largest single gain) and a
        # heavier re-description term (λ 50 instead of 20: colours land in the right parts).
        train=TrainConfig(batch_size=32, max_epoch=30, ema_decay=0.99, generator_lr=3.2e-3,
                          lambda_stream=50.0),
        data=DataConfig(dataset="synthetic_birds", data_dir="data/synthetic_birds", use_bbox=True),
        # 2,400 small images: decoded once (166 MB at 64²), not every batch on the 2 cores.
        compute=ComputeConfig(cache_images=True),
    )


PRESETS = {"cub": _cub, "coco": _coco, "birds_tiny": _birds_tiny}


def get_preset(name: str) -> MirrorGANConfig:
    """Returns the named preset ("cub", "coco" or "birds_tiny")."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; expected one of {sorted(PRESETS)}")
    return PRESETS[name]()


def override(config: MirrorGANConfig, values: dict[str, Any]) -> MirrorGANConfig:
    """Returns a copy of ``config`` with dotted keys replaced, e.g. ``{"train.batch_size": 8}``;
    raises ConfigValueError for an unknown key or a value of the wrong type or range."""
    sections = {}
    for dotted, value in values.items():
        section, _, key = dotted.partition(".")
        if section not in _SECTION_TYPES or key not in _field_types(_SECTION_TYPES[section]):
            raise ConfigValueError(f"unknown config key {dotted!r}")
        current = sections.get(section, getattr(config, section))
        sections[section] = dataclasses.replace(current, **{key: value})
    return dataclasses.replace(config, **sections)
