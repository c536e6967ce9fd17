"""Models that compose the layers; each training model owns its ``train_step``."""

from mirrorgan_keras.models.generator import GLAMGenerator

__all__ = ["GLAMGenerator"]
