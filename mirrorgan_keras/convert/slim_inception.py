"""Reading a TF1 checkpoint of slim's Inception-v3 (StackGAN's fine-tuned birds Inception,
``model.ckpt-5000``) into :func:`mirrorgan_keras.layers.slim_inception.slim_inception_v3`.

The checkpoint is read with ``tf.train.load_checkpoint`` (both TF1 formats: one file, or
``.index`` + ``.data-*``); no graph is built. A variable maps to a layer by name (module
docstring of :mod:`mirrorgan_keras.layers.slim_inception`).

Moving averages: the reference evaluation restores
``tf.train.ExponentialMovingAverage(0.9999).variables_to_restore()``, i.e. every trainable
variable *and* every variable of the moving-average collection, where slim puts the batch
norms' moving mean and variance, from its shadow ``<name>/ExponentialMovingAverage`` (the
training script averages both: a "double average" of the batch-norm statistics). So with
``use_moving_averages=True`` (the default, the reference) every value read is a shadow:
``weights``, ``biases``, ``beta``, ``moving_mean`` and ``moving_variance``; with False the
raw variables are read. Other variables (``global_step``, optimizer slots such as
``<name>/RMSProp``, the auxiliary head when the model has none) are ignored; a variable under
the network's scopes that the model does not have (e.g. a batch-norm ``gamma``), a missing one
or a shape mismatch raises :class:`CheckpointConversionError`.

Example::

    model = load_slim_inception_checkpoint("inception_finetuned_models/birds_valid299/"
                                           "model.ckpt-5000")
    model.save_weights("birds_inception.weights.h5")  # read later without TensorFlow's reader
"""

from __future__ import annotations

from pathlib import Path

import keras
import tensorflow as tf

from mirrorgan_keras.convert.state_dict import CheckpointConversionError, assign_state, vector
from mirrorgan_keras.layers.slim_inception import (
    AUX_SCOPE,
    REFERENCE_SIZE,
    SCOPE_SEPARATOR,
    scope_of,
    slim_inception_v3,
)
from mirrorgan_keras.runtime.run_files import atomic_path

SHADOW_SUFFIX = "/ExponentialMovingAverage"
LOGITS_BIASES = "logits/logits/biases"
MODULE = "slim's Inception-v3 (the original TF-Slim of tensorflow/models)"
_EXAMPLES = 3

# The checkpoint's variable names under a layer's scope, by Keras layer type.
_VARIABLES = {
    keras.layers.Conv2D: (("weights", "kernel"),),
    keras.layers.BatchNormalization: (("beta", "beta"), ("moving_mean", "moving_mean"),
                                      ("moving_variance", "moving_variance")),
    keras.layers.Dense: (("weights", "kernel"), ("biases", "bias")),
}


def slim_variables(model: keras.Model) -> dict[str, object]:
    """``{slim variable name: Keras variable}`` of a :func:`slim_inception_v3` model."""
    variables = {}
    for layer in model.layers:
        for checkpoint_name, attribute in _VARIABLES.get(type(layer), ()):
            scope = scope_of(layer.name)
            variables[f"{scope}{SCOPE_SEPARATOR}{checkpoint_name}"] = getattr(layer, attribute)
    return variables


def open_checkpoint(path: str | Path):
    """A ``tf.train.load_checkpoint`` reader of ``path`` (a prefix such as
    ``model.ckpt-5000``, or a directory with a ``checkpoint`` file).

    Raises:
        FileNotFoundError: nothing exists at ``path``.
        CheckpointConversionError: ``path`` is not a readable TensorFlow checkpoint.
    """
    path = Path(path)
    if not (path.exists() or Path(f"{path}.index").is_file()):
        raise FileNotFoundError(f"no checkpoint {path} (neither {path} nor {path}.index)")
    try:
        return tf.train.load_checkpoint(str(path))
    except (tf.errors.OpError, ValueError) as error:
        raise _not_a_checkpoint(path, error) from None


def _not_a_checkpoint(path, error) -> CheckpointConversionError:
    message = str(getattr(error, "message", error)).strip().splitlines()
    return CheckpointConversionError(
        f"{path} is not a readable TensorFlow checkpoint ({message[0] if message else error}); "
        "expected the prefix of a tf.train.Saver checkpoint such as model.ckpt-5000"
    )


