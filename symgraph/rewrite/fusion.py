"""Elementwise fusion: connected elementwise nodes become one ``Fused`` node (one loop in codegen).

Groups grow upward from a root (the last elementwise node of a chain, visited in
reverse topological order) through producers whose every consumer is already in
the group, so the group computes exactly what the root needs. A producer that is
also used outside the group joins as an extra output when its shape provably
equals the root's (several outputs sharing inputs in one loop), unless that would
make the fused node depend on itself; that check searches upward from the group's
inputs, pruned by each node's level (longest path from a leaf, kept up to date as
fused nodes replace groups), so the pass stays linear. Elementwise functions commute
with broadcasting, so evaluating the group on its broadcast inputs is exact; but a
producer with transcendental functions whose result the root broadcasts (fewer axes,
or a length-1 axis) stays out of the group: inside the root's loop it would be
recomputed for every element of the broadcast axes (``tanh(A @ w)`` once per row of
a Hessian), while on its own it runs once per element of its own, smaller shape.
"""
from __future__ import annotations

from ..graph import inherit_source
from ..ops.elemwise import Elemwise
from ..ops.fused import Fused
from .engine import OUTPUT, fast_toposort
from .shapes import dims

#: the most nodes fused into one loop (keeps generated kernels compilable in reasonable time)
MAX_GROUP = 400


def is_fusable(node) -> bool:
    return isinstance(node.op, (Elemwise, Fused))


def fuse_elementwise(fg):
    """The global fusion pass over ``fg``; returns the number of fused nodes built."""
    order = fg.toposort()
    level = {}  # 1 + the longest path from a leaf: an ancestor always has a lower level
    for node in order:
        level[node] = 1 + max((level[v.owner] for v in node.inputs if v.owner is not None), default=0)
    assigned = set()
    built = 0
    # Sets of nodes iterate in address order; ranks make the fused programs (and so the numba
    # backend's generated source and its disk-cache key) the same in every process.
    rank = {node: i for i, node in enumerate(order)}
    for root in reversed(order):
        if root in assigned or root not in fg.nodes or not is_fusable(root) or len(root.outputs) != 1:
            continue
        group = _grow(fg, root, assigned, level, rank)
        assigned.update(group)
        if len(group) < 2:
            continue
        new_node = _build(fg, group, root, rank)
        if new_node is None:
            continue
        rank[new_node] = rank.get(root, len(rank))
        _update_levels(fg, new_node, level)
        assigned.add(new_node)
        built += 1
    return built


def _update_levels(fg, new_node, level):
    """Give the new node its level and raise its consumers' where needed (levels only grow)."""
    level[new_node] = 1 + max((level[v.owner] for v in new_node.inputs if v.owner is not None), default=0)
    stack = [new_node]
    while stack:
        node = stack.pop()
        for out in node.outputs:
            for consumer, _ in fg.clients.get(out, ()):
                if consumer is not OUTPUT and level.get(consumer, 0) <= level[node]:
                    level[consumer] = level[node] + 1
                    stack.append(consumer)


def _transcendental(node) -> bool:
    """Whether the node computes a scalar op that declares itself costly (``ScalarOp.transcendental``)."""
    if isinstance(node.op, Fused):
        return any(getattr(op, "transcendental", False) for op, _, _ in node.op.instructions)
    return node.op.scalar_op.transcendental


def _broadcast_into(var, root_var) -> bool:
    """True when ``root_var``'s loop would read ``var`` broadcast: fewer axes, or a length-1 axis."""
    if var.ndim < root_var.ndim:
        return True
    return any(mine == 1 and theirs != 1 for mine, theirs in zip(var.type.shape, root_var.type.shape))


def _close(fg, group, stack, assigned, root_var):
    """Add producers whose every consumer is in the group, until none is left."""
    while stack:
        node = stack.pop()
        for var in node.inputs:
            owner = var.owner
            if owner is None or owner in group or owner in assigned or not is_fusable(owner):
                continue
            if _broadcast_into(var, root_var) and _transcendental(owner):
                continue
            if len(group) >= MAX_GROUP:
                return
            if all(consumer in group for out in owner.outputs for consumer, _ in fg.clients.get(out, ())):
                group.add(owner)
                stack.append(owner)


