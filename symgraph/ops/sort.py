"""Ops along the last axis: ``argmax``/``argmin``, the cumulative ``cumsum``/``cumprod``, and the stable
``argsort``; with the functions users call (any axis, ``axis=None``, ``keepdims``), ``sort`` and
``take_along_axis``.

Each op works on the last axis only: the public functions move the axis there first (a view), so every
backend writes one loop per row. ``sort`` is ``argsort`` followed by a gather, so its derivative is the
gather's (a scatter through the permutation) and its values are bit for bit those of a stable sort.
"""
from __future__ import annotations

import numpy as np

from ..graph import Node
from ..types import TensorType
from .base import Op, as_variable, pointing_at_user_line


def _last_axis(x, axis, what):
    """``(x with axis moved last, the axis)``; ``axis=None`` flattens first (NumPy's convention)."""
    from .arrays import _axis, flatten, moveaxis
    x = as_variable(x)
    if axis is None:
        return flatten(x), None
    if x.ndim == 0:
        raise ValueError(f"{what}: axis {axis} is out of bounds for a 0-d array")
    axis = _axis(axis, x.ndim, what)
    return moveaxis(x, axis, -1), axis


def _from_last_axis(y, axis, ndim):
    from .arrays import moveaxis
    return y if axis is None or axis == ndim - 1 else moveaxis(y, -1, axis)


class ArgReduce(Op):
    """The index of the first maximum (``argmax``) or minimum (``argmin``) along the last axis, as NumPy:
    a NaN counts as the extreme (its first index wins); an empty axis is an error. Not differentiable."""

    __props__ = ("kind",)

    def __init__(self, kind):
        if kind not in ("argmax", "argmin"):
            raise ValueError(f"ArgReduce: kind must be 'argmax' or 'argmin', got {kind!r}")
        self.kind = kind

    @property
    def name(self):
        return self.kind

    def make_node(self, x):
        x = as_variable(x)
        if x.ndim == 0 or np.dtype(x.dtype).kind == "c":
            raise TypeError(f"{self.kind}: expected a real array with at least one axis, got {x.describe()}")
        return Node(self, [x], [TensorType("int64", x.type.shape[:-1])])

    def perform(self, node, inputs):
        x = inputs[0]
        if x.shape[-1] == 0:
            raise ValueError(f"{self.kind}: attempt to get {self.kind} of an empty sequence{node.where()}")
        return [np.asarray(getattr(np, self.kind)(x, axis=-1), dtype="int64")]

    def grad(self, inputs, outputs, output_grads):
        return [None]

    def connection_pattern(self, node):
        return [False]


class Cumulative(Op):
    """The running sum (``cumsum``) or product (``cumprod``) along the last axis, as NumPy: sequential, in
    the result dtype (float32 stays float32; integers and booleans give int64, wrapping as NumPy's do).
    The derivative of ``cumprod`` is exact with zeros in the input (the first zero of a row gets the
    product of the others, later positions 0), to any order."""

    __props__ = ("kind",)

    def __init__(self, kind):
        if kind not in ("cumsum", "cumprod"):
            raise ValueError(f"Cumulative: kind must be 'cumsum' or 'cumprod', got {kind!r}")
        self.kind = kind

    @property
    def name(self):
        return self.kind

    def output_dtype(self, dtype):
        return getattr(np, self.kind)(np.ones(1, dtype=dtype)).dtype.name

    def make_node(self, x):
        x = as_variable(x)
        if x.ndim == 0:
            raise TypeError(f"{self.kind}: expected an array with at least one axis, got {x.describe()}")
        return Node(self, [x], [TensorType(self.output_dtype(x.dtype), x.type.shape)])

    def perform(self, node, inputs):
        with np.errstate(all="ignore"):
            return [np.asarray(getattr(np, self.kind)(inputs[0], axis=-1), dtype=node.outputs[0].dtype)]

    def grad(self, inputs, outputs, output_grads):
        from . import elemwise as ew
        x, (y,), (g,) = inputs[0], outputs, output_grads
        if not x.type.is_float:
            return [None]
        if self.kind == "cumsum":
            return [_reverse_cumsum(g)]
        # d y_j / d x_i = prod_{k <= j, k != i} x_k for j >= i. Before a row's first zero: the sum over j of
        # g_j y_j / x_i; at the first zero: the same sum with that zero read as 1 (y'); after it: 0.
        zero = ew.eq(x, 0)
        zeros_so_far = Cumulative("cumsum")(ew.cast(zero, "int64"))
        first_zero = ew.logical_and(zero, ew.eq(zeros_so_far, 1))
        before = ew.eq(zeros_so_far, 0)
        safe_x = ew.where(before, x, 1)
        y_one = Cumulative("cumprod")(ew.where(first_zero, 1, x))
        before_part = ew.true_div(_reverse_cumsum(ew.mul(g, y)), safe_x)
        at_zero = _reverse_cumsum(ew.mul(g, y_one))
        return [ew.where(before, before_part, ew.where(first_zero, at_zero, 0))]


