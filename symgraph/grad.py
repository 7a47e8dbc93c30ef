"""Symbol-to-symbol differentiation: ``grad`` adds the derivative nodes to the graph (book Alg. 6.5/6.6).

``grad`` restricts the graph to the nodes that lie on a path from ``wrt`` to the
cost, then visits them in reverse topological order, asking each op for its
symbolic vector-Jacobian product (``op.grad``) and summing, with one node, the
contributions a variable receives from its consumers. The results are ordinary
variables of the same graph (they reuse the forward nodes), so they can be
differentiated again, optimized and compiled. ``Lop``/``Rop``, ``jacobian``,
``hessian`` and ``hessian_vector_product`` are built on that one pass, and
``verify_grad`` checks it against central finite differences. Everything is
iterative: a 100,000-node chain does not touch Python's recursion limit.
"""
from __future__ import annotations

import warnings
import weakref

import numpy as np

from .graph import Constant, Variable, _created_nodes, inherit_source, toposort
from .ops.base import as_variable
from .ops.elemwise import add_n, cast, mul
from .ops.join import stack
from .ops.reduce import sum_to
from .ops.index import arange
from .ops.nnet import OneHot
from .ops.shape import shape_of, zeros_like
from .types import TensorType

DISCONNECTED_CHOICES = ("raise", "zero", "ignore", "warn", "none")


class DisconnectedInputError(ValueError):
    """The cost does not depend on a variable ``grad`` was asked to differentiate with respect to."""


class GradientTypeError(TypeError, ValueError):
    """A cost that is not 0-d, or a ``wrt`` that is not a float variable: a TypeError, and a ValueError
    like the other errors about unusable arguments."""


# ---------------------------------------------------------------- the pass

def grad(cost, wrt, consider_constant=None, disconnected="raise", known_grads=None):
    """The gradient of a 0-d ``cost`` with respect to ``wrt``, as new nodes of the same graph.

    Symbol to symbol: the result is built from (and reuses) the forward nodes, so it can be
    compiled, printed, or differentiated again (``grad(grad(y, x), x)`` is a second derivative).

    Parameters
    ----------
    cost : Variable or None
        A 0-d float variable; ``None`` when ``known_grads`` gives the only starting gradients.
    wrt : Variable or list/tuple of Variable
        The float variables to differentiate with respect to.
    consider_constant : list of Variable, optional
        Variables the gradient does not flow through (treated as constants).
    disconnected : {"raise", "zero", "ignore", "warn", "none"}, default "raise"
        What to return for a ``wrt`` the cost does not depend on: raise ``DisconnectedInputError``
        naming it, zeros (``"zero"``/``"ignore"``), zeros and a warning, or ``None``.
    known_grads : dict or list of (Variable, Variable) pairs, optional
        Gradients injected into the backward pass (Theano's ``known_grads``).

    Returns
    -------
    Variable or list/tuple of Variable
        One gradient per ``wrt``, each with its shape and dtype, in the structure of ``wrt``.

    Raises
    ------
    TypeError
        If ``cost`` is not 0-d, or a ``wrt`` is not a float variable.
    DisconnectedInputError
        If ``cost`` does not depend on a ``wrt`` and ``disconnected="raise"``.

    Notes
    -----
    The cost is differentiated in its numerically stable form (``symgraph.rewrite.stabilize``):
    ``log(1 + exp(x))`` as ``softplus(x)``, ``log(softmax(x)[i, y])`` as ``log_softmax(x)[i, y]``...,
    so the gradient is finite wherever the stable value is; nodes those rewrites leave alone are
    the user's own (the gradient reuses them).

    Examples
    --------
    >>> x = sg.scalar("x")
    >>> y = x ** 3
    >>> dy = sg.grad(y, x)
    >>> sg.function([x], [dy, sg.grad(dy, x)], backend="python")(2.0)
    [array(12.), array(12.)]
    """
    if disconnected not in DISCONNECTED_CHOICES:
        raise ValueError(f"grad: disconnected must be one of {DISCONNECTED_CHOICES}, got {disconnected!r}")
    single = not isinstance(wrt, (list, tuple))
    wrt_list = [wrt] if single else list(wrt)
    for i, var in enumerate(wrt_list):
        if not isinstance(var, Variable):
            raise TypeError(f"grad: wrt[{i}] is {type(var).__name__} {var!r}, not a symbolic variable")
        if not var.type.is_float and np.dtype(var.dtype).kind not in "iu":
            raise GradientTypeError(
                f"grad: cannot differentiate with respect to {var.describe()}: its dtype {var.dtype} is neither "
                "a float nor an integer type")
    if any(not var.type.is_float for var in wrt_list):
        results = _grad_as_real(cost, wrt_list, consider_constant, disconnected, known_grads)
        return results[0] if single else (tuple(results) if isinstance(wrt, tuple) else results)

    outer, built = getattr(_created_nodes, "nodes", None), []
    _created_nodes.nodes = built        # Node() appends itself: what this call builds, at no extra walk
    try:
        seeds = _stable_seeds(_seed_gradients(cost, known_grads), wrt_list, consider_constant or ())
        grads = _backpropagate(seeds, wrt_list, consider_constant or ())

        results = []
        for var in wrt_list:
            g = grads.get(id(var), _DISCONNECTED)
            if g is _DISCONNECTED:
                g = _disconnected_result(var, cost, disconnected)
            results.append(g)
    finally:
        _created_nodes.nodes = outer
        if outer is not None:       # a grad inside an op's gradient: the outer call built these too
            outer.extend(built)
        GRADIENT_NODES.update(built)
    return results[0] if single else (tuple(results) if isinstance(wrt, tuple) else results)


