"""The user-facing constructors and functions (``sg.vector``, ``sg.exp``, ...), and the operators of ``Variable``.

Everything here builds nodes through the ops in ``symgraph.ops``; nothing computes.
"""
from __future__ import annotations

import numpy as np

from .graph import Constant, SharedVariable, Variable
from .ops import arrays, contract
from .ops import elemwise as ew
from .ops import sort as srt
from .ops import reduce as red
from .ops import shape as shp
from .givens import clone_replace
from .ops.base import Op, as_variable
from .ops.from_graph import OpFromGraph
from .vectorize import vectorize_graph
from .types import TensorType

# What ``from symgraph.api import *`` (and so ``import symgraph``) exports: the API, not this
# module's helpers and aliases. A function added here is public only once it is listed.
__all__ = [
    # inputs
    "tensor", "scalar", "vector", "matrix", "constant", "shared",
    # elementwise
    "exp", "log", "sin", "cos", "tan", "tanh", "sqrt", "sign", "log1p", "expm1", "sigmoid", "softplus",
    "relu", "abs", "pow", "square", "clip", "maximum", "minimum", "where", "cast",
    "add", "sub", "mul", "true_div", "neg", "logical_and", "logical_or", "logical_not",
    "eq", "ne", "lt", "le", "gt", "ge", "polygamma",
    # reductions
    "sum", "prod", "max", "min", "mean", "var", "std", "any", "all", "argmax", "argmin", "cumsum", "cumprod",
    "sort", "argsort", "take_along_axis",
    # shapes
    "transpose", "reshape", "zeros_like", "ones_like", "expand_dims", "squeeze", "broadcast_to", "shape",
    "stop_gradient",
    # products, nnet, joining, indexing
    "arange", "inc_subtensor", "set_subtensor", "concatenate", "stack", "dot", "matmul", "outer",
    "log_softmax", "logsumexp", "one_hot", "softmax",
    # convolution networks (symgraph/ops/conv.py)
    "conv2d", "max_pool2d", "avg_pool2d",
    # construction and rearrangement (symgraph/ops/arrays.py)
    "zeros", "ones", "full", "eye", "linspace", "diag", "trace", "tril", "triu", "flatten", "moveaxis",
    "swapaxes", "vstack", "hstack", "column_stack", "split", "array_split", "tensordot", "take", "repeat",
    "tile", "pad", "einsum", "norm",
    # control flow
    "scan", "until", "ifelse",
    # random numbers
    "RandomStream",
    # your own ops and graph surgery
    "Op", "OpFromGraph", "clone_replace", "vectorize_graph",
    # types of the graph
    "Variable", "Constant", "SharedVariable", "TensorType",
]
# The elementwise functions of the scalar op classes marked ``public`` (symgraph/ops/elemwise.py): exported
# from their table, so adding one takes its class only.
__all__ += sorted(ew.FUNCTIONS)
globals().update(ew.FUNCTIONS)


# ---------------------------------------------------------------- inputs

def tensor(name=None, dtype="float64", shape=(None, None, None)):
    """A symbolic input of any number of dimensions.

    Parameters
    ----------
    name : str, optional
        The name used in error messages, printed graphs and keyword calls (``f(x=...)``).
    dtype : str or numpy.dtype, default "float64"
        The dtype of the values the input takes; a value of another dtype is cast to it.
    shape : tuple of (int or None), default (None, None, None)
        One entry per axis: an int is a length fixed when the graph is built, ``None`` a length
        known only at call time. ``len(shape)`` is the number of dimensions.

    Returns
    -------
    Variable
        An input variable (it has no owner); list it in the inputs of ``sg.function``.

    Examples
    --------
    >>> images = sg.tensor("images", dtype="float32", shape=(None, 28, 28))
    >>> images.ndim, images.dtype, images.type.shape
    (3, 'float32', (None, 28, 28))
    >>> f = sg.function([images], images.sum(axis=(1, 2)), backend="python")
    >>> f(np.ones((2, 28, 28), dtype="float32"))
    array([784., 784.], dtype=float32)
    """
    return Variable(TensorType(dtype, shape), name=name)


def scalar(name=None, dtype="float64"):
    """A 0-d symbolic input (a single number).

    Parameters
    ----------
    name : str, optional
        The name used in error messages, printed graphs and keyword calls.
    dtype : str or numpy.dtype, default "float64"
        The dtype of the value.

    Returns
    -------
    Variable
        A 0-d input variable.

    Examples
    --------
    >>> x = sg.scalar("x")
    >>> f = sg.function([x], x ** 2 + 1, backend="python")
    >>> f(3.0)
    array(10.)
    """
    return tensor(name, dtype, ())


