"""Docstrings of the elementwise functions and the reductions: two templates and a table each."""
from __future__ import annotations

from ..ops import elemwise, reduce
from . import add_doc


# ---------------------------------------------------------------- elementwise

_UNARY = """{summary}, elementwise, as ``{numpy}``.

Parameters
----------
x : Variable or array_like
    The operand (Python numbers and arrays become constants).

Returns
-------
Variable
    {returns}

Examples
--------
>>> x = sg.vector("x")
>>> sg.function([x], sg.{name}(x), backend="python")({example})
{output}
"""

_BINARY = """{summary}, elementwise with NumPy broadcasting, as ``{numpy}``.

Parameters
----------
a, b : Variable or array_like
    The operands (Python numbers and arrays become constants; dtypes promote as in NumPy 2).

Returns
-------
Variable
    {returns}

Examples
--------
>>> a, b = sg.vector("a"), sg.vector("b")
>>> sg.function([a, b], sg.{name}(a, b), backend="python")({example})
{output}
"""

_FLOAT = "The result, with NumPy's result dtype (float64 for integer operands)."
_SAME = "The result, with the dtype of ``x``."
_PROMOTED = "The result, with the promoted dtype of ``a`` and ``b``."
_BOOL = "A boolean variable."

# name: (summary, NumPy equivalent, what it returns, example arguments, printed result)
UNARY = {
    "exp": ("The exponential ``e ** x``", "np.exp(x)", _FLOAT, "[0.0, 1.0]", "array([1.        , 2.71828183])"),
    "log": ("The natural logarithm", "np.log(x)", _FLOAT + " ``log(0)`` is ``-inf``.", "[1.0, np.e]",
            "array([0., 1.])"),
    "sin": ("The sine (radians)", "np.sin(x)", _FLOAT, "[0.0, np.pi / 2]", "array([0., 1.])"),
    "cos": ("The cosine (radians)", "np.cos(x)", _FLOAT, "[0.0, np.pi]", "array([ 1., -1.])"),
    "tan": ("The tangent (radians)", "np.tan(x)", _FLOAT, "[0.0, np.pi / 4]", "array([0., 1.])"),
    "tanh": ("The hyperbolic tangent", "np.tanh(x)", _FLOAT, "[0.0, 100.0]", "array([0., 1.])"),
    "sqrt": ("The non-negative square root", "np.sqrt(x)", _FLOAT + " Negative values give NaN.",
             "[4.0, 9.0]", "array([2., 3.])"),
    "sign": ("The sign, -1, 0 or 1", "np.sign(x)", _SAME + " Its derivative is zero.",
             "[-2.0, 0.0, 3.0]", "array([-1.,  0.,  1.])"),
    "log1p": ("``log(1 + x)``, accurate for small ``x``", "np.log1p(x)", _FLOAT, "[0.0, 1e-20]",
              "array([0.e+00, 1.e-20])"),
    "expm1": ("``exp(x) - 1``, accurate for small ``x``", "np.expm1(x)", _FLOAT, "[0.0, 1e-20]",
              "array([0.e+00, 1.e-20])"),
    "sigmoid": ("The logistic function ``1 / (1 + exp(-x))``", "scipy.special.expit(x)",
                _FLOAT + " Finite and exact in the tails (``sigmoid(-1000)`` is 0, not NaN).",
                "[0.0, -1000.0]", "array([0.5, 0. ])"),
    "softplus": ("``log(1 + exp(x))``, computed without overflow", "np.logaddexp(0, x)",
                 _FLOAT + " ``softplus(1000)`` is 1000.", "[0.0, 1000.0]", "array([6.93147181e-01, 1.00000000e+03])"),
    "relu": ("The rectifier ``maximum(x, 0)``", "np.maximum(x, 0)",
             _SAME + " Its derivative at 0 is taken as 0.", "[-1.0, 2.0]", "array([0., 2.])"),
    "neg": ("The negation ``-x``", "np.negative(x)", _SAME, "[1.0, -2.0]", "array([-1.,  2.])"),
    "logical_not": ("Logical NOT (also ``~x``)", "np.logical_not(x)", _BOOL, "[0.0, 2.0]",
                    "array([ True, False])"),
}

