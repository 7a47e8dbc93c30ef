"""``symgraph.dask``: run compiled functions over Dask arrays chunked along the sample axis.

Two entry points (``pip install symgraph[dask]``; ``import symgraph`` never imports Dask):

* ``map_blocks(f, *args)`` evaluates a compiled function block by block. Which outputs keep the
  sample axis (returned chunked like the inputs) and which are sums or means over it (a loss, a
  gradient: combined across blocks by a tree reduction, means weighted by block sizes) is derived
  from the function's graph by ``classify_outputs``; an output it cannot prove to be one of those
  is refused with a ``ValueError`` rather than combined wrongly.
* ``DataParallelStep(inputs, cost, params, learning_rate)`` is synchronous data-parallel SGD: the
  gradient of a mean cost is computed next to each block, averaged by block sizes on the driver,
  and applied once per step.

The compiled function travels to the workers pickled, once per graph (one key every block task
depends on), and is compiled again at most once per worker process (``_load``, keyed by a hash
of the pickle), which hits the disk cache under ``SYMGRAPH_CACHE_DIR`` when the workers share one.
"""
from __future__ import annotations

import hashlib
import math
import pickle
import uuid

import numpy as np

from .graph import Constant, SharedVariable, toposort
from .ops.base import op_name

__all__ = ["map_blocks", "DataParallelStep", "classify_outputs"]

# ----------------------------------------------------------------------------------------------
# Classifying outputs: how each depends on the sample axis (axis 0 of the blocked inputs)
# ----------------------------------------------------------------------------------------------
#
# Tags, propagated from the blocked inputs through the graph in topological order:
#   const   no blocked input upstream
#   rows    row i depends only on row i of the blocked inputs (axis 0 is the sample axis)
#   rowsT   a 2-d rows value transposed (the sample axis is axis 1)
#   rows_n, rowsT_n   rows (rowsT) that carry one factor 1/N, N the length of the sample axis,
#           and are linear in it (what the gradient of a mean sends back through the graph)
#   n       N times a constant (the length of the sample axis; a shape computation)
#   inv_n   a constant divided by N
#   iota    arange(N): row i holds i, valid only as the index of axis 0 next to rows indices
#   sum     whole = sum over blocks
#   mean    whole = sum over blocks of n_b * block / N
#   None    unknown: not combinable
CONST, ROWS, ROWST, ROWS_N, ROWST_N, N, INV_N, IOTA, SUM, MEAN = (
    "const", "rows", "rowsT", "rows_n", "rowsT_n", "n", "inv_n", "iota", "sum", "mean")
_ROWLIKE = (ROWS, ROWS_N)
_TRANSPOSED = {ROWS: ROWST, ROWS_N: ROWST_N, ROWST: ROWS, ROWST_N: ROWS_N}
# Elementwise ops with which a row stays a row (everything elementwise qualifies; listed here are
# the ones that are also linear, which keep the 1/N scale and the sum/mean combinations).
_LINEAR_UNARY = {"neg", "identity"}


def _is_zero_constant(var):
    return isinstance(var, Constant) and np.all(np.asarray(var.value) == 0)


def _float_cast(node):
    op = node.op
    return op_name(op) == "cast" and np.dtype(node.outputs[0].dtype).kind in "fc" and \
        np.dtype(node.inputs[0].dtype).kind in "fc"


def _row_operands_ok(node, tags):
    """Rows operands span every axis of the output; const operands never reach its axis 0."""
    out = node.outputs[0]
    for var, tag in zip(node.inputs, tags):
        if tag in _ROWLIKE:
            if var.ndim != out.ndim:
                return False
        elif tag == CONST:
            if var.ndim == out.ndim and var.type.shape[0] != 1:
                return False
        elif tag in (INV_N,) and var.ndim == out.ndim and var.type.shape[0] != 1:
            return False
    return True


