"""Lowering of reductions (``Reduce``) and of ``SumToShape`` (the adjoint of broadcasting).

Contiguous inputs call the cached helpers of runtime.py (a reduction over
adjacent axes is one over the middle axis of an (outer, reduced, inner) view),
which cost a kernel far less compile time than inline loops; other inputs get
the inline loops below, with the same numerics.

Every reduction accumulates in its op's ``accumulator_dtype`` (float32 sums and
products in float64, rounded once at the end), so it agrees with the python and
cuda backends; signed integer sums and products run in uint64, the same bits
modulo 2**64 without Numba's undefined signed overflow. A reduction over
trailing axes keeps a scalar accumulator; other axes are reduced by one pass in
memory order that combines into an array of accumulators. max/min propagate
NaN as NumPy does.
"""
from __future__ import annotations

import numpy as np

from symgraph.ops.reduce import Reduce, SumToShape, identity

from .kernel import cast_code, literal, register


def _identity(kind, dtype):
    """The reduction's identity (the op's, see ``symgraph.ops.reduce.identity``) as a typed literal."""
    return literal(identity(kind, dtype), dtype)


def _combine(kind, accumulator, value):
    if kind == "sum":
        return f"{accumulator} + {value}"
    if kind == "prod":
        return f"{accumulator} * {value}"
    if kind == "any":
        return f"{accumulator} or {value}"
    if kind == "all":
        return f"{accumulator} and {value}"
    compare = ">" if kind == "max" else "<"
    # v != v is True only for NaN: a NaN enters the accumulator and nothing replaces it.
    return f"{value} if ({value} {compare} {accumulator} or {value} != {value}) else {accumulator}"


def _accumulator_dtype(op, kind, out_dtype):
    """The op's accumulator dtype; signed integer sums and products in uint64 (modular, as NumPy wraps)."""
    dtype = op.accumulator_dtype(out_dtype)
    if kind in ("sum", "prod") and np.dtype(dtype).kind == "i":
        return "uint64"
    return dtype


@register(Reduce)
def lower_reduce(node, kernel):
    op = node.op
    (x,), (out,) = node.inputs, node.outputs
    kind, axes = op.kind, tuple(op.axis) if x.ndim else ()
    if not axes:
        code = kernel.code(x)
        if x.ndim == 0:
            kernel.bind(out, kernel.let(cast_code(code, x.dtype, out.dtype), "v"))
        else:
            kernel.bind(out, kernel.let(f"{kernel.runtime()}.astype({code}, {literal(0, out.dtype)})", "v"),
                        kernel.dims(x), contiguous=True, owned=True)
        return
    dims = kernel.dims(x)
    if kind in ("max", "min"):
        empty = " or ".join(f"{dims[a]} == 0" for a in axes)
        kernel.check(empty, f"{op}: a zero-size axis has no {kind}")
    kept = [a for a in range(x.ndim) if a not in axes]
    out_dims = [("1" if a in axes else dims[a]) for a in range(x.ndim)] if op.keepdims else [dims[a] for a in kept]
    accumulator_dtype = _accumulator_dtype(op, kind, out.dtype)
    if _reduce_with_runtime(node, kernel, axes, out_dims, accumulator_dtype):
        return
    source = kernel.code(x)

    def element(index):
        return cast_code(f"{source}[{index}]", x.dtype, accumulator_dtype)

    name = kernel.fresh("v")
    if axes == tuple(range(x.ndim - len(axes), x.ndim)):
        # Trailing axes: a scalar accumulator per output element.
        if out_dims:
            kernel.emit(f"{name} = {kernel.new_array(out_dims, out.dtype)}")
        for a in kept:
            kernel.emit(kernel.loop(f"i{a}", dims[a]))
            kernel.depth += 1
        accumulator = kernel.let(_identity(kind, accumulator_dtype), "acc")
        for a in axes:
            kernel.emit(kernel.loop(f"i{a}", dims[a]))
            kernel.depth += 1
        value = kernel.let(element(", ".join(f"i{a}" for a in range(x.ndim))), "a")
        kernel.emit(f"{accumulator} = {_combine(kind, accumulator, value)}")
        kernel.depth -= len(axes)
        result = cast_code(accumulator, accumulator_dtype, out.dtype)
        if out_dims:
            position = ", ".join("0" if a in axes else f"i{a}" for a in range(x.ndim)) if op.keepdims \
                else ", ".join(f"i{a}" for a in kept)
            kernel.emit(f"{name}[{position}] = {result}")
        else:
            kernel.emit(f"{name} = {result}")
        kernel.depth -= len(kept)
    else:
        # Other axes: one pass in memory order, combining into an array of accumulators.
        totals = kernel.fresh("acc") if accumulator_dtype != out.dtype else name
        kernel.emit(f"{totals} = {kernel.runtime()}.full({kernel.int_tuple(out_dims)}, "
                    f"{_identity(kind, accumulator_dtype)})")
        for a in range(x.ndim):
            kernel.emit(kernel.loop(f"i{a}", dims[a]))
            kernel.depth += 1
        position = ", ".join("0" if a in axes else f"i{a}" for a in range(x.ndim)) if op.keepdims \
            else ", ".join(f"i{a}" for a in kept)
        value = kernel.let(element(", ".join(f"i{a}" for a in range(x.ndim))), "a")
        kernel.emit(f"{totals}[{position}] = {_combine(kind, f'{totals}[{position}]', value)}")
        kernel.depth -= x.ndim
        if totals != name:
            kernel.emit(f"{name} = {kernel.runtime()}.astype({totals}, {literal(0, out.dtype)})")
    if out_dims:
        kernel.bind(out, name, out_dims, contiguous=True, owned=True)
    else:
        kernel.bind(out, name)


