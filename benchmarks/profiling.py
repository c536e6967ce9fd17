"""Measuring steps: FLOPs counted in a traced graph, a dense-matmul reference, peak memory.

:func:`graph_flops` counts 2 × the multiply-adds of the convolution and matrix-product ops
that run in a ``tf.function``'s graph: forward and gradient ops alike, following function
calls and loop bodies (× their trip count, e.g. an LSTM's time steps), and skipping ops whose
results nothing uses (TensorFlow prunes them before running: e.g. the filter gradients of
frozen layers). Element-wise ops, reductions, batch norm and optimizer updates are
memory-bound and not counted, so the achieved GFLOP/s of a step is a lower bound on the work
done. :class:`MatmulReference` times a large dense matmul in the same process, whose rate is
the yardstick: a step's GFLOP/s divided by it compares across machines and, with
:func:`time_interleaved`, across the changing load of a shared one.

Example::

    step = tf.function(model.train_step)
    flops = graph_flops(step.get_concrete_function(batch))
    reference = MatmulReference(4096)
    timings = time_interleaved(lambda: step(batch), reference, steps=3)
"""

from __future__ import annotations

import math
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

_LOOPS = ("While", "StatelessWhile")
_CONDITIONALS = ("If", "StatelessIf", "Case", "StatelessCase")


def _dims(tensor) -> list[int]:
    dims = tensor.shape.as_list() if tensor.shape.rank is not None else None
    if dims is None or None in dims:
        raise ValueError(f"{tensor.name} has the unknown shape {tensor.shape}: counting FLOPs "
                         "needs static shapes (trace with a fully defined batch)")
    return dims


def _convolution_flops(op) -> int:
    """2 · (output positions × channels) · (kernel taps × input channels) of the convolution
    behind a Conv2D, Conv2DBackpropInput or Conv2DBackpropFilter op (NHWC; the gradients of a
    convolution cost what it costs)."""
    if op.type == "Conv2D":
        outputs, kernel = _dims(op.outputs[0]), _dims(op.inputs[1])
    elif op.type == "Conv2DBackpropInput":  # (input_sizes, filter, out_backprop)
        outputs, kernel = _dims(op.inputs[2]), _dims(op.inputs[1])
    else:  # Conv2DBackpropFilter: (input, filter_sizes, out_backprop) → filter
        outputs, kernel = _dims(op.inputs[2]), _dims(op.outputs[0])
    return 2 * math.prod(outputs) * math.prod(kernel[:3])


def _matmul_flops(op) -> int:
    """2 · (output elements) · (contracted size) of a MatMul or BatchMatMul."""
    left = _dims(op.inputs[0])
    transposed = op.get_attr("transpose_a" if op.type == "MatMul" else "adj_x")
    return 2 * math.prod(_dims(op.outputs[0])) * (left[-2] if transposed else left[-1])


def _einsum_flops(op) -> int:
    """2 · the product of every index's size: the multiply-adds of a contraction."""
    specs = op.get_attr("equation").decode().split("->")[0].split(",")
    sizes = {}
    for spec, tensor in zip(specs, op.inputs, strict=True):
        sizes.update(zip(spec, _dims(tensor), strict=True))
    return 2 * math.prod(sizes.values())


COUNTED_OPS = {
    "Conv2D": _convolution_flops,
    "Conv2DBackpropInput": _convolution_flops,
    "Conv2DBackpropFilter": _convolution_flops,
    "MatMul": _matmul_flops,
    "BatchMatMulV2": _matmul_flops,
    "BatchMatMulV3": _matmul_flops,
    "Einsum": _einsum_flops,
}


def graph_flops(function) -> int:
    """FLOPs of one call of a concrete function (``tf.function(...).get_concrete_function``),
    counted as the module docstring says."""
    return _flops(function.graph)


def _flops(graph) -> int:
    total = 0
    for op in _live_ops(graph):
        if op.type in COUNTED_OPS:
            total += COUNTED_OPS[op.type](op)
        total += _callee_flops(graph, op)
    return total


def _callee_flops(graph, op) -> int:
    """FLOPs of the functions ``op`` runs: a loop's body × its trip count, the costlier branch
    of a conditional (an upper bound), every function a call op calls."""
    if op.type in _LOOPS:
        body = _function_graph(graph, op.node_def.attr["body"].func.name)
        return _trip_count(op) * _flops(body)
    callees = [_flops(_function_graph(graph, name)) for name in _called_functions(op)]
    return max(callees, default=0) if op.type in _CONDITIONALS else sum(callees)


