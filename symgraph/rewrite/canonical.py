"""Algebraic canonicalisation and simplification, valid for every value a rewrite meets.

Each rewrite is a small named function (node in, replacements or None out). The rewrites on
by default give NumPy's bits for every input, signed zeros, infinities, NaN and integer
wrap-around included; each states the condition that makes it exact (``x + 0 -> x`` only
where ``x`` cannot be -0.0 or the zero is -0.0, ``x ** 3`` is not ``x * x * x``, integer
constants combine only within one dtype; the predicates are in exactness.py). The one exception is ``log_of_exp``, a documented
stability rewrite: ``log(exp(x)) -> x`` gives the exact value where the unrewritten
expression rounds or overflows.

Rewrites that change IEEE results are opt-in, under two tags (``engine.OPT_IN_TAGS``):
- ``assumes_finite``: ``mul_by_zero`` (x * 0 -> 0) and ``sub_self`` (x - x -> 0), wrong for
  infinities and NaN (``inf * 0`` and ``inf - inf`` are NaN);
- ``fast_math`` (which also switches on ``assumes_finite``): re-association and rounding
  changes for finite values: ``combine_constants`` (``(x * 1e-30) * 1e-30`` is not
  ``x * 1e-60`` at ``x = 1e30`` in float32), ``pow_by_multiplication`` (x ** 3 -> x * x * x),
  ``exp_of_log``, ``sum_of_broadcast`` for floats, and the signed-zero forms of the rules
  above (``add_float_zero``, ``sub_float_zero``, ``negate_float_difference``).
Switch them on with ``optimizer={"mode": "fast_run", "include": ["fast_math"]}``.
"""
from __future__ import annotations

import numpy as np

from ..graph import Constant
from ..ops import elemwise as ew
from ..ops.base import op_name
from ..ops.elemwise import Elemwise
from ..ops.reduce import Reduce
from ..ops.shape import BroadcastTo, DimShuffle, Reshape, ShapeOf
from .engine import register
from .patterns import as_replacement, dims, filled, is_nonnegative, is_value, operands, same_shape, uniform_value
from .exactness import exact_negation, no_negative_zero, represents_exactly, zero_sign
from .shapes import broadcast_dims, graph_facts


def _binary(node):
    return node.inputs[0], node.inputs[1], node.outputs[0]


# ---------------------------------------------------------------- identities and neutral elements

@register("canonicalize", ops=("identity", "stop_gradient"))
def remove_identity(node):
    """identity(x) -> x, and stop_gradient(x) -> x (differentiation is over once we optimize)."""
    return [node.inputs[0]]


@register("canonicalize", ops="cast")
def remove_useless_cast(node):
    """cast(x, dtype of x) -> x; cast(cast(x, middle), t) -> cast(x, t) when that is exact for every value.

    Exact when ``middle`` represents every value of x's dtype (``represents_exactly``) and the
    conversion to ``t`` of the same value cannot depend on where it comes from: ``t`` is a float,
    complex or bool, both casts are between integers, or every value of x's dtype fits in ``t``
    (an out-of-range float -> int conversion is not a wrap-around).
    """
    x, out = node.inputs[0], node.outputs[0]
    if x.dtype == out.dtype:
        return [x]
    inner = operands(x, "cast")
    if inner is None or not represents_exactly(inner[0].dtype, x.dtype):
        return None
    source, middle, target = (np.dtype(v.dtype) for v in (inner[0], x, out))
    if target.kind in "fcb" or source.kind == "b" or (source.kind in "iu" and middle.kind in "iu") or \
            (target.kind in "iu" and np.can_cast(source, target, casting="safe")):
        return [ew.cast(inner[0], out.dtype)]
    return None


def _add_zero(node, graph, exact):
    a, b, out = _binary(node)
    for x, zero in ((a, b), (b, a)):
        sign = zero_sign(zero)
        if sign is not None and (not exact or sign < 0 or no_negative_zero(x)):
            return [as_replacement(x, out, graph)]
    return None


