"""Batching of a graph along a new leading axis, so a dense Jacobian is one backward pass, not one per row.

``vectorize_graph(outputs, {u: U}, batch)`` rebuilds the part of the graph that
depends on ``u`` so that it computes, for every ``U[b]``, what the original
computed for ``u`` (``U`` has one more, leading, axis of length ``batch``); nodes
that do not depend on ``u`` are reused as they are. Each op family has one
batching rule in ``BATCHING_RULES`` (PyTensor's ``_vectorize_node`` dispatch, in
one table); an op without a rule raises ``NotVectorizable`` and ``sg.jacobian``
then falls back to one backward pass per row. Traversal is iterative.
"""
from __future__ import annotations

from .graph import Constant, inherit_source, toposort
from .ops import conv, elemwise, factor, index, join, linalg, nnet, reduce, shape, sort, spectral, svd
from .ops import ifelse as ifelse_ops
from .ops import scan as scan_ops
from .ops.grad_ops import StopGradient


class NotVectorizable(Exception):
    """An op on the batched path has no batching rule."""


def vectorize_graph(outputs, replace, batch=None):
    """``outputs`` computed for every element of a batch at once, without a loop (PyTensor's
    ``vectorize_graph``, JAX's ``vmap`` for graphs).

    Parameters
    ----------
    outputs : Variable or list of Variable
        The expressions to batch.
    replace : dict
        ``{variable: batched}``: each batched value is the variable with extra leading (batch) axes, the
        same number for every entry (their lengths broadcast).
    batch : Variable or int, optional
        The length of a single batch axis (an int64 scalar); by default read from the replacements.

    Returns
    -------
    Variable or list of Variable
        One per output (in the structure of ``outputs``), with the batch axes first. Outputs that do not
        depend on a replaced variable are broadcast along them.

    Raises
    ------
    NotVectorizable
        If an op on the batched path has no batching rule (every op of symgraph has one, except a
        user's own ``Op`` subclasses).

    Examples
    --------
    >>> x, X = sg.vector("x"), sg.matrix("X")
    >>> Y = sg.vectorize_graph(sg.exp(x).sum(), {x: X})
    >>> sg.function([X], Y, backend="python")(np.zeros((3, 2)))
    array([2., 2., 2.])
    """
    single = not isinstance(outputs, (list, tuple))
    roots = [outputs] if single else list(outputs)
    pairs = list(replace.items()) if isinstance(replace, dict) else list(replace)
    if batch is not None:
        result = _vectorize(roots, dict(pairs), batch)
        return result[0] if single else result
    extra = {new.ndim - old.ndim for old, new in pairs}
    if len(extra) != 1 or min(extra) < 0:
        raise ValueError("vectorize_graph: every replacement needs the same number of extra leading axes as its "
                         f"variable, got {[(old.describe(), new.describe()) for old, new in pairs]}")
    k = extra.pop()
    if k == 0:
        from .givens import clone_replace
        result = clone_replace(roots, dict(pairs))
        return result[0] if single else result
    # k batch axes: one axis of their (broadcast) lengths' product, then split again
    lengths = [shape.shape_tuple(new)[:k] for _, new in pairs]
    batch_shape = [lengths[0][a] for a in range(k)]
    for other in lengths[1:]:
        from .rewrite.shapes import broadcast_length
        batch_shape = [broadcast_length(a, b) for a, b in zip(batch_shape, other)]
    total = batch_shape[0]
    for n in batch_shape[1:]:
        total = elemwise.mul(total, n)
    flat = {old: shape.reshape(shape.broadcast_to(new, tuple(batch_shape) + shape.shape_tuple(new)[k:]),
                               (total,) + shape.shape_tuple(new)[k:])
            for old, new in pairs}
    result = [shape.reshape(y, tuple(batch_shape) + shape.shape_tuple(y)[1:])
              for y in _vectorize(roots, flat, total)]
    return result[0] if single else result


