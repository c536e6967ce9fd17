"""Reading PyTorch state dicts and assigning their tensors to Keras variables, key by key.

A conversion is a list of :class:`TensorRule`: which checkpoint key(s) fill which Keras
variable, the checkpoint shape that implies, and how the array is rearranged (PyTorch's
convolution kernels are ``[out, in, h, w]``, Keras's ``[h, w, in, out]``; a PyTorch Linear
weight is ``[out, in]``, a Keras Dense kernel ``[in, out]``). :func:`assign_state` refuses a
checkpoint unless every key is used by exactly the rules and has the expected shape.
"""

from __future__ import annotations

import dataclasses
import pickle
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

DATA_PARALLEL_PREFIX = "module."
# Batch-norm step counters (PyTorch ≥ 0.4.1): Keras's batch norm has none, and with a momentum
# they change nothing; consumed with the batch norm's other tensors, present or not.
BATCH_COUNTER = "num_batches_tracked"
_MAX_LISTED = 20


class CheckpointConversionError(ValueError):
    """A checkpoint does not hold what the reference module it should come from holds."""


@dataclasses.dataclass(frozen=True)
class TensorRule:
    """Checkpoint tensors ``keys`` (of ``shapes``) → ``to_keras(*arrays)`` → ``variable``."""

    keys: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    variable: object  # a keras.Variable
    to_keras: Callable[..., np.ndarray]


def _same(array):
    return array


def vector(key: str, variable) -> TensorRule:
    """A tensor stored the same way in both libraries (biases, batch-norm vectors)."""
    return TensorRule((key,), (tuple(variable.shape),), variable, _same)


def conv_kernel(key: str, variable) -> TensorRule:
    """A convolution weight ``[out, in, h, w]`` → Keras kernel ``[h, w, in, out]``."""
    height, width, inputs, outputs = variable.shape
    return TensorRule((key,), ((outputs, inputs, height, width),), variable,
                      lambda weight: weight.transpose(2, 3, 1, 0))


def dense_kernel(key: str, variable, from_conv1x1: bool = False,
                 columns: np.ndarray | None = None) -> TensorRule:
    """A Linear weight ``[out, in]`` (or a 1×1 convolution's ``[out, in, 1, 1]`` with
    ``from_conv1x1``) → Keras Dense kernel ``[in, out]``. ``columns[k]``: the checkpoint's output
    unit that becomes Keras's unit ``k`` (default: the same)."""
    inputs, outputs = variable.shape
    shape = (outputs, inputs, 1, 1) if from_conv1x1 else (outputs, inputs)

    def to_keras(weight):
        kernel = weight.reshape(outputs, inputs).T
        return kernel if columns is None else kernel[:, columns]

    return TensorRule((key,), (shape,), variable, to_keras)


def permuted_vector(key: str, variable, order: np.ndarray) -> TensorRule:
    """A per-unit vector whose Keras entry ``k`` is the checkpoint's entry ``order[k]``."""
    return TensorRule((key,), (tuple(variable.shape),), variable, lambda value: value[order])


def batch_norm_rules(prefix: str, layer, order: np.ndarray | None = None) -> list[TensorRule]:
    """``<prefix>.weight / bias / running_mean / running_var`` → a Keras BatchNormalization's
    gamma / beta / moving mean / moving variance (entries reordered by ``order`` if given)."""
    pairs = (("weight", layer.gamma), ("bias", layer.beta), ("running_mean", layer.moving_mean),
             ("running_var", layer.moving_variance))
    if order is None:
        return [vector(f"{prefix}.{name}", variable) for name, variable in pairs]
    return [permuted_vector(f"{prefix}.{name}", variable, order) for name, variable in pairs]