@register("canonicalize", ops="add")
def add_zero(node, graph):
    """x + 0 -> x where exact: the zero is -0.0, or x is never -0.0 (integers); -0.0 + 0.0 is +0.0."""
    return _add_zero(node, graph, exact=True)


@register("canonicalize", "fast_math", ops="add")
def add_float_zero(node, graph):
    """x + 0.0 -> x for every float x. Opt-in: turns -0.0 + 0.0 (= +0.0) into -0.0."""
    return _add_zero(node, graph, exact=False)


@register("canonicalize", ops="add_n")
def add_n_zeros(node, graph):
    """add_n(x, 0, y) -> add_n(x, y): zero terms dropped (and add_n of one term is that term).

    Exact when a dropped zero is -0.0 or a kept term is never -0.0 (then no partial sum is -0.0,
    and adding +0.0 to anything but -0.0 changes nothing), and the kept terms add in ``out``'s dtype.
    """
    out = node.outputs[0]
    signs = [zero_sign(v) for v in node.inputs]
    kept = [v for v, sign in zip(node.inputs, signs) if sign is None]
    if len(kept) == len(node.inputs):
        return None
    if not kept:
        return [filled(0, out, graph)] if 1 in signs or np.dtype(out.dtype).kind in "biu" else None
    if 1 in signs and not any(no_negative_zero(v) for v in kept):
        kept += [v for v, sign in zip(node.inputs, signs) if sign == 1][:1]  # keep one +0.0
        if len(kept) == len(node.inputs):
            return None
    total = ew.add_n(*kept) if len(kept) > 1 else kept[0]
    if len(kept) > 1 and total.dtype != out.dtype:
        return None  # dropping a wider zero would add narrow integers in their own (wrapping) dtype
    return [as_replacement(total, out, graph)]


def _sub_zero(node, graph, exact):
    a, b, out = _binary(node)
    sign = zero_sign(b)
    if sign is not None and (not exact or sign > 0 or no_negative_zero(a)):
        return [as_replacement(a, out, graph)]
    sign = zero_sign(a)
    kind = np.dtype(b.dtype).kind
    if sign is not None and out.dtype == b.dtype and kind in "iufc" and \
            (not exact or sign < 0 or kind in "iu"):
        return [as_replacement(ew.neg(b), out, graph)]
    return None


@register("canonicalize", ops="sub")
def sub_zero(node, graph):
    """x - 0 -> x and 0 - x -> -x where exact (x - (-0.0) and +0.0 - x differ from x and -x at x = ±0.0)."""
    return _sub_zero(node, graph, exact=True)


@register("canonicalize", "fast_math", ops="sub")
def sub_float_zero(node, graph):
    """x - 0.0 -> x and 0.0 - x -> -x for floats. Opt-in: the sign of a zero result may change."""
    return _sub_zero(node, graph, exact=False)


@register("canonicalize", ops="mul")
def mul_one(node, graph):
    """x * 1 -> x and x * -1 -> -x."""
    a, b, out = _binary(node)
    for x, c in ((a, b), (b, a)):
        value = uniform_value(c)
        if value is None or isinstance(value, bool):
            continue
        if value == 1:
            return [as_replacement(x, out, graph)]
        if value == -1 and x.dtype == out.dtype and np.dtype(out.dtype).kind in "fci":
            return [as_replacement(ew.neg(x), out, graph)]
    return None


@register("canonicalize", "assumes_finite", ops="mul")
def mul_by_zero(node, graph):
    """x * 0 -> 0. Assumes x finite (inf * 0 is NaN)."""
    a, b, out = _binary(node)
    if is_value(a, 0) or is_value(b, 0):
        return [filled(0, out, graph)]
    return None