def _elemwise_tag(node, tags):
    name = op_name(node.op)
    inputs = node.inputs
    kinds = set(tags)
    if kinds == {CONST}:
        return CONST
    if None in kinds:
        return None
    # --- row values (no scale): any elementwise function of rows and broadcast constants
    if kinds <= {ROWS, CONST}:
        return ROWS if _row_operands_ok(node, tags) else None
    if name == "cast":
        if tags[0] == N:
            return N
        return tags[0] if _float_cast(node) and tags[0] in (ROWS_N, SUM, MEAN, INV_N) else None
    if name in _LINEAR_UNARY:
        return tags[0] if tags[0] in (ROWS_N, SUM, MEAN, INV_N) else None
    if name in ("add", "sub", "add_n"):
        nonzero = [t for v, t in zip(inputs, tags) if not _is_zero_constant(v)]
        kinds = set(nonzero)
        if kinds in ({SUM}, {MEAN}, {INV_N}):
            return nonzero[0]
        if kinds == {ROWS_N}:
            return ROWS_N if _row_operands_ok(node, tags) else None
        if kinds == {MEAN, CONST}:            # mean + c: sum_b n_b (a_b + c) / N = A + c
            return MEAN
        return None
    if name == "mul":
        scaled = [t for t in tags if t not in (CONST, ROWS)]
        if len(scaled) == 0:
            return None
        if len(scaled) == 1:
            t = scaled[0]
            if ROWS in tags:                  # rows * (1/N-scaled or shape values)
                if t in (ROWS_N, INV_N):
                    return ROWS_N if _row_operands_ok(node, tags) else None
                return None
            if t in (SUM, MEAN, INV_N, N):
                return t
            if t == ROWS_N:
                return ROWS_N if _row_operands_ok(node, tags) else None
            return None
        if sorted(scaled) == [INV_N, SUM]:    # sum * (c / N)
            return MEAN
        return None
    if name == "true_div" and len(tags) == 2:
        num, den = tags
        if den == CONST:
            if num in (SUM, MEAN, INV_N):
                return num
            if num == ROWS_N:
                return ROWS_N if _row_operands_ok(node, tags) else None
            return None
        if den == N and num == ROWS and inputs[1].ndim == 0:
            return ROWS_N
        if den == ROWS and num == ROWS_N:
            return ROWS_N if _row_operands_ok(node, tags) else None
        if den == N and inputs[1].ndim == 0:
            if num == SUM:
                return MEAN
            if num == CONST:
                return INV_N
        return None
    if name == "where" and len(tags) == 3:    # where(cond, a, b) with one branch zero
        if tags[0] in (ROWS, CONST):
            branches = {t for v, t in zip(inputs[1:], tags[1:]) if not _is_zero_constant(v)}
            if branches == {ROWS_N}:
                return ROWS_N if _row_operands_ok(node, tags) else None
        return None
    return None


def _dimshuffle_tag(node, tag):
    order = tuple(node.op.new_order)
    kept = [a for a in order if a != "x"]
    if tag in (CONST, SUM, MEAN):
        return tag
    if tag in (INV_N, N):
        return tag if not kept else None
    if tag in _ROWLIKE:
        if order and order[0] == 0:
            return tag
        if node.inputs[0].ndim == 2 and order == (1, 0):
            return _TRANSPOSED[tag]
        return None
    if tag in (ROWST, ROWST_N) and order == (1, 0):
        return _TRANSPOSED[tag]
    return None


def _dot_tag(node, tags):
    a, b = node.inputs
    ta, tb = tags
    if ta == CONST and tb == CONST:
        return CONST
    if ta in _ROWLIKE and tb == CONST and a.ndim == 2:
        return ta
    if tb in (ROWST, ROWST_N) and ta == CONST and b.ndim == 2:
        return tb
    # contracting the sample axis: rows^T rows, or a row vector with rows
    left = ta if (ta in (ROWST, ROWST_N) and a.ndim == 2) or (ta in _ROWLIKE and a.ndim == 1) else None
    right = tb if tb in _ROWLIKE else None
    if left is not None and right is not None:
        scales = [t.endswith("_n") for t in (left, right)]
        if not any(scales):
            return SUM
        if sum(scales) == 1:
            return MEAN
        return None
    if (ta in (SUM, MEAN) and tb == CONST) or (ta == CONST and tb in (SUM, MEAN)):
        return ta if ta != CONST else tb
    return None


