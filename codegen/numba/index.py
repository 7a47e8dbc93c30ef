"""Lowering of indexing: basic subtensors as Numba views, increments/sets as loops over the region,
advanced (integer-array) indexing as loops over the output, and ``arange``.

Numba does no bounds checks, so every integer index (scalar or array entry) is
wrapped if negative and checked against its axis before it is used: an index
out of range raises IndexError naming the op and the user's line. Slices clamp
as in Python, so they need no check beyond a zero step.
"""
from __future__ import annotations

import numpy as np

from symgraph.ops.index import ARange, AdvancedIncSubtensor, AdvancedSubtensor, IncSubtensor, Subtensor

from .kernel import cast_code, dtype_code, literal, register

SYMBOLIC = "?"


def _checked_index(kernel, node, code, length, axis):
    message = f"{node.op}: an index is out of bounds for axis {axis}"
    if code.lstrip("-").isdigit() and int(code) >= 0:   # a literal index: one test, no wrap-around
        kernel.check(f"{code} >= {length}", message, "IndexError")
        return code
    index = kernel.let(f"np.int64({code})", "k")
    kernel.emit(f"if {index} < 0:")
    with kernel.indent():
        kernel.emit(f"{index} += {length}")
    kernel.check(f"{index} < 0 or {index} >= {length}", message, "IndexError")
    return index


def _slice_text(kernel, node, entry, parts):
    texts = []
    for position, part in enumerate(entry[1:]):
        if part == SYMBOLIC:
            code = kernel.let(f"np.int64({next(parts)})", "k")
            if position == 2:
                kernel.check(f"{code} == 0", f"{node.op}: slice step cannot be zero")
            texts.append(code)
        else:
            texts.append("" if part is None else str(part))
    start, stop, step = texts
    return f"{start}:{stop}:{step}" if step else f"{start}:{stop}"


def _basic_key(kernel, node, x, spec, index_vars):
    """The Numba indexing key for a basic spec (ints checked), and whether the result is one element."""
    parts = iter(kernel.code(v) for v in index_vars)
    dims = kernel.dims(x)
    key = []
    for axis, entry in enumerate(spec):
        if entry[0] == "i":
            code = next(parts) if entry[1] == SYMBOLIC else str(entry[1])
            key.append(_checked_index(kernel, node, code, dims[axis], axis))
        else:
            key.append(_slice_text(kernel, node, entry, parts))
    return ", ".join(key), all(entry[0] == "i" for entry in spec)


def _value_steps(kernel, node, y, region_dims):
    """Check that ``y`` broadcasts onto the indexed region; per axis of ``y``, a 0/1 index step."""
    y_dims = kernel.dims(y)
    lead = len(region_dims) - y.ndim
    steps = []
    for a in range(y.ndim):
        kernel.check(f"{y_dims[a]} != {region_dims[lead + a]} and {y_dims[a]} != 1",
                     f"{node.op}: the value cannot be broadcast to the indexed region")
        steps.append(kernel.let(f"0 if {y_dims[a]} == 1 else 1", "step"))
    return lead, steps


@register(Subtensor)
def lower_subtensor(node, kernel):
    x, *index_vars = node.inputs
    out = node.outputs[0]
    key, element = _basic_key(kernel, node, x, node.op.spec, index_vars)
    name = kernel.let(f"{kernel.code(x)}[{key}]", "v")
    if element:
        kernel.bind(out, name)
    else:
        kernel.bind(out, name, contiguous=False, owned=kernel.value(x).owned)


def _write_region(kernel, node, region, region_dims, y, assign):
    """``region[...] (+)= y`` with y broadcast to the region, as checked loops."""
    operator = "=" if assign else "+="
    target_dtype = node.outputs[0].dtype
    if y.ndim == 0:
        value = cast_code(kernel.code(y), y.dtype, target_dtype)
        if not region_dims:
            return value, operator
    lead, steps = _value_steps(kernel, node, y, region_dims)
    for a, d in enumerate(region_dims):
        kernel.emit(kernel.loop(f"r{a}", d))
        kernel.depth += 1
    if y.ndim:
        value = cast_code(f"{kernel.code(y)}[{', '.join(f'r{lead + a} * {steps[a]}' for a in range(y.ndim))}]",
                          y.dtype, target_dtype)
    else:
        value = cast_code(kernel.code(y), y.dtype, target_dtype)
    kernel.emit(f"{region}[{', '.join(f'r{a}' for a in range(len(region_dims)))}] {operator} {value}")
    kernel.depth -= len(region_dims)
    return None, None