@register("canonicalize", ops="true_div")
def div_one(node, graph):
    """x / 1 -> x."""
    a, b, out = _binary(node)
    if is_value(b, 1) and out.type.is_float:
        return [as_replacement(a, out, graph)]
    return None


@register("canonicalize", ops="neg")
def double_negation(node, graph):
    """-(-x) -> x, and -(a - b) -> b - a for integers (for floats -(a - a) is -0.0, b - a is +0.0)."""
    inner = operands(node.inputs[0], "neg")
    if inner is not None:
        return [as_replacement(inner[0], node.outputs[0], graph)]
    inner = operands(node.inputs[0], "sub")
    if inner is not None and np.dtype(node.outputs[0].dtype).kind in "iu":
        return [as_replacement(ew.sub(inner[1], inner[0]), node.outputs[0], graph)]
    return None


@register("canonicalize", "fast_math", ops="neg")
def negate_float_difference(node, graph):
    """-(a - b) -> b - a for floats. Opt-in: gives +0.0 where a == b made -0.0."""
    inner = operands(node.inputs[0], "sub")
    if inner is not None and np.dtype(node.outputs[0].dtype).kind in "fc":
        return [as_replacement(ew.sub(inner[1], inner[0]), node.outputs[0], graph)]
    return None


@register("canonicalize", "assumes_finite", ops="sub")
def sub_self(node, graph):
    """x - x -> 0. Assumes x finite (inf - inf is NaN)."""
    a, b, out = _binary(node)
    if a is b:
        return [filled(0, out, graph)]
    return None


@register("canonicalize", ops=("add", "sub", "mul"))
def fold_negations(node, graph):
    """x + (-y) -> x - y, x - (-y) -> x + y, (-a) * (-b) -> a * b.

    Exact in IEEE arithmetic (x - y is x + (-y)); for integers only when the negation happens in the
    result's dtype (``exact_negation``).
    """
    a, b, out = _binary(node)
    name = op_name(node.op)

    def negated(v):
        return operands(v, "neg") is not None and exact_negation(v, out)

    if name == "add":
        if negated(b):
            return [as_replacement(ew.sub(a, b.owner.inputs[0]), out, graph)]
        if negated(a):
            return [as_replacement(ew.sub(b, a.owner.inputs[0]), out, graph)]
    elif name == "sub" and negated(b):
        return [as_replacement(ew.add(a, b.owner.inputs[0]), out, graph)]
    elif name == "mul" and negated(a) and negated(b):
        return [as_replacement(ew.mul(a.owner.inputs[0], b.owner.inputs[0]), out, graph)]
    return None


@register("canonicalize", ops="mul")
def negation_out_of_product(node, graph):
    """(-a) * b -> -(a * b), so products are matched without looking through signs.

    Exact for real floats (rounding is symmetric) and for integers negated in the result's dtype;
    not for complex numbers (the sign of a zero part can change).
    """
    a, b, out = _binary(node)
    if np.dtype(out.dtype).kind == "c":
        return None
    if operands(a, "neg") is not None and operands(b, "neg") is None and exact_negation(a, out, False):
        return [as_replacement(ew.neg(ew.mul(a.owner.inputs[0], b)), out, graph)]
    if operands(b, "neg") is not None and operands(a, "neg") is None and exact_negation(b, out, False):
        return [as_replacement(ew.neg(ew.mul(a, b.owner.inputs[0])), out, graph)]
    return None


def _combine_constants(node, graph, exact):
    a, b, out = _binary(node)
    name = op_name(node.op)
    for c1, inner in ((a, b), (b, a)):
        if not isinstance(c1, Constant) or inner.owner is None or op_name(inner.owner.op) != name:
            continue
        p, q = inner.owner.inputs
        for c2, x in ((p, q), (q, p)):
            if isinstance(c2, Constant) and not isinstance(x, Constant):
                if exact and not (np.dtype(out.dtype).kind in "iu" and
                                  c1.dtype == c2.dtype == x.dtype == inner.dtype == out.dtype):
                    continue
                fn = np.multiply if name == "mul" else np.add
                with np.errstate(all="ignore"):
                    value = np.asarray(fn(c1.value, c2.value)).astype(out.dtype)
                result = node.op(Constant(value), x)
                return [as_replacement(result, out, graph)]
    return None


