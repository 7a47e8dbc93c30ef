"""Symbolic shape facts for rewrites and code generation: which runtime lengths are provably equal.

Each dimension of a variable is described by an int (its static length) or a set of
atoms ``(variable, axis)``, meaning "the broadcast of these lengths"; an atom names a
length nothing upstream explains (an input's, a reshape's). Elementwise results take
the union of their operands' sets, a matrix product takes its operands' outer lengths,
``broadcast_to(x, shape_of(y, 0))`` takes ``y``'s, and so on, so two dimensions with
equal descriptions have equal lengths whenever the graph runs without a shape error.
On top of that, ``ShapeFacts`` (a union-find over descriptions) records the equalities
that ops *require* of their operands: the inner lengths of every matrix product, the
non-joined axes of a concatenation. Descriptions are stored in canonical form (the
chosen member of their class), so a plain ``==`` sees provable equalities and the
broadcast of two equal descriptions is that description. Rewrites use this to remove
``SumToShape`` and ``BroadcastTo`` nodes that do nothing; the numba backend uses it to
drop the broadcasting loop of fused elementwise nodes. Facts stay true when the graph
is rewritten (a replacement computes the same values), so they are cached.

Where requirements may come from (soundness): an equality a product requires holds only
on runs where that product is computed. Requirements are therefore taken only from nodes
of the graph being compiled: for a ``FunctionGraph`` its nodes when the facts are first
asked for (the graph prunes dead nodes as they appear, so these are exactly the
ancestors of the function's outputs: all of them run, in any order, on every call);
for generated code, the ancestors of the program's outputs. Never from a user's graph
around them: a product that is built but not asked for is not computed. A product that
a later rewrite makes dead (``shape_of(dot(a, b), 0) -> shape_of(a, 0)``) keeps its
requirement here; that can only change the result of calls where the *original*
function fails with a shape error (an error such rewrites already drop), never a call
that succeeds. Generated code keeps a runtime test wherever it relies on a fact.
"""
from __future__ import annotations

from ..graph import Constant, Variable
from ..ops.base import op_name

#: ops whose output has the shape of their first input
_SAME_SHAPE_AS_FIRST = frozenset({"softmax", "log_softmax", "inc_subtensor", "set_subtensor"})


class ShapeFacts:
    """Equalities between dimension descriptions, as a union-find whose classes each have one
    canonical member: a static length when the class has one, else the atom set whose latest
    atom comes earliest in the graph (then the smallest).

    Why "earliest": a description made only of ``var``'s own atoms and its ancestors' can be
    replaced by its canonical member without naming anything computed after ``var``, so
    ``shape_of(var, i)`` can still be folded into ``shape_of`` of the member's atom without
    making the graph depend on itself.
    """

    def __init__(self, order=None):
        self._parent: dict = {}
        self._member: dict = {}      # root -> the canonical description of its class
        self._order: dict = order or {}  # variable -> position of its node in the graph's order
        self.cache: dict = {}        # dims of variables, for users without a FunctionGraph
        self.witnesses: list = []    # the nodes whose requirements were recorded

    def __bool__(self):
        return bool(self._parent)

    def _root(self, d):
        parent = self._parent
        root = d
        while parent[root] != root:
            root = parent[root]
        while d != root:            # path compression (iterative)
            following = parent[d]
            parent[d] = root
            d = following
        return root

    def canon(self, d):
        """The canonical description equal to ``d`` (``d`` itself when nothing is known about it)."""
        if d is None or d not in self._parent:
            return d
        return self._member[self._root(d)]

    def same(self, a, b) -> bool:
        return a is not None and self.canon(a) == self.canon(b)

    def union(self, a, b) -> bool:
        """Record ``a == b``; returns True when this is new. Also records that their broadcast
        equals them (for atom sets: ``a | b == a``)."""
        changed = False
        pending = [(a, b)]
        while pending:
            a, b = pending.pop()
            if a is None or b is None:
                continue
            for d in (a, b):
                if d not in self._parent:
                    self._parent[d] = d
                    self._member[d] = d
            ra, rb = self._root(a), self._root(b)
            if ra == rb:
                continue
            ma, mb = self._member[ra], self._member[rb]
            if isinstance(ma, int) and isinstance(mb, int):
                continue  # two different static lengths: every run fails; nothing to learn
            self._parent[rb] = ra
            self._member[ra] = ma if self._rank(ma) <= self._rank(mb) else mb
            del self._member[rb]
            changed = True
            if isinstance(ma, frozenset) and isinstance(mb, frozenset):
                pending.append((ma | mb, ma))
        return changed

    def dims(self, var) -> tuple:
        """``dims(var)`` under these facts (cached in ``self.cache``)."""
        return describe(var, self.cache, self)

    def _rank(self, d):
        if isinstance(d, int):
            return (-2, 0)
        order = self._order
        # leaves come first; variables the order does not know (never in a class) last
        latest = max(order.get(var, -1 if var.owner is None else len(order)) for var, _ in d)
        return (latest, len(d))