def _reverse_cumsum(g):
    """``g[..., ::-1].cumsum(-1)[..., ::-1]``: the sum of each element and those after it."""
    flipped = g[..., ::-1]
    return Cumulative("cumsum")(flipped)[..., ::-1]


class ArgSort(Op):
    """The indices that sort the last axis, stably (equal values keep their order, -0.0 and 0.0 included),
    with NaN last: ``np.argsort(x, axis=-1, kind="stable")``. Not differentiable."""

    __props__ = ()
    name = "argsort"

    def make_node(self, x):
        x = as_variable(x)
        if x.ndim == 0 or np.dtype(x.dtype).kind == "c":
            raise TypeError(f"argsort: expected a real array with at least one axis, got {x.describe()}")
        return Node(self, [x], [TensorType("int64", x.type.shape)])

    def perform(self, node, inputs):
        return [np.argsort(inputs[0], axis=-1, kind="stable").astype("int64")]

    def grad(self, inputs, outputs, output_grads):
        return [None]

    def connection_pattern(self, node):
        return [False]


# ---------------------------------------------------------------- the functions

def argmax(x, axis=None, keepdims=False):
    """The index of the first maximum along ``axis`` (of the flattened array when None), as ``np.argmax``.

    Parameters
    ----------
    x : Variable or array_like
        The values (a NaN counts as the maximum: the index of the first NaN).
    axis : int, optional
        The axis searched; None (default) searches the flattened array.
    keepdims : bool, default False
        Keep the searched axis with length 1.

    Returns
    -------
    Variable
        int64 indices; an empty axis is a ValueError at call time. Not differentiable.

    Examples
    --------
    >>> X = sg.matrix("X")
    >>> sg.function([X], sg.argmax(X, axis=1), backend="python")([[1.0, 3.0, 3.0], [2.0, 0.0, 1.0]])
    array([1, 0])
    """
    return _arg_reduce("argmax", x, axis, keepdims)


def argmin(x, axis=None, keepdims=False):
    """The index of the first minimum along ``axis`` (of the flattened array when None), as ``np.argmin``.

    Parameters
    ----------
    x : Variable or array_like
        The values (a NaN counts as the minimum: the index of the first NaN).
    axis : int, optional
        The axis searched; None (default) searches the flattened array.
    keepdims : bool, default False
        Keep the searched axis with length 1.

    Returns
    -------
    Variable
        int64 indices; an empty axis is a ValueError at call time. Not differentiable.

    Examples
    --------
    >>> x = sg.vector("x")
    >>> sg.function([x], sg.argmin(x), backend="python")([2.0, -1.0, -1.0])
    array(1)
    """
    return _arg_reduce("argmin", x, axis, keepdims)


def _arg_reduce(kind, x, axis, keepdims):
    from .shape import expand_dims, reshape
    x = as_variable(x)
    with pointing_at_user_line():
        moved, axis_ = _last_axis(x, axis, kind)
        result = ArgReduce(kind)(moved)
    if keepdims:
        return reshape(result, (1,) * x.ndim) if axis_ is None else expand_dims(result, axis_)
    return result


def cumsum(x, axis=None):
    """The running sums along ``axis`` (of the flattened array when None), as ``np.cumsum``.

    Parameters
    ----------
    x : Variable or array_like
        The values.
    axis : int, optional
        The axis summed along; None (default) flattens first.

    Returns
    -------
    Variable
        The sums, sequential in the result dtype (float32 stays float32; integers and booleans give
        int64). The derivative is the reversed running sum of the output gradient.

    Examples
    --------
    >>> x = sg.vector("x")
    >>> sg.function([x], sg.cumsum(x), backend="python")([1.0, 2.0, 3.0])
    array([1., 3., 6.])
    """
    return _cumulative("cumsum", x, axis)


