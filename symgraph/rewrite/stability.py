"""Numerical-stability rewrites: the same values, computed without overflow, underflow or cancellation.

The forward forms (``log(sigmoid x) -> -softplus(-x)``, ``log(softmax x) -> log_softmax x``,
``log(sum(exp x)) -> logsumexp x``, ``log(1 + x) -> log1p x``, ``exp(x) - 1 -> expm1 x``,
``1 / (1 + exp(-x)) -> sigmoid x``, ``exp(x) / sum(exp x) -> softmax x``...) fix the values.
A ``log`` is taken through indexing, reshapes, transposes and broadcasts
(``log(softmax(x)[rows, labels]) -> log_softmax(x)[rows, labels]``): these only select or
rearrange elements, so ``log`` commutes with them exactly.

Gradients: the forward forms are tagged ``"before_grad"`` as well, and ``sg.grad`` applies
them to the cost's graph before differentiating it (``symgraph.rewrite.stabilize``), so the
gradient of ``log(1 + exp(x))`` is built from ``softplus``'s rule (``sigmoid(x)``), never
from ``exp(x) / (1 + exp(x))``. The cancellations (``a / s * s -> a`` for an ``s`` that is
never zero in exact arithmetic, such as a softmax or sigmoid output) fix gradient graphs
built some other way, where ``s`` underflowed to 0 and ``a / s`` made NaN.

Every rewrite here changes bits on purpose: it replaces an expression by another form of
the same mathematical value that rounds less, or stays finite where the original over- or
underflows. They are on by default, the documented exception to "the default optimizer never
changes an IEEE result": the other default rewrites reproduce NumPy's bits for the graph as
written (tests/rewrite/test_ieee_exact.py); each docstring here says what it changes.
``optimizer={"exclude": ["stability"]}`` switches them all off.
"""
from __future__ import annotations

from ..ops import elemwise as ew
from ..ops.base import op_name
from ..ops.reduce import Reduce
from .engine import register
from .patterns import (apply_views, as_replacement, exp_argument, is_negation_of, is_nonzero, is_value,
                       negated, operands, peel_views)


def _replacing(node, expression, graph):
    """``[expression]`` shaped and typed as the node's output, or None (no expression, or no way to)."""
    if expression is None:
        return None
    replacement = as_replacement(expression, node.outputs[0], graph)
    return None if replacement is None else [replacement]


# ---------------------------------------------------------------- stable forms of log(s)

def _log_of_sigmoid(s):
    inner = operands(s, "sigmoid")
    return ew.neg(ew.softplus(negated(inner[0]))) if inner is not None else None


def _log_of_one_minus_sigmoid(s):
    inner = operands(s, "sub")
    if inner is None or not is_value(inner[0], 1):
        return None
    sigmoid_input = operands(inner[1], "sigmoid")
    return ew.neg(ew.softplus(sigmoid_input[0])) if sigmoid_input is not None else None


def _log_of_softmax(s):
    if s.owner is None or type(s.owner.op).__name__ != "Softmax":
        return None
    from ..ops.nnet import LogSoftmax
    return LogSoftmax(s.owner.op.axis)(s.owner.inputs[0])


def _log_of_sum_of_exp(s):
    if s.owner is None or not isinstance(s.owner.op, Reduce) or s.owner.op.kind != "sum":
        return None
    x = exp_argument(s.owner.inputs[0])
    if x is None or not x.type.is_float:
        return None
    from ..ops.nnet import LogSumExp
    return LogSumExp(s.owner.op.axis, s.owner.op.keepdims)(x)


def _exp_terms(s, limit=16):
    """The exponents ``x_i`` when ``s`` is ``exp(x_1) + exp(x_2) + ...`` (``add``/``add_n`` nodes), else None."""
    pending, exponents = [s], []
    while pending:
        v = pending.pop()
        if v.owner is not None and op_name(v.owner.op) in ("add", "add_n"):
            pending.extend(reversed(v.owner.inputs))
            if len(pending) + len(exponents) > limit:
                return None
            continue
        x = exp_argument(v)
        if x is None or not x.type.is_float:
            return None
        exponents.append(x)
    return exponents if len(exponents) >= 2 else None


def _log_of_exp_sum(s, graph):
    exponents = _exp_terms(s)
    if exponents is None:
        return None
    parts = [as_replacement(x, s, graph) for x in exponents]   # each broadcast to the sum's shape and dtype
    if any(p is None for p in parts):
        return None
    from ..ops.join import stack
    from ..ops.nnet import LogSumExp
    return LogSumExp((0,), False)(stack(parts))


def _log_of_exp(s):
    x = exp_argument(s)
    return x if x is not None and x.type.is_float else None


_LOG_FORMS = (_log_of_sigmoid, _log_of_one_minus_sigmoid, _log_of_softmax, _log_of_sum_of_exp, _log_of_exp)