#: what descriptions are compared with when no graph's facts apply (never given any equality)
_NO_FACTS = ShapeFacts()


def _canon_all(descriptions, facts):
    if not facts:
        return descriptions
    return tuple(facts.canon(d) for d in descriptions)


def dims(var, graph=None) -> tuple:
    """The dimension descriptions of ``var``: ints, or frozensets of ``(variable, axis)`` atoms.

    ``graph`` is the FunctionGraph being rewritten: its cache holds the descriptions and its facts
    make provably equal lengths equal. Without one, ``var`` is described alone (no facts, no cache).
    """
    if graph is None:
        return describe(var, {}, _NO_FACTS)
    return describe(var, graph.shape_cache, graph_facts(graph))


def describe(var, cache, facts) -> tuple:
    """``dims(var)`` with descriptions cached in ``cache`` and canonical under ``facts`` (a ShapeFacts)."""
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
            cache[v] = _canon_all(_own(v), facts)
            continue
        if not ready:
            if v in in_progress:
                raise RuntimeError(f"shape inference met a cycle through {owner.op}")
            in_progress.add(v)
            stack.append((v, True))
            stack.extend((u, False) for u in _shape_inputs(owner) if u not in cache)
            continue
        joined = {}         # ndim -> the broadcast of an elementwise node's inputs, computed once for all outputs
        for out in owner.outputs:
            if out not in cache:
                cache[out] = _canon_all(_infer(owner, out, cache, facts, joined), facts)
    return cache[var]


def _own(var):
    return tuple(n if n is not None else frozenset([(var, axis)]) for axis, n in enumerate(var.type.shape))


def _shape_inputs(node):
    name = op_name(node.op)
    if name in ("broadcast_to", "reshape"):
        return [node.inputs[0]] + [var for d in node.inputs[1:] for var in _length_sources(d)]
    return node.inputs


def _length_sources(d):
    """The variables whose lengths the int64 scalar ``d`` reads (``shape_of`` of them, or a broadcast of such)."""
    owner = d.owner
    if owner is None:
        return []
    if op_name(owner.op) == "shape_of":
        return [owner.inputs[0]]
    pair = _broadcast_length_operands(d)
    return [] if pair is None else _length_sources(pair[0]) + _length_sources(pair[1])


def _broadcast_length_operands(d):
    """``(a, b)`` when the int64 scalar ``d`` is ``broadcast_length(a, b)``, else None."""
    owner = d.owner
    if owner is None or op_name(owner.op) != "where":
        return None
    condition, b, a = owner.inputs
    test = condition.owner
    if test is None or op_name(test.op) != "eq" or test.inputs[0] is not a:
        return None
    one = test.inputs[1]
    return (a, b) if isinstance(one, Constant) and one.value.shape == () and one.value == 1 else None


def broadcast_length(a, b):
    """The length NumPy broadcasting gives two lengths ``a`` and ``b`` (int64 scalars) that broadcast:
    ``b if a == 1 else a``. Shape inference reads this expression back as the broadcast of the two."""
    from ..ops import elemwise as ew
    return ew.where(ew.eq(a, Constant(1, dtype="int64")), b, a)