#: The nodes ``grad`` built (weakly held: they go with their graph); ``sg.view`` marks them.
GRADIENT_NODES = weakref.WeakSet()


_DISCONNECTED = object()


def _grad_as_real(cost, wrt_list, consider_constant, disconnected, known_grads):
    """Gradients with respect to integer variables taken as real numbers (PyTensor's ``test_grad_int``):
    the graph is rebuilt with a float64 stand-in for each integer ``wrt`` (so ``i * 2.5`` has derivative
    2.5 in ``i``), differentiated, and the stand-ins read ``i`` converted to float64 again. The gradient
    is float64; a ``known_grads`` entry for the integer variable itself passes through unchanged."""
    from .givens import rebuild
    stand_ins = {id(v): Variable(TensorType("float64", v.type.shape), name=v.name)
                 for v in wrt_list if not v.type.is_float}
    items = list(known_grads.items() if isinstance(known_grads, dict) else (known_grads or ()))
    roots = ([cost] if cost is not None else []) + [k for k, _ in items] + list(consider_constant or ())
    try:
        rebuilt = rebuild(roots, stand_ins, strict=False)
    except (TypeError, ValueError) as exc:
        raise GradientTypeError(f"grad: the integer inputs {[v.describe() for v in wrt_list if not v.type.is_float]}"
                                f" cannot be taken as real numbers here ({exc})") from None
    k = 1 if cost is not None else 0
    new_cost = rebuilt[0] if cost is not None else None
    new_known = [(rebuilt[k + j], g) for j, (_, g) in enumerate(items)]
    new_constant = rebuilt[k + len(items):]
    new_wrt = [stand_ins.get(id(v), v) for v in wrt_list]
    grads = grad(new_cost, new_wrt, consider_constant=new_constant or None, disconnected=disconnected,
                 known_grads=new_known or None)
    back = {id(stand): cast(v, "float64") for v in wrt_list for stand in [stand_ins.get(id(v))] if stand is not None}
    present = [g for g in grads if g is not None]
    restored = iter(rebuild(present, back, strict=False))
    return [next(restored) if g is not None else None for g in grads]