def _reduce_tag(node, tag):
    op = node.op
    kind = op.kind
    x = node.inputs[0]
    axes = tuple(a % max(x.ndim, 1) for a in op.axis) if op.axis is not None else tuple(range(x.ndim))
    if tag == CONST:
        return CONST
    if kind == "sum" and tag in (SUM, MEAN):
        return tag
    if tag in _ROWLIKE:
        if 0 in axes:
            return (SUM if tag == ROWS else MEAN) if kind == "sum" else None
        if kind == "sum" or tag == ROWS:
            return tag
        return None
    return None


def _sum_to_shape_tag(node, tags):
    g, like = node.inputs
    tg, tl = tags
    if tg == CONST and tl in (CONST, ROWS, ROWS_N):
        return CONST if tl == CONST else None
    if tg not in _ROWLIKE:
        return None
    if tl in _ROWLIKE and like.ndim == g.ndim:
        return tg                           # axis 0 kept; other axes summed, row by row
    if tl == CONST and (like.ndim < g.ndim or like.type.shape[0] == 1):
        return SUM if tg == ROWS else MEAN  # axis 0 summed away
    return None


def _broadcast_to_tag(node, tags):
    value, dims = node.inputs[0], node.inputs[1:]
    tv, tdims = tags[0], tags[1:]
    out_ndim = node.outputs[0].ndim
    if len(dims) != out_ndim:
        return None
    if all(t == CONST for t in tags):
        return CONST
    if tdims and tdims[0] == N and all(t == CONST for t in tdims[1:]):
        if tv == CONST and (value.ndim < out_ndim or value.type.shape[0] == 1):
            return ROWS
        if tv == INV_N and (value.ndim < out_ndim or value.type.shape[0] == 1):
            return ROWS_N
        if tv in _ROWLIKE and value.ndim == out_ndim:
            return tv
        return None
    if all(t == CONST for t in tdims) and tv in (SUM, MEAN, INV_N):
        return tv
    return None


def _advanced_tag(node, tags, increment):
    """``x[iota, rows, ...]`` (and its increment): row i reads (or writes) only row i of x."""
    spec = node.op.spec
    if increment:
        (tx, ty), index_tags = tags[:2], tags[2:]
        indices = node.inputs[2:]
    else:
        tx, index_tags, indices = tags[0], tags[1:], node.inputs[1:]
    if not spec or spec[0] != ("a",) or any(e[0] not in ("a", "s") for e in spec):
        return None
    if any(e[0] == "s" and e[1:] != (None, None, None) for e in spec):
        return None
    if index_tags[0] != IOTA:
        return None
    for var, t in zip(indices[1:], index_tags[1:]):
        if not ((t == ROWS and var.ndim == 1) or (t == CONST and var.ndim == 0)):
            return None
    if not increment:
        return tx if tx in _ROWLIKE else None
    if node.op.set_instead_of_inc:
        return None
    x = node.inputs[0]
    if x.owner is not None and op_name(x.owner.op) == "broadcast_to" and \
            _is_zero_constant(x.owner.inputs[0]) and tx == ROWS:
        return ty if ty in _ROWLIKE else None     # increments of zeros: the increments' tag
    return tx if tx == ty and tx in _ROWLIKE else None