def cumprod(x, axis=None):
    """The running products along ``axis`` (of the flattened array when None), as ``np.cumprod``.

    Parameters
    ----------
    x : Variable or array_like
        The values.
    axis : int, optional
        The axis multiplied along; None (default) flattens first.

    Returns
    -------
    Variable
        The products, sequential in the result dtype. The derivative is exact where the input holds
        zeros (no division by them), to any order.

    Examples
    --------
    >>> x = sg.vector("x")
    >>> sg.function([x], sg.cumprod(x), backend="python")([1.0, 2.0, 3.0])
    array([1., 2., 6.])
    """
    return _cumulative("cumprod", x, axis)


def _cumulative(kind, x, axis):
    x = as_variable(x)
    with pointing_at_user_line():
        moved, axis_ = _last_axis(x, axis, kind)
        return _from_last_axis(Cumulative(kind)(moved), axis_, x.ndim)


def argsort(x, axis=-1):
    """The indices that sort ``x`` along ``axis`` (of the flattened array when None), stably, as
    ``np.argsort(x, axis, kind="stable")``.

    Parameters
    ----------
    x : Variable or array_like
        The values (NaN sorts last).
    axis : int or None, default -1
        The axis sorted.

    Returns
    -------
    Variable
        int64 indices. Not differentiable.

    Examples
    --------
    >>> x = sg.vector("x")
    >>> sg.function([x], sg.argsort(x), backend="python")([3.0, 1.0, 2.0, 1.0])
    array([1, 3, 2, 0])
    """
    x = as_variable(x)
    with pointing_at_user_line():
        moved, axis_ = _last_axis(x, axis, "argsort")
        return _from_last_axis(ArgSort()(moved), axis_, x.ndim)


def sort(x, axis=-1):
    """``x`` sorted along ``axis`` (of the flattened array when None), as ``np.sort(x, axis, kind="stable")``.

    Parameters
    ----------
    x : Variable or array_like
        The values (NaN sorts last; -0.0 and 0.0 keep their order).
    axis : int or None, default -1
        The axis sorted.

    Returns
    -------
    Variable
        The sorted values; the derivative sends each gradient back to the element it came from.

    Examples
    --------
    >>> x = sg.vector("x")
    >>> sg.function([x], sg.sort(x), backend="python")([3.0, 1.0, 2.0])
    array([1., 2., 3.])
    """
    x = as_variable(x)
    with pointing_at_user_line():
        moved, axis_ = _last_axis(x, axis, "sort")
        return _from_last_axis(take_along_axis(moved, ArgSort()(moved), -1), axis_, x.ndim)


def take_along_axis(x, indices, axis):
    """Values of ``x`` at ``indices`` along ``axis``, the other axes matched (broadcast), as
    ``np.take_along_axis``.

    Parameters
    ----------
    x : Variable or array_like
        The array.
    indices : Variable or array_like of ints
        Indices with as many axes as ``x`` (for instance from ``argsort`` or ``argmax(keepdims=True)``).
    axis : int
        The axis indexed.

    Returns
    -------
    Variable
        The gathered values; the derivative scatters (adds) back to ``x``.

    Examples
    --------
    >>> X = sg.matrix("X")
    >>> top = sg.argmax(X, axis=1, keepdims=True)
    >>> sg.function([X], sg.take_along_axis(X, top, 1), backend="python")([[1.0, 3.0], [4.0, 2.0]])
    array([[3.],
           [4.]])
    """
    from .arrays import _axis
    from .index import arange
    from .shape import dimshuffle, shape_tuple
    x, indices = as_variable(x), as_variable(indices, like="int64")
    if indices.ndim != x.ndim:
        raise ValueError(f"take_along_axis: indices need as many axes as the array ({x.ndim}), "
                         f"got {indices.describe()}")
    axis = _axis(axis, x.ndim, "take_along_axis")
    key = []
    for a, n in enumerate(shape_tuple(x)):
        if a == axis:
            key.append(indices)
        else:   # arange along axis a, length-1 elsewhere: broadcast against the indices
            key.append(dimshuffle(arange(n), ["x"] * a + [0] + ["x"] * (x.ndim - a - 1)))
    return x[tuple(key)]
