"""Lowering of shape and layout ops: shape queries, dimshuffle, broadcast_to, reshape, stop_gradient.

Layout changes are views (``transpose``, ``[None, ...]`` indexing,
``np.broadcast_to``), never copies; a reshape copies only an input that is not
known to be contiguous. Lengths given at run time are checked before use.
"""
from __future__ import annotations

import re

import numpy as np

from symgraph.ops.grad_ops import StopGradient
from symgraph.ops.shape import BroadcastTo, DimShuffle, Reshape, Shape, ShapeOf, SpecifyShape

from .kernel import SHAPE_ONLY_READS, cast_code, literal, register


def _full(kernel, dims, code, from_dtype, to_dtype) -> str:
    """A new array of ``dims`` filled with the scalar ``code``, by the cached runtime helper."""
    return f"{kernel.runtime()}.full({kernel.int_tuple(dims)}, {cast_code(code, from_dtype, to_dtype)})"


@register(Shape)
def lower_shape(node, kernel):
    (x,), (out,) = node.inputs, node.outputs
    dims = kernel.dims(x)
    name = kernel.let(kernel.new_array([str(x.ndim)], "int64"), "v")
    for axis, d in enumerate(dims):
        kernel.emit(f"{name}[{axis}] = {d}")
    kernel.bind(out, name, [str(x.ndim)], contiguous=True, owned=True)


@register(ShapeOf)
def lower_shape_of(node, kernel):
    (x,), (out,) = node.inputs, node.outputs
    length = kernel.dims(x)[node.op.axis]
    if length.isdigit():                        # a static length: a constant (lower.hoist_literals)
        kernel.bind(out, literal(int(length), "int64"))
    elif re.fullmatch(r"[a-z]+[0-9]+\.shape\[[0-9]+\]", length):   # already an intp: no conversion
        kernel.bind(out, kernel.let(length, "v"))
    else:
        kernel.bind(out, kernel.let(f"np.int64({length})", "v"))


@register(SpecifyShape)
def lower_specify_shape(node, kernel):
    """The same value; the lengths the op names are checked, then known (a squeezed axis reads as 1)."""
    (x,), (out,) = node.inputs, node.outputs
    value = kernel.value(x)
    dims = list(value.dims)
    for axis, want in enumerate(node.op.shape):
        if want is not None:
            kernel.check(f"{dims[axis]} != {want}", node.op.message(axis, None, x))
            dims[axis] = str(want)
    kernel.bind(out, value.code, dims, contiguous=value.contiguous, owned=False)


@register(StopGradient)
def lower_identity(node, kernel):
    kernel.alias(node.outputs[0], node.inputs[0])


def _dimshuffle_shape_only_reads(node, shape_only):
    """A dimshuffle whose output is read only for its lengths reads its input only for them."""
    return (0,) if id(node.outputs[0]) in shape_only else ()


SHAPE_ONLY_READS[DimShuffle] = _dimshuffle_shape_only_reads


@register(DimShuffle)
def lower_dimshuffle(node, kernel):
    (x,), (out,) = node.inputs, node.outputs
    order = node.op.new_order
    code, dims = kernel.code(x), kernel.dims(x)
    out_dims = ["1" if a == "x" else dims[a] for a in order]
    if id(out) in kernel.shape_only:
        kernel.bind_lengths_only(out, out_dims)       # only its lengths are read: the view is never made
        return
    if x.ndim == 0:
        if out.ndim == 0:
            kernel.alias(out, x)
        else:
            name = kernel.let(_full(kernel, out_dims, code, x.dtype, out.dtype), "v")
            kernel.bind(out, name, out_dims, contiguous=True, owned=True)
        return
    used = [a for a in order if a != "x"]
    if not used:
        # Every axis is a dropped length-1 axis: the single element, as a scalar or with new axes.
        element = f"{code}[{', '.join('0' for _ in range(x.ndim))}]"
        if out.ndim == 0:
            kernel.bind(out, kernel.let(element, "v"))
        else:
            name = kernel.let(_full(kernel, out_dims, element, x.dtype, out.dtype), "v")
            kernel.bind(out, name, out_dims, contiguous=True, owned=True)
        return
    expression = code
    dropped = [a for a in range(x.ndim) if a not in used]
    if dropped:
        expression = f"{expression}[{', '.join('0' if a in dropped else ':' for a in range(x.ndim))}]"
        remaining = [a for a in range(x.ndim) if a not in dropped]
        used = [remaining.index(a) for a in used]
    if used == [1, 0]:
        expression = f"{expression}.T"  # Numba types this as Fortran order: BLAS reads it without a copy
    elif used != sorted(used):
        # through a cached helper: Numba's transpose with axes compiles ~1.6 s into every kernel using it
        axes = ", ".join(f"np.int64({a})" for a in used)
        expression = f"{kernel.runtime()}.permute_dims({expression}, ({axes},))"
    if "x" in order:
        expression = f"{expression}[{', '.join('None' if a == 'x' else ':' for a in order)}]"
    owned = kernel.value(x).owned
    if expression == code:
        kernel.alias(out, x)
        return
    name = kernel.let(expression, "v")
    # A view of an owned buffer is still owned by the kernel (but not contiguous in general).
    kernel.bind(out, name, out_dims, contiguous=False, owned=owned)