def _node_tags(node, tags):
    """The tags of ``node``'s outputs from its inputs' ``tags``."""
    op = node.op
    kind = type(op).__name__
    outs = len(node.outputs)
    if type(op).__module__.endswith(".random"):
        return [None] * outs                # draws differ from block to block
    if all(t == CONST for t in tags):
        return [CONST] * outs
    if outs != 1:
        return [None] * outs
    if kind == "Elemwise":
        return [_elemwise_tag(node, tags)]
    if kind == "DimShuffle":
        return [_dimshuffle_tag(node, tags[0])]
    if kind == "Dot":
        return [_dot_tag(node, tags)]
    if kind == "Reduce":
        return [_reduce_tag(node, tags[0])]
    if kind == "SumToShape":
        return [_sum_to_shape_tag(node, tags)]
    if kind == "ShapeOf":
        t, axis = tags[0], node.op.axis
        if t in (ROWS, ROWS_N):
            return [N if axis == 0 else CONST]
        if t in (ROWST, ROWST_N):
            return [N if axis == 1 else CONST]
        if t in (SUM, MEAN):
            return [CONST]
        return [None]
    if kind == "BroadcastTo":
        return [_broadcast_to_tag(node, tags)]
    if kind == "ARange":
        start, stop, step = node.inputs
        if tags[1] == N and tags[0] == CONST and tags[2] == CONST and isinstance(start, Constant) and \
                isinstance(step, Constant) and np.asarray(start.value) == 0 and np.asarray(step.value) == 1:
            return [IOTA]
        return [None]
    if kind in ("Softmax", "LogSoftmax"):
        axis = node.op.axis
        x = node.inputs[0]
        ok = tags[0] == ROWS and axis is not None and axis % x.ndim != 0
        return [ROWS if ok else None]
    if kind == "LogSumExp":
        x = node.inputs[0]
        axis = node.op.axis
        axes = tuple(range(x.ndim)) if axis is None else tuple(a % x.ndim for a in
                                                             (axis if isinstance(axis, tuple) else (axis,)))
        return [ROWS if tags[0] == ROWS and 0 not in axes else None]
    if kind == "ArgReduce":                 # argmax/argmin along the last axis
        return [ROWS if tags[0] == ROWS and node.inputs[0].ndim >= 2 else None]
    if kind == "AdvancedSubtensor":
        return [_advanced_tag(node, tags, False)]
    if kind == "AdvancedIncSubtensor":
        return [_advanced_tag(node, tags, True)]
    if kind == "Subtensor":
        spec = node.op.spec
        if tags[0] == ROWS and spec and spec[0] == ("s", None, None, None) and \
                all(t == CONST for t in tags[1:]):
            return [ROWS]
        return [None]
    if kind == "SpecifyShape":
        return [tags[0] if tags[0] in (CONST, SUM, MEAN) else None]
    return [None]


def classify_outputs(f, blocked):
    """How each output of ``f`` depends on the sample axis (axis 0) of the ``blocked`` inputs.

    Parameters
    ----------
    f : Function
        A compiled function (``sg.function``).
    blocked : sequence of bool
        One flag per input of ``f``: True for an input chunked along its axis 0.

    Returns
    -------
    list of str or None
        One per output: ``"rows"`` (row i depends on row i of the blocked inputs only), ``"sum"``
        (the whole equals the sum of the blocks' values), ``"mean"`` (the block values weighted by
        block sizes), ``"const"`` (independent of the blocked inputs), ``"n"`` (the number of
        rows, times a constant: combined as a sum), or None where none of these could be proved.

    Examples
    --------
    >>> import symgraph as sg, symgraph.dask
    >>> x = sg.matrix("x")
    >>> f = sg.function([x], [x * 2, x.sum(), x.mean(axis=0), x.max(axis=0)], backend="python")
    >>> symgraph.dask.classify_outputs(f, [True])
    ['rows', 'sum', 'mean', None]
    """
    blocked = list(blocked)
    if len(blocked) != len(f.inputs):
        raise ValueError(f"classify_outputs: {len(blocked)} flags for {len(f.inputs)} inputs")
    tags = {}
    for var, is_blocked in zip(f.inputs, blocked):
        tags[id(var)] = (ROWS if var.ndim >= 1 else None) if is_blocked else CONST

    def tag_of(var):
        t = tags.get(id(var))
        if t is None and id(var) not in tags:
            if var.owner is None:            # constants and shared variables
                return CONST if isinstance(var, (Constant, SharedVariable)) else None
            return None
        return t

    for node in toposort(f.outputs):
        result = _node_tags(node, [tag_of(v) for v in node.inputs])
        for out, t in zip(node.outputs, result):
            tags[id(out)] = t
    out = []
    for var in f.outputs:
        t = tag_of(var)
        out.append(t if t in (CONST, ROWS, SUM, MEAN, N) else None)
    return out


# ----------------------------------------------------------------------------------------------
# The worker side: the compiled function, loaded once per process
# ----------------------------------------------------------------------------------------------

_FUNCTIONS: dict = {}
# A function whose shared variables changed pickles differently: keep only the latest few per process.
_MAX_FUNCTIONS = 16
#: how many functions this process unpickled (compiled); read by the tests through ``client.run``
LOADS = 0


def _load(payload, digest):
    global LOADS
    f = _FUNCTIONS.pop(digest, None)
    if f is None:
        f = pickle.loads(payload)
        LOADS += 1
        while len(_FUNCTIONS) >= _MAX_FUNCTIONS:
            _FUNCTIONS.pop(next(iter(_FUNCTIONS)))
    _FUNCTIONS[digest] = f                      # most recently used last
    return f


