"""When a rewrite keeps NumPy's bits: signed zeros, negation across dtypes, exact casts.

The default optimizer must give NumPy's result for every input (rewrites that do not are
tagged ``fast_math`` or ``assumes_finite``, see canonical.py). These predicates state the
conditions under which the identities of canonical.py hold bit for bit: ``x + 0.0`` is ``x``
except at ``x = -0.0``, ``-y`` in int8 is not ``-y`` in int64, int64 does not survive float64.
"""
from __future__ import annotations

import numpy as np

from ..graph import Constant
from ..ops.base import op_name


def _constant_leaf(var):
    """The constant ``var`` is a broadcast or view of, or None."""
    while not isinstance(var, Constant):
        if var.owner is None or op_name(var.owner.op) not in ("dimshuffle", "broadcast_to", "identity"):
            return None
        var = var.owner.inputs[0]
    return var


def zero_sign(var):
    """For a constant zero ``var``: -1 when every element is -0.0, +1 for +0.0 or an integer 0; else None."""
    leaf = _constant_leaf(var)
    if leaf is None or leaf.value.size == 0 or np.dtype(leaf.dtype).kind not in "biuf":
        return None
    value = leaf.value
    if np.any(value != 0):
        return None
    negative = np.signbit(value) if value.dtype.kind == "f" else np.zeros(value.shape, bool)
    if negative.all():
        return -1
    return 1 if not negative.any() else None


def no_negative_zero(var) -> bool:
    """No element of ``var`` can be -0.0: integers and booleans, or a constant without one."""
    kind = np.dtype(var.dtype).kind
    if kind in "biu":
        return True
    owner = var.owner
    if owner is not None and op_name(owner.op) in ("exp", "abs", "sigmoid", "softplus"):
        return True  # exp(-inf), abs(-0.0), sigmoid(-inf), softplus(-inf) are all +0.0
    if owner is not None and op_name(owner.op) == "cast" and np.dtype(owner.inputs[0].dtype).kind in "biu":
        return True
    leaf = _constant_leaf(var)
    if leaf is not None and kind == "f":
        return not np.any((leaf.value == 0) & np.signbit(leaf.value))
    return False


def exact_negation(negated, out, complex_ok=True) -> bool:
    """-y (in y's dtype, then promoted) equals -(y promoted to ``out``'s dtype): true for floats,
    and for integers only within one dtype (int8 -(-128) wraps to -128; int64 128 does not)."""
    kind = np.dtype(negated.dtype).kind
    return kind == "f" or (complex_ok and kind == "c") or negated.dtype == out.dtype


def represents_exactly(source, target) -> bool:
    """Every value of dtype ``source`` is a value of dtype ``target`` (int64 -> float64 is not:
    2**53 + 1 rounds; int32 -> float64 and uint8 -> float16 are)."""
    source, target = np.dtype(source), np.dtype(target)
    if source.kind == "b":
        return True
    if target.kind == "b":
        return False
    if source.kind in "iu" and target.kind in "fc":
        component = np.dtype(target.char.lower()) if target.kind == "c" else target
        component = np.finfo(component)
        return component.nmant + 1 >= np.iinfo(source).bits - (source.kind == "i")
    if source.kind == "c" and target.kind != "c":
        return False
    return np.can_cast(source, target, casting="safe")
