"""Constant folding: a node whose inputs are all constants is computed once, while optimizing.

Ops that only make a larger view of a value (``broadcast_to`` / ``alloc``) stay lazy
unless the result is no bigger than its input, so a ``zeros((10000, 10000))`` never
becomes a 800 MB constant; any other result above ``MAX_FOLDED_BYTES`` is left alone.
"""
from __future__ import annotations

import numpy as np

from ..graph import Constant
from .engine import register

MAX_FOLDED_BYTES = 1 << 20
_LAZY = {"BroadcastTo"}


@register("constant_fold", "fast_compile")
def constant_fold(node):
    """op(constants...) -> the constant result."""
    if not all(isinstance(v, Constant) for v in node.inputs):
        return None
    if getattr(node.op, "stateful", False) or getattr(node.op, "no_constant_folding", False):
        return None
    largest_input = max((v.value.size for v in node.inputs), default=1)
    if type(node.op).__name__ in _LAZY:
        size = 1
        for d in node.inputs[1:]:
            size *= int(d.value)
        if size > max(largest_input, 1):
            return None
    try:
        results = node.op.perform(node, [v.value for v in node.inputs])
    except Exception:
        return None  # an error the user's call will raise with its proper message
    replacements = []
    for var, value in zip(node.outputs, results):
        value = np.asarray(value)
        if value.nbytes > MAX_FOLDED_BYTES or value.dtype.name != var.dtype or value.ndim != var.ndim:
            return None
        replacements.append(Constant(np.array(value), dtype=var.dtype))
    return replacements
