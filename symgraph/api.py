"""The user-facing constructors and functions of API.md, and the operators of ``Variable``.

Everything here builds nodes through the ops in ``symgraph.ops``; nothing computes.
"""
from __future__ import annotations

import numpy as np

from .graph import Constant, SharedVariable, Variable
from .ops import elemwise as ew
from .ops import reduce as red
from .ops import shape as shp
from .ops.base import as_variable, as_variables
from .types import TensorType


# ---------------------------------------------------------------- inputs

def tensor(name=None, dtype="float64", shape=(None, None, None)):
    """An n-d input; ``None`` in ``shape`` is a length known only at call time."""
    return Variable(TensorType(dtype, shape), name=name)


def scalar(name=None, dtype="float64"):
    return tensor(name, dtype, ())


def vector(name=None, dtype="float64", shape=(None,)):
    return tensor(name, dtype, shape)


def matrix(name=None, dtype="float64", shape=(None, None)):
    return tensor(name, dtype, shape)


def constant(value, name=None, dtype=None):
    if isinstance(value, Variable):
        raise TypeError(f"sg.constant needs a number or an array, got symbolic variable {value.describe()}")
    return Constant(value, name=name, dtype=dtype)


def shared(value, name=None, dtype=None, shape=None):
    return SharedVariable(value, name=name, dtype=dtype, shape=shape)


# ---------------------------------------------------------------- elementwise

exp, log, sin, cos, tan, tanh, sqrt = ew.exp, ew.log, ew.sin, ew.cos, ew.tan, ew.tanh, ew.sqrt
sign, log1p, expm1, sigmoid, softplus, relu = ew.sign, ew.log1p, ew.expm1, ew.sigmoid, ew.softplus, ew.relu
maximum, minimum, where, cast = ew.maximum, ew.minimum, ew.where, ew.cast
add, sub, mul, true_div, neg = ew.add, ew.sub, ew.mul, ew.true_div, ew.neg
logical_and, logical_or, logical_not = ew.logical_and, ew.logical_or, ew.logical_not
eq, ne, lt, le, gt, ge = ew.eq, ew.ne, ew.lt, ew.le, ew.gt, ew.ge


def abs(x):  # noqa: A001 - the API name
    return ew.abs_(x)


def pow(a, b):  # noqa: A001
    return ew.pow(a, b)


def square(x):
    x = as_variable(x)
    return ew.mul(x, x)


def clip(x, lo, hi):
    return ew.minimum(ew.maximum(x, lo), hi)


# ---------------------------------------------------------------- reductions

sum, prod, max, min, mean = red.sum, red.prod, red.max, red.min, red.mean  # noqa: A001


def var(x, axis=None, keepdims=False):
    centred = ew.sub(x, red.mean(x, axis, keepdims=True))
    return red.mean(ew.mul(centred, centred), axis, keepdims)


def std(x, axis=None, keepdims=False):
    """Standard deviation, ``sqrt(var(x, axis))``, differentiable where the variance is 0.

    Where the variance is 0 (one element, or equal elements) the derivative of sqrt is infinite
    and the variance's is 0; the derivatives are taken as 0 there (as PyTensor and autograd give
    for one element) by evaluating sqrt at 1 on that branch, so every order stays finite. The
    value is NumPy's: sqrt(+0.0) is the +0.0 chosen.

    Parameters
    ----------
    x : Variable or array_like
    axis : int or tuple of int, optional
        Axes to reduce (all by default).
    keepdims : bool
        Keep the reduced axes with length 1.

    Returns
    -------
    Variable

    Examples
    --------
    >>> x = sg.vector("x")
    >>> sg.function([x], sg.std(x))(np.array([1.0, 3.0]))
    array(1.)
    """
    variance = var(x, axis, keepdims)
    zero = ew.eq(variance, 0)
    return ew.where(zero, 0, ew.sqrt(ew.where(zero, 1, variance)))


# ---------------------------------------------------------------- shapes

transpose, reshape, zeros_like, ones_like = shp.transpose, shp.reshape, shp.zeros_like, shp.ones_like
expand_dims, squeeze, broadcast_to = shp.expand_dims, shp.squeeze, shp.broadcast_to


