"""Calls from a generated kernel back into Python, for the nodes the numba backend cannot lower (a user's
own ``Op`` subclass without a lowering): the kernel runs everything else compiled and, at that node,
leaves nopython mode for one ``nb.objmode`` block that calls the node's ``perform``.

The kernel names the node by a key (``cbk.call(3, a, b)``): ``register`` keeps the node under a new key
for the life of the process, so the generated source holds only a number we made (never the user's
op). A kernel with a call back is not written to Numba's disk cache (object-mode blocks cannot be).
"""
from __future__ import annotations

import itertools
import threading

import numpy as np

_CALLBACKS: dict = {}          # key -> the node it runs
_keys = itertools.count()
_lock = threading.Lock()
_warned: set = set()


def register(node) -> int:
    """A new key for ``node`` (kept alive with it for the process)."""
    with _lock:
        key = next(_keys)
        _CALLBACKS[key] = node
    return key


def call(key, *args):
    """Run the node registered under ``key`` on ``args``: a tuple of its outputs, C-contiguous, in their
    dtypes (0-d ones as scalars)."""
    from symgraph.codegen.python import run_node
    node = _CALLBACKS[key]
    arrays = [np.asarray(a, dtype=v.dtype) for a, v in zip(args, node.inputs)]
    results = []
    for value, var in zip(run_node(node, arrays), node.outputs):
        value = np.asarray(value, dtype=var.dtype)
        results.append(value[()] if var.ndim == 0 else np.ascontiguousarray(value))
    return tuple(results)


def objmode_type(var) -> str:
    """The type of ``var`` as ``nb.objmode`` reads it: ``"float64[:, ::1]"``, ``"int64"``."""
    name = "boolean" if var.dtype == "bool" else var.dtype
    if var.ndim == 0:
        return name
    return f"{name}[{', '.join([':'] * (var.ndim - 1) + ['::1'])}]"


def warn_once(op_class):
    """One warning per op class and process: its nodes run in Python, between compiled code."""
    with _lock:
        if op_class in _warned:
            return
        _warned.add(op_class)
    import warnings
    warnings.warn(f"op {op_class.__name__} has no numba lowering: the kernel calls its perform back in Python "
                  "(register a lowering to compile it)", RuntimeWarning, stacklevel=2)