def broadcast_dims(dim_lists, ndim, facts=None):
    """NumPy broadcasting of dimension descriptions (``None`` where a static length conflicts).

    With ``facts`` (a ShapeFacts), descriptions are compared by class: the broadcast of equal lengths is
    that length.
    """
    padded = [(1,) * (ndim - len(d)) + tuple(d) for d in dim_lists]
    out = []
    for axis in range(ndim):
        column = [d[axis] for d in padded]
        if facts:
            column = [facts.canon(d) for d in column]
        lengths = {d for d in column if isinstance(d, int) and d != 1}
        if None in column:
            out.append(None)
            continue
        if lengths:
            out.append(lengths.pop() if len(lengths) == 1 else None)
            continue
        atoms = frozenset().union(*[d for d in column if not isinstance(d, int)])
        out.append((facts.canon(atoms) if facts else atoms) if atoms else 1)
    return tuple(out)


def _infer(node, var, cache, facts, joined=None):
    """The descriptions of ``var``, an output of ``node``; ``joined`` (a dict, optional) keeps the broadcast of
    an elementwise node's inputs for its other outputs (a fused node with 10,000 outputs and as many inputs
    would otherwise take quadratic time)."""
    own = _own(var)
    op = node.op
    name = op_name(op)
    static = var.type.shape
    if hasattr(op, "scalar_op") or name == "fused":
        joined = {} if joined is None else joined
        if var.ndim not in joined:
            joined[var.ndim] = broadcast_dims([cache[v] for v in node.inputs], var.ndim, facts)
        return _with_static(static, joined[var.ndim], own)
    if name == "dimshuffle":
        source = cache[node.inputs[0]]
        return tuple(1 if a == "x" else source[a] for a in op.new_order)
    if name in ("broadcast_to", "reshape"):
        x, *shape = node.inputs
        lead = len(shape) - x.ndim
        result = []
        for axis, d in enumerate(shape):
            entry = _dim_from_scalar(d, cache, facts)
            if entry is None and name == "broadcast_to" and axis >= lead:
                xd = cache[x][axis - lead]
                entry = xd if isinstance(xd, int) and xd != 1 else None   # an unknown length may be 1
            if entry is None or (isinstance(entry, int) and entry < 0):
                entry = own[axis]
            result.append(static[axis] if static[axis] is not None else entry)
        return tuple(result)
    if name == "arange":            # arange(0, n, 1) has n elements (a length is never negative)
        start, stop, step = node.inputs
        if _constant_equal(start, 0) and _constant_equal(step, 1):
            entry = _length_from_scalar(stop, cache, facts)
            if entry is not None:
                return _with_static(static, (entry,), own)
        return own
    if name == "one_hot":
        entry = _length_from_scalar(node.inputs[1], cache, facts)
        if entry is not None:
            return _with_static(static, cache[node.inputs[0]] + (entry,), own)
        return own
    if name == "sum_to_shape":
        like = cache[node.inputs[1]]
        return tuple(s if s is not None else d for s, d in zip(static, like))
    if name == "stop_gradient" or name in _SAME_SHAPE_AS_FIRST:
        return _with_static(static, cache[node.inputs[0]], own)
    if type(op).__name__ in ("Reduce", "LogSumExp"):
        source = cache[node.inputs[0]]
        if op.keepdims:
            return tuple(1 if a in op.axis else d for a, d in enumerate(source))
        return tuple(d for a, d in enumerate(source) if a not in op.axis)
    if type(op).__name__ == "Dot":
        a, b = (cache[v] for v in node.inputs)
        return _with_static(static, a[:-1] + b[1:], own)
    if type(op).__name__ == "BatchedMatmul":
        a, b = (cache[v] for v in node.inputs)
        batch = broadcast_dims([a[:-2], b[:-2]], var.ndim - 2, facts)
        return _with_static(static, batch + (a[-2], b[-1]), own)
    if type(op).__name__ == "Join":
        first = cache[node.inputs[0]]
        return _with_static(static, tuple(own[a] if a == op.axis else d for a, d in enumerate(first)), own)
    if type(op).__name__ in ("Subtensor", "AdvancedSubtensor"):
        return _with_static(static, _indexed_dims(op, node.inputs, cache, own, facts), own)
    return own