def _reduce_with_runtime(node, kernel, axes, out_dims, accumulator_dtype) -> bool:
    """Reduce a block of adjacent axes of a contiguous input with a cached runtime helper; False if not.

    The input is viewed as (outer, reduced, inner): trailing axes (inner empty) use a scalar accumulator
    of ``accumulator_dtype`` per row, other blocks combine into the output in memory order, exactly as
    the inline loops below do.
    """
    (x,), (out,) = node.inputs, node.outputs
    value = kernel.value(x)
    if not value.contiguous or list(axes) != list(range(axes[0], axes[-1] + 1)):
        return False
    kind, dims = node.op.kind, value.dims
    outer = kernel.size_code(dims[:axes[0]])
    reduced = kernel.size_code(dims[axes[0]:axes[-1] + 1])
    inner_dims = dims[axes[-1] + 1:]
    rt = kernel.runtime()
    out_shape = kernel.int_tuple(out_dims or ["1"])
    if not inner_dims:
        result = (f"{rt}.{kind}_rows({value.code}, {outer}, {reduced}, "
                  f"{_identity(kind, accumulator_dtype)}, {_identity(kind, out.dtype)}, {out_shape})")
    else:
        inner = kernel.size_code(inner_dims)
        result = (f"{rt}.{kind}_middle({value.code}, {outer}, {reduced}, {inner}, "
                  f"{_identity(kind, accumulator_dtype)}, {_identity(kind, out.dtype)}, {out_shape})")
    if not out_dims:
        kernel.bind(out, kernel.let(f"{result}[0]", "v"))
        return True
    name = kernel.let(result, "v")
    kernel.bind(out, name, out_dims, contiguous=True, owned=True)
    return True


