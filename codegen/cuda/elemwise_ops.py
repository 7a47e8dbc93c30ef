"""Lowering of ``Elemwise`` and ``Fused`` nodes: one generated kernel per node (see elemwise.py)."""
from __future__ import annotations

from symgraph.ops.elemwise import Elemwise
from symgraph.ops.fused import Fused

from .elemwise import ElementwiseKernel, missing_scalar_ops
from .table import device, label, register


@register(Elemwise, Fused)
def lower_elementwise(node, host):
    nin, instructions, outputs = node.op.scalar_program(node)
    missing = missing_scalar_ops(op for op, _, _ in instructions)
    if missing:
        raise NotImplementedError(f"backend='cuda' has no kernel template for scalar op(s) {missing} "
                                  f"used by {label(node)}")
    spec = tuple((v.dtype, v.ndim, id(v) in host and v.ndim == 0) for v in node.inputs)
    kernel = ElementwiseKernel(nin, instructions, outputs, spec, node.outputs[0].ndim,
                               [o.dtype for o in node.outputs], label=label(node))

    def step(args, call):
        return kernel(call, [a if scalar else device(a) for a, (_, _, scalar) in zip(args, spec)])
    return step