def _vectorize(outputs, replacements, batch):
    """``outputs`` for every ``replacements[u][b]`` along one new leading axis of length ``batch``."""
    batched = {id(v): b for v, b in replacements.items()}
    for node in toposort(outputs, stop_at=list(replacements)):
        if not any(id(x) in batched for x in node.inputs):
            continue
        rule = _rule_for(node.op)
        if rule is None:
            raise NotVectorizable(f"no batching rule for {node.op}{node.where()}")
        inputs = [batched.get(id(x), x) for x in node.inputs]
        flags = [id(x) in batched for x in node.inputs]
        with inherit_source(node.sources):  # batched nodes point at the user's line, as the originals
            new_outputs = rule(node, inputs, flags, batch)
        for out, new in zip(node.outputs, new_outputs):
            batched[id(out)] = new
    return [batched[id(v)] if id(v) in batched else _broadcast_batch(v, batch) for v in outputs]


def _rule_for(op):
    for cls in type(op).__mro__:
        if cls in BATCHING_RULES:
            return BATCHING_RULES[cls]
    return None


def _broadcast_batch(x, batch):
    return shape.BroadcastTo()(shape.dimshuffle(x, ("x",) + tuple(range(x.ndim))), batch, *shape.shape_tuple(x))


def _align(x, original_ndim, target_ndim):
    """A batched ``x`` (batch axis first) with length-1 axes after the batch axis up to ``target_ndim``.

    NumPy broadcasting aligns trailing axes, so the batch axis must sit in front of every other
    operand's axes.
    """
    missing = target_ndim - original_ndim
    if missing <= 0:
        return x
    return shape.DimShuffle((0,) + ("x",) * missing + tuple(range(1, original_ndim + 1)))(x)


def _unbatched_ndim(v, flag):
    return v.ndim - 1 if flag else v.ndim


# ---------------------------------------------------------------- rules: (node, inputs, flags, batch) -> outputs

def _elemwise(node, inputs, flags, batch):
    out_ndim = node.outputs[0].ndim
    args = [_align(x, x.ndim - 1, out_ndim) if f else x for x, f in zip(inputs, flags)]
    return [elemwise.Elemwise(node.op.scalar_op)(*args)]


def _reduce(node, inputs, flags, batch):
    op = node.op
    return [reduce.Reduce(op.kind, tuple(a + 1 for a in op.axis), op.keepdims)(inputs[0])]


def _dimshuffle(node, inputs, flags, batch):
    order = (0,) + tuple(a if a == "x" else a + 1 for a in node.op.new_order)
    return [shape.DimShuffle(order)(inputs[0])]


def _broadcast_to(node, inputs, flags, batch):
    x, *dims = inputs
    if any(flags[1:]):
        raise NotVectorizable("broadcast_to with a batched shape")
    return [shape.BroadcastTo()(_align(x, x.ndim - 1, len(dims)), batch, *dims)]


def _sum_to_shape(node, inputs, flags, batch):
    g, like = inputs
    if not flags[0]:
        g = _broadcast_batch(g, batch)
    like_ndim = _unbatched_ndim(like, flags[1])
    lead = g.ndim - 1 - like_ndim
    if lead:  # SumToShape sums the leading axes away: put the batch axis after them
        g = shape.DimShuffle(tuple(range(1, lead + 1)) + (0,) + tuple(range(lead + 1, g.ndim)))(g)
    if not flags[1]:
        like = shape.BroadcastTo()(Constant(0, dtype=like.dtype), batch, *shape.shape_tuple(like))
    return [reduce.SumToShape()(g, like)]


def _reshape(node, inputs, flags, batch):
    x, *dims = inputs
    if any(flags[1:]):
        raise NotVectorizable("reshape to a batched shape")
    return [shape.Reshape(len(dims) + 1)(x, batch, *dims)]


def _shape_of(node, inputs, flags, batch):
    return [shape.ShapeOf(node.op.axis + 1)(inputs[0])]


def _identity_like(node, inputs, flags, batch):
    return [type(node.op)()(inputs[0])]


def _same_op(node, inputs, flags, batch):
    """Ops along the last axis: the batch axis in front changes nothing."""
    return [node.op(inputs[0])]


def _matrices(node, inputs, flags, batch):
    """Ops over the last two axes of a stack of matrices (any leading axes): the batch axis in front is one
    more leading axis."""
    out = node.op(inputs[0])
    return list(out) if isinstance(out, (list, tuple)) else [out]