def stable_log(s, graph):
    """An expression equal to ``log(s)`` that stays finite where the naive one does not, or None
    (``s`` a value of the FunctionGraph ``graph``)."""
    for form in _LOG_FORMS:
        found = form(s)
        if found is not None:
            return found
    return _log_of_exp_sum(s, graph)   # (matches a sum, which none of the forms above do)


@register("stability", "before_grad", ops="log")
def log_sigmoid_to_softplus(node, graph):
    """log(sigmoid(x)) -> -softplus(-x): finite for x = -1000.

    Changes bits on purpose: -inf becomes -1000 there, and the rounding of sigmoid is gone.
    """
    return _replacing(node, _log_of_sigmoid(node.inputs[0]), graph)


@register("stability", "before_grad", ops="log")
def log_one_minus_sigmoid(node, graph):
    """log(1 - sigmoid(x)) -> -softplus(x): finite for x = 1000.

    Changes bits on purpose: -inf becomes -1000 there, and 1 - sigmoid(x) no longer cancels.
    """
    return _replacing(node, _log_of_one_minus_sigmoid(node.inputs[0]), graph)


@register("stability", "before_grad", ops="sub")
def one_minus_sigmoid(node, graph):
    """1 - sigmoid(x) -> sigmoid(-x): no cancellation for large x, and provably nonzero.

    Changes bits on purpose: 1 - sigmoid(40) is 0.0, sigmoid(-40) is 4.2e-18.
    """
    one, s = node.inputs
    inner = operands(s, "sigmoid")
    if inner is not None and is_value(one, 1) and s.dtype == node.outputs[0].dtype:
        return _replacing(node, ew.sigmoid(negated(inner[0])), graph)
    return None


@register("stability", "before_grad", ops="log")
def log_softmax_from_log(node, graph):
    """log(softmax(x)) -> log_softmax(x): finite for entries of 1000.

    Changes bits on purpose: computed as x - logsumexp(x), without rounding softmax first.
    """
    return _replacing(node, _log_of_softmax(node.inputs[0]), graph)


@register("stability", "before_grad", ops="log")
def log_sum_exp_to_logsumexp(node, graph):
    """log(sum(exp(x), axes)) -> logsumexp(x, axes).

    Changes bits on purpose: finite where exp(x) overflows (x = 1000) or the sum underflows.
    """
    return _replacing(node, _log_of_sum_of_exp(node.inputs[0]), graph)


@register("stability", "before_grad", ops="log")
def log_of_exp_sum(node, graph):
    """log(exp(a) + exp(b) + ...) -> logsumexp(stack([a, b, ...]), 0): finite for a = b = 10000."""
    return _replacing(node, _log_of_exp_sum(node.inputs[0], graph), graph)


@register("stability", "before_grad", ops="log")
def log_through_views(node, graph):
    """log(view(s)) -> view(stable log(s)) where the view indexes, reshapes, transposes or broadcasts:
    log(softmax(x)[arange(n), y]) -> log_softmax(x)[arange(n), y], log(sum(exp x).T) -> logsumexp(x).T."""
    base, views = peel_views(node.inputs[0])
    if not views or not base.type.is_float or base.dtype != node.outputs[0].dtype:
        return None
    stable = stable_log(base, graph)
    if stable is None:
        return None
    stable = as_replacement(stable, base, graph)
    if stable is None:
        return None
    # The same views of a value of the same shape: the result has the log's shape by construction
    # (shape inference need not see through advanced indexing to know it).
    result = apply_views(stable, views)
    out = node.outputs[0]
    return [result] if result.dtype == out.dtype and out.type.is_compatible(result.type) else None


@register("stability", "before_grad", ops="log")
def log_one_plus_to_log1p(node, graph):
    """log(1 + x) -> log1p(x): accurate for tiny x.

    Changes bits on purpose: log(1 + 1e-20) is 0.0, log1p(1e-20) is 1e-20.
    """
    inner = operands(node.inputs[0], "add")
    if inner is None:
        return None
    a, b = inner
    for one, x in ((a, b), (b, a)):
        if is_value(one, 1) and x.type.is_float:
            return _replacing(node, ew.log1p(x), graph)
    return None


@register("stability", "before_grad", ops="log1p")
def log1p_exp_to_softplus(node, graph):
    """log1p(exp(x)) -> softplus(x): no overflow for large x.

    Changes bits on purpose: inf becomes 1000 at x = 1000; elsewhere a few ulps may differ.
    """
    x = exp_argument(node.inputs[0])
    return _replacing(node, ew.softplus(x), graph) if x is not None else None