@register(BroadcastTo)
def lower_broadcast_to(node, kernel):
    x, *lengths = node.inputs
    out = node.outputs[0]
    if out.ndim == 0:
        kernel.alias(out, x)
        return
    names = [kernel.int64_code(d, "n") for d in lengths]
    kernel.checked_size(names, f"{node.op}: the requested shape is too large (its size overflows int64)",
                        np.dtype(out.dtype).itemsize, negative_message=f"{node.op}: a requested length is negative")
    lead = len(names) - x.ndim
    for a, xd in enumerate(kernel.dims(x)):
        target = names[lead + a]
        kernel.check(f"{xd} != {target} and {xd} != 1",
                     f"{node.op}: the input cannot be broadcast to the requested shape (axis {lead + a})")
    if id(out) in kernel.shape_only:
        # only its lengths are read (sg.grad's broadcast_to(0, shape) that sum_to_shape sums back to): the
        # checks above stand, the view is never made
        kernel.bind_lengths_only(out, names)
        return
    shape = f"({', '.join(names)},)"
    # The cached runtime helper: np.broadcast_to inline compiles its overload in every process (~150 ms).
    name = kernel.let(f"{kernel.runtime()}.broadcast_to({kernel.code(x)}, {shape})", "v")
    # A broadcast view: read-only and not owned (never returned without a copy).
    kernel.bind(out, name, names, contiguous=False, owned=False)


@register(Reshape)
def lower_reshape(node, kernel):
    x, *lengths = node.inputs
    out = node.outputs[0]
    value = kernel.value(x)
    size = kernel.let(kernel.size_code(value.dims), "size")
    requested = [kernel.int64_code(d, "n") for d in lengths]
    message = f"{node.op}: cannot reshape the input into the requested shape"
    if requested:
        # one helper call resolves the -1 and raises the checks: the inline arithmetic costs compile time
        mismatch = kernel.check_number(message)
        too_large = kernel.check_number(f"{node.op}: the requested shape is too large (its size overflows int64)")
        resolved_tuple = kernel.let(f"{kernel.runtime()}.reshape_lengths({size}, {kernel.int_tuple(requested)}, "
                                    f"np.int64({np.dtype(out.dtype).itemsize}), np.int64({mismatch}), "
                                    f"np.int64({too_large}))", "n")
        resolved = [kernel.let(f"{resolved_tuple}[{axis}]", "n") for axis in range(len(requested))]
    else:
        kernel.check(f"{size} != 1", message)
        resolved = []
    source = value.code
    if x.ndim == 0:
        if out.ndim == 0:
            kernel.alias(out, x)
        else:
            name = kernel.let(_full(kernel, resolved, source, x.dtype, out.dtype), "v")
            kernel.bind(out, name, resolved, contiguous=True, owned=True)
        return
    rt = kernel.runtime()
    contiguous = source if value.contiguous else kernel.let(f"{rt}.contiguous({source})", "v")
    # a contiguous copy is made only when needed, so ownership is not known: keep the input's.
    owned = value.owned
    if out.ndim == 0:
        kernel.bind(out, kernel.let(f"{rt}.ravel({contiguous})[0]", "v"))
        return
    name = kernel.let(f"{rt}.reshape({contiguous}, {kernel.int_tuple(resolved)})", "v")
    kernel.bind(out, name, resolved, contiguous=True, owned=owned)