def _indexed_dims(op, inputs, cache, own, facts):
    """Lengths of ``x[key]``: a full slice keeps x's length, an integer drops the axis, index arrays give
    the broadcast of their lengths (where NumPy puts them); any other slice is a new length."""
    source, indices = cache[inputs[0]], iter(inputs[1:])
    kept, arrays, array_axes = [], [], []
    for axis, entry in enumerate(op.spec):
        if entry[0] == "a":
            arrays.append(cache[next(indices)])
            array_axes.append(axis)
            kept.append("arrays")
            continue
        parts = entry[1:]
        for part in parts:
            if part == "?":
                next(indices)
        if entry[0] == "s":
            full = parts[0] in (None, 0) and parts[1] is None and parts[2] in (None, 1)
            kept.append(source[axis] if full else None)
    if not arrays:
        result = kept
    else:
        width = max(len(a) for a in arrays)
        joined = list(broadcast_dims(arrays, width, facts))
        adjacent = array_axes == list(range(array_axes[0], array_axes[-1] + 1))
        first = kept.index("arrays")
        others = [d for d in kept if d != "arrays"]
        result = (others[:first] + joined + others[first:]) if adjacent else joined + others
    if len(result) != len(own):
        return own
    return tuple(own[a] if d is None else d for a, d in enumerate(result))


def _with_static(static, inferred, own):
    return tuple(s if s is not None else (d if d is not None else own[a])
                 for a, (s, d) in enumerate(zip(static, inferred)))


def _constant_equal(var, value) -> bool:
    return isinstance(var, Constant) and var.value.shape == () and var.value == value


def _length_from_scalar(d, cache, facts=None):
    """The description of a length given by the int scalar ``d`` (a constant >= 0 or a length read from a
    shape), or None: a length an op takes from ``d`` unchanged, such as arange's ``stop`` or one_hot's ``n``."""
    if d.ndim != 0 or d.type.kind not in "iu":
        return None
    entry = _dim_from_scalar(d, cache, facts)
    return None if entry is None or isinstance(entry, int) and entry < 0 else entry


def _dim_from_scalar(d, cache, facts=None):
    """The dimension description an int64 scalar shape entry stands for, or None."""
    if isinstance(d, Constant):
        return int(d.value)
    owner = d.owner
    if owner is not None and op_name(owner.op) == "shape_of":
        return cache[owner.inputs[0]][owner.op.axis]
    pair = _broadcast_length_operands(d)
    if pair is not None:
        parts = [_dim_from_scalar(p, cache, facts) for p in pair]
        if None not in parts:
            return broadcast_dims([(p,) for p in parts], 1, facts)[0]
    return None


# ---------------------------------------------------------------- required equalities

def _required_equal(node, cache, facts):
    """Pairs of descriptions that must be equal for ``node`` to run (its perform raises otherwise)."""
    kind = type(node.op).__name__
    if kind == "Dot":
        a, b = (describe(v, cache, facts) for v in node.inputs)
        return [(a[-1], b[0])]
    if kind == "BatchedMatmul":
        a, b = (describe(v, cache, facts) for v in node.inputs)
        return [(a[-1], b[-2])]
    if kind == "Join":
        described = [describe(v, cache, facts) for v in node.inputs]
        return [(described[0][axis], other[axis]) for other in described[1:]
                for axis in range(len(other)) if axis != node.op.axis]
    return []


_REQUIRING_OPS = frozenset({"Dot", "BatchedMatmul", "Join"})


def facts_from_nodes(nodes, max_rounds=3) -> ShapeFacts:
    """The equalities required by ``nodes`` (all of which run whenever the function runs).

    A round describes the operands of every requiring node and records their equalities; a
    later requirement can make earlier broadcasts simpler, which can reveal more, so rounds
    repeat (each with fresh descriptions) until one learns nothing, at most ``max_rounds``.
    Each round is linear in the size of the graph.
    """
    nodes = list(nodes)
    facts = ShapeFacts({var: i for i, node in enumerate(nodes) for var in node.outputs})
    requiring = [node for node in nodes if type(node.op).__name__ in _REQUIRING_OPS]
    facts.witnesses = requiring
    for _ in range(max_rounds if requiring else 0):
        cache = {}
        changed = False
        for node in requiring:
            for a, b in _required_equal(node, cache, facts):
                if not isinstance(a, int) or not isinstance(b, int):
                    changed = facts.union(a, b) or changed
        if not changed:
            # nothing learnt while describing: every description here is canonical; keep them
            facts.cache = cache
            break
    return facts