def _linear_system(node, inputs, flags, batch):
    """A solve ``a x = b`` over a batch: both operands batched (the other broadcast), ``b`` as columns when
    it was a vector, and the batch axes of the two aligned after the new one (NumPy broadcasts stacks from
    the right)."""
    (a, b), (a_was, b_was) = inputs, node.inputs
    a = a if flags[0] else _broadcast_batch(a, batch)
    b = b if flags[1] else _broadcast_batch(b, batch)
    vector = b_was.ndim == 1
    if vector:
        b = shape.expand_dims(b, b.ndim)
    b_ndim = b_was.ndim + 1 if vector else b_was.ndim
    stack = max(a_was.ndim, b_ndim) - 2           # the stack axes of the original operands, after alignment
    a = _align(a, a_was.ndim, stack + 2)
    b = _align(b, b_ndim, stack + 2)
    out = node.op(a, b)
    return [out[..., 0] if vector else out]


def _ifelse(node, inputs, flags, batch):
    """An ifelse over a batch: with one condition for the whole batch, the same lazy ifelse of the batched
    values; with a condition per element, a select (both branches run, as JAX's vmap of ``lax.cond``)."""
    op = node.op
    values = [v if f else _broadcast_batch(v, batch) for v, f in zip(inputs[1:], flags[1:])]
    if not flags[0]:
        out = ifelse_ops.IfElse(op.n)(inputs[0], *values)
        return list(out) if isinstance(out, (list, tuple)) else [out]
    condition = elemwise.cast(inputs[0], "bool")
    return [elemwise.where(_align(condition, 0, a.ndim - 1), a, b) for a, b in zip(values[:op.n], values[op.n:])]


def _scan(node, inputs, flags, batch):
    """A scan over a batch: the step's graph batched (every recurrent state and output gains the batch axis
    after the time axis; sequences are iterated along their second axis), the batch length an extra
    non-sequence of the step."""
    from .graph import Variable
    from .types import TensorType
    op = node.op
    if flags[0] or op.has_until:
        raise NotVectorizable(f"{op}: the number of steps may differ across the batch{node.where()}")
    seq_flags = flags[1:1 + op.n_seqs]
    ns_flags = flags[1 + op.n_seqs + op.n_states:]
    seqs = inputs[1:1 + op.n_seqs]
    inits = inputs[1 + op.n_seqs:1 + op.n_seqs + op.n_states]
    non_seqs = inputs[1 + op.n_seqs + op.n_states:]

    def batched_placeholder(v):
        return Variable(TensorType(v.dtype, (None,) + v.type.shape), name=v.name)

    replace, new_inputs = {}, []
    state_inner = {id(p) for ps in op.state_inputs() for p in ps}
    first_non_seq = len(op.inner_inputs) - op.n_non_seqs
    for k, p in enumerate(op.inner_inputs):
        batched = (k < op.n_seqs and seq_flags[k]) or id(p) in state_inner or \
            (k >= first_non_seq and ns_flags[k - first_non_seq])
        new = batched_placeholder(p) if batched else p
        if batched:
            replace[p] = new
        new_inputs.append(new)
    inner_batch = Variable(TensorType("int64", ()), name="batch")
    new_outputs = _vectorize(op.inner_outputs, replace, inner_batch)

    def time_first(x):          # (batch, time, ...) -> (time, batch, ...)
        return shape.dimshuffle(x, (1, 0) + tuple(range(2, x.ndim)))

    outer_seqs = [time_first(x) if f else x for x, f in zip(seqs, seq_flags)]
    outer_inits = [time_first(x if f else _broadcast_batch(x, batch)) for x, f in zip(inits, flags[1 + op.n_seqs:])]
    new_op = scan_ops.Scan(new_inputs + [inner_batch], new_outputs, op.n_seqs, op.taps, op.n_free,
                           op.n_non_seqs + 1, False, op.keep_last, op.label, reverse=op.reverse)
    results = new_op(inputs[0], *outer_seqs, *outer_inits, *non_seqs, batch)
    results = list(results) if isinstance(results, (list, tuple)) else [results]
    keep = list(op.keep_last) + [False] * op.n_free
    return [r if last else time_first(r) for r, last in zip(results, keep)]


