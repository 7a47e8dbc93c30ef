"""Neural-network building blocks: softmax, log_softmax, logsumexp (each one op, computed stably by
subtracting the maximum so inputs of 1000 stay finite) and one_hot.

They are single ops rather than compositions so that every backend computes them stably by
construction; their gradients are written with elementwise ops and reductions, which have
gradients of their own (second derivatives work).
"""
from __future__ import annotations

import numpy as np

from ..graph import Constant, Node
from ..types import TensorType
from .base import Op, as_variable
from .reduce import normalize_axis


def _shifted_max(x, axis):
    """max over ``axis`` (kept), with non-finite maxima replaced by 0 so rows of -inf/inf do not make NaN."""
    m = np.max(x, axis=axis, keepdims=True)
    return np.where(np.isfinite(m), m, np.zeros((), dtype=m.dtype))


def _float_input(x, op_name):
    from .elemwise import cast
    x = as_variable(x)
    if x.type.kind not in "iufb":
        raise TypeError(f"{op_name}: expected a real-valued input, got {x.describe()}")
    return x if x.type.is_float else cast(x, "float64")


def _single_axis(axis, x, op_name):
    if not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{op_name}: axis must be an int, got {axis!r}")
    if x.ndim == 0 or not -x.ndim <= axis < x.ndim:
        raise ValueError(f"{op_name}: axis {axis} is out of range for {x.describe()}")
    return int(axis) % x.ndim


class _AlongAxis(Op):
    abstract = True
    __props__ = ("axis",)

    def __init__(self, axis):
        self.axis = int(axis)

    def make_node(self, x):
        x = as_variable(x)
        if not x.type.is_float:
            raise TypeError(f"{self.name}: expected a float input, got {x.describe()}")
        if not 0 <= self.axis < x.ndim:
            raise ValueError(f"{self.name}: axis {self.axis} is out of range for {x.describe()}")
        return Node(self, [x], [x.type])


class Softmax(_AlongAxis):
    """exp(x) / sum(exp(x)) along ``axis``."""
    name = "softmax"
    nonnegative = positive = True

    def perform(self, node, inputs):
        (x,) = inputs
        if x.size == 0:
            return [np.empty_like(x)]
        with np.errstate(invalid="ignore", over="ignore"):
            e = np.exp(x - _shifted_max(x, self.axis))
            return [np.asarray(e / e.sum(axis=self.axis, keepdims=True), dtype=x.dtype)]

    def grad(self, inputs, outputs, output_grads):
        from .elemwise import mul, sub
        from .reduce import sum as sum_
        (s,), (g,) = outputs, output_grads
        return [mul(s, sub(g, sum_(mul(g, s), self.axis, keepdims=True)))]


class LogSoftmax(_AlongAxis):
    """x - logsumexp(x) along ``axis``."""
    name = "log_softmax"

    def perform(self, node, inputs):
        (x,) = inputs
        if x.size == 0:
            return [np.empty_like(x)]
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            shifted = x - _shifted_max(x, self.axis)
            out = shifted - np.log(np.exp(shifted).sum(axis=self.axis, keepdims=True))
        return [np.asarray(out, dtype=x.dtype)]

    def grad(self, inputs, outputs, output_grads):
        from .elemwise import exp, mul, sub
        from .reduce import sum as sum_
        (out,), (g,) = outputs, output_grads
        return [sub(g, mul(exp(out), sum_(g, self.axis, keepdims=True)))]