def graph_facts(graph) -> ShapeFacts:
    """The facts of a FunctionGraph: built from its nodes on first use, then kept with it."""
    facts = getattr(graph, "shape_facts", None)
    if facts is None:
        from .engine import fast_toposort
        facts = facts_from_nodes(fast_toposort(graph.outputs))  # (its nodes, in dependency order)
        graph.shape_facts = facts
        for var, described in facts.cache.items():   # (the graph has not changed meanwhile)
            graph.shape_cache.setdefault(var, described)
        facts.cache = graph.shape_cache
    return facts


def program_facts(outputs) -> ShapeFacts:
    """The facts required by the nodes computing ``outputs`` (e.g. a compiled program's);
    ``facts.dims(var)`` then describes any variable of that graph."""
    from .engine import fast_toposort
    return facts_from_nodes(fast_toposort(list(outputs)))


def same_shape(a: Variable, b: Variable, graph) -> bool:
    """True when ``a`` and ``b`` (of the FunctionGraph ``graph``) provably have the same runtime shape."""
    if a.ndim != b.ndim:
        return False
    da, db = dims(a, graph), dims(b, graph)
    return all(x == y for x, y in zip(da, db))


def shape_scalars(var, graph, search_depth=4, search_width=64):
    """int64 scalar variables for each length of ``var`` (of the FunctionGraph ``graph``), or None when
    one cannot be expressed.

    Static lengths become constants; others become ``shape_of`` of an ancestor of ``var``
    with the same length (found by a short search upward), so the result never depends on
    ``var`` itself or on anything computed from it.
    """
    from ..ops.shape import ShapeOf
    wanted = dims(var, graph)
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
            _match_candidate(candidate, wanted, result, var.ndim, ShapeOf, graph)
            if all(r is not None for r in result):
                return result
            if candidate.owner is not None:
                next_frontier.extend(candidate.owner.inputs)
        frontier = next_frontier
    return None


def _match_candidate(candidate, wanted, result, ndim, ShapeOf, graph):
    owner = candidate.owner
    if owner is not None and op_name(owner.op) == "shape_of":
        d = dims(owner.inputs[0], graph)[owner.op.axis]
        if not isinstance(d, int):
            for axis, w in enumerate(wanted):
                if result[axis] is None and w == d:
                    result[axis] = candidate
        return
    if candidate.ndim == 0:
        return
    candidate_dims = dims(candidate, graph)
    lead = ndim - candidate.ndim
    for axis, w in enumerate(wanted):
        if result[axis] is None and axis >= lead and candidate_dims[axis - lead] == w:
            result[axis] = ShapeOf(axis - lead)(candidate)


# ---------------------------------------------------------------- rewrites

def _atoms_in_graph_order(var, atoms, limit=2000):
    """``atoms`` ordered by when a breadth-first walk up from ``var`` first meets their variables
    (deterministic, so equal graphs give equal rewritten graphs), or None when one is not met
    within ``limit`` variables (a bound, so a graph with many shape queries stays linear)."""
    wanted = {v for v, _ in atoms}
    met, seen, frontier = [], {var}, [var]
    while frontier and len(met) < len(wanted) and len(seen) < limit:
        following = []
        for v in frontier:
            if v in wanted:
                met.append(v)
            if v.owner is not None:
                for u in v.owner.inputs:
                    if u not in seen:
                        seen.add(u)
                        following.append(u)
        frontier = following
    if len(met) < len(wanted):
        return None
    rank = {v: i for i, v in enumerate(met)}
    return sorted(atoms, key=lambda atom: (rank[atom[0]], atom[1]))


