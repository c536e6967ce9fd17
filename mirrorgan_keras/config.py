"""Configuration as data: frozen dataclasses and the named presets.

Numbers come from the official configs (docs/design.md §1):

- ``"cub"``: MirrorGAN's ``train_bird.yml`` (ngf 32, ndf 64, batch 12, 64/128/256).
- ``"coco"``: AttnGAN's COCO sizes (ngf 48, ndf 96, 3 res-blocks, 12 words, 5 captions) with the
  STREAM loss added, since MirrorGAN ships no COCO config.
- ``"birds_tiny"``: a CPU preset for the synthetic birds (32² → 64², ngf = ndf = 16, small CNN
  backbones) that trains end to end in minutes on 2 cores.

``compute`` says how the steps run (XLA, mixed precision), not what they compute; it is left
out of the checkpoint fingerprint (:meth:`MirrorGANConfig.fingerprint`), so a run may resume
with other settings.

Example::

    config = get_preset("cub")
    config = override(config, {"train.lambda_stream": 10.0, "generator.sentence_attention": False})
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class TextConfig:
    """Caption handling and the STEM text encoder (docs/design.md §2, §3)."""

    words_num: int = 18  # captions are cut (random order-preserving subset) or padded to this
    captions_per_image: int = 10
    word_embedding_dim: int = 300  # STEM embedding width
    embedding_dim: int = 256  # nef: word and sentence feature width (both directions)
    dropout: float = 0.5


@dataclass(frozen=True)
class GeneratorConfig:
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
class DiscriminatorConfig:
    """One discriminator per stage (docs/design.md §6)."""

    ndf: int = 64


@dataclass(frozen=True)
class DAMSMConfig:
    """DAMSM image encoder and pretraining (docs/design.md §4)."""

    # "inception_v3" (Keras's), "inception_v3_torch" (torchvision's function, for DAMSM
    # encoders converted from PyTorch: recipes/convert_torch.py) or "small" (CPU preset)
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
class StreamConfig:
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
class TrainConfig:
    """MirrorGAN training loop (docs/design.md §8)."""

    batch_size: int = 12
    max_epoch: int = 650
    snapshot_interval: int = 50  # epochs
    generator_lr: float = 2e-4
    discriminator_lr: float = 2e-4
    beta_1: float = 0.5
    beta_2: float = 0.999
    lambda_stream: float = 20.0  # paper's best; the released yml uses 10
    lambda_damsm: float = 0.0  # 0 = MirrorGAN code; 5 (CUB) / 50 (COCO) = AttnGAN
    lambda_kl: float = 1.0
    ema_decay: float = 0.999


MIXED_PRECISION_POLICIES = (None, "float32", "mixed_bfloat16", "mixed_float16")


@dataclass(frozen=True)
class ComputeConfig:
    """How every training step is computed (README, section Performance).

    ``jit_compile``: compile the steps with XLA (on a 2-core CPU it was slower: measure first).
    ``mixed_precision``: a Keras dtype policy: None or "float32" (default), "mixed_bfloat16"
    (CPUs with AMX/AVX-512 BF16, TPUs, recent GPUs) or "mixed_float16" (GPUs; with dynamic loss
    scaling). Variables, losses, softmaxes, batch-norm statistics and the images stay float32.
    """

    jit_compile: bool = False
    mixed_precision: str | None = None

    def __post_init__(self):
        if self.mixed_precision not in MIXED_PRECISION_POLICIES:
            raise ValueError(f"mixed_precision must be one of {MIXED_PRECISION_POLICIES}, "
                             f"got {self.mixed_precision!r}")


DATASETS = ("cub", "synthetic_birds", "coco")  # the values of DataConfig.dataset


def check_dataset(name: str) -> None:
    """Raises ValueError when ``name`` is not one of :data:`DATASETS`; says what to write
    for "birds", the earlier name of "cub"."""
    if name == "birds":
        raise ValueError(
            'data.dataset "birds" is now "cub" (CUB-200-2011; the synthetic set is '
            '"synthetic_birds"): write "dataset": "cub" in the configuration (for a run, in '
            'the "data" section of <run_dir>/config.json)'
        )
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; expected one of {DATASETS}")


@dataclass(frozen=True)
class DataConfig:
    """Where the data lives and how it is read (docs/design.md §2)."""

    dataset: str = "cub"  # "cub" (CUB-200-2011), "synthetic_birds" (CUB layout) or "coco"
    data_dir: str = "data/birds"
    use_bbox: bool = True  # CUB bounding-box crop

    def __post_init__(self):
        check_dataset(self.dataset)


@dataclass(frozen=True)
class MirrorGANConfig:
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
        """:meth:`to_dict` without ``compute``: what a checkpoint must match to resume."""
        values = self.to_dict()
        del values["compute"]
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> MirrorGANConfig:
        """Inverse of :meth:`to_dict`."""
        sections = {f.name: f.type for f in dataclasses.fields(cls)}
        kwargs = {}
        for key, value in values.items():
            if key not in sections:
                raise ValueError(
                    f"unknown config section {key!r}; expected one of {sorted(sections)}"
                )
            kwargs[key] = value if key == "name" else _SECTION_TYPES[key](**value)
        return cls(**kwargs)


_SECTION_TYPES = {
    "text": TextConfig,
    "generator": GeneratorConfig,
    "discriminator": DiscriminatorConfig,
    "damsm": DAMSMConfig,
    "stream": StreamConfig,
    "train": TrainConfig,
    "data": DataConfig,
    "compute": ComputeConfig,
}


def _cub() -> MirrorGANConfig:
    return MirrorGANConfig(name="cub")


def _coco() -> MirrorGANConfig:
    return MirrorGANConfig(
        name="coco",
        text=TextConfig(words_num=12, captions_per_image=5),
        generator=GeneratorConfig(ngf=48, res_blocks=3),
        discriminator=DiscriminatorConfig(ndf=96),
        damsm=DAMSMConfig(),
        train=TrainConfig(batch_size=14, max_epoch=120, snapshot_interval=5),
        data=DataConfig(dataset="coco", data_dir="data/coco", use_bbox=False),
    )


def _birds_tiny() -> MirrorGANConfig:
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
            backbone="small", weights=None, image_size=68, freeze_backbone=False, batch_size=32,
            epochs=10,
        ),
        stream=StreamConfig(
            backbone="small", weights=None, image_size=64, embed_size=64, hidden_size=128,
            word_pretraining_epochs=4, learning_rate=2e-3, batch_size=32, epochs=20,
        ),
        # A short CPU run: a faster moving average (horizon ~100 steps instead of ~1000).
        train=TrainConfig(batch_size=32, max_epoch=25, snapshot_interval=5, ema_decay=0.99),
        data=DataConfig(dataset="synthetic_birds", data_dir="data/synthetic_birds", use_bbox=True),
    )


PRESETS = {"cub": _cub, "coco": _coco, "birds_tiny": _birds_tiny}


def get_preset(name: str) -> MirrorGANConfig:
    """Returns the named preset ("cub", "coco" or "birds_tiny")."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; expected one of {sorted(PRESETS)}")
    return PRESETS[name]()


def override(config: MirrorGANConfig, values: dict[str, Any]) -> MirrorGANConfig:
    """Returns a copy of ``config`` with dotted keys replaced, e.g. ``{"train.batch_size": 8}``."""
    sections = {}
    for dotted, value in values.items():
        section, _, key = dotted.partition(".")
        current = sections.get(section, getattr(config, section, None))
        if current is None or not key:
            raise ValueError(f"unknown config key {dotted!r}")
        if key not in {f.name for f in dataclasses.fields(current)}:
            raise ValueError(f"unknown config key {dotted!r}")
        sections[section] = dataclasses.replace(current, **{key: value})
    return dataclasses.replace(config, **sections)
