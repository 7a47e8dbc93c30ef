"""Lowering of indexing and joining: basic subtensors as views, gathers and scatters as kernels,
``inc_subtensor``/``set_subtensor``, ``arange`` and ``concatenate``.

Basic indexing (ints and slices) is a strided view; integer-array indexing is a
gather kernel with bounds checked on the device (one error flag read back, so a
bad index is an IndexError, never garbage). ``AdvancedIncSubtensor`` (``np.add.at``)
gives each thread a distinct position along the sliced axes and walks the index
arrays in order, so repeated indices accumulate deterministically without atomics.
"""
from __future__ import annotations

import math

import numpy as np

from symgraph.ops.elemwise import Add
from symgraph.ops.shape import check_size
from symgraph.ops.index import ARange, AdvancedIncSubtensor, AdvancedSubtensor, IncSubtensor, Subtensor
from symgraph.ops.join import Join

from .elemwise import ElementwiseKernel, broadcast_shape, copy_into
from .runtime import (ErrorFlag, cast_expr, contiguous_copy, host_int, reshape_view, sizes, to_device, to_host,
                      view_with)
from .table import device, label, register

SYMBOLIC = "?"


def _out_of_range(node, message):
    from symgraph.ops.index import IndexOutOfRange
    return IndexOutOfRange(f"{label(node)}: {message}")


def _basic_view(node, x, spec, index_values):
    """``x[key]`` for a pattern of ints and slices (array entries become full slices).

    Returns the view and the axes (of the view) whose order is reversed: a negative-step slice is
    taken as the positive-step slice over the same elements, since device views keep positive
    strides; the caller reverses those axes (reading) or reverses the values it writes.
    """
    values = iter(index_values)

    def part(p):
        return host_int(next(values), f"{label(node)} (index)") if p == SYMBOLIC else p

    slices, dropped, reversed_axes = [], [], []
    for axis, entry in enumerate(spec):
        n = x.shape[axis]
        if entry[0] == "i":
            i = part(entry[1])
            if not -n <= i < n:
                raise _out_of_range(node, f"index {i} is out of bounds for axis {axis} with length {n}")
            i %= n
            slices.append(slice(i, i + 1))
            dropped.append(axis)
        elif entry[0] == "s":
            key = slice(*(part(p) for p in entry[1:]))
            if key.step is not None and key.step < 0:
                chosen = range(*key.indices(n))
                key = slice(chosen[-1], chosen[0] + 1, -key.step) if len(chosen) else slice(0, 0)
                if len(chosen) > 1:
                    reversed_axes.append(axis)
            slices.append(key)
        else:
            slices.append(slice(None))
    view = x[tuple(slices)] if slices else x
    if dropped:
        keep = [a for a in range(x.ndim) if a not in dropped]
        view = view_with(view, [view.shape[a] for a in keep], [view.strides[a] for a in keep])
        reversed_axes = [keep.index(a) for a in reversed_axes]
    return view, reversed_axes


def reverse_axis(call, node, array, axis):
    """A contiguous copy of ``array`` with ``axis`` in reverse order (a gather with a descending arange)."""
    n = array.shape[axis]
    if n <= 1:
        return array
    spec = tuple(("a",) if a == axis else ("s", None, None, None) for a in range(array.ndim))
    return _gather(call, node, array, spec, [to_device(np.arange(n - 1, -1, -1, dtype=np.int64))])


def _read_view(call, node, x, spec, index_values):
    view, reversed_axes = _basic_view(node, x, spec, index_values)
    for axis in reversed_axes:
        view = reverse_axis(call, node, view, axis)
    return view


def _reverse_written_values(call, node, y, slot_ndim, slot_axes):
    """``y`` (broadcast against a slot of ``slot_ndim`` axes) reversed along the given slot axes."""
    lead = slot_ndim - y.ndim
    for axis in slot_axes:
        if axis - lead >= 0:
            y = reverse_axis(call, node, y, axis - lead)
    return y


@register(Subtensor)
def lower_subtensor(node, host):
    spec = node.op.spec
    return lambda args, call: [_read_view(call, node, device(args[0]), spec, args[1:])]


