"""Lowering of the last-axis ops of symgraph/ops/sort.py: one thread per row (rows are contiguous after
``as_contiguous``), each walking its row in order, so results are NumPy's bit for bit: the first NaN wins
an argmax; running sums and products are sequential in the result dtype (signed int64 in uint64, wrapping
as NumPy's); argsort is a stable bottom-up merge sort with NaN last (n log n per row, a scratch row each)."""
from __future__ import annotations

import math

import numpy as np

from symgraph.ops.sort import ArgReduce, ArgSort, Cumulative

from .runtime import as_contiguous, cast_expr, literal, reshape_view, sizes
from .table import device, label, register

_ROWS = "    for row in range(cuda.grid(1), rows, cuda.gridsize(1)):\n        base = row * n\n"

_ARG_REDUCE = """
def arg_reduce_kernel(out, x, rows, n):
{rows}        best = x[base]
        k = 0
        for j in range(1, n):
            v = x[base + j]
            if best == best and (v {compare} best or v != v):
                best = v
                k = j
        out[row] = k
"""

_CUMULATIVE = """
def cumulative_kernel(out, x, rows, n):
{rows}        acc = {identity}
        for j in range(n):
            acc = acc {operator} {element}
            out[base + j] = {result}
"""

_ARGSORT = """
def argsort_kernel(out, x, rows, n, work):
{rows}        for j in range(n):
            out[base + j] = j
        src = out
        dst = work
        width = 1
        passes = 0
        while width < n:
            i = 0
            while i < n:
                mid = min(i + width, n)
                hi = min(i + 2 * width, n)
                a = i
                b = mid
                for k in range(i, hi):
                    take_left = a < mid
                    if take_left and b < hi:
                        p = x[base + src[base + a]]
                        q = x[base + src[base + b]]
                        take_left = not (p > q or (p != p and q == q))
                    if take_left:
                        dst[base + k] = src[base + a]
                        a += 1
                    else:
                        dst[base + k] = src[base + b]
                        b += 1
                i += 2 * width
            src, dst = dst, src
            width *= 2
            passes += 1
        if passes % 2 == 1:         # the sorted indices are in the scratch row
            for j in range(n):
                out[base + j] = work[base + j]
"""


def _rows(call, node, args, kernel_name, source, key, out_shape, out_dtype):
    """Launch ``source`` with one thread per row of the input's last axis; returns the output, shaped."""
    x = as_contiguous(call, device(args[0]))
    shape = tuple(x.shape)             # (a plain tuple: the simulator's shapes refuse index -1)
    n, rows = shape[-1], math.prod(shape[:-1])
    out = call.empty((math.prod(out_shape),), out_dtype)
    if rows and n:
        kernel = call.kernel(key + (x.dtype.name,), kernel_name, source)
        blocks, threads = sizes().elementwise_grid(rows)
        scratch = [call.empty((rows * n,), "int64")] if kernel_name == "argsort_kernel" else []
        kernel[blocks, threads](out, reshape_view(x, (x.size,)), rows, n, *scratch)
    return reshape_view(out, out_shape)


@register(ArgReduce)
def lower_arg_reduce(node, host):
    kind = node.op.kind
    source = _ARG_REDUCE.format(rows=_ROWS, compare=">" if kind == "argmax" else "<")

    def step(args, call):
        shape = tuple(device(args[0]).shape)
        if shape[-1] == 0:
            raise ValueError(f"{label(node)}: attempt to get {kind} of an empty sequence")
        return [_rows(call, node, args, "arg_reduce_kernel", source, (kind,), shape[:-1], "int64")]
    return step


@register(Cumulative)
def lower_cumulative(node, host):
    out = node.outputs[0]
    accumulate = "uint64" if np.dtype(out.dtype).kind == "i" else out.dtype
    source = _CUMULATIVE.format(
        rows=_ROWS, identity=literal(0 if node.op.kind == "cumsum" else 1, accumulate),
        operator="+" if node.op.kind == "cumsum" else "*", element=cast_expr("x[base + j]", accumulate),
        result=cast_expr("acc", out.dtype))

    def step(args, call):
        shape = tuple(device(args[0]).shape)
        return [_rows(call, node, args, "cumulative_kernel", source, (node.op.kind, out.dtype), shape, out.dtype)]
    return step


@register(ArgSort)
def lower_argsort(node, host):
    source = _ARGSORT.format(rows=_ROWS)

    def step(args, call):
        shape = tuple(device(args[0]).shape)
        return [_rows(call, node, args, "argsort_kernel", source, ("argsort",), shape, "int64")]
    return step
