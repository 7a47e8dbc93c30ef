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

import numpy as np

from ..graph import inherit_source
from ..ops.elemwise import Elemwise
from ..ops.fused import Fused
from .engine import OUTPUT, fast_toposort
from .shapes import dims

#: the most nodes fused into one loop when a value of the group is not of the group's one float dtype (or
#: boolean): a loop body the numba backend compiles, in time that grows faster than its length
MAX_GROUP = 400
#: the most nodes of a group whose values are all of one float dtype (or boolean): the numba backend runs a
#: long one on its vector tape (an interpreter compiled once, codegen/numba/tape.py), so its compile time
#: does not grow with the group, and a chain of thousands of steps with its gradient is one node
MAX_FLOAT_GROUP = 16384
#: the fewest independent loops over one array that ``_fuse_siblings`` merges into one
MIN_SIBLINGS = 16


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
    return built + _fuse_siblings(fg, level, rank)


def _fuse_siblings(fg, level, rank):
    """Many loops over one array become one loop with many outputs.

    Elementwise nodes that read the same array, have its shape and stand at the same level (so none
    depends on another: an ancestor has a lower level) are independent loops over the same elements:
    ``[x * i + i for i in range(300)]`` is 300 of them, and the numba backend compiles each loop in time of
    its own. At least ``MIN_SIBLINGS`` of them are merged into nodes of at most the group limit; fewer are
    left alone (a handful of loops compiles quickly, and each keeps the shape the backends' own patterns
    match, such as a convolution's bias and ReLU or an in-place update).
    """
    candidates = {}
    for node in fg.toposort():
        if not is_fusable(node) or node.outputs[0].ndim == 0:
            continue
        shape = dims(node.outputs[0], fg)
        for var in node.inputs:
            if var.ndim == node.outputs[0].ndim and dims(var, fg) == shape:
                candidates.setdefault((var, level.get(node, 0)), []).append(node)
                break
    built = 0
    for members in candidates.values():
        members = [node for node in members if node in fg.nodes]
        if len(members) < MIN_SIBLINGS:
            continue
        dtype, chunk = _NO_FLOAT, []
        for node in members + [None]:
            if node is not None:
                merged = _merge_dtype(dtype, node)
                limit = MAX_GROUP if merged is _NO_FLOAT or merged is _MIXED else MAX_FLOAT_GROUP
                if len(chunk) < limit:
                    dtype = merged
                    chunk.append(node)
                    continue
            if len(chunk) >= 2 and _build(fg, set(chunk), chunk[-1], rank) is not None:
                built += 1
            dtype, chunk = _NO_FLOAT, ([] if node is None else [node])
            if node is not None:
                dtype = _merge_dtype(dtype, node)
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


_NO_FLOAT = object()   # a group state: no float value yet
_MIXED = object()      # a group state: values of another kind or of two float dtypes


def _merge_dtype(dtype, node):
    """The group's one float dtype after ``node`` joins (``_NO_FLOAT`` / ``_MIXED`` as in ``_Group``)."""
    if dtype is _MIXED:
        return dtype
    for var in (*node.inputs, *node.outputs):
        kind = np.dtype(var.dtype).kind
        if kind == "f":
            if dtype is _NO_FLOAT:
                dtype = np.dtype(var.dtype)
            elif dtype != np.dtype(var.dtype):
                return _MIXED
        elif kind != "b":
            return _MIXED
    return dtype


