"""Inlining: an ``OpFromGraph`` node becomes its inner graph, so every other rewrite sees through it."""
from __future__ import annotations

from ..ops.from_graph import OpFromGraph
from .engine import register


@register("canonicalize", "inline", ops="op_from_graph")
def inline_op_from_graph(node):
    """op_from_graph(x, y) -> its inner graph on x and y (unless the op was made with ``inline=False``)."""
    op = node.op
    if not isinstance(op, OpFromGraph) or not op.inline:
        return None
    return op.expand(node.inputs)