def _live_ops(graph) -> list:
    """The ops the graph's outputs and side effects depend on."""
    pending = [t.op for t in graph.outputs] + list(getattr(graph, "control_outputs", []))
    live = set()
    while pending:
        op = pending.pop()
        if op.name not in live:
            live.add(op.name)
            pending.extend(t.op for t in op.inputs)
            pending.extend(op.control_inputs)
    return [op for op in graph.get_operations() if op.name in live]


def _called_functions(op) -> list[str]:
    names = []
    for value in op.node_def.attr.values():
        if value.HasField("func"):
            names.append(value.func.name)
        names.extend(f.name for f in value.list.func)
    return [name for name in names if name]


def _function_graph(graph, name: str):
    """The FuncGraph of function ``name``, registered in ``graph`` or an enclosing graph."""
    while graph is not None:
        function = graph._get_function(name)  # no public lookup by name
        if function is not None:
            return function.graph
        graph = getattr(graph, "outer_graph", None)
    raise KeyError(f"function {name!r} not found in the graph or its outer graphs")


def _trip_count(loop) -> int:
    """The static ``maximum_iterations`` of a ``tf.while_loop`` op (its second input)."""
    value = _static_value(loop.inputs[1])
    if value is None:
        raise ValueError(f"loop {loop.name} has no static trip count; cannot count its FLOPs")
    return value


def _static_value(tensor) -> int | None:
    value = tf.get_static_value(tensor)
    if value is None and tensor.op.type in ("Max", "Min", "Identity"):
        return _static_value(tensor.op.inputs[0])  # e.g. Keras RNNs: reduce_max(constant)
    return None if value is None else int(np.max(value))


class MatmulReference:
    """The rate of a ``size`` × ``size`` dense ``tf.matmul`` (2·size³ FLOPs) in this process.

    Args:
        size: side of both square matrices (4096: about 1 s at 140 GFLOP/s).
        dtype: their dtype (float32 is the yardstick; bfloat16 shows what AMX can do).
    """

    def __init__(self, size: int = 4096, dtype=tf.float32):
        self.size = size
        self.dtype = tf.as_dtype(dtype)
        self._matrices = [tf.cast(tf.random.normal((size, size)), self.dtype) for _ in range(2)]
        self._matmul = tf.function(tf.matmul)
        self.gflops()  # warm up

    def gflops(self) -> float:
        """GFLOP/s of one product, timed now."""
        start = time.perf_counter()
        self._matmul(*self._matrices).numpy()
        return 2 * self.size**3 / (time.perf_counter() - start) / 1e9


@dataclass(frozen=True)
class Timing:
    """The fastest of the timed steps, the fastest of the matmuls timed between them, and
    the step's ``flops``."""

    seconds: float
    matmul_gflops: float
    flops: int

    @property
    def gflops(self) -> float:
        return self.flops / self.seconds / 1e9

    @property
    def fraction_of_matmul(self) -> float:
        return self.gflops / self.matmul_gflops


def time_interleaved(run: Callable[[], object], reference: MatmulReference, steps: int,
                     flops: int) -> Timing:
    """Times ``steps`` calls of ``run`` (which must block until done, e.g. by fetching a
    result) and a reference matmul before the first and after each, and keeps the best of
    each: on a machine shared with other jobs the least disturbed sample is the closest to
    the machine's own speed. A step lasts longer than a matmul, so it is less likely to find
    a quiet moment: the fraction of matmul errs low."""
    seconds, rates = [], [reference.gflops()]
    for _ in range(steps):
        start = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - start)
        rates.append(reference.gflops())
    return Timing(min(seconds), max(rates), flops)


def resident_bytes() -> int:
    """The process's resident set size now (Linux ``/proc``)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


def peak_memory_bytes(baseline: int) -> tuple[int, str]:
    """(bytes, method): the first GPU's peak allocation when there is a GPU, else the
    process's peak resident set size minus ``baseline`` (:func:`resident_bytes` taken before
    the models were built)."""
    if tf.config.list_logical_devices("GPU"):
        return tf.config.experimental.get_memory_info("GPU:0")["peak"], "GPU peak allocation"
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    return peak - baseline, "peak RSS - RSS before building"