def vector(name=None, dtype="float64", shape=(None,)):
    """A 1-d symbolic input.

    Parameters
    ----------
    name : str, optional
        The name used in error messages, printed graphs and keyword calls.
    dtype : str or numpy.dtype, default "float64"
        The dtype of the values.
    shape : tuple of one int or None, default (None,)
        ``(None,)``: the length is known at call time; ``(3,)``: it is always 3.

    Returns
    -------
    Variable
        A 1-d input variable.

    Examples
    --------
    >>> x = sg.vector("x")
    >>> f = sg.function([x], x * 2, backend="python")
    >>> f([1.0, 2.0, 3.0])
    array([2., 4., 6.])
    >>> sg.vector("w", shape=(3,)).type.shape
    (3,)
    """
    return tensor(name, dtype, shape)


def matrix(name=None, dtype="float64", shape=(None, None)):
    """A 2-d symbolic input.

    Parameters
    ----------
    name : str, optional
        The name used in error messages, printed graphs and keyword calls.
    dtype : str or numpy.dtype, default "float64"
        The dtype of the values.
    shape : tuple of two (int or None), default (None, None)
        The static lengths of the rows and columns, ``None`` where known only at call time.

    Returns
    -------
    Variable
        A 2-d input variable.

    Examples
    --------
    >>> X = sg.matrix("X")
    >>> f = sg.function([X], X.T @ X, backend="python")
    >>> f([[1.0, 2.0], [3.0, 4.0]])
    array([[10., 14.],
           [14., 20.]])
    """
    return tensor(name, dtype, shape)


def constant(value, name=None, dtype=None):
    """A constant node: a value fixed when the graph is built.

    Python numbers and NumPy arrays mixed into expressions (``x + 1``) become constants
    automatically; ``sg.constant`` names one or fixes its dtype.

    Parameters
    ----------
    value : number or array_like
        The value; it is copied into a read-only array.
    name : str, optional
        The name shown in printed graphs.
    dtype : str or numpy.dtype, optional
        The dtype of the constant (default: NumPy's for ``value``).

    Returns
    -------
    Constant
        A variable whose ``.value`` is the array.

    Raises
    ------
    TypeError
        If ``value`` is a symbolic variable.

    Examples
    --------
    >>> c = sg.constant([1, 2, 3], name="c", dtype="float32")
    >>> c.value
    array([1., 2., 3.], dtype=float32)
    >>> x = sg.vector("x", dtype="float32")
    >>> sg.function([x], x * c, backend="python")([2, 2, 2])
    array([2., 4., 6.], dtype=float32)
    """
    if isinstance(value, Variable):
        raise TypeError(f"sg.constant needs a number or an array, got symbolic variable {value.describe()}")
    return Constant(value, name=name, dtype=dtype)


def shared(value, name=None, dtype=None, shape=None):
    """State that lives between calls of compiled functions (weights, counters).

    A function reads the current value at each call; ``updates=[(w, new_w)]`` in
    ``sg.function`` replaces it after the call.

    Parameters
    ----------
    value : number or array_like
        The initial value (copied).
    name : str, optional
        The name used in error messages and printed graphs.
    dtype : str or numpy.dtype, optional
        The dtype (default: NumPy's for ``value``).
    shape : tuple of (int or None), optional
        The static shape; by default every length may change through ``set_value`` or updates
        (``None`` everywhere). A later value must match the static lengths.

    Returns
    -------
    SharedVariable
        A variable with ``get_value()`` (a copy) and ``set_value(array)``.

    Examples
    --------
    >>> count = sg.shared(0.0, name="count")
    >>> step = sg.scalar("step")
    >>> tick = sg.function([step], count, updates=[(count, count + step)], backend="python")
    >>> tick(2.0), tick(2.0)
    (array(0.), array(2.))
    >>> count.get_value()
    array(4.)
    """
    return SharedVariable(value, name=name, dtype=dtype, shape=shape)


# ---------------------------------------------------------------- elementwise

exp, log, sin, cos, tan, tanh, sqrt = ew.exp, ew.log, ew.sin, ew.cos, ew.tan, ew.tanh, ew.sqrt
sign, log1p, expm1, sigmoid, softplus, relu = ew.sign, ew.log1p, ew.expm1, ew.sigmoid, ew.softplus, ew.relu
maximum, minimum, where, cast = ew.maximum, ew.minimum, ew.where, ew.cast
polygamma = ew.polygamma
add, sub, mul, true_div, neg = ew.add, ew.sub, ew.mul, ew.true_div, ew.neg
logical_and, logical_or, logical_not = ew.logical_and, ew.logical_or, ew.logical_not
eq, ne, lt, le, gt, ge = ew.eq, ew.ne, ew.lt, ew.le, ew.gt, ew.ge


