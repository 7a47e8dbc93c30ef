"""Lowering of shape ops: shapes are host values; dimshuffle, broadcast_to and reshape are views.

A view shares the device buffer (new shape and strides, stride 0 on broadcast axes),
so a transpose or an inserted axis costs no kernel and no copy; kernels read views
through their strides. Only reshaping a non-contiguous view makes a copy first.
"""
from __future__ import annotations

import math

import numpy as np

from symgraph.ops.shape import BroadcastTo, DimShuffle, Reshape, Shape, ShapeOf, SpecifyShape, check_size
from symgraph.ops.grad_ops import StopGradient

from .runtime import as_contiguous, host_int, reshape_view, view_with
from .table import device, label, register


@register(Shape)
def lower_shape(node, host):
    return lambda args, call: [np.array(args[0].shape, dtype=np.int64)]


@register(ShapeOf)
def lower_shape_of(node, host):
    axis = node.op.axis
    return lambda args, call: [np.array(args[0].shape[axis], dtype=np.int64)]


@register(SpecifyShape)
def lower_specify_shape(node, host):
    def step(args, call):
        x = args[0]
        for axis, want in enumerate(node.op.shape):
            if want is not None and x.shape[axis] != want:
                raise ValueError(f"{node.op.message(axis, x.shape[axis], node.inputs[0])}{node.where()}")
        return [x]
    return step


@register(StopGradient)
def lower_stop_gradient(node, host):
    return lambda args, call: [args[0]]


@register(DimShuffle)
def lower_dimshuffle(node, host):
    order = node.op.new_order
    used = {a for a in order if a != "x"}

    def step(args, call):
        x = device(args[0])
        for axis in range(x.ndim):
            if axis not in used and x.shape[axis] != 1:
                raise ValueError(f"{label(node)}: cannot drop axis {axis} of length {x.shape[axis]}")
        shape = [1 if a == "x" else x.shape[a] for a in order]
        strides = [0 if a == "x" else x.strides[a] for a in order]
        return [view_with(x, shape, strides)]
    return step


def broadcast_view(x, shape, what):
    """``x`` seen with ``shape`` (NumPy broadcasting): stride 0 on every broadcast axis."""
    lead = len(shape) - x.ndim
    if lead < 0:
        raise ValueError(f"{what}: cannot broadcast shape {tuple(x.shape)} to {tuple(shape)}")
    strides = []
    for axis, n in enumerate(shape):
        if axis < lead:
            strides.append(0)
            continue
        xn = x.shape[axis - lead]
        if xn == n:
            strides.append(x.strides[axis - lead])
        elif xn == 1:
            strides.append(0)
        else:
            raise ValueError(f"{what}: cannot broadcast shape {tuple(x.shape)} to {tuple(shape)}")
    return view_with(x, shape, strides)


@register(BroadcastTo)
def lower_broadcast_to(node, host):
    def step(args, call):
        x = device(args[0])
        shape = [host_int(d, f"{label(node)} (shape)") for d in args[1:]]
        if any(n < 0 for n in shape):
            raise ValueError(f"{label(node)}: negative length in shape {tuple(shape)}")
        check_size(shape, x.dtype, label(node))     # a view too large to exist would loop (nearly) forever
        return [broadcast_view(x, shape, label(node))]
    return step


def resolve_shape(size, dims, what, dtype):
    """``dims`` with one -1 filled in, checked against ``size`` (NumPy's reshape rules, the size of an array
    of ``dtype`` included)."""
    unknown = [i for i, n in enumerate(dims) if n == -1]
    known = math.prod([n for n in dims if n != -1])
    if len(unknown) > 1 or any(n < -1 for n in dims):
        raise ValueError(f"{what}: invalid shape {tuple(dims)}")
    check_size([n for n in dims if n != -1], dtype, what)
    if unknown:
        if known == 0 or size % known:
            raise ValueError(f"{what}: cannot reshape an array of size {size} into shape {tuple(dims)}")
        dims = list(dims)
        dims[unknown[0]] = size // known
    elif known != size:
        raise ValueError(f"{what}: cannot reshape an array of size {size} into shape {tuple(dims)}")
    return tuple(dims)


@register(Reshape)
def lower_reshape(node, host):
    def step(args, call):
        x = device(args[0])
        dims = [host_int(d, f"{label(node)} (shape)") for d in args[1:]]
        shape = resolve_shape(math.prod(x.shape), dims, label(node), x.dtype)
        return [reshape_view(as_contiguous(call, x), shape)]
    return step