@register("stability", "before_grad", ops="log1p")
def log1p_minus_sigmoid(node, graph):
    """log1p(-sigmoid(x)) -> -softplus(x): about -37 at x = 37, where 1 - sigmoid(37) rounds to 0."""
    inner = operands(node.inputs[0], "neg")
    s = operands(inner[0], "sigmoid") if inner is not None else None
    return _replacing(node, ew.neg(ew.softplus(s[0])), graph) if s is not None else None


@register("stability", "before_grad", ops=("sub", "add"))
def exp_minus_one_to_expm1(node, graph):
    """exp(x) - 1 -> expm1(x) (also exp(x) + -1): accurate for tiny x.

    Changes bits on purpose: exp(1e-20) - 1 is 0.0, expm1(1e-20) is 1e-20.
    """
    a, b = node.inputs
    minus_one = is_value(b, 1) if ew.Sub == type(node.op.scalar_op) else is_value(b, -1)
    x = exp_argument(a)
    if not minus_one or x is None:
        return None
    return _replacing(node, ew.expm1(x), graph)


@register("stability", ops="exp")
def exp_of_log_softmax(node, graph):
    """exp(log_softmax(x)) -> softmax(x) (as the gradient of log_softmax writes it): one op, no rounding
    through the log, and a gradient that need not compute log_softmax at all."""
    inner = node.inputs[0].owner
    if inner is None or type(inner.op).__name__ != "LogSoftmax":
        return None
    from ..ops.nnet import Softmax
    return _replacing(node, Softmax(inner.op.axis)(inner.inputs[0]), graph)


# ---------------------------------------------------------------- sigmoid and softmax written by hand

def _one_plus_exp(var):
    """``z`` when ``var`` is ``1 + exp(z)`` or ``exp(z) + 1``, else None."""
    terms = operands(var, "add")
    if terms is None:
        return None
    for one, e in (terms, terms[::-1]):
        z = exp_argument(e)
        if z is not None and z.type.is_float and is_value(one, 1):
            return z
    return None


@register("stability", "before_grad", ops="true_div")
def sigmoid_from_quotient(node, graph):
    """exp(z) / (1 + exp(z)) -> sigmoid(z), 1 / (1 + exp(-x)) -> sigmoid(x), a / (1 + exp(z)) -> a * sigmoid(-z):
    no inf / inf for large z."""
    a, d = node.inputs
    z = _one_plus_exp(d)
    if z is None:
        return None
    if exp_argument(a) is z:
        return _replacing(node, ew.sigmoid(z), graph)
    s = ew.sigmoid(negated(z))
    return _replacing(node, s if is_value(a, 1) else ew.mul(a, s), graph)


def _sigmoid_of_pair(p, q):
    """``sigmoid(x)`` when ``p`` and ``q`` are ``sigmoid(-x)`` and ``exp(x)`` (either order), else None."""
    for s, e in ((p, q), (q, p)):
        inner, x = operands(s, "sigmoid"), exp_argument(e)
        if inner is not None and x is not None and is_negation_of(inner[0], x):
            return ew.sigmoid(x)
    return None


@register("stability", "before_grad", ops="mul")
def sigmoid_times_exp(node, graph):
    """sigmoid(-x) * exp(x) -> sigmoid(x), and (a * sigmoid(-x)) * exp(x) -> a * sigmoid(x): no 0 * inf."""
    p, q = node.inputs
    direct = _sigmoid_of_pair(p, q)
    if direct is not None:
        return _replacing(node, direct, graph)
    for product, other in ((p, q), (q, p)):
        factors = operands(product, "mul")
        for i in (0, 1) if factors is not None else ():
            pair = _sigmoid_of_pair(factors[i], other)
            if pair is not None:
                return _replacing(node, ew.mul(factors[1 - i], pair), graph)
    return None


def _summed_back_axis(total, x):
    """The axis ``a`` when ``total`` is ``sum(exp(x), a)`` shaped to broadcast against ``x`` along ``a``
    (``keepdims``, an ``expand_dims``, or a leading axis), else None."""
    views = []
    while total.owner is not None and op_name(total.owner.op) == "dimshuffle":
        views.append(total.owner.op.new_order)
        total = total.owner.inputs[0]
    owner = total.owner
    if owner is None or not isinstance(owner.op, Reduce) or owner.op.kind != "sum" or len(owner.op.axis) != 1:
        return None
    if exp_argument(owner.inputs[0]) is not x:
        return None
    (axis,) = owner.op.axis
    # which axis of x each axis of the (viewed) total follows; None for a length-1 axis
    follows = [None if i == axis else i for i in range(x.ndim)] if owner.op.keepdims else \
        [i for i in range(x.ndim) if i != axis]
    for new_order in reversed(views):
        if any(follows[a] is not None and a not in new_order for a in range(len(follows))):
            return None
        follows = [None if a == "x" else follows[a] for a in new_order]
    if len(follows) > x.ndim:
        return None
    follows = [None] * (x.ndim - len(follows)) + follows
    expected = [None if i == axis else i for i in range(x.ndim)]
    return axis if follows == expected else None


