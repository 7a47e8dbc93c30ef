"""Small helpers shared by the rewrites: matching ops, reading constants, keeping types and shapes."""
from __future__ import annotations

import numpy as np

from ..graph import Constant
from ..ops.base import op_facts, op_name
from .shapes import dims, same_shape, shape_scalars


def operands(var, name):
    """The inputs of ``var``'s node when it applies op ``name`` (e.g. ``"exp"``), else None."""
    owner = var.owner if var is not None else None
    if owner is not None and op_name(owner.op) == name:
        return owner.inputs
    return None


def uniform_value(var):
    """The single value every element of ``var`` has when it is a constant (seen through broadcasts)."""
    while True:
        if isinstance(var, Constant):
            value = var.value
            if value.size == 0:
                return None
            first = value.flat[0]
            if value.size > 1 and not np.all(value == first):
                return None
            return first.item()
        owner = var.owner
        if owner is None or op_name(owner.op) not in ("dimshuffle", "broadcast_to", "identity"):
            return None
        var = owner.inputs[0]


def is_value(var, number) -> bool:
    value = uniform_value(var)
    return value is not None and not isinstance(value, complex) and value == number


def as_replacement(x, out, graph):
    """``x`` (equal in value to ``out`` up to broadcasting and dtype) with ``out``'s dtype and shape
    (``graph``: the FunctionGraph being rewritten, whose shape facts say when no broadcast is needed)."""
    from ..ops.elemwise import cast
    from ..ops.shape import BroadcastTo
    if x.ndim > out.ndim:
        return None
    if x.dtype != out.dtype:
        if np.dtype(x.dtype).kind == "c" and np.dtype(out.dtype).kind != "c":
            return None
        x = cast(x, out.dtype)
    if x.ndim == out.ndim and same_shape(x, out, graph):
        return x
    if out.ndim == 0:
        return None
    shape = shape_scalars(out, graph)
    if shape is None:
        return None
    y = BroadcastTo()(x, *shape)
    return y if out.type.is_compatible(y.type) else None


def filled(value, like, graph):
    """An array of ``like``'s shape and dtype holding ``value`` everywhere (a lazy broadcast; ``graph``
    as for ``as_replacement``)."""
    constant = Constant(value, dtype=like.dtype)
    if like.ndim == 0:
        return constant
    return as_replacement(constant, like, graph)


def is_nonnegative(var) -> bool:
    """Provably >= 0 for every input value (NaN aside)."""
    if var.owner is not None and op_facts(var.owner.op).nonnegative:
        return True
    name = op_name(var.owner.op) if var.owner is not None else None
    if name == "mul":
        a, b = var.owner.inputs
        return a is b or (is_nonnegative(a) and is_nonnegative(b))
    if isinstance(var, Constant) and var.value.size:
        return bool(np.all(var.value >= 0))
    return False


def is_nonzero(var) -> bool:
    """Provably never 0 in exact arithmetic (exp, sigmoid and softmax outputs, nonzero constants).

    Floating point may still underflow these to 0; rewrites that cancel them (``a / s * s -> a``)
    then give the exact value where the unrewritten graph gave NaN.
    """
    if var.owner is not None and op_facts(var.owner.op).positive:
        return True
    value = uniform_value(var)
    return value is not None and value != 0


def negated(var):
    """``-var`` without a new negation where one can be taken off: ``-(-x) -> x``, ``-(a - b) -> b - a``,
    ``-(-a - b) -> a + b``, a constant's negative (all exact in IEEE arithmetic)."""
    from ..ops import elemwise as ew
    inner = operands(var, "neg")
    if inner is not None:
        return inner[0]
    difference = operands(var, "sub")
    if difference is not None:
        a, b = difference
        minuend = operands(a, "neg")
        if minuend is not None and minuend[0].dtype == var.dtype:
            return ew.add(minuend[0], b)
        return ew.sub(b, a)
    if isinstance(var, Constant) and var.type.kind in "fc":
        return Constant(-var.value, dtype=var.dtype)
    return ew.neg(var)


def is_negation_of(a, b) -> bool:
    """``a`` is provably ``-b`` (structurally: ``neg`` either way, or opposite constants)."""
    inner_a, inner_b = operands(a, "neg"), operands(b, "neg")
    if (inner_a is not None and inner_a[0] is b) or (inner_b is not None and inner_b[0] is a):
        return True
    first, second = uniform_value(a), uniform_value(b)
    return (isinstance(a, Constant) and isinstance(b, Constant) and first is not None
            and second is not None and first == -second and a.type == b.type)


def exp_argument(var):
    """``x`` when ``var`` is ``exp(x)``, else None."""
    inner = operands(var, "exp")
    return inner[0] if inner is not None else None


#: ops that only select, repeat or rearrange the elements of their first input, so every elementwise
#: function commutes with them: f(view(x)) == view(f(x)) exactly
VIEW_OPS = frozenset({"subtensor", "advanced_subtensor", "dimshuffle", "reshape", "broadcast_to", "identity"})


def peel_views(var):
    """``(base, views)``: ``var`` is ``views`` (nodes, outermost first) applied to ``base``."""
    views = []
    while var.owner is not None and op_name(var.owner.op) in VIEW_OPS:
        views.append(var.owner)
        var = var.owner.inputs[0]
    return var, views


def apply_views(base, views):
    """The ``views`` found by ``peel_views`` applied, in their order, to a new ``base``."""
    for node in reversed(views):
        base = node.op(base, *node.inputs[1:])
    return base


__all__ = ["operands", "uniform_value", "is_value", "as_replacement", "filled", "is_nonnegative",
           "is_nonzero", "dims", "same_shape", "shape_scalars", "negated", "is_negation_of",
           "exp_argument", "VIEW_OPS", "peel_views", "apply_views"]