BINARY = {
    "add": ("The sum ``a + b``", "np.add(a, b)", _PROMOTED, "[1.0, 2.0], [10.0, 20.0]", "array([11., 22.])"),
    "sub": ("The difference ``a - b``", "np.subtract(a, b)", _PROMOTED, "[1.0, 2.0], [10.0, 20.0]",
            "array([ -9., -18.])"),
    "mul": ("The product ``a * b``", "np.multiply(a, b)", _PROMOTED, "[1.0, 2.0], [10.0, 20.0]",
            "array([10., 40.])"),
    "true_div": ("The quotient ``a / b``", "np.true_divide(a, b)",
                 "The result: a float dtype, also for integer operands.", "[1.0, 2.0], [4.0, 8.0]",
                 "array([0.25, 0.25])"),
    "maximum": ("The larger of ``a`` and ``b``", "np.maximum(a, b)",
                _PROMOTED + " NaN wins, as in NumPy; at ties the gradient goes to ``a``.",
                "[1.0, 5.0], [3.0, 2.0]", "array([3., 5.])"),
    "minimum": ("The smaller of ``a`` and ``b``", "np.minimum(a, b)",
                _PROMOTED + " NaN wins, as in NumPy; at ties the gradient goes to ``a``.",
                "[1.0, 5.0], [3.0, 2.0]", "array([1., 2.])"),
    "logical_and": ("Logical AND (also ``a & b``)", "np.logical_and(a, b)", _BOOL, "[0.0, 1.0], [1.0, 1.0]",
                    "array([False,  True])"),
    "logical_or": ("Logical OR (also ``a | b``)", "np.logical_or(a, b)", _BOOL, "[0.0, 1.0], [0.0, 0.0]",
                   "array([False,  True])"),
    "eq": ("The comparison ``a == b``", "np.equal(a, b)", _BOOL, "[1.0, 2.0], [1.0, 3.0]",
           "array([ True, False])"),
    "ne": ("The comparison ``a != b``", "np.not_equal(a, b)", _BOOL, "[1.0, 2.0], [1.0, 3.0]",
           "array([False,  True])"),
    "lt": ("The comparison ``a < b``", "np.less(a, b)", _BOOL, "[1.0, 2.0], [2.0, 2.0]",
           "array([ True, False])"),
    "le": ("The comparison ``a <= b``", "np.less_equal(a, b)", _BOOL, "[1.0, 2.0], [2.0, 2.0]",
           "array([ True,  True])"),
    "gt": ("The comparison ``a > b``", "np.greater(a, b)", _BOOL, "[1.0, 2.0], [2.0, 1.0]",
           "array([False,  True])"),
    "ge": ("The comparison ``a >= b``", "np.greater_equal(a, b)", _BOOL, "[1.0, 2.0], [2.0, 1.0]",
           "array([False,  True])"),
}

for _name, (_summary, _numpy, _returns, _example, _output) in UNARY.items():
    add_doc(getattr(elemwise, _name), _UNARY.format(name=_name, summary=_summary, numpy=_numpy,
                                                    returns=_returns, example=_example, output=_output), "x, /")
for _name, _function in elemwise.FUNCTIONS.items():    # from the class: its summary, reference and example
    _op = elemwise.SCALAR_OPS[_name]
    _summary, _, _more = " ".join((_op.__doc__ or "").split()).partition(": ")
    _returns = (_op.returns or _FLOAT) + (f" {_more[0].upper()}{_more[1:]}" if _more else "")
    add_doc(_function, (_UNARY if _op.nin == 1 else _BINARY).format(
        name=_name, summary=_summary.rstrip("."), numpy=_op.reference, returns=_returns,
        example=_op.example[0], output=_op.example[1]), "x, /" if _op.nin == 1 else "a, b, /")
for _name, (_summary, _numpy, _returns, _example, _output) in BINARY.items():
    add_doc(getattr(elemwise, _name), _BINARY.format(name=_name, summary=_summary, numpy=_numpy,
                                                     returns=_returns, example=_example, output=_output), "a, b, /")

