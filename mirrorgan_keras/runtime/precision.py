"""Mixed precision: the dtype policy models are built under, and loss scaling for float16.

Keras layers take the global dtype policy when they are created, so a model built inside
``dtype_policy("mixed_bfloat16")`` computes in bfloat16 with float32 variables. The layers of
this package keep what needs the range or precision in float32: losses, attention softmaxes,
batch-norm statistics (Keras does), the KL term and the generated images. Under
"mixed_float16" the gradients are taken of a scaled loss (``optimizer.scale_loss``, the identity
for any other policy) and :func:`loss_scaled` optimizers unscale them, skipping steps whose
gradients overflow.

Example::

    with strategy.scope(), dtype_policy(config.compute.mixed_precision):
        model = build_model()
        model.compile(optimizer=loss_scaled(keras.optimizers.Adam(), model.dtype_policy))
"""

from __future__ import annotations

import contextlib

import keras


@contextlib.contextmanager
def dtype_policy(name: str | None):
    """Layers created inside the block use the Keras dtype policy ``name`` (None = float32);
    the previous global policy is restored on exit."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name or "float32")
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def loss_scaled(optimizer: keras.optimizers.Optimizer, policy) -> keras.optimizers.Optimizer:
    """``optimizer`` wrapped in a dynamic ``LossScaleOptimizer`` when ``policy`` (a Keras
    ``DTypePolicy``) is "mixed_float16", as ``Model.compile`` does for a model's own optimizer;
    unchanged otherwise."""
    if policy.name != "mixed_float16" or isinstance(optimizer,
                                                     keras.optimizers.LossScaleOptimizer):
        return optimizer
    return keras.optimizers.LossScaleOptimizer(optimizer)


# Flags of /proc/cpuinfo that mean native bfloat16 arithmetic: x86's AVX-512 BF16 and AMX, and
# Arm's BF16 extension (listed under "Features").
NATIVE_BFLOAT16_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})


def cpu_has_native_bfloat16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether the CPU computes in bfloat16 natively (one of :data:`NATIVE_BFLOAT16_FLAGS` in
    the first processor's flags of ``cpuinfo``). Without it, "mixed_bfloat16" is emulated and
    slower than float32. False where the file cannot be read (not Linux)."""
    try:
        with open(cpuinfo) as file:
            for line in file:
                key, _, value = line.partition(":")
                if key.strip() in ("flags", "Features"):
                    return not NATIVE_BFLOAT16_FLAGS.isdisjoint(value.split())
    except OSError:
        return False
    return False