@register("canonicalize", ops=("mul", "add"))
def combine_integer_constants(node, graph):
    """c1 * (c2 * x) -> (c1*c2) * x and c1 + (c2 + x) -> (c1+c2) + x when all are one integer dtype
    (wrapping arithmetic is associative; constant folding finishes it)."""
    return _combine_constants(node, graph, exact=True)


@register("canonicalize", "fast_math", ops=("mul", "add"))
def combine_constants(node, graph):
    """c1 * (c2 * x) -> (c1*c2) * x and c1 + (c2 + x) -> (c1+c2) + x for any dtype.

    Opt-in: re-associating floats changes results (float32 ``(x * 1e-30) * 1e-30`` at x = 1e30
    is 1e-30, ``x * 1e-60`` is 0; ``1e16 + (y + -1e16)`` at y = 1 is 0, ``y + 0`` is 1).
    """
    return _combine_constants(node, graph, exact=False)


@register("canonicalize", ops="where")
def where_same_branches(node, graph):
    """where(c, x, x) -> x and where(constant c, a, b) -> the chosen branch."""
    cond, a, b = node.inputs
    out = node.outputs[0]
    if a is b:
        return [as_replacement(a, out, graph)]
    value = uniform_value(cond)
    if value is not None:
        return [as_replacement(a if value else b, out, graph)]
    return None


def _small_integer_exponent(node, exponents):
    value = uniform_value(node.inputs[1])
    if value is None or isinstance(value, (bool, complex)) or value != int(value) or value not in exponents:
        return None
    return int(value)


@register("canonicalize", ops="pow")
def pow_small_integer(node, graph):
    """x ** 2 -> x * x, x ** 1 -> x, x ** 0 -> 1 (also for NaN, as NumPy), x ** -1 -> 1 / x, and for
    integers x ** 3 -> x * x * x, x ** 4 -> (x * x) * (x * x) (wrapping as NumPy's power does).

    Each is exact: pow(x, 2) and x * x are both the correctly rounded square; float x ** 3 is not
    x * x * x (two roundings), see ``pow_by_multiplication``.
    """
    kind = np.dtype(node.outputs[0].dtype).kind
    exponents = {"i": (0, 1, 2, 3, 4), "u": (0, 1, 2, 3, 4), "f": (-1, 0, 1, 2)}.get(kind, (0, 1, 2))
    if _small_integer_exponent(node, exponents) is None:
        return None
    return _pow_by_multiplication(node, graph)


@register("canonicalize", "fast_math", ops="pow")
def pow_by_multiplication(node, graph):
    """x ** 3 -> x * x * x and x ** 4 -> (x * x) * (x * x) for floats. Opt-in: two roundings instead of one."""
    if _small_integer_exponent(node, (3, 4)) is None:
        return None
    return _pow_by_multiplication(node, graph)


def _pow_by_multiplication(node, graph):
    x, e, out = _binary(node)
    value = uniform_value(e)
    if x.dtype != out.dtype:
        x = ew.cast(x, out.dtype)
    value = int(value)
    if value == 0:
        return [filled(1, out, graph)]
    if value == -1:
        if not out.type.is_float:
            return None
        return [as_replacement(ew.true_div(Constant(1, dtype=out.dtype), x), out, graph)]
    result = x
    if value == 4:
        square = ew.mul(x, x)
        result = ew.mul(square, square)
    else:
        for _ in range(value - 1):
            result = ew.mul(result, x)
    return [as_replacement(result, out, graph)]


# ---------------------------------------------------------------- exp / log

