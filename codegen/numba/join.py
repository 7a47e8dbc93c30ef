"""Lowering of ``Join`` (concatenate): one output allocation, each input copied into its slice (by the cached
runtime helper ``join_copy``, an input of another layout copied to a contiguous one first: an inline slice
assignment costs over a second of compile).

The lengths off the join axis are checked to agree before anything is written. A scan's initial value
joined with the scan's output (what the scan's derivative reads) is a view of the scan's buffer, which
holds the two already (``KernelWriter.scan_buffers``).
"""
from __future__ import annotations

import numpy as np

from symgraph.ops.join import Join
from symgraph.ops.scan import Scan

from .kernel import INT64_MAX, SHAPE_ONLY_READS, register


def _joins_a_scan_state(node) -> bool:
    """Whether ``node`` joins a scan's initial value with that scan's output along axis 0, a state whose
    buffer keeps every row (loop.py registers it in ``KernelWriter.scan_buffers``)."""
    if node.op.axis != 0 or len(node.inputs) != 2:
        return False
    init, out = node.inputs
    scan = out.owner
    if scan is None or not isinstance(scan.op, Scan):
        return False
    k = next(i for i, var in enumerate(scan.outputs) if var is out)
    return k < scan.op.n_states and not scan.op.keep_last[k] and scan.inputs[1 + scan.op.n_seqs + k] is init


def _join_shape_only_reads(node, shape_only):
    """Such a join reads the scan's buffer, not the initial value (only its lengths)."""
    return (0,) if _joins_a_scan_state(node) else ()


SHAPE_ONLY_READS[Join] = _join_shape_only_reads


@register(Join)
def lower_join(node, kernel):
    out = node.outputs[0]
    axis = node.op.axis
    if _joins_a_scan_state(node):
        # a scan's initial value joined with its output (its derivative reads the values each step started
        # from): the scan's buffer holds exactly that, read as a view instead of copied
        buffer, lag, ran, dims = kernel.scan_buffers[(id(node.inputs[0]), id(node.inputs[1]))]
        total = kernel.let(f"{lag} + {ran}", "n")
        kernel.bind(out, kernel.let(f"{buffer}[:{total}]", "v"), [total] + list(dims), contiguous=True, owned=False)
        return
    first = kernel.dims(node.inputs[0])
    for var in node.inputs[1:]:
        for a, d in enumerate(kernel.dims(var)):
            if a != axis and d != first[a]:
                kernel.check(f"{d} != {first[a]}",
                             f"{node.op}: the inputs' lengths on axis {a} differ (joining along axis {axis})")
    # The joined length, added with an overflow check: broadcast views can be long without memory, and a
    # wrapped total would allocate too little for the copies.
    too_large = f"{node.op}: the result is too large (its size overflows int64)"
    total = kernel.let(kernel.dims(node.inputs[0])[axis], "n")
    for var in node.inputs[1:]:
        length = kernel.dims(var)[axis]
        kernel.check(f"{length} > {INT64_MAX} - {total}", too_large)
        kernel.emit(f"{total} = {total} + {length}")
    dims = [total if a == axis else d for a, d in enumerate(first)]
    kernel.checked_size(dims, too_large, np.dtype(out.dtype).itemsize)
    name = kernel.let(kernel.new_array(dims, out.dtype), "v")
    offset = kernel.let("0", "offset")
    outer, inner = kernel.size_code(first[:axis]), kernel.size_code(first[axis + 1:])
    for var in node.inputs:
        length = kernel.dims(var)[axis]
        # A cached runtime helper copies through (outer, axis, inner) views of both arrays; an input of
        # another layout is made contiguous first (by a cached helper too: an inline slice assignment
        # costs seconds of compile time).
        source = kernel.code(var) if kernel.value(var).contiguous else f"{kernel.runtime()}.copy({kernel.code(var)})"
        kernel.emit(f"{kernel.runtime()}.join_copy({name}, {source}, {outer}, {total}, {length}, {inner}, {offset})")
        kernel.emit(f"{offset} += {length}")
    kernel.bind(out, name, dims, contiguous=True, owned=True)
