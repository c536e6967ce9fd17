"""The top-level package: its version, and its names imported on first use (no TensorFlow for
``import mirrorgan_keras`` and the configuration helpers)."""

import importlib.metadata
import subprocess
import sys
import textwrap

import pytest

import mirrorgan_keras as mk
from mirrorgan_keras import config, models
from mirrorgan_keras.models.text_to_image import TextToImage


def test_version_is_the_installed_distribution_version():
    assert mk.__version__ == importlib.metadata.version("mirrorgan_keras")


def test_exported_names_are_the_package_objects():
    assert mk.TextToImage is TextToImage
    assert (mk.get_preset, mk.override, mk.MirrorGANConfig) == (
        config.get_preset, config.override, config.MirrorGANConfig)
    assert (mk.DAMSM, mk.STREAM, mk.MirrorGAN, mk.GLAMGenerator) == (
        models.DAMSM, models.STREAM, models.MirrorGAN, models.GLAMGenerator)
    assert set(mk.__all__) <= set(dir(mk))
    with pytest.raises(AttributeError, match="no attribute 'Nothing'"):
        mk.Nothing  # noqa: B018


def test_importing_the_package_and_its_config_helpers_loads_no_tensorflow():
    script = textwrap.dedent("""
        import sys
        import mirrorgan_keras as mk
        mk.override(mk.get_preset("cub"), {"train.lambda_stream": 10.0})
        print(mk.__version__, sorted(name for name in sys.modules
                                     if name.split(".")[0] in ("tensorflow", "keras")))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == [mk.__version__, "[]"]