@register(SumToShape)
def lower_sum_to_shape(node, kernel):
    g, like = node.inputs
    out = node.outputs[0]
    g_dims, like_dims = kernel.dims(g), kernel.dims(like)
    lead = g.ndim - like.ndim
    message = f"{node.op}: cannot sum the gradient back to the shape of its input"
    if lead < 0:
        raise ValueError(f"{node.op}: gradient of rank {g.ndim} for a rank-{like.ndim} input{node.where()}")
    if g.ndim == 0:
        kernel.bind(out, kernel.let(cast_code(kernel.code(g), g.dtype, out.dtype), "v"))
        return
    accumulator_dtype = node.op.accumulator_dtype(out.dtype)
    value = kernel.value(g)
    if like.ndim == 0 and value.contiguous:
        total = (f"{kernel.runtime()}.sum_rows({value.code}, 1, {kernel.size_code(g_dims)}, "
                 f"{literal(0, accumulator_dtype)}, {literal(0, out.dtype)}, {kernel.int_tuple(['1'])})[0]")
        kernel.bind(out, kernel.let(total, "v"))
        return
    if value.contiguous and like.ndim <= (3 if lead else 4):
        _sum_to_shape_with_runtime(node, kernel, message, accumulator_dtype)
        return
    source = kernel.code(g)
    name = kernel.fresh("v")
    everything = ", ".join(f"i{a}" for a in range(g.ndim))
    if like.ndim == 0:
        accumulator = kernel.let(literal(0, accumulator_dtype), "acc")
        for a in range(g.ndim):
            kernel.emit(kernel.loop(f"i{a}", g_dims[a]))
            kernel.depth += 1
        kernel.emit(f"{accumulator} += {cast_code(f'{source}[{everything}]', g.dtype, accumulator_dtype)}")
        kernel.depth -= g.ndim
        kernel.bind(out, kernel.let(cast_code(accumulator, accumulator_dtype, out.dtype), "v"))
        return
    steps = []
    for a in range(like.ndim):
        d, gd = like_dims[a], g_dims[lead + a]
        kernel.check(f"{d} != {gd} and {d} != 1", message)
        steps.append(kernel.let(f"0 if {d} == 1 else 1", "step"))
    totals = kernel.fresh("acc") if accumulator_dtype != out.dtype else name
    kernel.emit(f"{totals} = {kernel.new_array(like_dims, accumulator_dtype, zeroed=True)}")
    for a in range(g.ndim):
        kernel.emit(kernel.loop(f"i{a}", g_dims[a]))
        kernel.depth += 1
    position = ", ".join(f"i{lead + a} * {steps[a]}" for a in range(like.ndim))
    kernel.emit(f"{totals}[{position}] += {cast_code(f'{source}[{everything}]', g.dtype, accumulator_dtype)}")
    kernel.depth -= g.ndim
    if totals != name:
        kernel.emit(f"{name} = {kernel.runtime()}.astype({totals}, {literal(0, out.dtype)})")
    kernel.bind(out, name, like_dims, contiguous=True, owned=True)


def _sum_to_shape_with_runtime(node, kernel, message, accumulator_dtype):
    """A cached helper sums a contiguous gradient; leading axes are collapsed into one.

    The helper returns its input when the shapes already match, so the result is marked not owned: the
    kernel copies it before returning it (it may be, or view, a user's input or another output). It is
    internal when the input is (``Value.internal``): an in-place update then need not test it for memory
    shared with a shared variable.
    """
    g, like = node.inputs
    out = node.outputs[0]
    g_dims, like_dims = kernel.dims(g), kernel.dims(like)
    lead = g.ndim - like.ndim
    number = literal(kernel.check_number(message), "int64")     # the helper checks every axis itself
    rt = kernel.runtime()
    target = kernel.int_tuple(like_dims)
    zero = literal(0, accumulator_dtype)
    if lead:
        lead_size = kernel.size_code(g_dims[:lead])
        result = (f"{rt}.sum_leading_to_shape_{like.ndim}d({kernel.code(g)}, {lead_size}, {target}, {zero}, "
                  f"{number})")
    else:
        result = f"{rt}.sum_to_shape_{like.ndim}d({kernel.code(g)}, {target}, {zero}, {number})"
    kernel.bind(out, kernel.let(result, "v"), like_dims, contiguous=True, owned=False,
                internal=kernel.value(g).internal)
