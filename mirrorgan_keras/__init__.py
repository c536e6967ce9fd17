"""MirrorGAN text-to-image generation in Keras 3 / TensorFlow.

The names below are imported on first use, so ``import mirrorgan_keras`` stays cheap (no
TensorFlow until a model is touched)::

    import mirrorgan_keras as mk

    model = mk.TextToImage.from_run("runs/demo")
    config = mk.override(mk.get_preset("birds_tiny"), {"train.lambda_stream": 10.0})
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"  # the one place of the version: pyproject.toml reads it

_EXPORTS = {
    "TextToImage": "mirrorgan_keras.models.text_to_image",
    "get_preset": "mirrorgan_keras.config",
    "override": "mirrorgan_keras.config",
    "MirrorGANConfig": "mirrorgan_keras.config",
    "DAMSM": "mirrorgan_keras.models",
    "STREAM": "mirrorgan_keras.models",
    "MirrorGAN": "mirrorgan_keras.models",
    "GLAMGenerator": "mirrorgan_keras.models",
}

__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'mirrorgan_keras' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
