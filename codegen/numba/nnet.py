"""Lowering of the neural-network ops: softmax, log_softmax and logsumexp (max-shifted, so inputs of 1000
stay finite; sums of float32 accumulate in float64) and one_hot (indices checked against ``n``).

Each row (the entries along the reduced axes for one position of the kept axes)
is processed in three short passes: maximum, sum of exponentials, output; for a
contiguous input (and adjacent axes) by a cached helper of runtime.py, else inline.
"""
from __future__ import annotations

import numpy as np

from symgraph.ops.nnet import LogSoftmax, LogSumExp, OneHot, Softmax

from .kernel import cast_code, dtype_code, literal, register


def _row_loops(kernel, dims, kept, reduced, body):
    """Loops over the kept axes, then ``body(open_reduced)`` where ``open_reduced()`` opens the reduced loops."""
    for a in kept:
        kernel.emit(kernel.loop(f"i{a}", dims[a]))
        kernel.depth += 1

    class _Reduced:
        def __enter__(self):
            for a in reduced:
                kernel.emit(kernel.loop(f"i{a}", dims[a]))
                kernel.depth += 1

        def __exit__(self, *exc):
            kernel.depth -= len(reduced)
    body(_Reduced)
    kernel.depth -= len(kept)


def _row_statistics(kernel, x, position, accumulate, open_reduced):
    """Emit the shifted maximum and the sum of exp(x - max) of one row; return their names."""
    dtype = x.dtype
    source = kernel.code(x)
    maximum = kernel.let(literal(-np.inf, dtype), "m")
    with open_reduced():
        value = kernel.let(f"{source}[{position}]", "a")
        kernel.emit(f"if {value} > {maximum}:")
        with kernel.indent():
            kernel.emit(f"{maximum} = {value}")
    # A row whose maximum is infinite shifts by 0, as the reference does (no inf - inf).
    kernel.emit(f"if not np.isfinite({maximum}):")
    with kernel.indent():
        kernel.emit(f"{maximum} = {literal(0, dtype)}")
    total = kernel.let(literal(0, accumulate), "s")
    with open_reduced():
        kernel.emit(f"{total} += {cast_code(f'np.exp({source}[{position}] - {maximum})', dtype, accumulate)}")
    return maximum, total


def _accumulate_dtype(dtype):
    return "float64" if np.dtype(dtype).itemsize < 8 else dtype


def _middle_view(kernel, x, first, last) -> str:
    """Arguments for a helper that views the contiguous ``x`` as (outer, axes first..last, inner)."""
    dims = kernel.dims(x)
    outer, middle = kernel.size_code(dims[:first]), kernel.size_code(dims[first:last + 1])
    inner = kernel.size_code(dims[last + 1:])
    return f"{kernel.code(x)}, {outer}, {middle}, {inner}"


@register(Softmax, LogSoftmax)
def lower_softmax(node, kernel):
    (x,), (out,) = node.inputs, node.outputs
    axis, log = node.op.axis, type(node.op).__name__ == "LogSoftmax"
    dims = kernel.dims(x)
    kept = [a for a in range(x.ndim) if a != axis]
    position = ", ".join(f"i{a}" for a in range(x.ndim))
    dtype, accumulate = x.dtype, _accumulate_dtype(x.dtype)
    if kernel.value(x).contiguous:
        # A cached helper on the contiguous (outer, axis, inner) view: the same three passes per row.
        helper = "log_softmax" if log else "softmax"
        name = kernel.let(f"{kernel.runtime()}.{helper}({_middle_view(kernel, x, axis, axis)}, "
                          f"{literal(0, accumulate)})", "v")
        kernel.bind(out, name, dims, contiguous=True, owned=True)
        return
    name = kernel.let(kernel.new_array(dims, dtype), "v")
    source = kernel.code(x)

    def body(open_reduced):
        maximum, total = _row_statistics(kernel, x, position, accumulate, open_reduced)
        if log:
            log_total = kernel.let(cast_code(f"np.log({total})", accumulate, dtype), "l")
            with open_reduced():
                kernel.emit(f"{name}[{position}] = ({source}[{position}] - {maximum}) - {log_total}")
        else:
            inverse = kernel.let(f"{literal(1, accumulate)} / {total}", "r")
            with open_reduced():
                kernel.emit(f"{name}[{position}] = "
                            f"{cast_code(f'np.exp({source}[{position}] - {maximum}) * {inverse}', accumulate, dtype)}")
    _row_loops(kernel, dims, kept, [axis], body)
    kernel.bind(out, name, dims, contiguous=True, owned=True)