@register(IncSubtensor)
def lower_inc_subtensor(node, kernel):
    x, y, *index_vars = node.inputs
    out = node.outputs[0]
    name = kernel.let(f"{kernel.runtime()}.copy({kernel.code(x)})", "v")  # cached: .copy() inline compiles ~0.2 s
    key, element = _basic_key(kernel, node, x, node.op.spec, index_vars)
    if element:
        value = cast_code(kernel.code(y), y.dtype, out.dtype)
        kernel.emit(f"{name}[{key}] {'=' if node.op.set_instead_of_inc else '+='} {value}")
    else:
        region = kernel.let(f"{name}[{key}]", "region")
        region_ndim = sum(1 for entry in node.op.spec if entry[0] == "s")
        region_dims = [f"{region}.shape[{a}]" for a in range(region_ndim)]
        _write_region(kernel, node, region, region_dims, y, node.op.set_instead_of_inc)
    kernel.bind(out, name, kernel.dims(x), contiguous=True, owned=True)


def _advanced_plan(kernel, node, x, spec, index_vars):
    """Per x axis ("array", var) or ("slice", selection name); the output dims; the broadcast index dims."""
    parts = iter(index_vars)
    dims = kernel.dims(x)
    axes, arrays = [], []
    for axis, entry in enumerate(spec):
        if entry[0] == "a":
            var = next(parts)
            axes.append(("array", var))
            arrays.append(var)
        else:
            codes = iter(kernel.code(next(parts)) for p in entry[1:] if p == SYMBOLIC)
            text = _slice_text(kernel, node, entry, codes)
            axes.append(("slice", kernel.let(f"{kernel.runtime()}.positions(np.int64({dims[axis]}))[{text}]", "selection")))
    # Broadcast the index arrays together (right-aligned).
    ndim = max(v.ndim for v in arrays)
    broadcast = []
    for axis in range(ndim):
        entries = [kernel.dims(v)[axis - (ndim - v.ndim)] for v in arrays if axis - (ndim - v.ndim) >= 0]
        length = (kernel.broadcast_length(entries, f"{node.op}: the index arrays cannot be broadcast together")
                  if entries else "1")
        broadcast.append(length)
    array_axes = [a for a, (kind, _) in enumerate(axes) if kind == "array"]
    adjacent = array_axes == list(range(array_axes[0], array_axes[-1] + 1))
    # Output layout: (slices before, broadcast, slices after) when the array axes are adjacent.
    layout = []
    if adjacent:
        layout += [("slice", a) for a in range(array_axes[0])]
        layout += [("broadcast", b) for b in range(ndim)]
        layout += [("slice", a) for a in range(array_axes[-1] + 1, x.ndim)]
    else:
        layout += [("broadcast", b) for b in range(ndim)]
        layout += [("slice", a) for a in range(x.ndim) if a not in array_axes]
    out_dims = [broadcast[i] if kind == "broadcast" else f"{axes[i][1]}.shape[0]" for kind, i in layout]
    return axes, layout, out_dims, ndim


def _advanced_source_index(kernel, node, x, axes, layout, ndim):
    """Emit (inside the output loops o0, o1...) the checked source index for each axis of x."""
    loop_of_broadcast = {i: f"o{p}" for p, (kind, i) in enumerate(layout) if kind == "broadcast"}
    loop_of_slice = {i: f"o{p}" for p, (kind, i) in enumerate(layout) if kind == "slice"}
    dims = kernel.dims(x)
    source = []
    for axis, (kind, payload) in enumerate(axes):
        if kind == "slice":
            source.append(f"{payload}[{loop_of_slice[axis]}]")
            continue
        var = payload
        if var.ndim == 0:
            code = kernel.code(var)
        else:
            lead = ndim - var.ndim
            entries = []
            for a, d in enumerate(kernel.dims(var)):
                entries.append(f"({loop_of_broadcast[lead + a]} if {d} != 1 else 0)")
            code = f"{kernel.code(var)}[{', '.join(entries)}]"
        source.append(_checked_index(kernel, node, code, dims[axis], axis))
    return ", ".join(source)