@register("canonicalize", "fast_math", ops="exp")
def exp_of_log(node, graph):
    """exp(log(x)) -> x where x is provably >= 0 (exp(log(0)) = 0 still holds; negative x would give NaN).

    Opt-in: exp(log(3.0)) is 3.0000000000000004, and exp(log(-0.0)) is +0.0.
    """
    inner = operands(node.inputs[0], "log")
    if inner is not None and is_nonnegative(inner[0]) and inner[0].dtype == node.outputs[0].dtype:
        return [as_replacement(inner[0], node.outputs[0], graph)]
    return None


@register("canonicalize", "stability", ops="log")
def log_of_exp(node, graph):
    """log(exp(x)) -> x. A stability rewrite that changes bits on purpose: it gives the exact
    value x where log(exp(x)) rounds (log(exp(0.1)) is 0.10000000000000003) or overflows
    (log(exp(1000.0)) is inf)."""
    inner = operands(node.inputs[0], "exp")
    if inner is not None and inner[0].dtype == node.outputs[0].dtype:
        return [as_replacement(inner[0], node.outputs[0], graph)]
    return None


# ---------------------------------------------------------------- layouts

@register("canonicalize", ops="dimshuffle")
def dimshuffle_chain(node, graph):
    """dimshuffle(dimshuffle(x)) -> one dimshuffle (transpose of a transpose -> x)."""
    x = node.inputs[0]
    order = node.op.new_order
    if order == tuple(range(x.ndim)):
        return [x]
    inner = x.owner
    if inner is None or not isinstance(inner.op, DimShuffle):
        return None
    inner_order = inner.op.new_order
    composed = tuple("x" if a == "x" else inner_order[a] for a in order)
    source = inner.inputs[0]
    if composed == tuple(range(source.ndim)):
        return [as_replacement(source, node.outputs[0], graph)]
    return [DimShuffle(composed)(source)]


@register("canonicalize", ops="reshape")
def reshape_chain(node, graph):
    """reshape(reshape(x, s1), s2) -> reshape(x, s2); reshape(x, shape of x) -> x."""
    x, *shape = node.inputs
    out = node.outputs[0]
    inner = x.owner
    if inner is not None and isinstance(inner.op, Reshape):
        return [Reshape(len(shape))(inner.inputs[0], *shape)]
    if x.ndim == len(shape) and dims(x, graph) == dims(out, graph):
        return [as_replacement(x, out, graph)]
    return None


# ---------------------------------------------------------------- reductions

@register("canonicalize", ops=("sum", "prod", "max", "min"))
def reduce_trivial_axes(node, graph):
    """A reduction over no axes, or over axes of static length 1, is a reshape (dimshuffle) of x.

    A float sum becomes ``x + 0.0``: NumPy's sum of one element starts from 0.0, so the sum of
    one -0.0 is +0.0 (``add_zero`` drops the addition where x cannot be -0.0).
    """
    op, x, out = node.op, node.inputs[0], node.outputs[0]
    if not isinstance(op, Reduce) or x.dtype != out.dtype:
        return None
    if any(x.type.shape[a] != 1 for a in op.axis):
        return None
    if op.keepdims or not op.axis:
        result = x
    else:
        result = DimShuffle([a for a in range(x.ndim) if a not in op.axis])(x)
    if op.kind == "sum" and not no_negative_zero(x):
        result = ew.add(result, Constant(0, dtype=out.dtype))
    return [as_replacement(result, out, graph)]


@register("canonicalize", ops="sum")
def sum_of_integer_broadcast(node, graph):
    """sum(broadcast_to(s, shape), axes) -> s * (product of the summed lengths) for integers and
    booleans (exact: both wrap modulo the same power of two)."""
    if np.dtype(node.inputs[0].dtype).kind not in "biu":
        return None
    return _sum_of_broadcast(node, graph)