def _seed_gradients(cost, known_grads):
    """(variable, gradient) pairs the backward pass starts from: d cost / d cost = 1 and ``known_grads``."""
    seeds = []
    if cost is not None:
        if not isinstance(cost, Variable):
            raise TypeError(f"grad: the cost must be a symbolic variable, got {type(cost).__name__} {cost!r}")
        dtype = cost.dtype if cost.type.is_float else "float64"
        if cost.ndim != 0 and any(n != 1 for n in cost.type.shape):
            where = cost.owner.where() if cost.owner is not None else ""
            raise GradientTypeError(
                f"grad: the cost must be a 0-d (scalar) variable or have one element by its static shape, "
                f"got {cost.describe()}{where}; reduce it first (e.g. .sum()) or use sg.jacobian / sg.Lop")
        # a cost of one element that is not 0-d (shape (1,), as autograd allows): d cost / d cost is 1 there
        seeds.append((cost, Constant(np.ones((1,) * cost.ndim, dtype=dtype))))
    items = known_grads.items() if isinstance(known_grads, dict) else (known_grads or ())
    for var, g in items:
        if not isinstance(var, Variable):
            raise TypeError(f"grad: known_grads keys must be symbolic variables, got {var!r}")
        g = as_variable(g, like=var.dtype)
        if g.ndim != var.ndim:
            raise ValueError(f"grad: known gradient {g.describe()} for {var.describe()} has "
                             f"{g.ndim} dimensions, the variable {var.ndim}")
        if var.type.is_float and g.dtype != var.dtype:
            g = cast(g, var.dtype)
        seeds.append((var, g))
    if not seeds:
        raise ValueError("grad: give a cost, or known_grads when cost is None")
    return seeds


def _stable_seeds(seeds, wrt_list, consider_constant):
    """The seeds with their variables in stable form (``log(1 + exp(x))`` as ``softplus(x)``...), so the
    backward pass differentiates the formulas that stay finite (``symgraph.rewrite.stabilize``)."""
    from .rewrite.stabilize import stable_for_grad
    roots = stable_for_grad([var for var, _ in seeds], keep=list(wrt_list) + list(consider_constant))
    return [(root, g) for root, (_, g) in zip(roots, seeds)]


def _backpropagate(seeds, wrt_list, consider_constant):
    """``{id(var): summed gradient}`` for every ``wrt`` connected to a seed (the core of the pass)."""
    constant_ids = {id(v) for v in consider_constant}
    wrt_ids = {id(v) for v in wrt_list}
    roots = [var for var, _ in seeds]
    # Gradients stop at consider_constant variables, except that they still collect their own.
    order = toposort(roots, stop_at=[v for v in consider_constant if id(v) not in wrt_ids])

    # Forward sweep: which variables depend on a wrt through inputs that carry gradient.
    reachable = set(wrt_ids)
    relevant = []          # (node, which inputs carry gradient to a wrt)
    for node in order:
        pattern = node.op.connection_pattern(node)
        carries = [bool(c) and id(x) in reachable for c, x in zip(pattern, node.inputs)]
        if any(carries):
            relevant.append((node, carries))
            for out in node.outputs:
                if id(out) not in constant_ids or id(out) in wrt_ids:
                    reachable.add(id(out))

    contributions: dict[int, list] = {}
    for var, g in seeds:
        if id(var) in reachable:
            contributions.setdefault(id(var), []).append(g)
    totals: dict[int, Variable] = {}

    def total(var):
        key = id(var)
        if key not in totals:
            parts = contributions.pop(key, None)
            totals[key] = None if parts is None else _sum_contributions(parts, var)
        return totals[key]

    # Which variables lie on a path to a seed (structurally: the gradient there may still be zero).
    connected = {id(var) for var, _ in seeds if id(var) in reachable}
    # Backward sweep: consumers before producers, so each output gradient is complete when used.
    for node, carries in reversed(relevant):
        if not any(id(out) in connected for out in node.outputs):
            continue
        connected.update(id(x) for x, carry in zip(node.inputs, carries) if carry)
        output_grads = [total(out) for out in node.outputs]
        if all(g is None for g in output_grads):
            continue
        output_grads = [zeros_like(out) if g is None else g for out, g in zip(node.outputs, output_grads)]
        with inherit_source(node.sources):
            try:
                input_grads = node.op.grad(list(node.inputs), list(node.outputs), output_grads)
            except NotImplementedError as exc:
                raise NotImplementedError(f"grad: cannot differentiate through {node.op}{node.where()}: "
                                          f"{exc}") from exc
        if len(input_grads) != len(node.inputs):
            raise ValueError(f"internal error: {node.op}.grad returned {len(input_grads)} gradients "
                             f"for {len(node.inputs)} inputs{node.where()}")
        for x, g, carry in zip(node.inputs, input_grads, carries):
            if carry and g is not None:
                contributions.setdefault(id(x), []).append(_checked_gradient(g, x, node))

    result = {}
    for var in wrt_list:
        if id(var) not in connected:
            continue
        g = total(var)
        result[id(var)] = zeros_like(var) if g is None else g
    return result


