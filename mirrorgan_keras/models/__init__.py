"""Models that compose the layers; each training model owns its ``train_step``."""

from mirrorgan_keras.models.damsm import DAMSM, DAMSMLearningRate
from mirrorgan_keras.models.generator import GLAMGenerator
from mirrorgan_keras.models.mirrorgan import (
    MirrorGAN,
    adam_optimizers,
    load_discriminators,
    save_initial_state,
    stage_discriminators,
)
from mirrorgan_keras.models.stream import STREAM, WordPresencePretrainer

__all__ = [
    "DAMSM",
    "STREAM",
    "DAMSMLearningRate",
    "GLAMGenerator",
    "MirrorGAN",
    "WordPresencePretrainer",
    "adam_optimizers",
    "load_discriminators",
    "save_initial_state",
    "stage_discriminators",
]
