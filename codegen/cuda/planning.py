"""The steps of a graph's nodes, with products, reductions and elementwise nodes computed inside the kernel of
their one reader where they can be (fusion.py). Used for a function's graph (lower.py) and a scan's step graph
(loop_ops.py)."""
from __future__ import annotations

from . import linalg_ops as products, reduce_ops as reductions
from .fusion import fused_readers, pending_elementwise_step, pending_step


def plan_steps(nodes, outputs, host, plan) -> dict:
    """``id(node) -> step`` (None for a node without a lowering) for ``nodes`` in order: ``plan(node)`` makes a
    node's own step (and adds the ids of the host values it makes to ``host``); ``outputs`` are the values
    the graph returns (never left pending)."""
    readers = fused_readers(nodes, outputs, lambda n: products.fuses_into_reader(n) or
                            reductions.fuses_into_reader(n))
    epilogues = {id(reader) for reader in readers.values()}
    producers = fused_readers(nodes, outputs, lambda n: id(n) not in epilogues and
                              reductions.fuses_into_reduction(n), reductions.reduction_reader)
    pending = {}          # id(reader) -> the node whose value its kernel computes as an epilogue
    steps = {}
    for node in nodes:
        step = plan(node)
        computed_here = not any(id(v) in host for v in node.outputs)
        if step is None:
            pass
        elif id(node) in readers and computed_here:
            pending[id(readers[id(node)])] = node
            step = pending_step(products.PendingProduct, step) if products.fuses_into_reader(node) \
                else reductions.pending_reduction_step(node, step)
        elif id(node) in producers and computed_here:
            step = pending_elementwise_step(node, step, host)
        if step is not None and id(node) in pending:
            source = pending[id(node)]
            fused = products.lower_with_product if products.fuses_into_reader(source) \
                else reductions.lower_with_reduction
            step = fused(node, source, host, step)
        steps[id(node)] = step
    return steps
