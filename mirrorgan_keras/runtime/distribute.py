"""Helpers that make hand-written losses exact under ``tf.distribute``.

Inside a ``train_step`` run by a strategy, each replica sees its slice of the global batch and
the optimizer sums gradients over replicas. A loss written as ``sum(per-sample) / global count``
on every replica therefore gives exactly the gradient of the global mean, whatever the number
of replicas. Losses that compare every sample with every other (DAMSM, mismatched pairs) gather
the batch from all replicas first; ``all_gather`` carries gradients back to each replica.
Under no strategy (or one replica) every helper reduces to the plain computation.

Under MultiWorkerMirroredStrategy (several processes, cluster from ``TF_CONFIG``) the same
holds across workers; :func:`is_chief`, :func:`worker_name` and :func:`worker_min` tell a
process which files it writes and let the workers agree on a value (the step to resume from).
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
    """Index in the gathered global batch of this replica's first sample: the samples of the
    replicas before it (the last batch of an evaluation splits unevenly, e.g. 5 as 3 + 2)."""
    context = replica_context()
    if context.num_replicas_in_sync == 1:
        return tf.constant(0, tf.int32)
    counts = context.all_gather(tf.reshape(tf.cast(local_batch, tf.int32), [1]), axis=0)
    return tf.reduce_sum(counts[: context.replica_id_in_sync_group])


def replica_slice(global_value, local_batch):
    """This replica's rows ``[offset, offset + local_batch)`` of a global-batch tensor."""
    offset = local_offset(local_batch)
    return global_value[offset : offset + local_batch]


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
    or the CPU. "multi_worker": MultiWorkerMirroredStrategy from ``TF_CONFIG`` over this
    worker's GPUs (or its CPU); make it before any other TensorFlow operation runs.
    """
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}; expected one of {STRATEGIES}")
    if name == "multi_worker":  # listing devices would start TensorFlow without collectives
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if name == "auto":
        name = "mirrored" if len(gpus) > 1 else "default"
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "one_device":
        return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    return tf.distribute.MirroredStrategy()


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the run's files: the chief of a multi-worker cluster (task
    "chief", or worker 0 when the cluster has none); always true for one-process strategies."""
    return strategy.extended.should_checkpoint


def worker_name(strategy: tf.distribute.Strategy) -> str | None:
    """``"<task type>-<index>"`` (e.g. ``"worker-1"``) of a worker that is not the chief, None
    on the chief and for one-process strategies."""
    resolver = strategy.cluster_resolver
    if is_chief(strategy) or resolver is None:
        return None
    return f"{resolver.task_type}-{resolver.task_id}"


def worker_min(strategy: tf.distribute.Strategy, value: int) -> int:
    """The smallest of the workers' ``value`` (an int each); the value itself in one process.

    A collective under MultiWorkerMirroredStrategy: every worker must call it at the same
    point, outside ``strategy.run``.
    """
    values = strategy.experimental_distribute_values_from_function(
        lambda _: tf.constant([value], tf.int64)
    )
    return int(tf.reduce_min(strategy.gather(values, axis=0)))


def prepare_fit(model):
    """Lets Keras ``fit`` and ``evaluate`` run ``model``, built with its optimizers in a
    strategy's scope, under that strategy. Returns ``model``.

    Keras 3.15 fails there in two places. Before training it averages a whole input batch over
    the replicas to build the model symbolically, which fails for a batch holding strings (the
    pipeline's ``keys``: "Value for attr 'T' of string ... AddN") and, with several workers,
    for any nested batch ("Attempt to convert a value ({'images': (PerReplica ...",
    keras-team/keras#20585); a built model needs no such build, so it is skipped. With several
    workers it averages each logged value along axis 0, which fails for scalars ("Invalid
    reduction dimension 0"); the steps then log shape-[1] values, whose average is the scalar.
    """
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None
    if isinstance(model.distribute_strategy, tf.distribute.MultiWorkerMirroredStrategy):
        model.train_step = _logs_as_vectors(model.train_step)
        model.test_step = _logs_as_vectors(model.test_step)
    return model


def _logs_as_vectors(step):
    """``step`` (batch → dict of logged values) with every value reshaped to a vector."""
    def vector_step(batch):
        return tf.nest.map_structure(lambda value: tf.reshape(value, [-1]), step(batch))

    return vector_step