@register("canonicalize", "fast_math", ops="sum")
def sum_of_broadcast(node, graph):
    """sum(broadcast_to(s, shape), axes) -> s * (product of the summed lengths), broadcast to the rest.

    Opt-in for floats: one rounding instead of a sum's (ten 0.1s sum to 0.9999999999999999, 0.1 * 10
    is 1.0), and inf * 0 is NaN where an empty sum is 0.
    """
    return _sum_of_broadcast(node, graph)


def _sum_of_broadcast(node, graph):
    op, y, out = node.op, node.inputs[0], node.outputs[0]
    if not isinstance(op, Reduce) or y.owner is None or not isinstance(y.owner.op, BroadcastTo):
        return None
    source, *shape = y.owner.inputs
    lead = len(shape) - source.ndim
    if any(a >= lead and source.type.shape[a - lead] != 1 for a in op.axis):
        return None  # some summed axis carries data
    if source.ndim and any(a >= lead and source.type.shape[a - lead] != 1 for a in range(len(shape))
                           if a not in op.axis):
        return None  # keep the simple case: only a fully broadcast (size-1) source
    count = None
    for a in op.axis:
        length = shape[a] if shape[a].dtype == "int64" else ew.cast(shape[a], "int64")
        count = length if count is None else ew.mul(count, length)
    if count is None:
        return None
    scale = ew.cast(count, out.dtype) if out.dtype != count.dtype else count
    total = ew.mul(Reduce("sum", tuple(range(source.ndim)), False)(source) if source.ndim else source, scale)
    return [as_replacement(total, out, graph)]


# ---------------------------------------------------------------- shapes

@register("canonicalize", "shape", ops="shape_of")
def fold_shape_of(node, graph):
    """shape_of(x, i) -> its static length, or shape_of of the variable that defines that length."""
    x, out = node.inputs[0], node.outputs[0]
    d = dims(x, graph)[node.op.axis]
    if isinstance(d, int):
        return [Constant(d, dtype=out.dtype)]
    if len(d) != 1:
        return None
    owner, axis = next(iter(d))
    owner = graph.live(owner)
    if owner is None or owner is x and axis == node.op.axis:
        return None
    return [ShapeOf(axis)(owner)]


@register("canonicalize", "shape", ops="sum_to_shape")
def sum_to_shape_decided(node, graph):
    """sum_to_shape(g, like) -> g when g already has like's shape, or a plain sum when the axes are known
    (a float axis summed only when its length is static, or g cannot hold -0.0)."""
    g, like = node.inputs
    out = node.outputs[0]
    gd, ld = dims(g, graph), dims(like, graph)
    lead = g.ndim - like.ndim
    if lead < 0:
        return None
    axes = list(range(lead))
    for i, n in enumerate(ld):
        gn = gd[lead + i]
        if gn == n:
            continue
        if n == 1 and (isinstance(gn, int) or no_negative_zero(g)):
            axes.append(lead + i)
        else:
            # (a length known only at call time may be 1 there: sum_to_shape then leaves the axis
            # alone, while a sum over it would turn -0.0 into +0.0)
            return None
    if not axes:
        return [as_replacement(g, out, graph)]
    summed = Reduce("sum", tuple(axes), True)(g)
    if lead:
        summed = DimShuffle(tuple(range(lead, summed.ndim)))(summed)
    return [as_replacement(summed, out, graph)]


@register("canonicalize", "shape", ops="broadcast_to")
def broadcast_to_useless(node, graph):
    """broadcast_to(x, shape x already has) -> x; broadcast_to(broadcast_to(x, s1), s2) -> broadcast_to(x, s2)."""
    x, *shape = node.inputs
    out = node.outputs[0]
    if x.ndim == out.ndim and same_shape(x, out, graph):
        return [x]
    inner = x.owner
    if inner is not None and isinstance(inner.op, BroadcastTo):
        return [BroadcastTo()(inner.inputs[0], *shape)]
    return None


