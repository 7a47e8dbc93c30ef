"""Lowering of reductions (``Reduce``, ``SumToShape``) onto the tree-reduction kernels of reduce.py."""
from __future__ import annotations

from symgraph.ops.reduce import Reduce, SumToShape

from .reduce import reduce_rows
from .runtime import reshape_view
from .table import device, label, register


@register(Reduce)
def lower_reduce(node, host):
    op = node.op
    out_dtype = node.outputs[0].dtype

    def step(args, call):
        x = device(args[0])
        if op.kind in ("max", "min") and x.size == 0:
            raise ValueError(f"{op.kind}: zero-size input of shape {tuple(x.shape)} has no {op.kind}"
                             f"{node.where()}")
        out, kept = reduce_rows(call, op.kind, x, op.axis, out_dtype)
        shape = tuple(1 if a in op.axis else n for a, n in enumerate(x.shape)) if op.keepdims else kept
        return [reshape_view(out, shape)]
    return step


@register(SumToShape)
def lower_sum_to_shape(node, host):
    out_dtype = node.outputs[0].dtype

    def step(args, call):
        g, like = device(args[0]), args[1]
        shape = tuple(like.shape)
        lead = g.ndim - len(shape)
        bad = lead < 0 or any(n != 1 and g.shape[lead + i] != n for i, n in enumerate(shape))
        if bad:
            raise ValueError(f"{label(node)}: cannot sum shape {tuple(g.shape)} to {shape}")
        axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape)
                                          if n == 1 and g.shape[lead + i] != 1)
        out, _ = reduce_rows(call, "sum", g, axes, out_dtype)
        return [reshape_view(out, shape)]
    return step