def _checked_gradient(g, x, node):
    """``g`` as the gradient of input ``x`` of ``node``: same ndim, same dtype, ``x``'s broadcasting undone."""
    if not isinstance(g, Variable):
        raise TypeError(f"internal error: {node.op}.grad returned {type(g).__name__} {g!r} for input "
                        f"{x.describe()}; gradients must be symbolic variables{node.where()}")
    if g.ndim != x.ndim or any(gn is not None and xn is not None and gn != xn and xn == 1
                               for gn, xn in zip(g.type.shape, x.type.shape)):
        g = sum_to(g, x)
    if any(gn is not None and xn is not None and gn != xn for gn, xn in zip(g.type.shape, x.type.shape)):
        raise ValueError(f"internal error: {node.op}.grad returned a gradient of type {g.type} for input "
                         f"{x.describe()}{node.where()}")
    if g.dtype != x.dtype and x.type.is_float:
        g = cast(g, x.dtype)
    return g


def _sum_contributions(parts, var):
    """All contributions to ``var``'s gradient as one node (``add_n``), never a chain of pairwise adds."""
    total = add_n(*parts)
    if var.type.is_float and total.dtype != var.dtype:
        total = cast(total, var.dtype)
    return total


def _disconnected_result(var, cost, disconnected):
    if disconnected == "raise":
        what = f"the cost {cost.describe()}" if cost is not None else "the known gradients"
        if cost is not None and cost.owner is not None:
            what += cost.owner.where()
        where = var.owner.where() if var.owner is not None else ""
        raise DisconnectedInputError(
            f"grad: {what} does not depend on {var.describe()}{where} (or only through stop_gradient, "
            "consider_constant or non-differentiable inputs such as indices and shapes); "
            "pass disconnected='zero' to get zeros")
    if disconnected == "none":
        return None
    if disconnected == "warn":
        warnings.warn(f"grad: the cost does not depend on {var.describe()}; its gradient is zero", stacklevel=3)
    return zeros_like(var)


# ---------------------------------------------------------------- products with the Jacobian

def _as_list(x):
    return (list(x), True) if isinstance(x, (list, tuple)) else ([x], False)


def _structured(results, like):
    """``results`` in the structure the caller passed as ``like``: a tuple, a list, or one variable."""
    if isinstance(like, tuple):
        return tuple(results)
    return list(results) if isinstance(like, list) else results[0]


