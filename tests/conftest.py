"""Test-wide settings: quiet TensorFlow on the CPU split into 2 logical devices (for the
multi-replica tests), deterministic seeds; a tiny run directory with random weights and its
export."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

# torchvision (which pytorch-fid and torch-fidelity import, the metric tests' references)
# must load before TensorFlow: loaded after it, its Triton library crashes the process.
try:
    import torchvision  # noqa: E402, F401
except ImportError:  # the torch extra is not installed: those tests skip
    pass

import tensorflow as tf  # noqa: E402

tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices("CPU")[0], [tf.config.LogicalDeviceConfiguration()] * 2
)

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(1234)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def two_replicas():
    """One MirroredStrategy over the 2 logical CPUs for the whole session: collective instance
    keys restart with every new strategy and would collide with those of an earlier one."""
    return tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A run directory of the tiny test configuration with random weights and its own
    vocabulary (tests.models.factories.write_tiny_run); copy it before writing into it."""
    from tests.models.factories import write_tiny_run

    return write_tiny_run(tmp_path_factory.mktemp("tiny_run"))


@pytest.fixture(scope="session")
def tiny_export(tiny_run, tmp_path_factory):
    """The SavedModel (version directory) exported from :func:`tiny_run`."""
    from mirrorgan_keras.models.text_to_image import TextToImage

    return TextToImage.from_run(tiny_run).export(tmp_path_factory.mktemp("tiny_export"))