@register(LogSumExp)
def lower_logsumexp(node, kernel):
    (x,), (out,) = node.inputs, node.outputs
    op = node.op
    if x.ndim == 0:
        kernel.alias(out, x)  # log(exp(x - x)) + x
        return
    dims = kernel.dims(x)
    axes = tuple(op.axis)
    kept = [a for a in range(x.ndim) if a not in axes]
    position = ", ".join(f"i{a}" for a in range(x.ndim))
    dtype, accumulate = x.dtype, _accumulate_dtype(x.dtype)
    if op.keepdims:
        out_dims = ["1" if a in axes else dims[a] for a in range(x.ndim)]
        target = ", ".join("0" if a in axes else f"i{a}" for a in range(x.ndim))
    else:
        out_dims = [dims[a] for a in kept]
        target = ", ".join(f"i{a}" for a in kept)
    if kernel.value(x).contiguous and list(axes) == list(range(axes[0], axes[-1] + 1)):
        out_shape = kernel.int_tuple(out_dims or ["1"])
        result = f"{kernel.runtime()}.logsumexp({_middle_view(kernel, x, axes[0], axes[-1])}, " \
                 f"{literal(0, accumulate)}, {out_shape})"
        if out_dims:
            kernel.bind(out, kernel.let(result, "v"), out_dims, contiguous=True, owned=True)
        else:
            kernel.bind(out, kernel.let(f"{result}[0]", "v"))
        return
    name = kernel.fresh("v")
    if out_dims:
        kernel.emit(f"{name} = {kernel.new_array(out_dims, dtype)}")

    def body(open_reduced):
        maximum, total = _row_statistics(kernel, x, position, accumulate, open_reduced)
        result = cast_code(f"np.log({total})", accumulate, dtype) + f" + {maximum}"
        if out_dims:
            kernel.emit(f"{name}[{target}] = {result}")
        else:
            kernel.emit(f"{name} = {result}")
    _row_loops(kernel, dims, kept, list(axes), body)
    if out_dims:
        kernel.bind(out, name, out_dims, contiguous=True, owned=True)
    else:
        kernel.bind(out, name)


@register(OneHot)
def lower_one_hot(node, kernel):
    indices, n = node.inputs
    out = node.outputs[0]
    length = kernel.int64_code(n, "n")
    kernel.check(f"{length} < 0", f"{node.op}: n must be non-negative")
    dims = kernel.dims(indices) + [length]
    kernel.checked_size(dims, f"{node.op}: the result is too large (its size overflows int64)",
                        np.dtype(out.dtype).itemsize)
    name = kernel.let(kernel.new_array(dims, out.dtype, zeroed=True), "v")
    one = literal(1, out.dtype)
    if indices.ndim == 0:
        index = kernel.int64_code(indices, "k")
        kernel.check(f"{index} < 0 or {index} >= {length}", f"{node.op}: an index is out of range [0, n)",
                     "IndexError")
        kernel.emit(f"{name}[{index}] = {one}")
    else:
        for a in range(indices.ndim):
            kernel.emit(kernel.loop(f"i{a}", dims[a]))
            kernel.depth += 1
        position = ", ".join(f"i{a}" for a in range(indices.ndim))
        index = kernel.let(f"np.int64({kernel.code(indices)}[{position}])", "k")
        kernel.check(f"{index} < 0 or {index} >= {length}", f"{node.op}: an index is out of range [0, n)",
                     "IndexError")
        kernel.emit(f"{name}[{position}, {index}] = {one}")
        kernel.depth -= indices.ndim
    kernel.bind(out, name, dims, contiguous=True, owned=True)