def _loads_in_this_process():
    return LOADS


def _run_block(payload, digest, *args):
    """All outputs of the function on one block (a list, whatever the function returns)."""
    f = _load(payload, digest)
    outputs = f(*args)
    return list(outputs) if isinstance(outputs, list) else [outputs]


def _pick(outputs, j):
    return outputs[j]


def _weighted(outputs, j, weight):
    value = np.asarray(outputs[j])
    return value * weight if weight != 1 else value


def _add(*values):
    total = values[0]
    for v in values[1:]:
        total = total + v
    return total


def _finish(total, divisor, dtype):
    value = np.asarray(total)
    if divisor != 1:
        value = value / divisor
    return np.asarray(value, dtype=dtype)


def _function_label(f):
    name = getattr(f, "name", None) or "function"
    return "".join(c if c.isalnum() or c in "_." else "_" for c in name)


def _payload(f):
    data = pickle.dumps(f)
    return data, hashlib.sha256(data).hexdigest()


# ----------------------------------------------------------------------------------------------
# map_blocks
# ----------------------------------------------------------------------------------------------

def _blocked_chunks(args, names):
    """The common chunks along axis 0 of the Dask array arguments; ValueError naming a bad one."""
    import dask.array as da
    chunks0, first = None, None
    for arg, name in zip(args, names):
        if not isinstance(arg, da.Array):
            continue
        if arg.ndim == 0:
            raise ValueError(f"symgraph.dask: argument {name} is a 0-d Dask array; blocked arguments "
                             "need a sample axis (give a number or a NumPy array instead)")
        if any(math.isnan(c) for c in arg.chunks[0]):
            raise ValueError(f"symgraph.dask: argument {name} has unknown chunk sizes along axis 0 "
                             "(call .compute_chunk_sizes() first)")
        for axis, c in enumerate(arg.chunks[1:], start=1):
            if len(c) != 1:
                raise ValueError(f"symgraph.dask: argument {name} is chunked along axis {axis} "
                                 f"(chunks {arg.chunks}); chunk it along axis 0 only, e.g. "
                                 f"x.rechunk({{{axis}: -1}})")
        if chunks0 is None:
            chunks0, first = tuple(arg.chunks[0]), name
        elif tuple(arg.chunks[0]) != chunks0:
            raise ValueError(f"symgraph.dask: argument {name} is chunked {tuple(arg.chunks[0])} along axis 0 "
                             f"but {first} is chunked {chunks0}; rechunk them alike")
    return chunks0


def _argument_names(f, n):
    names = []
    for i in range(n):
        var = f.inputs[i] if i < len(f.inputs) else None
        label = f"{i} ({var.name!r})" if var is not None and var.name else f"{i}"
        names.append(label)
    return names


def _probe_shapes(f, args):
    """The outputs' shapes for a one-row block of zeros (the shapes of reduced outputs)."""
    import dask.array as da
    values = []
    for arg in args:
        if isinstance(arg, da.Array):
            values.append(np.zeros((1,) + arg.shape[1:], dtype=arg.dtype))
        else:
            values.append(arg)
    try:
        with np.errstate(all="ignore"):
            outputs = f(*values)
    except Exception:
        return None
    outputs = outputs if isinstance(outputs, list) else [outputs]
    return [np.shape(o) for o in outputs]