@register("canonicalize", "shape", ops="elemwise")
def elemwise_absorbs_broadcast(node, graph):
    """op(broadcast_to(a, s), b) -> op(a, b) when b alone already gives the result its shape."""
    if not isinstance(node.op, Elemwise):
        return None
    out = node.outputs[0]
    inputs = list(node.inputs)
    changed = False
    wanted = dims(out, graph)
    for i, var in enumerate(inputs):
        owner = var.owner
        if owner is None or not isinstance(owner.op, BroadcastTo):
            continue
        trial = inputs[:i] + [owner.inputs[0]] + inputs[i + 1:]
        if max(v.ndim for v in trial) != out.ndim:
            continue
        if broadcast_dims([dims(v, graph) for v in trial], out.ndim, graph_facts(graph)) == tuple(wanted):
            inputs = trial
            changed = True
    if not changed:
        return None
    result = node.op(*inputs)
    return [as_replacement(result, out, graph)]


@register("canonicalize", "shape", ops="elemwise")
def elemwise_lifts_broadcast(node, graph):
    """op(broadcast_to(a, s), c, ...) -> broadcast_to(op(a, c, ...), s) when every other operand is 0-d; the same
    for a 0-d ``a`` dimshuffled to ones (``a[None, None]``).

    The operation runs once per element of ``a`` (the same values: an elementwise op does not see where its
    operands came from), and the broadcast moves outwards, where a consumer that already has the shape
    absorbs it (``elemwise_absorbs_broadcast``, ``elemwise_scalar_constants``): the gradient of
    ``mean((p - y) ** 2)``, ``broadcast_to((g / n)[None, None, None], shape) * 2 * (p - y)``, becomes
    ``(g / n * 2) * (p - y)``, one pass with a scalar operand instead of a broadcast view to index.
    """
    if not isinstance(node.op, Elemwise) or len(node.outputs) != 1:
        return None
    found = [i for i, var in enumerate(node.inputs) if var.owner is not None and (
        isinstance(var.owner.op, BroadcastTo) or _as_scalar(var) is not None)]
    if len(found) != 1 or any(var.ndim for i, var in enumerate(node.inputs) if i != found[0]):
        return None
    owner = node.inputs[found[0]].owner
    x = owner.inputs[0]
    inner = node.op(*[x if i == found[0] else var for i, var in enumerate(node.inputs)])
    result = owner.op(inner, *owner.inputs[1:])
    out = node.outputs[0]
    return [result] if result.dtype == out.dtype and out.type.is_compatible(result.type) else None


def _as_scalar(var):
    """The 0-d form of ``var`` when it is one value made into an array of ones (a one-element constant, a
    dimshuffle that only adds broadcastable axes to a 0-d variable), else None."""
    if var.ndim == 0:
        return None
    if isinstance(var, Constant):
        return Constant(var.value.reshape(()), dtype=var.dtype) if var.value.size == 1 else None
    owner = var.owner
    if owner is not None and isinstance(owner.op, DimShuffle) and owner.inputs[0].ndim == 0:
        return owner.inputs[0]
    return None


@register("canonicalize", "shape", ops="elemwise")
def elemwise_scalar_constants(node, graph):
    """op(x, [[c]]) -> op(x, c): a one-element constant operand, or a 0-d variable dimshuffled to ones
    (``s[None, None]``), becomes 0-d when x gives the shape."""
    if not isinstance(node.op, Elemwise):
        return None
    out = node.outputs[0]
    inputs = list(node.inputs)
    changed = False
    for i, var in enumerate(inputs):
        scalar = _as_scalar(var)
        if scalar is None:
            continue
        trial = inputs[:i] + [scalar] + inputs[i + 1:]
        if max(v.ndim for v in trial) == out.ndim and broadcast_dims(
                [dims(v, graph) for v in trial], out.ndim, graph_facts(graph)) == tuple(dims(out, graph)):
            inputs = trial
            changed = True
    return [as_replacement(node.op(*inputs), out, graph)] if changed else None