def load_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """The tensors of a PyTorch state dict file as float/int NumPy arrays, by key.

    Reads the zip format (PyTorch ≥ 1.6) and the legacy pickle format (earlier releases, the
    published AttnGAN files) with ``torch.load(weights_only=True)``: plain tensors only, no
    code runs. Keys saved from a ``DataParallel`` wrapper lose their ``module.`` prefix. A file
    that is not a state dict raises :class:`CheckpointConversionError`.
    """
    import torch  # the optional extra: pip install -e '.[torch]'

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint file {path}")
    try:
        content = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, AttributeError,
            ImportError, TypeError) as error:
        raise CheckpointConversionError(
            f"{path} is not a PyTorch state dict file (torch.load: {_first_line(error)}); "
            "expected the file torch.save(module.state_dict(), ...) writes"
        ) from None
    if not isinstance(content, Mapping) or not content or not all(
        isinstance(key, str) and isinstance(value, torch.Tensor) for key, value in content.items()
    ):
        raise CheckpointConversionError(
            f"{path} holds a {type(content).__name__}, not a state dict (a mapping of names to "
            "tensors)"
        )
    if all(key.startswith(DATA_PARALLEL_PREFIX) for key in content):
        content = {key[len(DATA_PARALLEL_PREFIX):]: value for key, value in content.items()}
    return {key: value.detach().cpu().numpy() for key, value in content.items()}


def _first_line(error: Exception) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def assign_state(state: Mapping[str, np.ndarray], rules: Sequence[TensorRule], module: str,
                 source: str | Path) -> None:
    """Assigns every rule's tensors; first checks that the keys of ``state`` are exactly the
    rules' keys (plus optional batch-norm counters) with the rules' shapes.

    Raises :class:`CheckpointConversionError` listing each unknown key, missing key and shape
    mismatch with the expected shape and ``module`` (the reference module and its sizes).
    """
    expected = {key: shape for rule in rules for key, shape in zip(rule.keys, rule.shapes,
                                                                   strict=True)}
    problems = [
        f"unknown key {key!r} (shape {tuple(state[key].shape)}): {module} has no such tensor"
        for key in state if key not in expected and not _is_batch_counter(key, expected)
    ]
    for key, shape in expected.items():
        if key not in state:
            problems.append(f"missing key {key!r}: {module} expects shape {shape}")
        elif tuple(state[key].shape) != shape:
            problems.append(f"key {key!r} has shape {tuple(state[key].shape)}: {module} "
                            f"expects shape {shape}")
    if problems:
        listed = problems[:_MAX_LISTED]
        if len(problems) > _MAX_LISTED:
            listed.append(f"… and {len(problems) - _MAX_LISTED} more")
        raise CheckpointConversionError(
            f"{source} does not match {module}:\n  " + "\n  ".join(listed)
        )
    for rule in rules:
        value = rule.to_keras(*(state[key] for key in rule.keys))
        rule.variable.assign(np.asarray(value, dtype=rule.variable.dtype))


def _is_batch_counter(key: str, expected: Mapping) -> bool:
    prefix, _, name = key.rpartition(".")
    return name == BATCH_COUNTER and f"{prefix}.running_mean" in expected


def require_shape(state: Mapping[str, np.ndarray], key: str, rank: int, *, module: str,
                  source: str | Path, purpose: str) -> tuple[int, ...]:
    """The shape of ``state[key]``, read to infer ``purpose``; a missing key or another rank
    raises :class:`CheckpointConversionError`."""
    if key not in state:
        raise CheckpointConversionError(
            f"{source} does not match {module}: missing key {key!r} (needed to infer {purpose})"
        )
    shape = tuple(state[key].shape)
    if len(shape) != rank:
        raise CheckpointConversionError(
            f"{source} does not match {module}: key {key!r} has shape {shape}, expected "
            f"{rank} dimensions (it gives {purpose})"
        )
    return shape


def load_converted_weights(model, path: str | Path, module: str) -> None:
    """``model.load_weights(path)`` for a ``.weights.h5`` conversion of ``module``; a file of
    another network, or one that does not read, raises :class:`CheckpointConversionError`
    naming the file and what was expected."""
    try:
        model.load_weights(str(path))
    except (ValueError, OSError, KeyError) as error:
        raise CheckpointConversionError(
            f"{path} is not a .weights.h5 file of {module} ({_first_line(error)}); expected "
            "the file recipes/convert_scorers.py writes"
        ) from None