def Lop(f, wrt, eval_points, consider_constant=None, disconnected="zero"):
    """The vector-Jacobian product ``v^T (d f / d wrt)`` (reverse mode, one backward pass).

    Parameters
    ----------
    f : Variable or list of Variable
        The expressions (of any shape).
    wrt : Variable or list of Variable
        The variables to differentiate with respect to.
    eval_points : Variable, array_like or a list of them
        The vectors ``v``, one per ``f`` with its shape (a list means one per ``f``).
    consider_constant : list of Variable, optional
        Variables the gradient does not flow through.
    disconnected : str, default "zero"
        As in ``sg.grad``.

    Returns
    -------
    Variable or list of Variable
        One product per ``wrt``, in the structure of ``wrt``.

    Examples
    --------
    >>> x = sg.vector("x")
    >>> vjp = sg.Lop(x ** 2, x, np.array([1.0, 10.0]))
    >>> sg.function([x], vjp, backend="python")([3.0, 4.0])
    array([ 6., 80.])
    """
    f_list, _ = _as_list(f)
    points, _ = _as_list(eval_points)
    if len(points) != len(f_list):
        raise ValueError(f"Lop: {len(f_list)} expressions but {len(points)} eval_points")
    known = [(fi, as_variable(v, like=fi.dtype)) for fi, v in zip(f_list, points)]
    return grad(None, wrt, consider_constant=consider_constant, disconnected=disconnected, known_grads=known)


def Rop(f, wrt, eval_points):
    """The Jacobian-vector product ``(d f / d wrt) v`` (forward mode), without forming the Jacobian.

    Parameters
    ----------
    f : Variable or list of Variable
        The expressions.
    wrt : Variable or list of Variable
        The variables to differentiate with respect to.
    eval_points : Variable, array_like or a list of them
        The vectors ``v``, one per ``wrt`` with its shape (a list means one per ``wrt``).

    Returns
    -------
    Variable or list of Variable
        One product per ``f``, with its shape, in the structure of ``f``.

    Raises
    ------
    ValueError
        If the number of ``eval_points`` or their ndim does not match ``wrt``.

    Examples
    --------
    >>> x = sg.vector("x")
    >>> jvp = sg.Rop(x ** 2, x, np.array([1.0, 10.0]))
    >>> sg.function([x], jvp, backend="python")([3.0, 4.0])
    array([ 6., 80.])

    Notes
    -----
    Double-Lop trick: ``g(u) = Lop(f, wrt, u)`` is linear in ``u``, so ``Lop(g, u, v) = J v``.
    ``u`` is a fresh ``zeros_like(f)`` node: its value never matters, and the result never needs
    an input the caller does not have.
    """
    f_list, _ = _as_list(f)
    wrt_list, _ = _as_list(wrt)
    points, _ = _as_list(eval_points)
    if len(points) != len(wrt_list):
        raise ValueError(f"Rop: {len(wrt_list)} wrt variables but {len(points)} eval_points")
    for w, v in zip(wrt_list, points):
        v = as_variable(v, like=w.dtype)
        if v.ndim != w.ndim:
            raise ValueError(f"Rop: eval point {v.describe()} for {w.describe()} has the wrong number of dimensions")
    dummies = [zeros_like(fi) for fi in f_list]
    transposed = Lop(f_list, wrt_list, dummies)
    known = [(g, as_variable(v, like=g.dtype)) for g, v in zip(transposed, points)]
    results = grad(None, dummies, disconnected="zero", known_grads=known)
    return _structured(results, f)


def hessian_vector_product(cost, wrt, v):
    """The Hessian-vector product ``H v`` of a 0-d ``cost``, without forming ``H``.

    Parameters
    ----------
    cost : Variable
        A 0-d float variable.
    wrt : Variable or list of Variable
        The variables of the Hessian.
    v : Variable, array_like or a list of them
        The vectors, one per ``wrt`` with its shape (a list means one per ``wrt``).

    Returns
    -------
    Variable or list of Variable
        ``H v``, in the structure of ``wrt``.

    Examples
    --------
    >>> x = sg.vector("x")
    >>> hv = sg.hessian_vector_product((x ** 3).sum(), x, np.ones(2))
    >>> sg.function([x], hv, backend="python")([1.0, 2.0])
    array([ 6., 12.])

    Notes
    -----
    Computed as ``grad(<grad(cost, wrt), v>, wrt)``: the same graph size as the double-Lop Rop,
    two reverse passes, and it uses the symmetry of ``H``.
    """
    wrt_list, _ = _as_list(wrt)
    vs, _ = _as_list(v)
    if len(vs) != len(wrt_list):
        raise ValueError(f"hessian_vector_product: {len(wrt_list)} wrt variables but {len(vs)} vectors")
    first = grad(cost, wrt_list, disconnected="zero")
    projected = add_n(*[_inner(g, as_variable(vi, like=g.dtype)) for g, vi in zip(first, vs)])
    result = grad(projected, wrt_list, disconnected="zero")
    return _structured(result, wrt)