@register(IncSubtensor)
def lower_inc_subtensor(node, host):
    op = node.op
    x_var, y_var = node.inputs[0], node.inputs[1]
    slot_ndim = sum(1 for e in op.spec if e[0] == "s")
    y_scalar = id(y_var) in host and y_var.ndim == 0
    add = ElementwiseKernel(2, ((Add(), (0, 1), x_var.dtype),), (2,),
                            ((x_var.dtype, slot_ndim, False), (y_var.dtype, y_var.ndim, y_scalar)),
                            slot_ndim, (x_var.dtype,), label=label(node))

    def step(args, call):
        out = contiguous_copy(call, device(args[0]))
        slot, reversed_axes = _basic_view(node, out, op.spec, args[2:])
        y = args[1]
        if reversed_axes and not y_scalar:
            y = _reverse_written_values(call, node, device(y), slot.ndim, reversed_axes)
        if op.set_instead_of_inc:
            y = device(y)
            if y.ndim > slot.ndim or broadcast_shape([slot.shape, y.shape], label(node)) != tuple(slot.shape):
                raise ValueError(f"{label(node)}: a value of shape {tuple(y.shape)} cannot be written into "
                                 f"a region of shape {tuple(slot.shape)}")
            copy_into(call, slot, y)
        else:
            add(call, [slot, y if y_scalar else device(y)], [slot])
        return [out]
    return step


# ---------------------------------------------------------------- advanced indexing

def _layout(spec, index_ndim):
    """Output axis positions: (list of x's slice axes with their output position, start of the index axes)."""
    array_axes = [a for a, e in enumerate(spec) if e[0] == "a"]
    slice_axes = [a for a, e in enumerate(spec) if e[0] != "a"]
    adjacent = array_axes == list(range(array_axes[0], array_axes[-1] + 1))
    start = sum(1 for a in slice_axes if a < array_axes[0]) if adjacent else 0
    positions = {}
    for rank, axis in enumerate(slice_axes):
        before = adjacent and axis < array_axes[0]
        positions[axis] = rank if before else rank + index_ndim
    return array_axes, slice_axes, positions, start


def _index_lines(spec, index_ndims, nb, pad, position_of_batch):
    """Source reading each index array at the broadcast position, wrapping negatives, flagging bad ones."""
    lines = []
    array_axes = [a for a, e in enumerate(spec) if e[0] == "a"]
    for k, (axis, ndim) in enumerate(zip(array_axes, index_ndims)):
        if ndim == 0:
            lines.append(f"{pad}j{k} = idx{k}[0]")
        else:
            lead = nb - ndim
            at = ", ".join(f"{position_of_batch(lead + a)} * mi{k}_{a}" for a in range(ndim))
            lines.append(f"{pad}j{k} = idx{k}[{at}]")
        lines += [f"{pad}if j{k} < 0:", f"{pad}    j{k} += xd{axis}",
                  f"{pad}if j{k} < 0 or j{k} >= xd{axis}:", f"{pad}    bad[0] = 1", f"{pad}    j{k} = 0"]
    return lines


def _unravel(lines, names, dims, counter, pad):
    if not names:
        return
    lines.append(f"{pad}r = {counter}")
    for name, dim in reversed(list(zip(names[1:], dims[1:]))):
        lines += [f"{pad}{name} = r % {dim}", f"{pad}r = r // {dim}"]
    lines.append(f"{pad}{names[0]} = r")


def _index_params(spec, index_ndims, ndim):
    params = [f"idx{k}" for k in range(len(index_ndims))]
    params += [f"xd{a}" for a in range(ndim)]
    for k, nd in enumerate(index_ndims):
        params += [f"mi{k}_{a}" for a in range(nd)]
    return params


def gather_source(name, spec, index_ndims, nb):
    ndim = len(spec)
    array_axes, slice_axes, positions, start = _layout(spec, nb)
    out_ndim = nb + len(slice_axes)
    params = ["out", "x"] + _index_params(spec, index_ndims, ndim) + ["total"]
    params += [f"od{a}" for a in range(out_ndim)] + ["bad"]
    lines = [f"def {name}({', '.join(params)}):",
             "    for flat in range(cuda.grid(1), total, cuda.gridsize(1)):"]
    _unravel(lines, [f"o{a}" for a in range(out_ndim)], [f"od{a}" for a in range(out_ndim)], "flat", " " * 8)
    lines += _index_lines(spec, index_ndims, nb, " " * 8, lambda b: f"o{start + b}")
    x_index = ", ".join(f"j{array_axes.index(a)}" if a in array_axes else f"o{positions[a]}" for a in range(ndim))
    out_index = ", ".join(f"o{a}" for a in range(out_ndim)) if out_ndim else "0"
    lines.append(f"        out[{out_index}] = x[{x_index}]")
    return "\n".join(lines) + "\n"


