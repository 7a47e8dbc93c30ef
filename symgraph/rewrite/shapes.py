"""Symbolic shape facts for rewrites: which runtime lengths are provably equal.

Each dimension of a variable is described by an int (its static length) or a set of
atoms ``(variable, axis)``, meaning "the broadcast of these lengths"; an atom names a
length nothing upstream explains (an input's, a matrix product's). Elementwise results
take the union of their operands' sets, ``broadcast_to(x, shape_of(y, 0))`` takes
``y``'s, and so on, so two dimensions with equal descriptions have equal lengths
whenever the graph runs without a shape error. Rewrites use this to remove
``SumToShape`` and ``BroadcastTo`` nodes that do nothing, and to check that a
simplification keeps the shape of what it replaces. Facts stay true when the graph
is rewritten (a replacement computes the same values), so they are cached.
"""
from __future__ import annotations

from ..graph import Constant, Variable
from ..ops.base import op_name


def dims(var, cache=None) -> tuple:
    """The dimension descriptions of ``var``: ints, or frozensets of ``(variable, axis)`` atoms."""
    if cache is None:
        from .engine import current_graph
        graph = current_graph()
        cache = graph.shape_cache if graph is not None else {}
    found = cache.get(var)
    if found is not None:
        return found
    # Iterative post-order over owners not described yet (long chains must not recurse).
    stack = [(var, False)]
    in_progress = set()
    while stack:
        v, ready = stack.pop()
        if v in cache:
            continue
        owner = v.owner
        if owner is None:
            cache[v] = _own(v)
            continue
        if not ready:
            if v in in_progress:
                raise RuntimeError(f"shape inference met a cycle through {owner.op}")
            in_progress.add(v)
            stack.append((v, True))
            stack.extend((u, False) for u in _shape_inputs(owner) if u not in cache)
            continue
        for out in owner.outputs:
            if out not in cache:
                cache[out] = _infer(owner, out, cache)
    return cache[var]


def _own(var):
    return tuple(n if n is not None else frozenset([(var, axis)]) for axis, n in enumerate(var.type.shape))


def _shape_inputs(node):
    name = op_name(node.op)
    if name in ("broadcast_to", "reshape"):
        return [node.inputs[0]] + [d.owner.inputs[0] for d in node.inputs[1:]
                                   if d.owner is not None and op_name(d.owner.op) == "shape_of"]
    return node.inputs


def broadcast_dims(dim_lists, ndim):
    """NumPy broadcasting of dimension descriptions (``None`` where a static length conflicts)."""
    padded = [(1,) * (ndim - len(d)) + tuple(d) for d in dim_lists]
    out = []
    for axis in range(ndim):
        column = [d[axis] for d in padded]
        lengths = {d for d in column if isinstance(d, int) and d != 1}
        if lengths:
            out.append(lengths.pop() if len(lengths) == 1 else None)
            continue
        atoms = frozenset().union(*[d for d in column if not isinstance(d, int)])
        out.append(atoms if atoms else 1)
    return tuple(out)


def _infer(node, var, cache):
    own = _own(var)
    op = node.op
    name = op_name(op)
    static = var.type.shape
    if hasattr(op, "scalar_op") or name == "fused":
        joined = broadcast_dims([cache[v] for v in node.inputs], var.ndim)
        return tuple(s if s is not None else (j if j is not None else own[a])
                     for a, (s, j) in enumerate(zip(static, joined)))
    if name == "dimshuffle":
        source = cache[node.inputs[0]]
        return tuple(1 if a == "x" else source[a] for a in op.new_order)
    if name in ("broadcast_to", "reshape"):
        x, *shape = node.inputs
        lead = len(shape) - x.ndim
        result = []
        for axis, d in enumerate(shape):
            entry = _dim_from_scalar(d, cache)
            if entry is None and name == "broadcast_to" and axis >= lead:
                xd = cache[x][axis - lead]
                entry = xd if xd != 1 else None
            if entry is None or (isinstance(entry, int) and entry < 0):
                entry = own[axis]
            result.append(static[axis] if static[axis] is not None else entry)
        return tuple(result)
    if name == "sum_to_shape":
        like = cache[node.inputs[1]]
        return tuple(s if s is not None else d for s, d in zip(static, like))
    if name == "stop_gradient":
        return cache[node.inputs[0]]
    if type(op).__name__ == "Reduce":
        source = cache[node.inputs[0]]
        if op.keepdims:
            return tuple(1 if a in op.axis else d for a, d in enumerate(source))
        return tuple(d for a, d in enumerate(source) if a not in op.axis)
    return own


def _dim_from_scalar(d, cache):
    """The dimension description an int64 scalar shape entry stands for, or None."""
    if isinstance(d, Constant):
        return int(d.value)
    owner = d.owner
    if owner is not None and op_name(owner.op) == "shape_of":
        return cache[owner.inputs[0]][owner.op.axis]
    return None


def same_shape(a: Variable, b: Variable) -> bool:
    """True when ``a`` and ``b`` provably have the same runtime shape."""
    if a.ndim != b.ndim:
        return False
    da, db = dims(a), dims(b)
    return all(x == y for x, y in zip(da, db))


def shape_scalars(var, search_depth=4, search_width=64):
    """int64 scalar variables for each length of ``var``, or None when one cannot be expressed.

    Static lengths become constants; others become ``shape_of`` of an ancestor of ``var``
    with the same length (found by a short search upward), so the result never depends on
    ``var`` itself or on anything computed from it.
    """
    from ..ops.shape import ShapeOf
    wanted = dims(var)
    result = [Constant(d, dtype="int64") if isinstance(d, int) else None for d in wanted]
    if all(r is not None for r in result):
        return result
    frontier = list(var.owner.inputs) if var.owner is not None else [var]
    seen = set()
    for _ in range(search_depth):
        next_frontier = []
        for candidate in frontier:
            if candidate in seen or len(seen) > search_width:
                continue
            seen.add(candidate)
            _match_candidate(candidate, wanted, result, var.ndim, ShapeOf)
            if all(r is not None for r in result):
                return result
            if candidate.owner is not None:
                next_frontier.extend(candidate.owner.inputs)
        frontier = next_frontier
    return None


def _match_candidate(candidate, wanted, result, ndim, ShapeOf):
    owner = candidate.owner
    if owner is not None and op_name(owner.op) == "shape_of":
        d = dims(owner.inputs[0])[owner.op.axis]
        if not isinstance(d, int):
            for axis, w in enumerate(wanted):
                if result[axis] is None and w == d:
                    result[axis] = candidate
        return
    if candidate.ndim == 0:
        return
    candidate_dims = dims(candidate)
    lead = ndim - candidate.ndim
    for axis, w in enumerate(wanted):
        if result[axis] is None and axis >= lead and candidate_dims[axis - lead] == w:
            result[axis] = ShapeOf(axis - lead)(candidate)