def _grow(fg, root, assigned, level, rank):
    group = {root}
    root_var = root.outputs[0]
    _close(fg, group, [root], assigned, root_var)
    # Shared producers with the root's shape become extra outputs of the same loop, round by
    # round (a chain of shared values joins one link per round) while no cycle appears.
    root_dims = dims(root.outputs[0], fg)
    ndim = root.outputs[0].ndim
    while len(group) < MAX_GROUP:
        extras = []
        for node in sorted(group, key=lambda n: rank.get(n, -1)):
            for var in node.inputs:
                owner = var.owner
                if owner is None or owner in group or owner in assigned or not is_fusable(owner) \
                        or len(owner.outputs) != 1 or var.ndim != ndim or owner in extras \
                        or dims(var, fg) != root_dims:
                    continue
                extras.append(owner)
        if not extras:
            break
        trial = group | set(extras[:MAX_GROUP - len(group)])
        _close(fg, trial, list(extras), assigned, root_var)
        if _creates_cycle(trial, level):
            break
        group = trial
    return group


def _creates_cycle(group, level, budget=400):
    """True when a value the group reads depends on a node of the group (through outside nodes).

    Searches upward from the group's outside inputs, never below the group's lowest level
    (a node cannot have an ancestor of a higher level). Past ``budget`` nodes it answers True:
    the group then simply gets no extra outputs, which is always safe and keeps fusion linear.
    """
    lowest = min(level.get(node, 0) for node in group)
    stack = [var.owner for node in group for var in node.inputs
             if var.owner is not None and var.owner not in group and level.get(var.owner, 0) > lowest]
    seen = set()
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        if len(seen) > budget:
            return True
        for var in node.inputs:
            owner = var.owner
            if owner is None:
                continue
            if owner in group:
                return True
            if owner not in seen and level.get(owner, 0) > lowest:
                stack.append(owner)
    return False


def _group_outputs(fg, group, rank):
    outputs = []
    for node in sorted(group, key=lambda n: rank.get(n, -1)):
        for var in node.outputs:
            if any(consumer is OUTPUT or consumer not in group for consumer, _ in fg.clients.get(var, ())):
                outputs.append(var)
    return outputs


def _build(fg, group, root, rank):
    outputs = _group_outputs(fg, group, rank)
    produced = {var for node in group for var in node.outputs}
    external = []
    seen = set()
    members = fast_toposort(outputs, stop={v for node in group for v in node.inputs if v not in produced})
    members = [node for node in members if node in group]
    for node in members:
        for var in node.inputs:
            if var not in produced and var not in seen:
                seen.add(var)
                external.append(var)
    nin = len(external)
    operand = {var: k for k, var in enumerate(external)}
    instructions = []
    for node in members:
        if isinstance(node.op, Fused):
            local = [operand[v] for v in node.inputs]
            for scalar_op, indices, dtype in node.op.instructions:
                local.append(nin + len(instructions))
                instructions.append((scalar_op, tuple(local[k] for k in indices), dtype))
            for var, k in zip(node.outputs, node.op.outputs):
                operand[var] = local[k]
        else:
            operand[node.outputs[0]] = nin + len(instructions)
            instructions.append((node.op.scalar_op, tuple(operand[v] for v in node.inputs),
                                 node.outputs[0].dtype))
    sources = []
    for node in members:
        for source in node.sources:
            if source not in sources:
                sources.append(source)
    op = Fused(nin, instructions, [operand[var] for var in outputs])
    with inherit_source(sources):
        new_node = op.make_node(*external)
    for old, new in zip(outputs, new_node.outputs):
        if old.dtype != new.dtype or not old.type.is_compatible(new.type):
            return None
    log = fg.log
    before = None
    if log is not None and log.detailed:
        from .log import snapshot
        before = [snapshot(old) for old in outputs]
    fg.import_variable(new_node.outputs[0])
    for old, new in zip(outputs, new_node.outputs):
        fg.replace(old, new, "fuse_elementwise", check=False)
    if log is not None:
        log.record(fg.stage, "fuse_elementwise", before, new_node.outputs, sources)
    return new_node
