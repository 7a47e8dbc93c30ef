"""Lowering of ``IfElse`` (symgraph/ops/ifelse.py): an ``if``/``else`` block in the kernel.

Each block lowers the nodes only its branch needs (``lazy_branches``, computed by lower.py for the
kernel's nodes), then copies the branch's values into the outputs, so both blocks bind the same
C-contiguous arrays (or scalars of the output dtype) and nodes of the branch not taken never run. An
``ifelse`` inside a scan's step has no such list: both branches' nodes run before it.
"""
from __future__ import annotations

from symgraph.ops.ifelse import IfElse

from .kernel import dtype_code, register


@register(IfElse)
def lower_ifelse(node, kernel):
    op = node.op
    then_nodes, else_nodes = kernel.branches.get(id(node), ([], []))
    names = [kernel.fresh("v") for _ in node.outputs]
    kernel.emit(f"if {kernel.code(node.inputs[0])}:")
    for side, nodes in ((0, then_nodes), (1, else_nodes)):
        if side:
            kernel.emit("else:")
        with kernel.indent():
            for inner in nodes:
                kernel.lower_node(inner)
            kernel.node = node
            values = node.inputs[1:1 + op.n] if side == 0 else node.inputs[1 + op.n:]
            for name, value, out in zip(names, values, node.outputs):
                code = kernel.code(value)
                if out.ndim:
                    kernel.emit(f"{name} = {kernel.runtime()}.copy({code})")
                else:
                    kernel.emit(f"{name} = {dtype_code(out.dtype)}({code})")
    for name, out in zip(names, node.outputs):
        if out.ndim:
            kernel.bind(out, name, [f"{name}.shape[{axis}]" for axis in range(out.ndim)], contiguous=True, owned=True)
        else:
            kernel.bind(out, name)