def scatter_source(name, spec, index_ndims, nb, y_ndim, accumulate, dtype):
    """Each thread owns one position along x's sliced axes and walks the index positions in order."""
    ndim = len(spec)
    array_axes, slice_axes, positions, start = _layout(spec, nb)
    slot_ndim = nb + len(slice_axes)
    params = ["out", "y"] + _index_params(spec, index_ndims, ndim) + ["nslice", "nbatch"]
    params += [f"bd{b}" for b in range(nb)] + [f"my{a}" for a in range(y_ndim)] + ["bad"]
    lines = [f"def {name}({', '.join(params)}):",
             "    for flat in range(cuda.grid(1), nslice, cuda.gridsize(1)):"]
    _unravel(lines, [f"s{a}" for a in slice_axes], [f"xd{a}" for a in slice_axes], "flat", " " * 8)
    lines.append("        for q in range(nbatch):")
    _unravel(lines, [f"p{b}" for b in range(nb)], [f"bd{b}" for b in range(nb)], "q", " " * 12)
    lines += _index_lines(spec, index_ndims, nb, " " * 12, lambda b: f"p{b}")
    slot = {positions[a]: f"s{a}" for a in slice_axes}
    slot.update({start + b: f"p{b}" for b in range(nb)})
    lead = slot_ndim - y_ndim
    y_index = ", ".join(f"{slot[lead + a]} * my{a}" for a in range(y_ndim)) if y_ndim else "0"
    x_index = ", ".join(f"j{array_axes.index(a)}" if a in array_axes else f"s{a}" for a in range(ndim))
    value = cast_expr(f"y[{y_index}]", dtype)
    if accumulate:
        value = cast_expr(f"out[{x_index}] + {value}", dtype)
    lines.append(f"            out[{x_index}] = {value}")
    return "\n".join(lines) + "\n"


def _advanced_parts(node, x, spec, extra):
    """x with the pattern's slices applied (array entries as full slices), the reversed axes of that
    view, the index arrays on the device and their broadcast shape."""
    values, indices, basic, slice_values = iter(extra), [], [], []
    for entry in spec:
        if entry[0] == "a":
            indices.append(device(next(values)))
            basic.append(("s", None, None, None))
        else:
            basic.append(entry)
            slice_values += [next(values) for p in entry[1:] if p == SYMBOLIC]
    view, reversed_axes = _basic_view(node, x, tuple(basic), slice_values)
    shape = broadcast_shape([i.shape for i in indices], f"{label(node)} (index arrays)")
    return view, reversed_axes, indices, shape


def _index_args(view, indices, index_ndims, shape):
    args = list(indices) + [int(n) for n in view.shape]
    for i, nd in zip(indices, index_ndims):
        lead = len(shape) - nd
        args += [0 if i.shape[a] == 1 and shape[lead + a] != 1 else 1 for a in range(nd)]
    return args


_index_error = ErrorFlag()


def _check_flag(node):
    if _index_error.raised():
        raise _out_of_range(node, "an index array holds an index out of bounds for its axis")


def _gather(call, node, view, spec, indices):
    """``view[index arrays on the 'a' axes of spec, full slices elsewhere]`` (NumPy advanced indexing)."""
    shape = broadcast_shape([i.shape for i in indices], f"{label(node)} (index arrays)")
    index_ndims = tuple(i.ndim for i in indices)
    indices = [reshape_view(i, (1,)) if i.ndim == 0 else i for i in indices]
    nb = len(shape)
    _, slice_axes, positions, start = _layout(spec, nb)
    out_shape = [0] * (nb + len(slice_axes))
    for a in slice_axes:
        out_shape[positions[a]] = view.shape[a]
    for b in range(nb):
        out_shape[start + b] = shape[b]
    out = call.empty(out_shape, view.dtype)
    total = math.prod(out_shape)
    if total:
        if any(view.shape[a] == 0 for a, e in enumerate(spec) if e[0] == "a"):
            raise _out_of_range(node, f"cannot index an empty axis of shape {tuple(view.shape)}")
        key = ("gather", spec, index_ndims, nb, view.dtype.name, tuple(i.dtype.name for i in indices))
        kernel = call.kernel(key, "gather_kernel", lambda: gather_source("gather_kernel", spec, index_ndims, nb))
        blocks, threads = sizes().elementwise_grid(total)
        target = out if out.ndim else reshape_view(out, (1,))
        kernel[blocks, threads](target, view, *_index_args(view, indices, index_ndims, shape), total,
                                *[int(n) for n in out_shape], _index_error.array())
        _check_flag(node)
    return out