def _inner(a, b):
    from .ops.reduce import sum as reduce_sum
    return reduce_sum(mul(a, b))


# ---------------------------------------------------------------- dense derivatives

def jacobian(expr, wrt, consider_constant=None, disconnected="raise", vectorize=None, _length=None):
    """The dense Jacobian of ``expr`` with respect to ``wrt`` (any number of axes each), as JAX's ``jacobian``.

    Parameters
    ----------
    expr : Variable
        The expression (its lengths may be known only at call time).
    wrt : Variable or list of Variable
        Float variables of any rank.
    consider_constant : list of Variable, optional
        Variables the gradient does not flow through.
    disconnected : str, default "raise"
        As in ``sg.grad``.
    vectorize : bool, optional
        ``None`` (default): batch the rows into one backward pass where every op allows it, else
        unroll them; ``True``: batch or raise; ``False``: unroll (needs a static length).

    Returns
    -------
    Variable or list of Variable
        Shape ``expr.shape + wrt.shape``, one per ``wrt`` (a list for a list).

    Examples
    --------
    >>> x = sg.vector("x")
    >>> J = sg.jacobian(x ** 2, x)
    >>> sg.function([x], J, backend="python")([1.0, 2.0])
    array([[2., 0.],
           [0., 4.]])

    Notes
    -----
    Row ``i`` is the vector-Jacobian product with the one-hot vector ``e_i``. By default all rows
    come from one backward pass batched over the rows of an identity matrix (``symgraph.vectorize``):
    the graph size does not depend on the number of rows and grows linearly with the depth of
    ``expr``, and the length of ``expr`` may be known only at call time. When an op on the way has
    no batching rule (or ``vectorize=False``), the rows are unrolled, one backward pass each (graph
    linear in the number of rows), which needs the length of ``expr`` when the graph is built.
    """
    from .vectorize import NotVectorizable, _vectorize as vectorize_graph
    wrt_list, _ = _as_list(wrt)
    for w in wrt_list:
        if not isinstance(w, Variable):
            raise TypeError(f"jacobian: wrt must be symbolic variables, got {w!r}")
    expr = as_variable(expr)
    if expr.ndim == 0:
        return grad(expr, wrt, consider_constant=consider_constant, disconnected=disconnected)
    if expr.ndim > 1:   # the rows of the flattened expression, then expr's axes in front of wrt's
        from .ops.shape import reshape, shape_tuple
        flat = jacobian(reshape(expr, (-1,)), wrt_list, consider_constant, disconnected, vectorize)
        shaped = [reshape(j, shape_tuple(expr) + shape_tuple(w)) for j, w in zip(flat, wrt_list)]
        return _structured(shaped, wrt)
    options = dict(consider_constant=consider_constant, disconnected=disconnected)
    n = expr.type.shape[0]
    cotangent_dtype = expr.dtype if expr.type.is_float else "float64"
    if vectorize is not False:
        cotangent = Variable(TensorType(cotangent_dtype, expr.type.shape), name="jacobian_cotangent")
        rows = grad(None, wrt_list, known_grads=[(expr, cotangent)], **options)
        length = shape_of(expr, 0) if _length is None else _length
        identity = OneHot(cotangent_dtype, identity_seed=True)(arange(length), length)
        try:
            result = vectorize_graph(rows, {cotangent: identity}, length)
            return _structured(result, wrt)
        except NotVectorizable as exc:
            if vectorize or n is None:
                raise ValueError(f"jacobian: cannot batch the rows of the Jacobian of {expr.describe()} "
                                 f"({exc}) and its length is known only at call time; give the input a "
                                 "static shape, e.g. sg.vector('w', shape=(3,))") from None
    if n is None:
        raise ValueError(f"jacobian: the length of {expr.describe()} is known only at call time, so its rows "
                         "cannot be unrolled; give the input a static shape, e.g. sg.vector('w', shape=(3,))")
    rows = []
    for i in range(n):
        one_hot_row = np.zeros(n, dtype=cotangent_dtype)
        one_hot_row[i] = 1
        rows.append(grad(None, wrt_list, known_grads=[(expr, Constant(one_hot_row))], **options))
    result = [stack([row[k] for row in rows]) for k in range(len(wrt_list))]
    return _structured(result, wrt)


