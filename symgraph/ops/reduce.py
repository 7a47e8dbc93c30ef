"""Reductions over axes (sum, prod, max, min, any, all) and ``sum_to``, which undoes broadcasting.

``axis`` is normalised to a sorted tuple of non-negative ints when the node is
built, so ``sum(x, -1)`` and ``sum(x, 1)`` on a matrix are the same op and merge.

Each reduction states the dtype it accumulates in (``accumulator_dtype``), and every
backend uses it: float16 and float32 sums and products accumulate in float64 and
are rounded to the output dtype once, at the end.
"""
from __future__ import annotations

import builtins

import numpy as np

from ..graph import Node
from ..types import TensorType
from .base import Op, as_variable, pointing_at_user_line


def normalize_axis(axis, ndim, op_name="reduction"):
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    result = []
    for a in axes:
        if not isinstance(a, (int, np.integer)):
            raise TypeError(f"{op_name}: axis must be an int or a tuple of ints, got {a!r}")
        if not -ndim <= a < builtins.max(ndim, 1) or (ndim == 0 and a not in (0, -1)):
            raise ValueError(f"{op_name}: axis {a} is out of range for a {ndim}-d input")
        a = int(a) % ndim if ndim else 0
        if a in result:
            raise ValueError(f"{op_name}: axis {a} repeated in {axis!r}")
        result.append(a)
    return tuple(sorted(result)) if ndim else ()


def accumulator_dtype(kind, dtype) -> str:
    """The dtype a reduction of ``kind`` whose result has ``dtype`` accumulates in, on every backend.

    Sums and products of float16 and float32 accumulate in float64 (then round once to ``dtype``): far
    closer to the exact result than a float32 running sum, and independent of the order a backend adds
    in (a sequential loop, NumPy's pairwise sum, a GPU tree). Integer sums and products accumulate in
    their result dtype (int64/uint64 for narrower inputs, as NumPy), wrapping as NumPy does; max and min
    in ``dtype``; any and all in bool.

    Parameters
    ----------
    kind : str
        One of sum, prod, max, min, any, all.
    dtype : str
        The reduction's output dtype.

    Returns
    -------
    str
        The accumulator's dtype name.

    Examples
    --------
    >>> accumulator_dtype("sum", "float32"), accumulator_dtype("sum", "int64"), accumulator_dtype("max", "float32")
    ('float64', 'int64', 'float32')
    """
    name = np.dtype(dtype).name
    if kind in ("sum", "prod") and name in ("float16", "float32"):
        return "float64"
    if kind in ("any", "all"):
        return "bool"
    return name


def identity(kind, dtype):
    """The value a reduction of ``kind`` starts from in an accumulator of ``dtype``: the result of reducing
    nothing (0 for sum, 1 for prod, False for any, True for all), and for max and min the value every
    other one replaces (-inf/inf, the integer dtype's min/max, False/True). Every backend starts from it.

    Parameters
    ----------
    kind : str
        One of sum, prod, max, min, any, all.
    dtype : str
        The accumulator's dtype.

    Returns
    -------
    bool, int or float
        The identity, exactly representable in ``dtype``.

    Examples
    --------
    >>> identity("sum", "float32"), identity("max", "float64"), identity("min", "int8"), identity("all", "bool")
    (0, -inf, 127, True)
    """
    dt = np.dtype(dtype)
    if kind in ("sum", "prod"):
        return 0 if kind == "sum" else 1
    if kind in ("any", "all"):
        return kind == "all"
    if kind not in ("max", "min"):
        raise ValueError(f"unknown reduction {kind!r}")
    if dt.kind == "f":
        return -np.inf if kind == "max" else np.inf
    if dt.kind == "b":
        return kind == "min"
    info = np.iinfo(dt)
    return int(info.min if kind == "max" else info.max)