def load_slim_inception_checkpoint(path: str | Path, model: keras.Model | None = None, *,
                                   use_moving_averages: bool = True) -> keras.Model:
    """Fills ``model`` (default: a new :func:`slim_inception_v3` at 299 with the checkpoint's
    class count) from the checkpoint at ``path`` and returns it.

    Args:
        path: checkpoint prefix, e.g. ``…/birds_valid299/model.ckpt-5000``.
        model: a :func:`slim_inception_v3` model (any image size; its auxiliary head, if any,
            is filled too).
        use_moving_averages: read the ``ExponentialMovingAverage`` shadows (the reference) or
            the raw variables.

    Raises:
        FileNotFoundError, CheckpointConversionError: see :func:`open_checkpoint`; also a
            checkpoint of another network, a missing or unexpected variable, a shape mismatch.
    """
    reader = open_checkpoint(path)
    shapes = reader.get_variable_to_shape_map()
    if model is None:
        model = slim_inception_v3(_class_count(shapes, path), image_size=REFERENCE_SIZE)
    variables = slim_variables(model)
    suffix = SHADOW_SUFFIX if use_moving_averages else ""
    _check_network(shapes, variables, suffix, path)
    keys = _keys_to_read(shapes, variables, suffix, _model_scopes(variables))
    try:
        state = {key: reader.get_tensor(key) for key in keys}
    except tf.errors.OpError as error:
        raise _not_a_checkpoint(path, error) from None
    rules = [vector(f"{name}{suffix}", variable) for name, variable in variables.items()]
    assign_state(state, rules, _module(model, suffix), path)
    return model


def _class_count(shapes, path) -> int:
    """The class count the checkpoint's ``logits/logits/biases`` gives."""
    for key in (LOGITS_BIASES + SHADOW_SUFFIX, LOGITS_BIASES):
        if len(shapes.get(key, ())) == 1:
            return int(shapes[key][0])
    raise _another_network(shapes, path)


def _model_scopes(variables) -> set[str]:
    """The top-level scopes of the reference network (the auxiliary head's even if the model
    leaves it out, so its variables are recognised and skipped)."""
    return {name.split(SCOPE_SEPARATOR)[0] for name in variables} | {AUX_SCOPE}


def _check_network(shapes, variables, suffix, path) -> None:
    """Raises when no variable of the network is in the checkpoint, or (with shadows) when
    none of its variables has a shadow."""
    found = [name for name in variables if name in shapes or f"{name}{SHADOW_SUFFIX}" in shapes]
    if not found:
        raise _another_network(shapes, path)
    if suffix and not any(f"{name}{suffix}" in shapes for name in variables):
        raise CheckpointConversionError(
            f"{path} has the variables of {MODULE} but none of their {suffix[1:]} shadows "
            f"(e.g. no {found[0]}{suffix!s}), which the reference evaluation restores; pass "
            "use_moving_averages=False to read the raw variables"
        )


def _another_network(shapes, path) -> CheckpointConversionError:
    examples = sorted(shapes)[:_EXAMPLES]
    return CheckpointConversionError(
        f"{path} is not a checkpoint of {MODULE}: it has no variable {LOGITS_BIASES!r} "
        f"nor any other of that network (it holds {len(shapes)} variables, e.g. {examples})"
    )


def _keys_to_read(shapes, variables, suffix, scopes) -> list[str]:
    """The checkpoint keys of the network that the model reads or does not know.

    Skipped: keys outside the network's scopes (``global_step``), the other flavour (raw
    variables when reading shadows and vice versa), optimizer slots of known variables and the
    auxiliary head when the model has none.
    """
    expected = {f"{name}{suffix}" for name in variables}
    has_aux = any(name.startswith(AUX_SCOPE + SCOPE_SEPARATOR) for name in variables)

    def skipped(key: str) -> bool:
        top = key.split(SCOPE_SEPARATOR)[0]
        return (top not in scopes or (top == AUX_SCOPE and not has_aux)
                or key.endswith(SHADOW_SUFFIX) != bool(suffix)
                or key.rpartition(SCOPE_SEPARATOR)[0] in variables)

    return [key for key in shapes if key in expected or not skipped(key)]


def _module(model: keras.Model, suffix: str) -> str:
    classes = model.get_layer("logits.logits").units
    source = "moving averages" if suffix else "raw variables"
    return f"{MODULE}, {classes} classes, {source}"


def save_slim_inception_weights(checkpoint: str | Path, weights_path: str | Path, *,
                                use_moving_averages: bool = True) -> keras.Model:
    """Converts the checkpoint once into a Keras ``.weights.h5`` file (of
    ``slim_inception_v3(num_classes)`` at 299, no auxiliary head) and returns the model."""
    if not str(weights_path).endswith(".weights.h5"):
        raise ValueError(f"weights_path must end with .weights.h5, got {weights_path}")
    model = load_slim_inception_checkpoint(checkpoint, use_moving_averages=use_moving_averages)
    with atomic_path(weights_path) as staging:
        model.save_weights(str(staging))
    return model