def hessian(cost, wrt, consider_constant=None, disconnected="raise", vectorize=None):
    """The dense Hessian of a 0-d ``cost`` with respect to a 0-d or 1-d ``wrt``.

    The Jacobian of the gradient, built as one batched backward pass: the length of ``wrt`` may
    be known only at call time.

    Parameters
    ----------
    cost : Variable
        A 0-d float variable.
    wrt : Variable or list of Variable
        0-d or 1-d variables; for a list, one Hessian block per entry (its own second derivatives).
    consider_constant : list of Variable, optional
        Variables the gradient does not flow through.
    disconnected : str, default "raise"
        As in ``sg.grad``.
    vectorize : bool, optional
        As in ``sg.jacobian``.

    Returns
    -------
    Variable or list of Variable
        Shape ``wrt.shape + wrt.shape``, one per ``wrt``.

    Examples
    --------
    >>> x = sg.vector("x")
    >>> H = sg.hessian((x ** 3).sum(), x)
    >>> sg.function([x], H, backend="python")([1.0, 2.0])
    array([[ 6.,  0.],
           [ 0., 12.]])
    """
    wrt_list, _ = _as_list(wrt)
    result = []
    for w in wrt_list:
        g = grad(cost, w, consider_constant=consider_constant, disconnected=disconnected)
        # The gradient has w's shape: taking the length from w spares computing the gradient's value.
        length = shape_of(w, 0) if w.ndim == 1 else None
        result.append(jacobian(g, w, consider_constant=consider_constant, disconnected="zero",
                               vectorize=vectorize, _length=length))
    return _structured(result, wrt)


# ---------------------------------------------------------------- checking