@register(AdvancedSubtensor)
def lower_advanced_subtensor(node, kernel):
    x, *index_vars = node.inputs
    out = node.outputs[0]
    axes, layout, out_dims, ndim = _advanced_plan(kernel, node, x, node.op.spec, index_vars)
    name = kernel.let(kernel.new_array(out_dims, out.dtype), "v")
    for p, d in enumerate(out_dims):
        kernel.emit(kernel.loop(f"o{p}", d))
        kernel.depth += 1
    source = _advanced_source_index(kernel, node, x, axes, layout, ndim)
    kernel.emit(f"{name}[{', '.join(f'o{p}' for p in range(len(out_dims)))}] = {kernel.code(x)}[{source}]")
    kernel.depth -= len(out_dims)
    kernel.bind(out, name, out_dims, contiguous=True, owned=True)


@register(AdvancedIncSubtensor)
def lower_advanced_inc_subtensor(node, kernel):
    x, y, *index_vars = node.inputs
    out = node.outputs[0]
    name = kernel.let(f"{kernel.runtime()}.copy({kernel.code(x)})", "v")  # cached: .copy() inline compiles ~0.2 s
    axes, layout, slot_dims, ndim = _advanced_plan(kernel, node, x, node.op.spec, index_vars)
    lead, steps = _value_steps(kernel, node, y, slot_dims)
    for p, d in enumerate(slot_dims):
        kernel.emit(kernel.loop(f"o{p}", d))
        kernel.depth += 1
    source = _advanced_source_index(kernel, node, x, axes, layout, ndim)
    if y.ndim:
        value = f"{kernel.code(y)}[{', '.join(f'o{lead + a} * {steps[a]}' for a in range(y.ndim))}]"
    else:
        value = kernel.code(y)
    operator = "=" if node.op.set_instead_of_inc else "+="
    kernel.emit(f"{name}[{source}] {operator} {cast_code(value, y.dtype, out.dtype)}")
    kernel.depth -= len(slot_dims)
    kernel.bind(out, name, kernel.dims(x), contiguous=True, owned=True)


@register(ARange)
def lower_arange(node, kernel):
    start, stop, step = (kernel.code(v) for v in node.inputs)
    out = node.outputs[0]
    kernel.check(f"{step} == 0", f"{node.op}: step cannot be zero")
    dtype = np.dtype(out.dtype)
    # Cached runtime helpers (np.arange inline compiles its overloads in every process, ~0.2 s) compute
    # the length as NumPy computes it, from the bounds' own kind (the python backend passes Python ints or
    # floats): exact integer arithmetic for integer bounds (stop - start may not fit in int64), doubles
    # else; the values come from NumPy's own fill loop.
    rt = kernel.runtime()
    exact = all(np.dtype(v.dtype).kind in "biu" for v in node.inputs)
    kind = "int" if exact else "float"
    start, stop, step = (f"np.{'int64' if exact else 'float64'}({code})" for code in (start, stop, step))
    length = kernel.let(f"{rt}.arange_length_{kind}({start}, {stop}, {step})", "n")
    kernel.check(f"{length} == -1", f"{node.op}: the length exceeds the largest possible array (Maximum allowed "
                 "size exceeded)")
    if not exact:
        kernel.check(f"{length} == -2", f"{node.op}: cannot compute the length (a bound or the step is NaN)")
    name = kernel.let(f"{rt}.arange_fill({start}, {start} + {step}, {length}, {literal(0, dtype)})", "v")
    kernel.bind(out, name, [length], contiguous=True, owned=True)