class LogSumExp(Op):
    """log(sum(exp(x), axis)) + the maximum trick; an empty reduction gives -inf."""
    __props__ = ("axis", "keepdims")
    name = "logsumexp"

    def __init__(self, axis, keepdims=False):
        self.axis, self.keepdims = tuple(int(a) for a in axis), bool(keepdims)

    def make_node(self, x):
        x = as_variable(x)
        if not x.type.is_float:
            raise TypeError(f"logsumexp: expected a float input, got {x.describe()}")
        if any(not 0 <= a < x.ndim for a in self.axis):
            raise ValueError(f"logsumexp: axis {self.axis} is out of range for {x.describe()}")
        if self.keepdims:
            shape = tuple(1 if i in self.axis else n for i, n in enumerate(x.type.shape))
        else:
            shape = tuple(n for i, n in enumerate(x.type.shape) if i not in self.axis)
        return Node(self, [x], [TensorType(x.dtype, shape)])

    def perform(self, node, inputs):
        (x,) = inputs
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            if x.size == 0:
                out = np.log(np.sum(np.exp(x), axis=self.axis, keepdims=self.keepdims))
            else:
                m = _shifted_max(x, self.axis)
                out = np.log(np.sum(np.exp(x - m), axis=self.axis, keepdims=True)) + m
                if not self.keepdims:
                    out = out.reshape([n for i, n in enumerate(out.shape) if i not in self.axis])
        return [np.asarray(out, dtype=x.dtype)]

    def grad(self, inputs, outputs, output_grads):
        from .elemwise import exp, mul, sub
        from .shape import expand_dims
        (x,), (lse,), (g,) = inputs, outputs, output_grads
        if not self.keepdims and self.axis:
            g, lse = expand_dims(g, self.axis), expand_dims(lse, self.axis)
        return [mul(g, exp(sub(x, lse)))]


def softmax(x, axis=-1):
    x = _float_input(x, "softmax")
    if axis is None:        # over every element (as scipy.special.softmax)
        return _over_all(Softmax, x)
    return Softmax(_single_axis(axis, x, "softmax"))(x)


def log_softmax(x, axis=-1):
    x = _float_input(x, "log_softmax")
    if axis is None:
        return _over_all(LogSoftmax, x)
    return LogSoftmax(_single_axis(axis, x, "log_softmax"))(x)


def _over_all(op_class, x):
    """``op_class`` along the single axis of the flattened ``x``, in ``x``'s shape again."""
    from .shape import reshape, shape_tuple
    if x.ndim == 1:
        return op_class(0)(x)
    return reshape(op_class(0)(reshape(x, (-1,))), shape_tuple(x))


def logsumexp(x, axis=None, keepdims=False):
    x = _float_input(x, "logsumexp")
    return LogSumExp(normalize_axis(axis, x.ndim, "logsumexp"), keepdims)(x)


class OneHot(Op):
    """``indices`` (ints in [0, n)) as one-hot vectors along a new last axis of length ``n``.

    ``identity_seed=True`` marks the identity matrix ``sg.jacobian`` batches its rows over (never a user's
    ``one_hot``): a product of it with a matrix is that matrix (rewrite ``dot_jacobian_seed``), the row
    ``e_i @ M`` taken as row ``i`` of ``M`` rather than computed as a sum of products with zeros.
    """
    __props__ = ("dtype", "identity_seed")
    name = "one_hot"

    def __init__(self, dtype="float64", identity_seed=False):
        self.dtype = np.dtype(dtype).name
        self.identity_seed = bool(identity_seed)

    def __str__(self):
        return f"one_hot{{dtype={self.dtype!r}{', identity_seed' if self.identity_seed else ''}}}"

    __repr__ = __str__

    def make_node(self, indices, n):
        indices, n = as_variable(indices), as_variable(n, like="int64")
        if indices.type.kind not in "iu":
            raise TypeError(f"one_hot: indices must be integers, got {indices.describe()}")
        if n.ndim != 0 or n.type.kind not in "iu":
            raise TypeError(f"one_hot: n must be an integer scalar, got {n.describe()}")
        length = None
        if isinstance(n, Constant):
            length = int(n.value)
            if length < 0:
                raise ValueError(f"one_hot: n must be non-negative, got {length}")
            if isinstance(indices, Constant) and indices.value.size and (
                    indices.value.min() < 0 or indices.value.max() >= length):
                raise ValueError(f"one_hot: indices {indices.value} out of range [0, {length})")
        return Node(self, [indices, n], [TensorType(self.dtype, indices.type.shape + (length,))])

    def perform(self, node, inputs):
        indices, n = inputs
        n = int(n)
        if indices.size and (indices.min() < 0 or indices.max() >= n):
            from .index import IndexOutOfRange
            bad = indices.min() if indices.min() < 0 else indices.max()
            raise IndexOutOfRange(f"one_hot: index {bad} is out of range [0, {n}){node.where()}")
        return [(indices[..., None] == np.arange(n)).astype(self.dtype)]

    def grad(self, inputs, outputs, output_grads):
        return [None, None]

    def connection_pattern(self, node):
        return [False, False]


def one_hot(indices, n, dtype="float64"):
    return OneHot(dtype)(indices, n)