def shape(x):
    return shp.Shape()(as_variable(x))


def stop_gradient(x):
    from .ops.grad_ops import stop_gradient as _stop
    return _stop(x)


# ---------------------------------------------------------------- products, nnet, joining, indexing

from .ops.index import arange, inc_subtensor, set_subtensor  # noqa: E402
from .ops.join import concatenate, stack  # noqa: E402
from .ops.linalg import dot, matmul, outer  # noqa: E402
from .ops.nnet import log_softmax, logsumexp, one_hot, softmax  # noqa: E402


# ---------------------------------------------------------------- operators on Variable

def _binary(fn):
    def method(self, other):
        return fn(*as_variables(self, other))
    return method


def _reflected(fn):
    def method(self, other):
        a, b = as_variables(other, self)
        return fn(a, b)
    return method


def _symbolic_shape(self):
    """The symbolic shape: a tuple of int64 scalars (constants where the length is static)."""
    return shp.shape_tuple(self)


def _getitem(self, key):
    from .ops.index import getitem
    return getitem(self, key)


def _matmul(a, b):
    from .ops.linalg import matmul
    return matmul(a, b)


def _len(self):
    if self.ndim == 0:
        raise TypeError(f"len() of 0-d symbolic variable {self.describe()}")
    n = self.type.shape[0]
    if n is None:
        raise TypeError(f"len() of {self.describe()}: its first length is known only at call time; "
                        "use x.shape[0]")
    return n


def _iter(self):
    n = _len(self)
    return (self[i] for i in range(n))


def _reshape_method(self, *shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list, Variable)):
        shape = shape[0]
    return shp.reshape(self, shape)


def _transpose_method(self, *axes):
    if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
        axes = axes[0]
    return shp.transpose(self, axes or None)


_OPERATORS = {
    "__add__": _binary(ew.add), "__radd__": _reflected(ew.add),
    "__sub__": _binary(ew.sub), "__rsub__": _reflected(ew.sub),
    "__mul__": _binary(ew.mul), "__rmul__": _reflected(ew.mul),
    "__truediv__": _binary(ew.true_div), "__rtruediv__": _reflected(ew.true_div),
    "__pow__": _binary(ew.pow), "__rpow__": _reflected(ew.pow),
    "__lt__": _binary(ew.lt), "__le__": _binary(ew.le),
    "__gt__": _binary(ew.gt), "__ge__": _binary(ew.ge),
    "__and__": _binary(ew.logical_and), "__rand__": _reflected(ew.logical_and),
    "__or__": _binary(ew.logical_or), "__ror__": _reflected(ew.logical_or),
    "__invert__": lambda self: ew.logical_not(self),
    "__matmul__": lambda self, other: _matmul(*as_variables(self, other)),
    "__rmatmul__": lambda self, other: _matmul(*as_variables(other, self)),
    "__neg__": lambda self: ew.neg(self),
    "__pos__": lambda self: self,
    "__abs__": lambda self: ew.abs_(self),
    "__getitem__": _getitem,
    "__len__": _len,
    "__iter__": _iter,
    "shape": property(_symbolic_shape),
    "T": property(lambda self: shp.transpose(self)),
    "size": property(lambda self: red.prod(shp.Shape()(self)) if self.ndim else as_variable(1, "int64")),
    "sum": lambda self, axis=None, keepdims=False: red.sum(self, axis, keepdims),
    "mean": lambda self, axis=None, keepdims=False: red.mean(self, axis, keepdims),
    "max": lambda self, axis=None, keepdims=False: red.max(self, axis, keepdims),
    "min": lambda self, axis=None, keepdims=False: red.min(self, axis, keepdims),
    "prod": lambda self, axis=None, keepdims=False: red.prod(self, axis, keepdims),
    "reshape": _reshape_method,
    "transpose": _transpose_method,
    "astype": lambda self, dtype: ew.cast(self, dtype),
    "dot": lambda self, other: _matmul(*as_variables(self, other)),
}

for _name, _method in _OPERATORS.items():
    setattr(Variable, _name, _method)
