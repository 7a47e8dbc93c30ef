"""Merging: equal constants become one constant and structurally identical nodes one node.

Two nodes are identical when they apply equal ops (class and ``__props__``) to the
same input variables. Visiting nodes in topological order and redirecting consumers
as we go makes whole repeated subexpressions collapse in one linear pass.
"""
from __future__ import annotations

from ..graph import Constant
from .log import snapshot


def merge_constants(fg):
    """Replace every constant by the first equal one (same dtype, shape and bytes)."""
    canonical = {}
    merged = 0
    for var in list(fg.clients):
        if not isinstance(var, Constant) or not fg.clients.get(var):
            continue
        value = var.value
        # tiny constants (most of them) are keyed directly; larger ones by their cached digest
        key = (value.dtype.str, value.shape, value.tobytes()) if value.size <= 8 else var.signature()
        first = canonical.setdefault(key, var)
        if first is not var:
            fg.replace(var, first, "merge_constants", check=False)
            if fg.log is not None:
                fg.log.record(fg.stage, "merge_constants", [var], [first], ())
            merged += 1
    return merged


def merge_nodes(fg):
    """Replace every node by the first identical one; returns how many were merged."""
    seen = {}
    merged = 0
    log = fg.log
    op_ids = {}           # id(op) -> id of the first equal op (hashing an op once, not once per node)
    first_of_value = {}
    keep_alive = []
    for node in fg.toposort():
        if node not in fg.nodes:
            continue
        op = node.op
        op_key = op_ids.get(id(op))
        if op_key is None:
            op_key = op_ids[id(op)] = first_of_value.setdefault(op, id(op))
            keep_alive.append(op)
        key = (op_key, tuple(id(v) for v in node.inputs))
        first = seen.setdefault(key, node)
        if first is node:
            continue
        replaced = [(old, new) for old, new in zip(node.outputs, first.outputs) if fg.clients.get(old)]
        before = [snapshot(old) for old, _ in replaced] if log is not None and log.detailed else None
        for old, new in replaced:
            fg.replace(old, new, "merge_nodes", check=False)
        if log is not None and replaced:
            log.record(fg.stage, "merge_nodes", before, [new for _, new in replaced], node.sources)
        merged += 1
    return merged


def merge(fg):
    """The global merge pass: constants first, then nodes. Shape descriptions cached before it may name
    variables it merged away, so a merge that changed something starts them afresh."""
    merged = merge_constants(fg) + merge_nodes(fg)
    if merged:
        fg.shape_cache.clear()
        if getattr(fg, "shape_facts", None) is not None:
            fg.shape_facts = None
    return merged