def map_blocks(f, *args, split_every=4):
    """Evaluate a compiled function block by block on Dask arrays chunked along axis 0.

    Parameters
    ----------
    f : Function
        A compiled function (``sg.function``) without updates.
    *args
        One per input of ``f``: a Dask array chunked along axis 0 only (the sample axis; every
        Dask argument chunked alike), or a NumPy array or number given whole to every block.
    split_every : int, default 4
        The fan-in of the tree reduction that combines sums and means.

    Returns
    -------
    dask.array.Array, or a list of them for a function with a list of outputs
        An output that keeps the sample axis is chunked like the inputs; an output that is a sum
        or a mean over the sample axis (a loss, a gradient) is combined across blocks (a tree
        reduction, means weighted by block sizes), so the result equals ``f`` on the whole arrays.
        Task keys start with ``symgraph-<f.name or 'function'>-``.

    Raises
    ------
    ValueError
        An argument chunked along another axis or unlike the others, or an output that is neither
        row by row nor a sum or mean over the sample axis (``x.max(axis=0)``, ``x[0]``,
        ``x.sum() ** 2``, ``x.sum() + 1``), named in the message.

    Examples
    --------
    >>> import numpy as np, dask.array as da, symgraph as sg, symgraph.dask
    >>> x = sg.matrix("x")
    >>> f = sg.function([x], [x * 2, x.mean()], name="twice", backend="python")
    >>> X = da.from_array(np.arange(12.0).reshape(6, 2), chunks=(4, 2))
    >>> doubled, mean = symgraph.dask.map_blocks(f, X)
    >>> doubled.compute()[-1], float(mean.compute())
    (array([20., 22.]), 5.5)
    """
    import dask.array as da
    from dask.base import tokenize
    from dask.highlevelgraph import HighLevelGraph

    if not hasattr(f, "inputs") or not hasattr(f, "outputs") or not callable(f):
        raise TypeError(f"symgraph.dask.map_blocks: f must be a compiled function (sg.function), got {f!r}")
    if f.updates:
        raise ValueError(f"symgraph.dask.map_blocks: {f._label()} has updates "
                         f"({', '.join(t.name or '?' for t, _ in f.updates)}); blocks would each apply them")
    if len(args) != len(f.inputs):
        raise TypeError(f"symgraph.dask.map_blocks: {f._label()} takes {len(f.inputs)} argument(s), got {len(args)}")
    names = _argument_names(f, len(args))
    chunks0 = _blocked_chunks(args, names)
    if chunks0 is None:
        raise ValueError("symgraph.dask.map_blocks: no argument is a Dask array (nothing to split)")
    blocked = [isinstance(a, da.Array) for a in args]
    for arg, var, name in zip(args, f.inputs, names):
        if isinstance(arg, da.Array) and arg.ndim != var.ndim:
            raise ValueError(f"symgraph.dask.map_blocks: argument {name} has {arg.ndim} dimensions, "
                             f"the input {var.describe()} {var.ndim}")
    kinds = classify_outputs(f, blocked)
    output_names = [o.name or f"#{j}" for j, o in enumerate(f.outputs)]
    for j, kind in enumerate(kinds):
        if kind is None:
            raise ValueError(
                f"symgraph.dask.map_blocks: output {output_names[j]} of {f._label()} is neither computed row by row "
                "nor a sum or mean over the sample axis (axis 0) of the blocked arguments, so it cannot be "
                "computed block by block (only provable cases are combined: a max, an index of axis 0, "
                "a nonlinear function of a sum are not)")

    payload, digest = _payload(f)
    label = _function_label(f)
    token = tokenize(digest, [a.name if isinstance(a, da.Array) else a for a in args], split_every)
    prefix = f"symgraph-{label}"
    dsk = {}
    fkey = f"{prefix}-function-{token}"
    dsk[fkey] = payload
    arg_refs = []
    for i, arg in enumerate(args):
        if isinstance(arg, da.Array):
            arg_refs.append(None)
        else:
            key = f"{prefix}-arg{i}-{token}"
            dsk[key] = np.asarray(arg) if not np.isscalar(arg) else arg
            arg_refs.append(key)
    blocks_name = f"{prefix}-blocks-{token}"
    n_blocks = len(chunks0)
    for b in range(n_blocks):
        task_args = []
        for arg, ref in zip(args, arg_refs):
            if ref is None:
                task_args.append((arg.name, b) + (0,) * (arg.ndim - 1))
            else:
                task_args.append(ref)
        dsk[(blocks_name, b)] = (_run_block, fkey, digest, *task_args)
    dependencies = [a for a in args if isinstance(a, da.Array)]
    base_layer = HighLevelGraph.from_collections(blocks_name, dsk, dependencies=dependencies)

    shapes = None
    results = []
    total = sum(chunks0)
    for j, (var, kind) in enumerate(zip(f.outputs, kinds)):
        dtype = np.dtype(var.dtype)
        out_name = f"{prefix}-out{j}-{kind}-{token}"
        layer = {}
        if kind == ROWS:
            shape_rest = var.type.shape[1:]
            if any(s is None for s in shape_rest):
                shapes = shapes or _probe_shapes(f, args)
                shape_rest = shapes[j][1:] if shapes is not None else tuple(np.nan for _ in shape_rest)
            for b in range(n_blocks):
                layer[(out_name, b) + (0,) * (var.ndim - 1)] = (_pick, (blocks_name, b), j)
            chunks = (chunks0,) + tuple((s,) for s in shape_rest)
        else:
            if var.ndim == 0:
                shape = ()
            elif all(s is not None for s in var.type.shape):
                shape = tuple(var.type.shape)
            else:
                shapes = shapes or _probe_shapes(f, args)
                shape = shapes[j] if shapes is not None else tuple(np.nan for _ in range(var.ndim))
            final = (out_name,) + (0,) * var.ndim
            if kind == CONST:
                layer[final] = (_pick, (blocks_name, 0), j)
            else:
                weighted = kind == MEAN
                level = [f"{prefix}-partial{j}-{token}-{b}" for b in range(n_blocks)]
                for b, key in enumerate(level):
                    layer[key] = (_weighted, (blocks_name, b), j, chunks0[b] if weighted else 1)
                depth = 0
                while len(level) > 1:
                    depth += 1
                    next_level = []
                    for g in range(0, len(level), split_every):
                        key = f"{prefix}-combine{j}-{token}-{depth}-{g // split_every}"
                        layer[key] = (_add, *level[g:g + split_every])
                        next_level.append(key)
                    level = next_level
                layer[final] = (_finish, level[0], total if weighted else 1, dtype)
            chunks = tuple((s,) for s in shape)
        graph = HighLevelGraph({**base_layer.layers, out_name: layer},
                               {**base_layer.dependencies, out_name: {blocks_name}})
        meta = np.empty((0,) * var.ndim, dtype=dtype)
        results.append(da.Array(graph, out_name, chunks, meta=meta))
    return results if f._returns_list else results[0]


