"""The steps of a graph's nodes, with products, reductions and elementwise nodes computed inside the kernel of
their one reader where they can be (fusion.py). Used for a function's graph (lower.py) and a scan's step graph
(loop_ops.py)."""
from __future__ import annotations

from . import conv_ops as convolutions, linalg_ops as products, reduce_ops as reductions
from .fusion import fused_readers, pending_elementwise_step


#: the op families whose nodes an elementwise reader may compute in their kernel: each has
#: ``fuses_into_reader(node)``, ``pending_value_step(node, step)`` and ``lower_with_reader(reader, node, host,
#: unfused)``
FAMILIES = (products, reductions, convolutions)


def _family(node):
    return next((family for family in FAMILIES if family.fuses_into_reader(node)), None)


def plan_steps(nodes, outputs, host, plan) -> dict:
    """``id(node) -> step`` (None for a node without a lowering) for ``nodes`` in order: ``plan(node)`` makes a
    node's own step (and adds the ids of the host values it makes to ``host``); ``outputs`` are the values
    the graph returns (never left pending)."""
    readers = fused_readers(nodes, outputs, lambda n: _family(n) is not None)
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
            step = _family(node).pending_value_step(node, step)
        elif id(node) in producers and computed_here:
            step = pending_elementwise_step(node, step, host)
        if step is not None and id(node) in pending:
            source = pending[id(node)]
            step = _family(source).lower_with_reader(node, source, host, step)
        steps[id(node)] = step
    return steps