class Reduce(Op):
    """Reduce ``axis`` of the input with ``kind`` in sum, prod, max, min, any, all.

    Sums and products of float16/float32 accumulate in float64 and round once to the output dtype
    (``accumulator_dtype``), on every backend, so backends agree to the last bit far more often than
    their different orders of addition would allow in float32.

    Examples
    --------
    >>> import symgraph as sg
    >>> x = sg.vector("x", dtype="float32")
    >>> total = sg.sum(x)
    >>> total.owner.op.accumulator_dtype(total.dtype)
    'float64'
    """

    __props__ = ("kind", "axis", "keepdims")
    _numpy = {"sum": np.sum, "prod": np.prod, "max": np.max, "min": np.min, "any": np.any, "all": np.all}

    def __init__(self, kind, axis, keepdims=False):
        self.kind, self.axis, self.keepdims = kind, tuple(axis), bool(keepdims)

    @property
    def name(self):
        return self.kind

    def __str__(self):
        axis = self.axis[0] if len(self.axis) == 1 else self.axis
        return f"{self.kind}{{axis={axis}{', keepdims' if self.keepdims else ''}}}"

    def make_node(self, x):
        x = as_variable(x)
        for a in self.axis:
            if a >= builtins.max(x.ndim, 1):
                raise ValueError(f"{self.kind}: axis {a} is out of range for {x.describe()}")
        if self.kind in ("max", "min"):
            for a in self.axis:
                if x.type.shape[a] == 0:
                    raise ValueError(f"{self.kind}: zero-size axis {a} of {x.describe()} has no {self.kind}")
        if self.keepdims:
            shape = tuple(1 if i in self.axis else d for i, d in enumerate(x.type.shape))
        else:
            shape = tuple(d for i, d in enumerate(x.type.shape) if i not in self.axis)
        probe = self._numpy[self.kind](np.ones((1,) * builtins.max(x.ndim, 1), dtype=x.dtype))
        dtype = x.dtype if self.kind in ("max", "min") else np.asarray(probe).dtype.name
        return Node(self, [x], [TensorType(dtype, shape)])

    def accumulator_dtype(self, dtype) -> str:
        """The dtype this reduction accumulates in when its output has ``dtype`` (see ``accumulator_dtype``)."""
        return accumulator_dtype(self.kind, dtype)

    def identity(self, dtype):
        """The value this reduction starts from in an accumulator of ``dtype`` (see ``identity``)."""
        return identity(self.kind, dtype)

    def perform(self, node, inputs):
        (x,) = inputs
        if self.kind in ("max", "min") and x.size == 0:
            raise ValueError(f"{self.kind}: zero-size input of shape {x.shape} has no {self.kind}"
                             f"{node.where()}")
        axis = self.axis if x.ndim else None
        dtype = node.outputs[0].dtype
        options = {"dtype": self.accumulator_dtype(dtype)} if self.kind in ("sum", "prod") else {}
        out = self._numpy[self.kind](x, axis=axis, keepdims=self.keepdims, **options)
        return [np.asarray(out, dtype=dtype)]

    def grad(self, inputs, outputs, output_grads):
        from .elemwise import eq, mul, true_div, where, cast
        from .shape import expand_dims, broadcast_like
        (x,), (y,), (gy,) = inputs, outputs, output_grads
        if self.kind in ("any", "all") or not x.type.is_float:
            return [None]
        if not self.keepdims:
            gy, y = expand_dims(gy, self.axis), expand_dims(y, self.axis)
        if self.kind == "sum":
            return [broadcast_like(gy, x)]
        if self.kind == "prod":
            return [mul(broadcast_like(gy, x), _product_of_others(x, self.axis))]
        # max/min: the gradient goes to every position equal to the extremum, shared among ties.
        hit = cast(eq(x, y), x.dtype)
        count = Reduce("sum", self.axis, True)(hit)
        return [true_div(where(eq(x, y), gy, 0), count)]


def _product_of_others(x, axis):
    """For each element of ``x``, the product of the other elements along ``axis`` (d prod / d x_i),
    built so that it is right at zeros and differentiable with a right derivative there.

    ``prod / x_i`` is NaN at a zero. Instead, with ``s = where(x == 0, 1, x)`` and ``c_i`` the number of
    zeros among the other elements, the product of the others is ``(prod(s) / s_i) * F_i`` where
    ``F_i`` is 1 when ``c_i == 0`` and 0 otherwise. ``F_i`` is written as ``E_i``, the sum of the other
    zero elements, when ``c_i == 1``: its value is 0, its derivative with respect to that one zero is
    1, so the second derivative (prod of all but two elements) is right at zeros too: the gradient of
    [0, 2, 3] is [6, 0, 0] and its Hessian's first row [0, 3, 2], as JAX gives.
    """
    from .elemwise import cast, eq, mul, sub, true_div, where
    zero = eq(x, 0)
    safe = where(zero, 1, x)
    others_nonzero = true_div(Reduce("prod", axis, True)(safe), safe)
    zero_count = cast(zero, x.dtype)
    zeros_elsewhere = sub(Reduce("sum", axis, True)(zero_count), zero_count)
    zero_part = where(zero, x, 0)
    other_zeros_sum = sub(Reduce("sum", axis, True)(zero_part), zero_part)
    factor = where(eq(zeros_elsewhere, 0), 1, where(eq(zeros_elsewhere, 1), other_zeros_sum, 0))
    return mul(others_nonzero, factor)


def reduce(kind, x, axis=None, keepdims=False):
    x = as_variable(x)
    with pointing_at_user_line():
        return Reduce(kind, normalize_axis(axis, x.ndim, kind), keepdims)(x)


def sum(x, axis=None, keepdims=False):
    return reduce("sum", x, axis, keepdims)


def prod(x, axis=None, keepdims=False):
    return reduce("prod", x, axis, keepdims)


def max(x, axis=None, keepdims=False):
    return reduce("max", x, axis, keepdims)


def min(x, axis=None, keepdims=False):
    return reduce("min", x, axis, keepdims)