@register("stability", "before_grad", ops="true_div")
def softmax_from_quotient(node, graph):
    """exp(x) / sum(exp(x), axis) (broadcast back along ``axis``) -> softmax(x, axis): finite for x = 1000."""
    e, total = node.inputs
    x = exp_argument(e)
    if x is None or not x.type.is_float or x.ndim == 0:
        return None
    axis = _summed_back_axis(total, x)
    if axis is None:
        return None
    from ..ops.nnet import Softmax
    return _replacing(node, Softmax(axis)(x), graph)


# ---------------------------------------------------------------- cancellations in gradient graphs

def _factors(var):
    """The two factors of a product, or None."""
    return operands(var, "mul")


@register("stability", ops="mul")
def cancel_division(node, graph):
    """(a / s) * s -> a and (a / s) * (s * b) -> a * b for s never zero in exact arithmetic.

    Changes bits on purpose: the exact a where the quotient rounded, or made NaN when s underflowed to 0.
    """
    out = node.outputs[0]
    first, second = node.inputs
    for quotient, other in ((first, second), (second, first)):
        division = operands(quotient, "true_div")
        if division is None:
            continue
        a, s = division
        if not is_nonzero(s):
            continue
        if other is s:
            return [as_replacement(a, out, graph)]
        factors = _factors(other)
        if factors is not None:
            p, q = factors
            if p is s:
                return [as_replacement(ew.mul(a, q), out, graph)]
            if q is s:
                return [as_replacement(ew.mul(a, p), out, graph)]
    return None


@register("stability", ops="true_div")
def cancel_common_factor(node, graph):
    """(s * b) / s -> b for s never zero in exact arithmetic.

    Changes bits on purpose: the exact b where the product rounded or the quotient was 0 / 0.
    """
    numerator, s = node.inputs
    factors = _factors(numerator)
    if factors is None or not is_nonzero(s):
        return None
    p, q = factors
    if p is s:
        return [as_replacement(q, node.outputs[0], graph)]
    if q is s:
        return [as_replacement(p, node.outputs[0], graph)]
    return None


@register("stability", ops="mul")
def distribute_over_quotient(node, graph):
    """(a / s + b) * (s * c) -> (a / s) * (s * c) + b * (s * c) when s is never zero, so the quotient cancels.

    This is the shape of every gradient through log(sigmoid) or log(softmax) once the forward
    value was stabilised: s * (a / s - b), or (a / s - b / t) * (s * t) for binary cross-entropy.
    Changes bits on purpose (distributing rounds differently), so that the quotients cancel.
    """
    out = node.outputs[0]
    first, second = node.inputs
    for bracket, multiplier in ((first, second), (second, first)):
        name = getattr(getattr(getattr(bracket.owner, "op", None), "scalar_op", None), "name", None)
        if name not in ("sub", "add"):
            continue
        factors = {multiplier}
        pair = _factors(multiplier)
        if pair is not None:
            factors.update(pair)
        terms = bracket.owner.inputs
        if not any((d := operands(t, "true_div")) is not None and d[1] in factors and is_nonzero(d[1])
                   for t in terms):
            continue
        combine = ew.sub if name == "sub" else ew.add
        return [as_replacement(combine(ew.mul(terms[0], multiplier), ew.mul(terms[1], multiplier)), out, graph)]
    return None


@register("stability", "before_grad", ops="log")
def log_of_erfc(node, graph):
    """log(erfc(x)) -> log_erfc(x): finite for x = 30 (erfc(30) underflows to 0, its log is -903.97).

    Changes bits on purpose: below x = 20 the same log(erfc(x)); above, an asymptotic series that does
    not underflow, and a gradient that stays finite.
    """
    inner = operands(node.inputs[0], "erfc")
    if inner is None or node.inputs[0].dtype != node.outputs[0].dtype:
        return None
    return _replacing(node, ew.Elemwise(ew.LogErfc())(inner[0]), graph)


@register("stability", ops=("argmax", "argmin"))
def arg_extreme_of_softmax(node, graph):
    """argmax(softmax(x)) -> argmax(x) (and log_softmax, and argmin) along the softmax's axis: the same
    index without computing the softmax, as softmax is increasing in each element of a row.

    Changes bits on purpose: where softmax rounds two different logits to the same probability (or both
    underflow to 0), the index of the larger logit, not the first of the tie.
    """
    from ..ops.nnet import LogSoftmax, Softmax
    source = node.inputs[0].owner
    if source is None or not isinstance(source.op, (Softmax, LogSoftmax)):
        return None
    x = source.inputs[0]
    if source.op.axis != x.ndim - 1:
        return None
    return [type(node.op)(node.op.kind)(x)]