@register(AdvancedSubtensor)
def lower_advanced_subtensor(node, host):
    spec = node.op.spec

    def step(args, call):
        view, reversed_axes, indices, _ = _advanced_parts(node, device(args[0]), spec, args[1:])
        for axis in reversed_axes:
            view = reverse_axis(call, node, view, axis)
        return [_gather(call, node, view, spec, indices)]
    return step


@register(AdvancedIncSubtensor)
def lower_advanced_inc_subtensor(node, host):
    op = node.op
    spec = op.spec
    dtype = node.outputs[0].dtype

    def step(args, call):
        out = contiguous_copy(call, device(args[0]))
        view, reversed_axes, indices, shape = _advanced_parts(node, out, spec, args[2:])
        index_ndims = tuple(i.ndim for i in indices)
        indices = [reshape_view(i, (1,)) if i.ndim == 0 else i for i in indices]
        y = device(args[1])
        nb = len(shape)
        _, slice_axes, positions, start = _layout(spec, nb)
        slot = [0] * (nb + len(slice_axes))
        for a in slice_axes:
            slot[positions[a]] = view.shape[a]
        for b in range(nb):
            slot[start + b] = shape[b]
        if y.ndim > len(slot) or broadcast_shape([slot, y.shape], label(node)) != tuple(slot):
            raise ValueError(f"{label(node)}: a value of shape {tuple(y.shape)} does not fit the indexed "
                             f"region of shape {tuple(slot)}")
        if reversed_axes:
            y = _reverse_written_values(call, node, y, len(slot), [positions[a] for a in reversed_axes])
        nslice = math.prod([view.shape[a] for a in slice_axes])
        nbatch = math.prod(shape)
        if nslice and nbatch:
            if any(view.shape[a] == 0 for a, e in enumerate(spec) if e[0] == "a"):
                raise _out_of_range(node, f"cannot index an empty axis of shape {tuple(view.shape)}")
            key = ("scatter", spec, index_ndims, nb, y.ndim, not op.set_instead_of_inc, dtype, y.dtype.name,
                   tuple(i.dtype.name for i in indices))
            kernel = call.kernel(key, "scatter_kernel",
                                 lambda: scatter_source("scatter_kernel", spec, index_ndims, nb, y.ndim,
                                                        not op.set_instead_of_inc, dtype))
            lead = len(slot) - y.ndim
            masks = [0 if y.shape[a] == 1 and slot[lead + a] != 1 else 1 for a in range(y.ndim)]
            blocks, threads = sizes().elementwise_grid(nslice)
            kernel[blocks, threads](view, y if y.ndim else reshape_view(y, (1,)),
                                    *_index_args(view, indices, index_ndims, shape), nslice, nbatch,
                                    *[int(n) for n in shape], *masks, _index_error.array())
            _check_flag(node)
        return [out]
    return step


# ---------------------------------------------------------------- arange and concatenate

@register(ARange)
def lower_arange(node, host):
    dtype = node.outputs[0].dtype

    def step(args, call):
        # Python numbers, as the reference backend: NumPy then computes the length from the exact difference
        # (numpy int64 scalars would wrap in stop - start) and fills the values with its own loop.
        start, stop, step_ = (to_host(a)[()].item() for a in args)
        if step_ == 0:
            raise ValueError(f"{label(node)}: step cannot be zero")
        try:
            values = np.arange(start, stop, step_, dtype=dtype)
        except (ValueError, OverflowError) as exc:
            raise ValueError(f"{label(node)}: {exc}") from None
        return [to_device(values) if values.size else call.empty((0,), dtype)]
    return step


@register(Join)
def lower_join(node, host):
    axis = node.op.axis
    dtype = node.outputs[0].dtype

    def step(args, call):
        parts = [device(a) for a in args]
        first = parts[0]
        for p in parts[1:]:
            if p.ndim != first.ndim or any(p.shape[a] != first.shape[a] for a in range(first.ndim) if a != axis):
                shapes = ", ".join(str(tuple(q.shape)) for q in parts)
                raise ValueError(f"{label(node)}: arrays of shapes {shapes} cannot be joined along axis {axis}")
        shape = list(first.shape)
        shape[axis] = sum(int(p.shape[axis]) for p in parts)
        check_size(shape, dtype, label(node))       # broadcast views may be long without memory
        out = call.empty(shape, dtype)
        offset = 0
        for p in parts:
            n = p.shape[axis]
            if n and p.size:
                key = (slice(None),) * axis + (slice(offset, offset + n),)
                copy_into(call, out[key], p)
            offset += n
        return [out]
    return step

