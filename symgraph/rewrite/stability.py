"""Numerical-stability rewrites: the same values, computed without overflow, underflow or cancellation.

The forward forms (``log(sigmoid x) -> -softplus(-x)``, ``log(softmax x) -> log_softmax x``,
``log(sum(exp x)) -> logsumexp x``, ``log(1 + x) -> log1p x``, ``exp(x) - 1 -> expm1 x``)
fix the values; the cancellations (``a / s * s -> a`` for an ``s`` that is never zero in
exact arithmetic, such as a softmax or sigmoid output) fix the gradients those
expressions had before the forward rewrite, where ``s`` underflowed to 0 and ``a / s``
made NaN. Together they make the cross-entropy of a softmax and its gradient finite
for logits of any size.

Every rewrite here changes bits on purpose: it replaces an expression by another form of
the same mathematical value that rounds less, or stays finite where the original over- or
underflows. They are the only default rewrites that do not reproduce NumPy's bits for the
graph as written (the rest are exact, tests/rewrite/test_ieee_exact.py); each docstring says
what it changes. ``optimizer={"exclude": ["stability"]}`` switches them all off.
"""
from __future__ import annotations

from ..ops import elemwise as ew
from ..ops.reduce import Reduce
from .engine import register
from .patterns import as_replacement, is_nonzero, is_value, operands


@register("stability", ops="log")
def log_sigmoid_to_softplus(node):
    """log(sigmoid(x)) -> -softplus(-x): finite for x = -1000.

    Changes bits on purpose: -inf becomes -1000 there, and the rounding of sigmoid is gone.
    """
    inner = operands(node.inputs[0], "sigmoid")
    if inner is not None:
        return [as_replacement(ew.neg(ew.softplus(ew.neg(inner[0]))), node.outputs[0])]
    return None


@register("stability", ops="log")
def log_one_minus_sigmoid(node):
    """log(1 - sigmoid(x)) -> -softplus(x): finite for x = 1000.

    Changes bits on purpose: -inf becomes -1000 there, and 1 - sigmoid(x) no longer cancels.
    """
    inner = operands(node.inputs[0], "sub")
    if inner is not None and is_value(inner[0], 1):
        s = operands(inner[1], "sigmoid")
        if s is not None:
            return [as_replacement(ew.neg(ew.softplus(s[0])), node.outputs[0])]
    return None


@register("stability", ops="sub")
def one_minus_sigmoid(node):
    """1 - sigmoid(x) -> sigmoid(-x): no cancellation for large x, and provably nonzero.

    Changes bits on purpose: 1 - sigmoid(40) is 0.0, sigmoid(-40) is 4.2e-18.
    """
    one, s = node.inputs
    inner = operands(s, "sigmoid")
    if inner is not None and is_value(one, 1) and s.dtype == node.outputs[0].dtype:
        return [as_replacement(ew.sigmoid(ew.neg(inner[0])), node.outputs[0])]
    return None


@register("stability", ops="log")
def log_softmax_from_log(node):
    """log(softmax(x)) -> log_softmax(x): finite for entries of 1000.

    Changes bits on purpose: computed as x - logsumexp(x), without rounding softmax first.
    """
    x = node.inputs[0]
    if x.owner is not None and type(x.owner.op).__name__ == "Softmax":
        from ..ops.nnet import LogSoftmax
        return [as_replacement(LogSoftmax(x.owner.op.axis)(x.owner.inputs[0]), node.outputs[0])]
    return None


@register("stability", ops="log")
def log_sum_exp_to_logsumexp(node):
    """log(sum(exp(x), axes)) -> logsumexp(x, axes).

    Changes bits on purpose: finite where exp(x) overflows (x = 1000) or the sum underflows.
    """
    total = node.inputs[0]
    if total.owner is None or not isinstance(total.owner.op, Reduce) or total.owner.op.kind != "sum":
        return None
    inner = operands(total.owner.inputs[0], "exp")
    if inner is None or not inner[0].type.is_float:
        return None
    from ..ops.nnet import LogSumExp
    op = total.owner.op
    return [as_replacement(LogSumExp(op.axis, op.keepdims)(inner[0]), node.outputs[0])]


@register("stability", ops="log")
def log_one_plus_to_log1p(node):
    """log(1 + x) -> log1p(x): accurate for tiny x.

    Changes bits on purpose: log(1 + 1e-20) is 0.0, log1p(1e-20) is 1e-20.
    """
    inner = operands(node.inputs[0], "add")
    if inner is None:
        return None
    a, b = inner
    for one, x in ((a, b), (b, a)):
        if is_value(one, 1) and x.type.is_float:
            return [as_replacement(ew.log1p(x), node.outputs[0])]
    return None


@register("stability", ops="log1p")
def log1p_exp_to_softplus(node):
    """log1p(exp(x)) -> softplus(x): no overflow for large x.

    Changes bits on purpose: inf becomes 1000 at x = 1000; elsewhere a few ulps may differ.
    """
    inner = operands(node.inputs[0], "exp")
    if inner is not None:
        return [as_replacement(ew.softplus(inner[0]), node.outputs[0])]
    return None


@register("stability", ops=("sub", "add"))
def exp_minus_one_to_expm1(node):
    """exp(x) - 1 -> expm1(x) (also exp(x) + -1): accurate for tiny x.

    Changes bits on purpose: exp(1e-20) - 1 is 0.0, expm1(1e-20) is 1e-20.
    """
    a, b = node.inputs
    minus_one = is_value(b, 1) if ew.Sub == type(node.op.scalar_op) else is_value(b, -1)
    inner = operands(a, "exp")
    if not minus_one or inner is None:
        return None
    return [as_replacement(ew.expm1(inner[0]), node.outputs[0])]


def _factors(var):
    """The two factors of a product, or None."""
    return operands(var, "mul")


@register("stability", ops="mul")
def cancel_division(node):
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
            return [as_replacement(a, out)]
        factors = _factors(other)
        if factors is not None:
            p, q = factors
            if p is s:
                return [as_replacement(ew.mul(a, q), out)]
            if q is s:
                return [as_replacement(ew.mul(a, p), out)]
    return None


@register("stability", ops="true_div")
def cancel_common_factor(node):
    """(s * b) / s -> b for s never zero in exact arithmetic.

    Changes bits on purpose: the exact b where the product rounded or the quotient was 0 / 0.
    """
    numerator, s = node.inputs
    factors = _factors(numerator)
    if factors is None or not is_nonzero(s):
        return None
    p, q = factors
    if p is s:
        return [as_replacement(q, node.outputs[0])]
    if q is s:
        return [as_replacement(p, node.outputs[0])]
    return None


@register("stability", ops="mul")
def distribute_over_quotient(node):
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
        return [as_replacement(combine(ew.mul(terms[0], multiplier), ew.mul(terms[1], multiplier)), out)]
    return None