def abs(x):  # noqa: A001 - the API name
    """The absolute value, elementwise, as ``np.abs`` (also ``abs(x)`` on a variable).

    Parameters
    ----------
    x : Variable or array_like
        The operand.

    Returns
    -------
    Variable
        ``|x|``, with the dtype of ``x``. Its derivative at 0 is taken as 0 (``sign(0)``).

    Examples
    --------
    >>> x = sg.vector("x")
    >>> sg.function([x], sg.abs(x), backend="python")([-2.0, 0.0, 3.0])
    array([2., 0., 3.])
    """
    return ew.abs_(x)


def pow(a, b):  # noqa: A001
    """``a`` to the power ``b``, elementwise with broadcasting, as ``np.power`` (also ``a ** b``).

    Parameters
    ----------
    a, b : Variable or array_like
        Base and exponent; dtypes promote as in NumPy.

    Returns
    -------
    Variable
        ``a ** b``.

    Examples
    --------
    >>> x = sg.vector("x")
    >>> sg.function([x], sg.pow(x, 2), backend="python")([1.0, 2.0, 3.0])
    array([1., 4., 9.])
    """
    return ew.pow(a, b)


def square(x):
    """``x * x``, elementwise.

    Parameters
    ----------
    x : Variable or array_like
        The operand.

    Returns
    -------
    Variable
        The square of ``x``, with its dtype.

    Examples
    --------
    >>> x = sg.vector("x")
    >>> sg.function([x], sg.square(x), backend="python")([-3.0, 0.5])
    array([9.  , 0.25])
    """
    x = as_variable(x)
    return ew.mul(x, x)


# ---------------------------------------------------------------- reductions

sum, prod, max, min, mean = red.sum, red.prod, red.max, red.min, red.mean  # noqa: A001
any, all = red.any, red.all  # noqa: A001
var, std = arrays.var, arrays.std
argmax, argmin, cumsum, cumprod = srt.argmax, srt.argmin, srt.cumsum, srt.cumprod
sort, argsort, take_along_axis = srt.sort, srt.argsort, srt.take_along_axis


# ---------------------------------------------------------------- shapes

clip = arrays.clip
einsum, norm = contract.einsum, contract.norm
zeros, ones, full, eye, linspace = arrays.zeros, arrays.ones, arrays.full, arrays.eye, arrays.linspace
diag, trace, tril, triu = arrays.diag, arrays.trace, arrays.tril, arrays.triu
flatten, moveaxis, swapaxes, tensordot = arrays.flatten, arrays.moveaxis, arrays.swapaxes, arrays.tensordot
vstack, hstack, column_stack = arrays.vstack, arrays.hstack, arrays.column_stack
split, array_split, take, repeat, tile, pad = (arrays.split, arrays.array_split, arrays.take, arrays.repeat,
                                               arrays.tile, arrays.pad)
transpose, reshape, zeros_like, ones_like = shp.transpose, shp.reshape, shp.zeros_like, shp.ones_like
expand_dims, squeeze, broadcast_to = shp.expand_dims, shp.squeeze, shp.broadcast_to


def shape(x):
    """The shape of ``x`` as a 1-d int64 variable, computed at call time (``np.shape``).

    ``x.shape`` gives a tuple of 0-d variables instead, one per axis.

    Parameters
    ----------
    x : Variable or array_like
        Any variable.

    Returns
    -------
    Variable
        A 1-d int64 variable of length ``x.ndim``.

    Examples
    --------
    >>> X = sg.matrix("X")
    >>> sg.function([X], sg.shape(X), backend="python")(np.zeros((2, 5)))
    array([2, 5])
    """
    return shp.Shape()(as_variable(x))


def stop_gradient(x):
    """``x`` itself, but gradients do not flow through it (it is a constant for ``sg.grad``).

    Parameters
    ----------
    x : Variable or array_like
        The value.

    Returns
    -------
    Variable
        The same values as ``x``; its derivative with respect to anything is zero.

    Examples
    --------
    >>> x = sg.scalar("x")
    >>> y = x * sg.stop_gradient(x)
    >>> sg.function([x], sg.grad(y, x), backend="python")(3.0)
    array(3.)
    """
    from .ops.grad_ops import stop_gradient as _stop
    return _stop(x)


# ---------------------------------------------------------------- products, nnet, joining, indexing

from .ops.index import arange, inc_subtensor, set_subtensor  # noqa: E402
from .ops.join import concatenate, stack  # noqa: E402
from .ops.linalg import dot, matmul, outer  # noqa: E402
from .ops.nnet import log_softmax, logsumexp, one_hot, softmax  # noqa: E402
from .ops.conv import avg_pool2d, conv2d, max_pool2d  # noqa: E402
from .ops.ifelse import ifelse  # noqa: E402
from .ops.scan import scan, until  # noqa: E402
from .ops.random import RandomStream  # noqa: E402