def any(x, axis=None, keepdims=False):  # noqa: A001 - NumPy's name
    """Whether any element along ``axis`` is true (non-zero), as ``np.any``.

    Parameters
    ----------
    x : Variable or array_like
        The values (any dtype; non-zero is true, NaN included).
    axis : int or tuple of ints, optional
        The axes to reduce; ``None`` (default) reduces all of them.
    keepdims : bool, default False
        Keep the reduced axes with length 1.

    Returns
    -------
    Variable
        A boolean variable (False for an empty axis).

    Examples
    --------
    >>> X = sg.matrix("X")
    >>> sg.function([X], sg.any(X, axis=1), backend="python")([[0.0, 2.0], [0.0, 0.0]])
    array([ True, False])
    """
    return reduce("any", x, axis, keepdims)


def all(x, axis=None, keepdims=False):  # noqa: A001 - NumPy's name
    """Whether every element along ``axis`` is true (non-zero), as ``np.all``.

    Parameters
    ----------
    x : Variable or array_like
        The values (any dtype; non-zero is true, NaN included).
    axis : int or tuple of ints, optional
        The axes to reduce; ``None`` (default) reduces all of them.
    keepdims : bool, default False
        Keep the reduced axes with length 1.

    Returns
    -------
    Variable
        A boolean variable (True for an empty axis).

    Examples
    --------
    >>> X = sg.matrix("X")
    >>> sg.function([X], sg.all(X, axis=1), backend="python")([[1.0, 2.0], [0.0, 3.0]])
    array([ True, False])
    """
    return reduce("all", x, axis, keepdims)


def mean(x, axis=None, keepdims=False):
    from .elemwise import true_div, cast
    from .shape import shape_of
    x = as_variable(x)
    axes = normalize_axis(axis, x.ndim, "mean")
    total = reduce("sum", x if x.type.is_float else cast(x, "float64"), axes, keepdims)
    count = 1
    for a in axes:
        count = shape_of(x, a) if count == 1 else count * shape_of(x, a)
    return true_div(total, cast(as_variable(count), total.dtype)) if axes else total


class SumToShape(Op):
    """Sum ``g`` down to the runtime shape of ``like``: the adjoint of NumPy broadcasting.

    Used by gradients when broadcasting could not be decided while building the graph
    (an axis whose length is unknown may turn out to be 1 at call time). It accumulates
    as ``sum`` does (float32 in float64: ``accumulator_dtype``).
    """

    name = "sum_to_shape"
    shape_only_inputs = (1,)

    def accumulator_dtype(self, dtype) -> str:
        """The dtype this sum accumulates in when its output has ``dtype`` (as ``Reduce``'s sum)."""
        return accumulator_dtype("sum", dtype)

    def make_node(self, g, like):
        g, like = as_variable(g), as_variable(like)
        return Node(self, [g, like], [TensorType(g.dtype, like.type.shape)])

    def perform(self, node, inputs):
        g, like = inputs
        dtype = node.outputs[0].dtype
        return [sum_to_shape_value(g, like.shape, self.accumulator_dtype(dtype)).astype(dtype, copy=False)]

    def grad(self, inputs, outputs, output_grads):
        from .shape import broadcast_like
        return [broadcast_like(output_grads[0], inputs[0]), None]

    def connection_pattern(self, node):
        return [True, False]


def sum_to_shape_value(g: np.ndarray, shape, dtype=None) -> np.ndarray:
    """``g`` summed (in ``dtype``, default g's) over the axes where ``shape`` has length 1 or none."""
    lead = g.ndim - len(shape)
    if lead < 0:
        raise ValueError(f"sum_to_shape: cannot sum shape {g.shape} to {tuple(shape)}")
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and g.shape[lead + i] != 1)
    out = g.sum(axis=axes, keepdims=True, dtype=dtype) if axes else g
    if lead:
        out = out.reshape(out.shape[lead:])
    if out.shape != tuple(shape):
        raise ValueError(f"sum_to_shape: cannot sum shape {g.shape} to {tuple(shape)}")
    return out


def sum_to(g, like):
    """``g`` (broadcast from ``like``'s shape) summed back to the shape of ``like``.

    Static shapes decide when they can; otherwise a ``SumToShape`` node decides at call time.
    """
    from .shape import dimshuffle
    g = as_variable(g)
    lead = g.ndim - like.ndim
    if lead < 0:
        raise ValueError(f"sum_to: gradient of rank {g.ndim} for {like.describe()}")
    axes = list(range(lead))
    uncertain = False
    for i, n in enumerate(like.type.shape):
        gn = g.type.shape[lead + i]
        if n == 1 and gn != 1:
            axes.append(lead + i)
        elif n is None and gn != 1:
            uncertain = True
    if uncertain:
        return SumToShape()(g, like)
    if axes:
        g = Reduce("sum", tuple(axes), True)(g)
        if lead:
            g = dimshuffle(g, tuple(range(lead, g.ndim)))
    return g