add_doc(elemwise.where, """
    ``a`` where ``cond`` is true, else ``b``, elementwise with broadcasting, as ``np.where(cond, a, b)``.

    Parameters
    ----------
    cond : Variable or array_like
        The condition (any dtype; non-zero is true).
    a, b : Variable or array_like
        The values taken where ``cond`` is true and where it is false.

    Returns
    -------
    Variable
        The selected values, with the promoted dtype of ``a`` and ``b``. The branch not taken gets a
        gradient of exactly zero, so ``where(x > 0, log(x), 0)`` has no NaN gradient at ``x = 0``.

    Examples
    --------
    >>> x = sg.vector("x")
    >>> sg.function([x], sg.where(x > 0, x, 0.1 * x), backend="python")([-10.0, 3.0])
    array([-1.,  3.])
    """, "cond, a, b, /")

add_doc(elemwise.cast, """
    ``x`` converted to ``dtype``, as ``x.astype(dtype)`` (also ``x.astype(dtype)`` on a variable).

    Parameters
    ----------
    x : Variable or array_like
        The values.
    dtype : str or numpy.dtype
        The target dtype.

    Returns
    -------
    Variable
        ``x`` itself when it already has ``dtype``, else the converted values. Float to integer
        truncates toward zero, as NumPy; the gradient flows between float dtypes only. A float the
        integer dtype cannot hold (NaN, an infinity, out of range: undefined in NumPy, which warns and
        whose results there vary with the platform and the array's layout) gives, on every backend, what
        x86-64's conversion gives: the most negative value of a 32-bit (int8 to int32, uint8, uint16) or
        64-bit (int64, uint32, uint64) conversion, keeping the low bits; a negative float wraps into an
        unsigned dtype, as NumPy's casts do on x86-64 (-2.5 to uint32 is 4294967294).

    Examples
    --------
    >>> x = sg.vector("x")
    >>> sg.function([x], sg.cast(x, "int32"), backend="python")([1.7, -2.5])
    array([ 1, -2], dtype=int32)
    >>> sg.function([x], sg.cast(x, "uint32"))([-2.5, np.nan, 300.0])
    array([4294967294,          0,        300], dtype=uint32)
    """)


# ---------------------------------------------------------------- reductions

_REDUCTION = """{summary} along ``axis``, as ``{numpy}`` (also ``x.{name}(axis, keepdims)``).

Parameters
----------
x : Variable or array_like
    The values.
axis : int or tuple of ints, optional
    The axes to reduce (negative counts from the end); ``None`` (default) reduces all of them.
keepdims : bool, default False
    Keep the reduced axes with length 1, so the result broadcasts against ``x``.

Returns
-------
Variable
    {returns}

Examples
--------
>>> X = sg.matrix("X")
>>> f = sg.function([X], [sg.{name}(X), sg.{name}(X, axis=0)], backend="python")
>>> f([[1.0, 2.0], [3.0, 4.0]])
{output}
"""

REDUCTIONS = {
    "sum": ("The sum", "np.sum(x, axis, keepdims=keepdims)",
            "The sums, with NumPy's dtype (bool and small integers give the default integer).",
            "[array(10.), array([4., 6.])]"),
    "prod": ("The product", "np.prod(x, axis, keepdims=keepdims)", "The products, with NumPy's dtype.",
             "[array(24.), array([3., 8.])]"),
    "max": ("The largest value", "np.max(x, axis, keepdims=keepdims)",
            "The maxima, with the dtype of ``x``. At ties the gradient is shared equally.",
            "[array(4.), array([3., 4.])]"),
    "min": ("The smallest value", "np.min(x, axis, keepdims=keepdims)",
            "The minima, with the dtype of ``x``. At ties the gradient is shared equally.",
            "[array(1.), array([1., 2.])]"),
    "mean": ("The arithmetic mean", "np.mean(x, axis, keepdims=keepdims)",
             "The means: float64 for integer ``x``, else the dtype of ``x``.",
             "[array(2.5), array([2., 3.])]"),
}
for _name, (_summary, _numpy, _returns, _output) in REDUCTIONS.items():
    add_doc(getattr(reduce, _name), _REDUCTION.format(name=_name, summary=_summary, numpy=_numpy,
                                                      returns=_returns, output=_output))
