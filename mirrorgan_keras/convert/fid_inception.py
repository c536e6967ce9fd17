"""The FID networks' weights, from the PyTorch files the field's FID code loads, into the Keras
models of :mod:`mirrorgan_keras.layers.torch_inception` (docs/evaluation.md):

- ``"tf2015"``: pytorch-fid's ``pt_inception-2015-12-05-6726825d.pth`` (torch-fidelity's
  ``weights-inception-2015-12-05-6726825d.pth`` holds the same tensors) into
  :func:`~mirrorgan_keras.layers.torch_inception.fid_inception_v3`;
- ``"torchvision"``: torchvision's ImageNet ``inception_v3_google-*.pth`` (what DM-GAN's,
  DF-GAN's and GALIP's FID code loads) into
  :func:`~mirrorgan_keras.layers.torch_inception.torchvision_inception_v3`. Its auxiliary
  classifier (``AuxLogits.*``, a training-time head no FID reads) is checked to be there and
  left out.

Both state dicts hold torchvision's ``BasicConv2d`` tensors under the module paths the Keras
layers are named after, and ``fc.weight`` / ``fc.bias``; every other key must be used and have
its shape (:func:`~mirrorgan_keras.convert.state_dict.assign_state`), so one network's file is
refused for the other (``fc`` has 1008 outputs in one, 1000 in the other). Reading a ``.pth``
file needs PyTorch (``pip install -e '.[torch]'``); :func:`convert_fid_inception`
(``recipes/convert_torch.py --fid_inception``) writes a ``.weights.h5`` that is read without it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import keras

from mirrorgan_keras.convert.encoders import inception_unit_rules
from mirrorgan_keras.convert.state_dict import (
    CheckpointConversionError,
    assign_state,
    dense_kernel,
    load_converted_weights,
    load_state_dict,
    vector,
)
from mirrorgan_keras.layers.torch_inception import fid_inception_v3, torchvision_inception_v3
from mirrorgan_keras.runtime.run_files import atomic_path

TORCH_SUFFIX = ".pth"
KERAS_SUFFIX = ".weights.h5"


@dataclasses.dataclass(frozen=True)
class FIDNetwork:
    """One FID network: its Keras builder, what its PyTorch file is, the keys of that file
    that are checked but not used, and the SHA-256 prefixes of its published files (torch.hub
    names a file after the start of its hash)."""

    name: str
    build: Callable[[], keras.Model]
    module: str
    unused_prefix: str | None
    published_sha256_prefixes: tuple[str, ...]


FID_NETWORKS = {
    "tf2015": FIDNetwork(
        "tf2015", fid_inception_v3,
        "the FID Inception (pytorch-fid's pt_inception-2015-12-05, 1008 classes)", None,
        ("6726825d",)),
    "torchvision": FIDNetwork(
        "torchvision", torchvision_inception_v3,
        "torchvision's ImageNet Inception-v3 (inception_v3_google, 1000 classes, aux head)",
        "AuxLogits.", ("0cc3c7bd", "1a9a5a14")),
}


def fid_network_rules(model: keras.Model) -> list:
    """The rules that fill a :mod:`~mirrorgan_keras.layers.torch_inception` classifier from
    its state dict: every ``BasicConv2d`` tensor and ``fc``."""
    fc = model.get_layer("fc")
    return inception_unit_rules(model) + [dense_kernel("fc.weight", fc.kernel),
                                          vector("fc.bias", fc.bias)]


def load_fid_inception_weights(model: keras.Model, path: str | Path,
                               network: str = "tf2015") -> None:
    """Fills a built network (``FID_NETWORKS[network].build()``) from a ``.pth`` state dict or
    a ``.weights.h5`` file; a file of another network, or one that does not read, raises
    :class:`CheckpointConversionError` naming the file and what was expected."""
    spec = FID_NETWORKS[network]
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"FID Inception weights file {path} does not exist")
    if path.name.endswith(KERAS_SUFFIX):
        load_converted_weights(model, path, spec.module)
    elif path.suffix == TORCH_SUFFIX:
        assign_state(_without_unused(load_state_dict(path), spec, path),
                     fid_network_rules(model), spec.module, path)
    else:
        raise ValueError(f"FID Inception weights must be a {TORCH_SUFFIX} state dict or a "
                         f"{KERAS_SUFFIX} file, got {path}")


def _without_unused(state: dict, spec: FIDNetwork, path: Path) -> dict:
    """``state`` without the keys the network checks but does not use (they must be there)."""
    if spec.unused_prefix is None:
        return state
    if not any(key.startswith(spec.unused_prefix) for key in state):
        raise CheckpointConversionError(
            f"{path} does not match {spec.module}: no {spec.unused_prefix}* tensors")
    return {key: value for key, value in state.items()
            if not key.startswith(spec.unused_prefix)}


def convert_fid_inception(state_dict_path: str | Path, output: str | Path,
                          network: str = "tf2015") -> keras.Model:
    """A FID network's ``.pth`` → ``output`` (a ``.weights.h5`` file, written atomically);
    returns the filled model."""
    output = Path(output)
    if not output.name.endswith(KERAS_SUFFIX):
        raise ValueError(f"the output must end with {KERAS_SUFFIX}, got {output}")
    model = FID_NETWORKS[network].build()
    load_fid_inception_weights(model, state_dict_path, network)
    with atomic_path(output) as staging:
        model.save_weights(str(staging))
    return model
