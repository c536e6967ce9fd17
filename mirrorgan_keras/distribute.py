"""Helpers that make hand-written losses exact under ``tf.distribute``.

Inside a ``train_step`` run by a strategy, each replica sees its slice of the global batch and
the optimizer sums gradients over replicas. A loss written as ``sum(per-sample) / global count``
on every replica therefore gives exactly the gradient of the global mean, whatever the number
of replicas. Losses that compare every sample with every other (DAMSM, mismatched pairs) gather
the batch from all replicas first; ``all_gather`` carries gradients back to each replica.
Under no strategy (or one replica) every helper reduces to the plain computation.
"""

from __future__ import annotations

import tensorflow as tf

STRATEGIES = ("auto", "default", "one_device", "mirrored", "multi_worker")


def replica_context() -> tf.distribute.ReplicaContext:
    """The current replica context (the default one outside a strategy)."""
    context = tf.distribute.get_replica_context()
    if context is None:
        raise RuntimeError("called in cross-replica context; call inside strategy.run/train_step")
    return context


def global_sum(value):
    """Sum of ``value`` over all replicas (no gradient)."""
    return replica_context().all_reduce(tf.distribute.ReduceOp.SUM, tf.stop_gradient(value))


def distributed_mean(values, weights=None):
    """This replica's share of the global weighted mean of ``values``.

    ``sum(values · weights) / Σ_replicas sum(weights)``: summed over replicas (as the
    optimizer does with gradients) it is the mean over the global batch. 0 when all weights are
    0. ``values`` and ``weights`` have the same shape (``weights`` defaults to ones).
    """
    values = tf.cast(values, tf.float32)
    weights = tf.ones_like(values) if weights is None else tf.cast(weights, tf.float32)
    total = global_sum(tf.reduce_sum(weights))
    return tf.reduce_sum(values * weights) / tf.maximum(total, 1.0)


def gather(value):
    """Concatenation of ``value`` over replicas along axis 0 (differentiable)."""
    context = replica_context()
    if context.num_replicas_in_sync == 1:
        return value
    return context.all_gather(value, axis=0)


def local_offset(local_batch):
    """Index in the gathered global batch of this replica's first sample."""
    return tf.cast(replica_context().replica_id_in_sync_group, tf.int32) * local_batch


def replica_slice(global_value, local_batch):
    """This replica's rows ``[offset, offset + local_batch)`` of a global-batch tensor."""
    return global_value[local_offset(local_batch) : local_offset(local_batch) + local_batch]


def clip_by_global_norm(gradients, clip_norm: float):
    """Clips gradients by the norm of their replica-summed value, as on one device.

    Gradients are made dense first: the norm of an embedding's IndexedSlices counts a repeated
    word once per occurrence instead of once per row (PyTorch's dense gradient does not).
    Returns gradients to hand to the optimizer, which sums them over replicas again: the
    result of that sum is the clipped global gradient.
    """
    context = replica_context()
    replicas = context.num_replicas_in_sync
    gradients = [tf.convert_to_tensor(g) for g in gradients]
    if replicas > 1:
        gradients = context.all_reduce(tf.distribute.ReduceOp.SUM, gradients)
    clipped, _ = tf.clip_by_global_norm(gradients, clip_norm)
    return [g / replicas for g in clipped] if replicas > 1 else clipped


def make_strategy(name: str = "auto") -> tf.distribute.Strategy:
    """Builds the named strategy.

    "auto": MirroredStrategy when several GPUs are visible, else the default strategy.
    "mirrored": MirroredStrategy over all visible GPUs (or the CPU). "one_device": the first GPU
    or the CPU. "multi_worker": MultiWorkerMirroredStrategy from ``TF_CONFIG``.
    """
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}; expected one of {STRATEGIES}")
    gpus = tf.config.list_logical_devices("GPU")
    if name == "auto":
        name = "mirrored" if len(gpus) > 1 else "default"
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "one_device":
        return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    return tf.distribute.MultiWorkerMirroredStrategy()