def _along_axis(node, inputs, flags, batch):
    return [type(node.op)(node.op.axis + 1)(inputs[0])]


def _logsumexp(node, inputs, flags, batch):
    return [nnet.LogSumExp(tuple(a + 1 for a in node.op.axis), node.op.keepdims)(inputs[0])]


def _dot(node, inputs, flags, batch):
    a, b = inputs
    fa, fb = flags
    a_ndim, b_ndim = _unbatched_ndim(a, fa), _unbatched_ndim(b, fb)
    if fa and fb:
        # Both batched: one product per batch entry, as a batched matmul of matrices.
        a3 = shape.DimShuffle((0, "x", 1))(a) if a_ndim == 1 else a
        b3 = shape.DimShuffle((0, 1, "x"))(b) if b_ndim == 1 else b
        out = linalg.BatchedMatmul()(a3, b3)
        keep = [0] + ([1] if a_ndim == 2 else []) + ([2] if b_ndim == 2 else [])
        return [shape.dimshuffle(out, keep) if len(keep) != 3 else out]
    if fa:  # (batch, [m,] n) . b: np.matmul treats the batch axis as extra rows or a stack of matrices
        return [linalg.matmul(a, b)]
    # a . (batch, n[, p])
    if b_ndim == 1:
        return [linalg.matmul(b, linalg._swap(a)) if a_ndim == 2 else linalg.matmul(b, a)]
    return [linalg.matmul(a, b)]  # ([m,] n) @ (batch, n, p) -> (batch, [m,] p)


def _batched_matmul(node, inputs, flags, batch):
    out_ndim = node.outputs[0].ndim
    args = [_align(x, x.ndim - 1, out_ndim) if f else x for x, f in zip(inputs, flags)]
    return [linalg.BatchedMatmul()(*args)]


_FULL_SLICE = ("s", None, None, None)


def _subtensor(node, inputs, flags, batch):
    if any(flags[1:]):
        raise NotVectorizable("indexing with batched indices")
    x, *indices = inputs
    op = type(node.op)((_FULL_SLICE,) + node.op.spec)
    out = op(x, *indices)
    if isinstance(node.op, index.AdvancedSubtensor):
        out = _batch_axis_first(out, _advanced_front(node.op.spec, node.inputs[1:]))
    return [out]


def _advanced_front(spec, indices):
    """How many axes NumPy puts before the batch axis: the index arrays' axes when they are not adjacent."""
    arrays = [axis for axis, entry in enumerate(spec) if entry[0] == "a"]
    if arrays == list(range(arrays[0], arrays[-1] + 1)):
        return 0
    ndims = []
    it = iter(indices)
    for entry in spec:
        if entry[0] == "a":
            ndims.append(next(it).ndim)
        else:
            for p in entry[1:]:
                if p == index.SYMBOLIC:
                    next(it)
    return max(ndims)


def _batch_axis_first(x, position):
    if position == 0:
        return x
    order = (position,) + tuple(a for a in range(x.ndim) if a != position)
    return shape.DimShuffle(order)(x)


def _inc_subtensor(node, inputs, flags, batch):
    if any(flags[2:]):
        raise NotVectorizable("indexing with batched indices")
    x, y, *indices = inputs
    op = node.op
    if not flags[0]:
        x = _broadcast_batch(x, batch)
    advanced = isinstance(op, index.AdvancedIncSubtensor)
    original = node.inputs
    slot_ndim = (index.AdvancedSubtensor(op.spec).output_shape(original[0], original[2:]) if advanced
                 else index.Subtensor(op.spec).output_shape(original[0]))
    slot_ndim = len(slot_ndim)
    front = _advanced_front(op.spec, original[2:]) if advanced else 0
    if front and not flags[1]:  # y must meet the batch axis where NumPy puts it: batch y too
        y, flags = _broadcast_batch(y, batch), [flags[0], True] + list(flags[2:])
    if flags[1]:
        y = _align(y, y.ndim - 1, slot_ndim)
        if front:  # move the batch axis to where NumPy puts it in the indexed region
            order = tuple(range(1, front + 1)) + (0,) + tuple(range(front + 1, y.ndim))
            y = shape.DimShuffle(order)(y)
    new_op = type(op)((_FULL_SLICE,) + op.spec, op.set_instead_of_inc)
    return [new_op(x, y, *indices)]


