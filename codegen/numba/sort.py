"""Lowering of the last-axis ops of symgraph/ops/sort.py: argmax/argmin and cumsum/cumprod as one loop per
row (NumPy's numerics: the first NaN wins an argmax; sums run sequentially in the result dtype, signed
int64 in uint64 so they wrap as NumPy's do), and the stable argsort through a cached helper (Numba's merge
sort, NaN last) called once per row."""
from __future__ import annotations

import numpy as np

from symgraph.ops.sort import ArgReduce, ArgSort, Cumulative

from .kernel import cast_code, literal, register


def _open_rows(kernel, dims, ndim):
    """Loops over every axis but the last; returns the index text of a row (``i0, i1, ``) and how deep."""
    for a in range(ndim - 1):
        kernel.emit(kernel.loop(f"i{a}", dims[a]))
        kernel.depth += 1
    return "".join(f"i{a}, " for a in range(ndim - 1)), ndim - 1


@register(ArgReduce)
def lower_arg_reduce(node, kernel):
    (x,), (out,) = node.inputs, node.outputs
    kind, last = node.op.kind, x.ndim - 1
    dims, source = kernel.dims(x), kernel.code(x)
    kernel.check(f"{dims[last]} == 0", f"{node.op}: attempt to get {kind} of an empty sequence")
    name = kernel.fresh("v")
    if out.ndim:
        kernel.emit(f"{name} = {kernel.new_array(dims[:-1], 'int64')}")
    row, depth = _open_rows(kernel, dims, x.ndim)
    best = kernel.let(f"{source}[{row}0]", "b")
    index = kernel.let("np.int64(0)", "k")
    kernel.emit(f"for i{last} in range(1, {dims[last]}):")
    with kernel.indent():
        value = kernel.let(f"{source}[{row}i{last}]", "a")
        compare = ">" if kind == "argmax" else "<"
        # a NaN wins, and once held nothing replaces it (NumPy: the index of the first NaN)
        kernel.emit(f"if {best} == {best} and ({value} {compare} {best} or {value} != {value}):")
        with kernel.indent():
            kernel.emit(f"{best} = {value}")
            kernel.emit(f"{index} = i{last}")
    kernel.emit(f"{name}[{row.rstrip(', ')}] = {index}" if out.ndim else f"{name} = {index}")
    kernel.depth -= depth
    if out.ndim:
        kernel.bind(out, name, dims[:-1], contiguous=True, owned=True)
    else:
        kernel.bind(out, name)


@register(Cumulative)
def lower_cumulative(node, kernel):
    (x,), (out,) = node.inputs, node.outputs
    last = x.ndim - 1
    dims, source = kernel.dims(x), kernel.code(x)
    accumulate = "uint64" if np.dtype(out.dtype).kind == "i" else out.dtype   # signed: wraps as NumPy's
    name = kernel.let(kernel.new_array(dims, out.dtype), "v")
    row, depth = _open_rows(kernel, dims, x.ndim)
    total = kernel.let(literal(0 if node.op.kind == "cumsum" else 1, accumulate), "acc")
    operator = "+" if node.op.kind == "cumsum" else "*"
    kernel.emit(kernel.loop(f"i{last}", dims[last]))
    with kernel.indent():
        element = cast_code(f"{source}[{row}i{last}]", x.dtype, accumulate)
        kernel.emit(f"{total} = {total} {operator} {element}")
        kernel.emit(f"{name}[{row}i{last}] = {cast_code(total, accumulate, out.dtype)}")
    kernel.depth -= depth
    kernel.bind(out, name, dims, contiguous=True, owned=True)


@register(ArgSort)
def lower_argsort(node, kernel):
    (x,), (out,) = node.inputs, node.outputs
    dims, source = kernel.dims(x), kernel.code(x)
    name = kernel.let(kernel.new_array(dims, "int64"), "v")
    row, depth = _open_rows(kernel, dims, x.ndim)
    whole = f"{row}:" if row else ":"
    kernel.emit(f"{kernel.runtime()}.argsort_row({source}[{whole}], {name}[{whole}])")
    kernel.depth -= depth
    kernel.bind(out, name, dims, contiguous=True, owned=True)
