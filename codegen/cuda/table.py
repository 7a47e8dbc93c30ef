"""The CUDA lowering table: op class name -> function turning one node into a step.

A lowering ``lower(node) -> step`` runs once when a function is compiled; the step
``step(args, call) -> list of outputs`` runs on every call, with ``args`` the node's input
values: device arrays, or NumPy arrays for host values (0-d constants and inputs,
shapes and arithmetic on them), and ``call`` the call's state (``runtime.Call``: it
allocates the call's arrays and builds kernels). Adding an op to the CUDA backend is one
``@register(OpClass)`` function in the module of its family (the table is keyed by the class object).
"""
from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

from symgraph.ops.elemwise import Elemwise
from symgraph.ops.fused import Fused
from symgraph.ops.from_graph import OpFromGraph
from symgraph.ops.grad_ops import StopGradient
from symgraph.ops.index import Subtensor
from symgraph.ops.join import Join
from symgraph.ops.reduce import Reduce, SumToShape
from symgraph.ops.shape import DimShuffle, Reshape, Shape, ShapeOf, SpecifyShape

from ..registry import Lowerings
from .runtime import to_device

LOWERINGS = Lowerings("cuda")
register = LOWERINGS.register
LOWERINGS.unsupported(OpFromGraph, "never lowered: sg.function puts its inner graph in place of the node "
                                   "before any backend sees it (ops/from_graph.py, inline_all)")

#: ops evaluated on the host (with ``perform``) when every input is a host value: they never make an
#: array larger than their inputs, and host values are scalars and shape vectors.
HOST_FOLDABLE = (Elemwise, Fused, Subtensor, Reshape, DimShuffle, Reduce, StopGradient, SumToShape, Join, Shape,
                 ShapeOf, SpecifyShape)
#: ops whose output is always a host value (they only read the metadata of their input)
HOST_ALWAYS = (Shape, ShapeOf)


def plan_node(node, host):
    """The step computing ``node`` (None when the op has no lowering). ``host`` holds the ids of the
    variables whose values are host values; the outputs of a node folded on the host join it."""
    op_class = type(node.op)
    if op_class in HOST_FOLDABLE and all(id(v) in host for v in node.inputs):
        host.update(id(v) for v in node.outputs)
        return host_step(node)
    lower = lowering_for(node.op)
    if lower is None:
        if type(node.op).__module__.startswith("symgraph."):
            return None
        # a user's own Op subclass: its ``perform`` on the host, inputs copied back (warned once per class)
        _warn_host_op(type(node.op))
        return host_step(node)
    if op_class in HOST_ALWAYS:
        host.update(id(v) for v in node.outputs)
    return lower(node, host)


_WARNED = set()


def _warn_host_op(cls):
    if cls not in _WARNED:
        _WARNED.add(cls)
        import warnings
        warnings.warn(f"op {cls.__name__} has no cuda lowering: its nodes run their perform on the host (inputs "
                      "copied from the device and results back)", RuntimeWarning, stacklevel=7)


def host_step(node):
    """A step running the node's ``perform`` on the host (device inputs copied back)."""
    from symgraph.codegen.python import run_node
    from .runtime import to_host

    def step(args, call):
        return run_node(node, [to_host(a) for a in args])
    return step


def lowering_for(op):
    """The lowering of an op (or op class), found along its class hierarchy; None when there is none."""
    return LOWERINGS.find(op)


_small_uploads: OrderedDict = OrderedDict()
_small_uploads_lock = threading.Lock()


def device(value):
    """``value`` on the device (host values are uploaded; device arrays pass through).

    Small host values (a broadcast scalar, a shape) recur on every call of a training step, so their
    uploads are cached by content: kernels never write their inputs, so sharing them is safe.
    """
    if not isinstance(value, np.ndarray):
        return value
    if value.size > 16:
        return to_device(value)
    key = (value.dtype.str, value.shape, value.tobytes())
    with _small_uploads_lock:
        array = _small_uploads.get(key)
        if array is None:
            array = _small_uploads[key] = to_device(value)
            if len(_small_uploads) > 256:
                _small_uploads.popitem(last=False)
        else:
            _small_uploads.move_to_end(key)
    return array


def label(node) -> str:
    """How errors name a node: the op and the user's line."""
    return f"{node.op}{node.where()}"
