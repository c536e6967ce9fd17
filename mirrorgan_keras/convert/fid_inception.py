"""The FID Inception's weights: pytorch-fid's ``pt_inception-2015-12-05-6726825d.pth`` (or
torch-fidelity's ``weights-inception-2015-12-05-6726825d.pth``, the same tensors) into
:func:`~mirrorgan_keras.layers.torch_inception.fid_inception_v3`, or a ``.weights.h5`` file
written from it (docs/evaluation.md).

The state dict holds torchvision's ``BasicConv2d`` tensors under the module paths the Keras
layers are named after, and ``fc.weight`` ``[1008, 2048]`` / ``fc.bias`` ``[1008]``; every key
must be used and have its shape (:func:`~mirrorgan_keras.convert.state_dict.assign_state`).
Reading a ``.pth`` file needs PyTorch (``pip install -e '.[torch]'``); convert it once with
:func:`convert_fid_inception` (``recipes/convert_torch.py --fid_inception``) to score where
PyTorch is not installed.
"""

from __future__ import annotations

from pathlib import Path

import keras

from mirrorgan_keras.convert.encoders import inception_unit_rules
from mirrorgan_keras.convert.state_dict import (
    CheckpointConversionError,
    assign_state,
    dense_kernel,
    load_state_dict,
    vector,
)
from mirrorgan_keras.layers.torch_inception import fid_inception_v3
from mirrorgan_keras.runtime.run_files import atomic_path

FID_MODULE = "the FID Inception (pytorch-fid's pt_inception-2015-12-05, 1008 classes)"
TORCH_SUFFIX = ".pth"
KERAS_SUFFIX = ".weights.h5"


def fid_inception_rules(model: keras.Model) -> list:
    """The rules that fill :func:`fid_inception_v3` from pytorch-fid's state dict."""
    fc = model.get_layer("fc")
    return inception_unit_rules(model) + [dense_kernel("fc.weight", fc.kernel),
                                          vector("fc.bias", fc.bias)]


def load_fid_inception_weights(model: keras.Model, path: str | Path) -> None:
    """Fills a built :func:`fid_inception_v3` from a ``.pth`` state dict or a ``.weights.h5``
    file; a file of another network, or one that does not read, raises
    :class:`CheckpointConversionError` naming the file and what was expected."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"FID Inception weights file {path} does not exist")
    if path.name.endswith(KERAS_SUFFIX):
        _load_keras_weights(model, path)
    elif path.suffix == TORCH_SUFFIX:
        assign_state(load_state_dict(path), fid_inception_rules(model), FID_MODULE, path)
    else:
        raise ValueError(f"FID Inception weights must be a {TORCH_SUFFIX} state dict "
                         f"(pytorch-fid's) or a {KERAS_SUFFIX} file, got {path}")


def _load_keras_weights(model: keras.Model, path: Path) -> None:
    try:
        model.load_weights(path)
    except (ValueError, OSError, KeyError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointConversionError(
            f"{path} is not a {KERAS_SUFFIX} file of {FID_MODULE} ({first}); expected the file "
            "recipes/convert_torch.py --fid_inception writes"
        ) from None


def convert_fid_inception(state_dict_path: str | Path, output: str | Path) -> keras.Model:
    """pytorch-fid's ``.pth`` → ``output`` (a ``.weights.h5`` file, written atomically);
    returns the filled model."""
    output = Path(output)
    if not output.name.endswith(KERAS_SUFFIX):
        raise ValueError(f"the output must end with {KERAS_SUFFIX}, got {output}")
    model = fid_inception_v3()
    load_fid_inception_weights(model, state_dict_path)
    with atomic_path(output) as staging:
        model.save_weights(str(staging))
    return model