def _register_rewrites():
    from .engine import register

    @register("canonicalize", "shape", ops="shape_of")
    def shape_of_broadcast(node, graph):
        """shape_of(x, i) -> the broadcast of the lengths x's length i comes from, read from x's inputs
        (shape_of(softplus(X @ w) - t, 0) -> broadcast_length(shape_of(X, 0), shape_of(t, 0))), so x need
        not be computed only for its shape (Theano's ShapeFeature). One source: see fold_shape_of."""
        x = node.inputs[0]
        if not _used_only_for_shape(graph, x):
            return None   # x is computed anyway: reading its shape costs nothing
        d = dims(x, graph)[node.op.axis]
        if isinstance(d, int) or len(d) < 2 or any(v is x for v, _ in d):
            return None
        live = {(graph.live(v), axis) for v, axis in d}   # a cached description may name replaced variables
        if any(v is None for v, _ in live):
            return None
        atoms = _atoms_in_graph_order(x, live)
        if atoms is None:
            return None
        from ..ops.shape import ShapeOf
        lengths = [ShapeOf(axis)(v) for v, axis in atoms]
        result = lengths[0]
        for length in lengths[1:]:
            result = broadcast_length(result, length)
        return [result]

    @register("canonicalize", "shape", ops="sum_to_shape")
    def sum_to_shape_like_ancestor(node, graph):
        """sum_to_shape(g, like) -> sum_to_shape(g, an input of like's node with like's shape): like is read
        only for its shape, so softplus(X @ w) need not be computed to sum a gradient to the shape of X @ w."""
        g, like = node.inputs
        if not _used_only_for_shape(graph, like):
            return None   # like is computed anyway (each firing makes a node dead: linear overall)
        source = _same_shape_input(like, graph)
        return None if source is None else [type(node.op)()(g, source)]

    @register("canonicalize", "shape", ops="sum_to_shape")
    def sum_to_shape_like_filled(node, graph):
        """sum_to_shape(g, like) -> sum_to_shape(g, broadcast_to(0, like's lengths)) when like is read only
        for its shape and no input of its node has that shape (tanh(h @ W + x @ U + b) in a loop's
        derivative): the lengths come from like's inputs, so like need not be computed (a lazy
        broadcast holds no data)."""
        from .patterns import filled
        g, like = node.inputs
        if like.owner is None or op_name(like.owner.op) == "broadcast_to" or not _used_only_for_shape(graph, like):
            return None
        zeros = filled(0, like, graph)
        if zeros is None and hasattr(like.owner.op, "scalar_op"):
            zeros = _elementwise_zeros(like)
        if zeros is None or zeros.owner is None:
            return None
        return [type(node.op)()(g, zeros)]


def _elementwise_zeros(var):
    """Zeros of the shape of an elementwise result, its lengths the broadcast of its inputs' lengths (read
    with ``shape_of``, which the shape rewrites then trace further back)."""
    from ..ops.shape import BroadcastTo, ShapeOf
    lengths = []
    for axis in range(var.ndim):
        length = None
        for x in var.owner.inputs:
            k = axis - (var.ndim - x.ndim)
            if k < 0 or x.type.shape[k] == 1:
                continue
            here = ShapeOf(k)(x)
            length = here if length is None else broadcast_length(length, here)
        if length is None:
            length = Constant(1, dtype="int64")
        lengths.append(length)
    zeros = BroadcastTo()(Constant(0, dtype=var.dtype), *lengths)
    return zeros if var.type.is_compatible(zeros.type) else None


def _used_only_for_shape(graph, var):
    """Every use of ``var`` in ``graph`` reads only its shape (``shape_of``, the ``like`` of ``sum_to_shape``)."""
    from .engine import OUTPUT
    uses = graph.clients.get(var)
    return bool(uses) and all(
        node is not OUTPUT and (op_name(node.op) == "shape_of" or (op_name(node.op) == "sum_to_shape" and i == 1))
        for node, i in uses)


def _same_shape_input(var, graph):
    """An input of ``var``'s node (elementwise, softmax-like or a cast) that provably has ``var``'s shape."""
    owner = var.owner
    if owner is None or not (hasattr(owner.op, "scalar_op") or op_name(owner.op) in _SAME_SHAPE_AS_FIRST):
        return None
    wanted = dims(var, graph)
    for candidate in owner.inputs[:1] if not hasattr(owner.op, "scalar_op") else owner.inputs:
        if candidate.type.shape == var.type.shape and dims(candidate, graph) == wanted:
            return candidate
    return None


_register_rewrites()