def _join(node, inputs, flags, batch):
    parts = [x if f else _broadcast_batch(x, batch) for x, f in zip(inputs, flags)]
    return [join.Join(node.op.axis + 1)(*parts)]


def _fold_images(x):
    """A batched stack of images (B, N, C, H, W) as (B N, C, H, W)."""
    s = shape.shape_tuple(x)
    return shape.reshape(x, (s[0] * s[1], *s[2:]))


def _unfold_images(y, batch, n):
    """(B N, C, H, W) back to (B, N, C, H, W)."""
    return shape.reshape(y, (batch, n, *shape.shape_tuple(y)[1:]))


def _mapped(node, inputs, flags, batch):
    """The op applied to each element of the batch by a scan (a loop over the batch axis): for batched operands
    whose batched form would need the batch length in a static property (a convolution's ``groups``)."""
    positions = [i for i, f in enumerate(flags) if f]
    fixed = [i for i, f in enumerate(flags) if not f]

    def step(*values):
        full = [None] * len(inputs)
        for i, v in zip(positions + fixed, values):
            full[i] = v
        return node.op(*full)

    outputs, _ = scan_ops.scan(step, sequences=[inputs[i] for i in positions],
                               non_sequences=[inputs[i] for i in fixed])
    return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]


def _images_first(node, inputs, flags, batch):
    """An op over a batch of images whose other operands are not batched (a convolution or its input gradient
    with the same filters, a pooling): the batch folded into the images' own batch axis. Otherwise a loop."""
    if not flags[0] or any(flags[1:]):
        return _mapped(node, inputs, flags, batch)
    n = shape.shape_of(inputs[0], 1)
    out = node.op(_fold_images(inputs[0]), *inputs[1:])
    return [_unfold_images(out, batch, n)]


def _pooling_pair(node, inputs, flags, batch):
    """A pooling gradient op of (x, g): both batched (the other broadcast), folded into the images' batch."""
    x, g = (v if f else _broadcast_batch(v, batch) for v, f in zip(inputs, flags))
    n = shape.shape_of(x, 1)
    return [_unfold_images(node.op(_fold_images(x), _fold_images(g)), batch, n)]


BATCHING_RULES = {
    elemwise.Elemwise: _elemwise,
    reduce.Reduce: _reduce,
    reduce.SumToShape: _sum_to_shape,
    shape.DimShuffle: _dimshuffle,
    shape.BroadcastTo: _broadcast_to,
    shape.Reshape: _reshape,
    shape.ShapeOf: _shape_of,
    StopGradient: _identity_like,
    nnet.Softmax: _along_axis,
    nnet.LogSoftmax: _along_axis,
    nnet.LogSumExp: _logsumexp,
    linalg.Dot: _dot,
    linalg.BatchedMatmul: _batched_matmul,
    index.Subtensor: _subtensor,
    index.AdvancedSubtensor: _subtensor,
    index.IncSubtensor: _inc_subtensor,
    join.Join: _join,
    sort.ArgReduce: _same_op,
    sort.Cumulative: _same_op,
    sort.ArgSort: _same_op,
    svd.SVD: _matrices,
    factor.MatrixInverse: _matrices,
    factor.Cholesky: _matrices,
    factor.Det: _matrices,
    factor.SlogDet: _matrices,
    factor.Solve: _linear_system,
    factor.SolveTriangular: _linear_system,
    spectral.Eigh: _matrices,
    spectral.Eigvalsh: _matrices,
    spectral.QR: _matrices,
    spectral.Pinv: _matrices,
    conv.Conv2d: _images_first,
    conv.Conv2dGradInput: _images_first,
    conv.Conv2dGradWeight: _mapped,
    conv.MaxPool2d: _images_first,
    conv.AvgPool2d: _images_first,
    conv.AvgPool2dGrad: _images_first,
    conv.MaxPool2dGrad: _pooling_pair,
    conv.MaxPool2dGather: _pooling_pair,
    scan_ops.Scan: _scan,
    ifelse_ops.IfElse: _ifelse,
}