class _Group:
    """A group being grown: its members, the values it reads from outside, and how to undo a round.

    What a round of growth reads (the values read from outside, the lowest level, the one float dtype)
    is kept up to date as members join, so a round costs what it adds, not the group's size: growing a
    chain of thousands of links one link a round stays linear.
    """

    def __init__(self, root, level):
        self.members = set()
        self.outside = set()          # values the members read that no member produces
        self.level = level
        self.lowest = level.get(root, 0)
        self.dtype = _NO_FLOAT        # the one float dtype of every value (booleans aside), or _MIXED
        self.journal = None           # while a round is on trial: one entry per member added
        self.add(root)

    def __contains__(self, node):
        return node in self.members

    def __len__(self):
        return len(self.members)

    def limit(self, dtype=None) -> int:
        """MAX_FLOAT_GROUP while every value is of one float dtype (or boolean), else MAX_GROUP."""
        if dtype is None:
            dtype = self.dtype
        return MAX_GROUP if dtype is _NO_FLOAT or dtype is _MIXED else MAX_FLOAT_GROUP

    def admits(self, node) -> bool:
        """Whether ``node`` may join without the group passing its limit (the limit after it joins)."""
        return len(self.members) < self.limit(_merge_dtype(self.dtype, node))

    def add(self, node):
        entered, left = [], []
        for var in node.outputs:
            if var in self.outside:
                self.outside.discard(var)
                left.append(var)
        self.members.add(node)
        for var in node.inputs:
            if var.owner not in self.members and var not in self.outside:
                self.outside.add(var)
                entered.append(var)
        if self.journal is not None:
            self.journal.append((node, entered, left, self.lowest, self.dtype))
        self.lowest = min(self.lowest, self.level.get(node, 0))
        self.dtype = _merge_dtype(self.dtype, node)

    def trial(self):
        """Starts a round whose members ``undo`` can take back."""
        self.journal = []

    def keep(self):
        self.journal = None

    def undo(self):
        """Takes back every member added since ``trial()``, newest first."""
        for node, entered, left, lowest, dtype in reversed(self.journal):
            self.members.discard(node)
            self.outside.difference_update(entered)
            self.outside.update(left)
            self.lowest, self.dtype = lowest, dtype
        self.journal = None

    def creates_cycle(self, budget=400) -> bool:
        """True when a value the group reads depends on a member (through nodes outside the group).

        Searches upward from the group's outside inputs, never below the group's lowest level (a node
        cannot have an ancestor of a higher level). Past ``budget`` nodes it answers True: the group
        then simply grows no further, which is always safe and keeps fusion linear.
        """
        level, lowest, members = self.level, self.lowest, self.members
        stack = [var.owner for var in self.outside
                 if var.owner is not None and level.get(var.owner, 0) > lowest]
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
                if owner in members:
                    return True
                if owner not in seen and level.get(owner, 0) > lowest:
                    stack.append(owner)
        return False


def _close(fg, group, stack, assigned, root_var):
    """Add producers whose every consumer is in the group, until none is left; returns them."""
    added = []
    while stack:
        node = stack.pop()
        for var in node.inputs:
            owner = var.owner
            if owner is None or owner in group or owner in assigned or not is_fusable(owner):
                continue
            if _broadcast_into(var, root_var) and _transcendental(owner):
                continue
            if not group.admits(owner):
                continue
            if all(consumer in group for out in owner.outputs for consumer, _ in fg.clients.get(out, ())):
                group.add(owner)
                added.append(owner)
                stack.append(owner)
    return added


def _grow(fg, root, assigned, level, rank):
    group = _Group(root, level)
    root_var = root.outputs[0]
    frontier = [root] + _close(fg, group, [root], assigned, root_var)
    # Shared producers with the root's shape become extra outputs of the same loop, round by round (a
    # chain of shared values joins one link per round) while no cycle appears. Only the members a round
    # added can read a new candidate, so each round looks at those alone.
    root_dims = dims(root_var, fg)
    ndim = root_var.ndim
    while frontier and len(group) < group.limit():
        extras, candidates = [], set()
        for node in sorted(frontier, key=lambda n: rank.get(n, -1)):
            for var in node.inputs:
                owner = var.owner
                if owner is None or owner in group or owner in assigned or not is_fusable(owner) \
                        or len(owner.outputs) != 1 or var.ndim != ndim or owner in candidates \
                        or dims(var, fg) != root_dims:
                    continue
                extras.append(owner)
                candidates.add(owner)
        group.trial()
        frontier = []
        for owner in extras:
            if group.admits(owner) and owner not in group:
                group.add(owner)
                frontier.append(owner)
        if not frontier:
            group.keep()
            break
        frontier += _close(fg, group, list(frontier), assigned, root_var)
        if group.creates_cycle():
            group.undo()
            break
        group.keep()
    return group.members


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