# ----------------------------------------------------------------------------------------------
# DataParallelStep
# ----------------------------------------------------------------------------------------------

def _block_step(payload, digest, hook, step, block, params, *args):
    """[cost] + gradients on one block, for the given parameter values (a pure function)."""
    if hook is not None:
        hook(step, block)
    f = _load(payload, digest)
    outputs = f(*args, *params)
    return [np.asarray(o) for o in outputs], len(args[0]) if args else 0


class DataParallelStep:
    """Synchronous data-parallel SGD over Dask arrays chunked along the sample axis.

    The gradients of ``cost`` (a mean over the sample axis) with respect to ``params`` are
    computed on the workers holding the blocks, with the parameter values of this step (sent to
    every worker once per step), averaged on the driver weighted by block sizes, and applied as
    one update ``p -= learning_rate * g`` of every parameter after every block's gradient
    arrived: a failed step changes no parameter. The block tasks are pure, so a block recomputed
    after a worker died gives the same values.

    Parameters
    ----------
    inputs : list of Variable
        The minibatch inputs of the cost (each gets a Dask array chunked along axis 0).
    cost : Variable
        A scalar that is a mean over the sample axis (checked: ``ValueError`` otherwise).
    params : list of SharedVariable
        The parameters to train.
    learning_rate : float
        The SGD step size.
    client : distributed.Client, optional
        Defaults to ``distributed.get_client()``.
    retries : int, default 2
        Retries of a block task that raised (a worker that died is replaced by Dask anyway).
    backend : str, optional
        The backend of the compiled gradient function.

    Attributes
    ----------
    function : Function
        The compiled ``(inputs..., param values...) -> [cost] + gradients``.
    steps : int
        How many steps were applied.

    Examples
    --------
    >>> step = symgraph.dask.DataParallelStep([X, y], loss, [W, b], 0.1)   # doctest: +SKIP
    >>> for xb, yb in minibatches:                                          # doctest: +SKIP
    ...     cost = step(xb, yb)                      # Dask arrays chunked along axis 0
    """

    def __init__(self, inputs, cost, params, learning_rate, client=None, *, retries=2, backend=None,
                 _block_hook=None):
        import symgraph as sg
        self.inputs = list(inputs)
        self.params = list(params)
        for p in self.params:
            if not isinstance(p, SharedVariable):
                raise TypeError(f"DataParallelStep: parameter {p!r} is not a shared variable")
        self.learning_rate = learning_rate
        self.retries = retries
        self._client = client
        self._hook = _block_hook
        grads = sg.grad(cost, self.params)
        stand_ins = [sg.tensor(f"{p.name or 'param'}_value", dtype=p.dtype, shape=(None,) * p.ndim)
                     for p in self.params]
        self.function = sg.function(self.inputs + stand_ins, [cost] + list(grads),
                                    givens=list(zip(self.params, stand_ins)), backend=backend,
                                    name="data_parallel_step")
        kinds = classify_outputs(self.function, [True] * len(self.inputs) + [False] * len(self.params))
        if kinds[0] != MEAN:
            raise ValueError("DataParallelStep: the cost must be a mean over the sample axis (axis 0) of the "
                             f"inputs (it was found to be {kinds[0] or 'neither a sum nor a mean'})")
        for p, kind in zip(self.params, kinds[1:]):
            if kind not in (MEAN, SUM, CONST):
                raise ValueError(f"DataParallelStep: the gradient with respect to {p.name or p!r} could not be "
                                 "shown to be a mean over the sample axis")
        self._kinds = kinds
        self._payload, self._digest = _payload(self.function)
        self._payload_future = None
        self.steps = 0

    @property
    def client(self):
        if self._client is None:
            from distributed import get_client
            self._client = get_client()
        return self._client

    def __call__(self, *minibatch):
        """Run one step on Dask arrays chunked along axis 0; returns the cost (a NumPy scalar)."""
        import dask.array as da
        from distributed import futures_of
        if len(minibatch) != len(self.inputs):
            raise TypeError(f"DataParallelStep takes {len(self.inputs)} argument(s), got {len(minibatch)}")
        names = [f"{i} ({v.name!r})" if v.name else str(i) for i, v in enumerate(self.inputs)]
        for arg, name in zip(minibatch, names):
            if not isinstance(arg, da.Array):
                raise TypeError(f"DataParallelStep: argument {name} must be a Dask array, "
                                f"got {type(arg).__name__}")
        chunks0 = _blocked_chunks(minibatch, names)
        client = self.client
        if self._payload_future is None:
            self._payload_future = client.scatter(self._payload, broadcast=True, hash=False)
        persisted = client.persist(list(minibatch))
        block_futures = []
        for arr in persisted:
            by_key = {fut.key: fut for fut in futures_of(arr)}
            block_futures.append([by_key[(arr.name, b) + (0,) * (arr.ndim - 1)] for b in range(len(chunks0))])
        values = [p.get_value() for p in self.params]
        param_future = client.scatter(values, broadcast=True, hash=False)
        label = uuid.uuid4().hex[:12]
        futures = [client.submit(_block_step, self._payload_future, self._digest, self._hook, self.steps, b,
                                 param_future, *[blocks[b] for blocks in block_futures],
                                 key=f"symgraph-data_parallel_step-{self.steps}-block{b}-{label}",
                                 retries=self.retries, pure=False)
                   for b in range(len(chunks0))]
        try:
            results = client.gather(futures)
        finally:
            del futures, param_future, persisted, block_futures
        total = sum(chunks0)
        combined = []
        for j, kind in enumerate(self._kinds):
            if kind == CONST:
                combined.append(np.asarray(results[0][0][j]))
                continue
            acc = None
            for outputs, n_b in results:
                v = np.asarray(outputs[j], dtype=np.float64 if outputs[j].dtype.kind == "f" and
                               outputs[j].dtype.itemsize < 8 else outputs[j].dtype)
                v = v * n_b if kind == MEAN else v
                acc = v if acc is None else acc + v
            combined.append(acc / total if kind == MEAN else acc)
        cost, grads = combined[0], combined[1:]
        new_values = [np.asarray(v - self.learning_rate * g, dtype=v.dtype) for v, g in zip(values, grads)]
        for p, v in zip(self.params, new_values):       # every block arrived: update all at once
            p.set_value(v)
        self.steps += 1
        return np.asarray(cost, dtype=self.function.outputs[0].dtype)[()]