def verify_grad(fn, point, eps=1e-6, rtol=1e-4, atol=None, n_directions=3, rng=None, backend="python",
                optimizer=None, static_shape=False):
    """Check ``sg.grad`` of ``fn`` against central finite differences at ``point``.

    For every float input and each of ``n_directions`` random unit directions ``d`` it compares
    ``<grad, d>`` with ``(f(x + eps d) - f(x - eps d)) / (2 eps)`` (so large inputs cost no more
    than small ones). Float32 inputs or costs get a larger step and tolerance.

    Parameters
    ----------
    fn : callable
        Takes one symbolic variable per array of ``point`` and returns a 0-d variable.
    point : array_like or list of array_like
        Where to check.
    eps : float, default 1e-6
        The finite-difference step.
    rtol : float, default 1e-4
        The relative tolerance.
    atol : float, optional
        The absolute tolerance (default: an estimate of the round-off of the differences).
    n_directions : int, default 3
        How many random directions to check per input.
    rng : int or numpy.random.Generator, optional
        The seed of the directions (default 42).
    backend : str, default "python"
        The backend that computes the values.
    optimizer : str or dict, optional
        The optimizer mode of the compiled functions.
    static_shape : bool or list of bool, default False
        Give the symbolic inputs the point's shapes (else lengths known only at call time).

    Returns
    -------
    None
        When every direction agrees.

    Raises
    ------
    AssertionError
        On a mismatch, naming the input and showing both values.

    Examples
    --------
    >>> sg.verify_grad(lambda x: (sg.sin(x) * x).sum(), [np.array([0.5, 1.5])])
    """
    from .function import function
    rng = np.random.default_rng(rng if rng is not None else 42)
    if isinstance(point, np.ndarray) or np.isscalar(point):
        point = [point]
    arrays = [np.array(p) for p in point]
    arrays = [a.astype("float64") if a.dtype.kind not in "fiub" else a for a in arrays]
    statics = static_shape if isinstance(static_shape, (list, tuple)) else [static_shape] * len(arrays)
    names = _parameter_names(fn, len(arrays))
    inputs = [Variable(TensorType(a.dtype, a.shape if static else (None,) * a.ndim), name=name)
              for a, static, name in zip(arrays, statics, names)]
    cost = fn(*inputs)
    cost = as_variable(cost)
    if cost.ndim != 0:
        raise TypeError(f"verify_grad: fn must return a 0-d variable, got {cost.describe()}")
    float_inputs = [i for i, a in enumerate(arrays) if a.dtype.kind == "f"]
    grads = grad(cost, [inputs[i] for i in float_inputs], disconnected="zero") if float_inputs else []
    f_cost = function(inputs, cost, backend=backend, optimizer=optimizer)
    f_grad = function(inputs, list(grads), backend=backend, optimizer=optimizer) if grads else None
    analytic = f_grad(*arrays) if f_grad else []
    value = float(f_cost(*arrays))

    for k, i in enumerate(float_inputs):
        x, g = arrays[i], np.asarray(analytic[k])
        label = f"input {i} '{inputs[i].name}' ({x.dtype}, shape {x.shape})"
        if g.shape != x.shape or g.dtype != x.dtype:
            raise AssertionError(f"verify_grad: the gradient for {label} has dtype {g.dtype} and shape "
                                 f"{g.shape}, expected {x.dtype} {x.shape}")
        low_precision = x.dtype.itemsize < 8 or np.dtype(cost.dtype).itemsize < 8
        step = max(eps, 1e-3) if low_precision else eps
        rel = max(rtol, 1e-2) if low_precision else rtol
        for _ in range(n_directions):
            direction = rng.standard_normal(x.shape)
            direction /= max(np.linalg.norm(direction), 1e-300)
            shifted = list(arrays)
            shifted[i] = (x + step * direction).astype(x.dtype)
            up = float(f_cost(*shifted))
            shifted[i] = (x - step * direction).astype(x.dtype)
            down = float(f_cost(*shifted))
            numeric = (up - down) / (2 * step)
            symbolic = float(np.sum(g.astype("float64") * direction))
            machine_eps = np.finfo(np.float32 if low_precision else np.float64).eps
            roundoff = 10 * machine_eps * max(abs(value), abs(up), abs(down), 1.0) / step
            tolerance = (atol if atol is not None else roundoff) + rel * max(abs(numeric), abs(symbolic))
            if not abs(numeric - symbolic) <= tolerance:
                raise AssertionError(
                    f"verify_grad: wrong gradient for {label}: along a random direction the symbolic "
                    f"gradient gives {symbolic!r} but finite differences give {numeric!r} "
                    f"(abs. error {abs(numeric - symbolic):.3g}, tolerance {tolerance:.3g}, eps {step})")


def _parameter_names(fn, count):
    """The names of ``fn``'s positional parameters (so messages say 'b', not 'input 1'), else input0..."""
    import inspect
    names = [f"input{i}" for i in range(count)]
    try:
        parameters = [p for p in inspect.signature(fn).parameters.values()
                      if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        return names
    for i, p in enumerate(parameters[:count]):
        names[i] = p.name
    return names
