"""Elementwise computation: a small set of scalar ops and one generic ``Elemwise`` op over them.

Every elementwise operation (``add``, ``exp``, ``where``...) is ``Elemwise(scalar_op)``,
so fusion and codegen treat them uniformly: a backend lowers a scalar op once
and gets every broadcasting shape for free. A scalar op's ``grad`` builds
tensor-level variables; ``Elemwise.grad`` then sums each one back to the shape of
its input (undoing broadcasting).
"""
from __future__ import annotations

import functools

import numpy as np

from ..graph import Node
from ..types import TensorType, broadcast_shapes
from .base import Op, as_variables


class ScalarOp:
    """A pure function of ``nin`` scalars. Identity is class plus ``__props__``, like ``Op``."""

    __props__: tuple = ()
    name = ""
    nin = 1
    #: for float functions of integers (exp of int64 -> float64), as NumPy does
    impl = None
    # Facts the rewrites read (rewrite/patterns.py, rewrite/fusion.py), declared by each op:
    #: the value is >= 0 for every input (NaN aside)
    nonnegative = False
    #: the value is > 0 in exact arithmetic for every input (floating point may still underflow to 0)
    positive = False
    #: costly enough that recomputing it for every element of a broadcast loses to a separate loop
    transcendental = False
    #: the function this op is in both NumPy and Python's ``math`` (``"exp"``): backends render it as
    #: ``np.exp(x)`` (numba) or ``math.exp(x)`` (cuda) without a template of their own; None for ops
    #: whose formula is a template in the backends' tables (sigmoid, comparisons, integer-exact arithmetic)
    math_function = None

    def __eq__(self, other):
        return type(self) is type(other) and all(getattr(self, p) == getattr(other, p) for p in self.__props__)

    def __hash__(self):
        return hash((type(self),) + tuple(getattr(self, p) for p in self.__props__))

    def __str__(self):
        props = ", ".join(str(getattr(self, p)) for p in self.__props__)
        return f"{self.name}{{{props}}}" if props else self.name

    __repr__ = __str__

    def output_dtype(self, *dtypes) -> str:
        return _probe_dtype(self, dtypes)

    def grad(self, inputs, output, output_grad):
        raise NotImplementedError(f"scalar op {self.name} has no gradient")


@functools.lru_cache(maxsize=None)
def _probe_dtype(scalar_op, dtypes):
    # NumPy decides: apply the reference to empty arrays of the input dtypes.
    with np.errstate(all="ignore"):
        result = scalar_op.impl(*[np.ones((1,), dtype=d) for d in dtypes])
    return np.asarray(result).dtype.name


class Elemwise(Op):
    """Apply ``scalar_op`` elementwise with NumPy broadcasting."""

    __props__ = ("scalar_op",)

    def __init__(self, scalar_op: ScalarOp):
        self.scalar_op = scalar_op

    @property
    def name(self):
        return self.scalar_op.name

    def __str__(self):
        return str(self.scalar_op)

    def make_node(self, *inputs):
        if len(inputs) != self.scalar_op.nin:
            raise TypeError(f"{self.name} takes {self.scalar_op.nin} inputs, got {len(inputs)}")
        inputs = as_variables(*inputs)
        shape = broadcast_shapes(*[v.type.shape for v in inputs], op_name=self.name,
                                 describe=lambda: ", ".join(v.describe() for v in inputs))
        dtype = self.scalar_op.output_dtype(*[v.dtype for v in inputs])
        return Node(self, inputs, [TensorType(dtype, shape)])

    def perform(self, node, inputs):
        with np.errstate(all="ignore"):
            result = self.scalar_op.impl(*inputs)
        return [np.asarray(result, dtype=node.outputs[0].dtype)]

    def grad(self, inputs, outputs, output_grads):
        from .reduce import sum_to
        grads = self.scalar_op.grad(inputs, outputs[0], output_grads[0])
        result = []
        for x, g in zip(inputs, grads):
            if g is None or not x.type.is_float:
                result.append(None)
                continue
            g = sum_to(g, x)
            if g.dtype != x.dtype:
                g = cast(g, x.dtype)
            result.append(g)
        return result


# ---------------------------------------------------------------- scalar ops

def _not_differentiable(self, inputs, output, output_grad):
    return [None] * len(inputs)


class Add(ScalarOp):
    name, nin = "add", 2
    impl = staticmethod(np.add)

    def grad(self, inputs, output, gy):
        return [gy, gy]


class Sub(ScalarOp):
    name, nin = "sub", 2
    impl = staticmethod(np.subtract)

    def grad(self, inputs, output, gy):
        return [gy, neg(gy)]


class Mul(ScalarOp):
    name, nin = "mul", 2
    impl = staticmethod(np.multiply)

    def grad(self, inputs, output, gy):
        a, b = inputs
        return [mul(gy, b), mul(gy, a)]


class TrueDiv(ScalarOp):
    name, nin = "true_div", 2
    impl = staticmethod(np.true_divide)

    def grad(self, inputs, output, gy):
        a, b = inputs
        ga = true_div(gy, b)
        return [ga, neg(mul(ga, output))]  # d(a/b)/db = -(a/b)/b


class Pow(ScalarOp):
    """x ** y. d/dx is y * x ** (y - 1), taken as 0 where y == 0 (d/dx x ** 0.0 at x = 0 is 0, not
    0 * inf); d/dy is x ** y * log(x), taken as 0 where x == 0 (d/dy 0 ** y is 0 for y > 0), as JAX
    does; it is NaN for x < 0. The excluded points go through a second ``where`` on the operand
    (``x ** (y - 1)`` is evaluated at x = 1 there), so every higher derivative is finite too.
    """
    name, nin = "pow", 2
    transcendental = True
    impl = staticmethod(np.power)

    def grad(self, inputs, output, gy):
        x, y = inputs
        y_zero = eq(y, 0)
        x_where_used = where(y_zero, 1, x)
        gx = where(y_zero, 0, mul(mul(gy, y), pow(x_where_used, sub(y, 1))))
        gy_ = None
        if y.type.is_float:
            gy_ = mul(mul(gy, output), log(where(eq(x, 0), 1, x)))
        return [gx, gy_]


class Maximum(ScalarOp):
    """Ties send the gradient to the first argument."""
    name, nin = "maximum", 2
    impl = staticmethod(np.maximum)

    def grad(self, inputs, output, gy):
        a, b = inputs
        first = ge(a, b)
        return [where(first, gy, 0), where(first, 0, gy)]


class Minimum(ScalarOp):
    """Ties send the gradient to the first argument."""
    name, nin = "minimum", 2
    impl = staticmethod(np.minimum)

    def grad(self, inputs, output, gy):
        a, b = inputs
        first = le(a, b)
        return [where(first, gy, 0), where(first, 0, gy)]


class Comparison(ScalarOp):
    nin = 2
    grad = _not_differentiable


class Lt(Comparison):
    name = "lt"
    impl = staticmethod(np.less)


class Le(Comparison):
    name = "le"
    impl = staticmethod(np.less_equal)


class Gt(Comparison):
    name = "gt"
    impl = staticmethod(np.greater)


class Ge(Comparison):
    name = "ge"
    impl = staticmethod(np.greater_equal)


class Eq(Comparison):
    name = "eq"
    impl = staticmethod(np.equal)


class Ne(Comparison):
    name = "ne"
    impl = staticmethod(np.not_equal)


class And(Comparison):
    name = "and"
    impl = staticmethod(np.logical_and)


class Or(Comparison):
    name = "or"
    impl = staticmethod(np.logical_or)


class Not(ScalarOp):
    name = "not"
    impl = staticmethod(np.logical_not)
    grad = _not_differentiable


class Neg(ScalarOp):
    name = "neg"
    impl = staticmethod(np.negative)

    def grad(self, inputs, output, gy):
        return [neg(gy)]


class Abs(ScalarOp):
    """abs'(0) = 0."""
    name = "abs"
    nonnegative = True
    impl = staticmethod(np.abs)

    def grad(self, inputs, output, gy):
        return [mul(gy, sign(inputs[0]))]


class Sign(ScalarOp):
    name = "sign"
    impl = staticmethod(np.sign)
    grad = _not_differentiable


class Exp(ScalarOp):
    name = "exp"
    math_function = "exp"
    positive = True
    nonnegative = True
    transcendental = True
    impl = staticmethod(np.exp)

    def grad(self, inputs, output, gy):
        return [mul(gy, output)]  # reuses the forward node exp(x)


class Log(ScalarOp):
    name = "log"
    math_function = "log"
    transcendental = True
    impl = staticmethod(np.log)

    def grad(self, inputs, output, gy):
        return [true_div(gy, inputs[0])]


class Log1p(ScalarOp):
    name = "log1p"
    math_function = "log1p"
    transcendental = True
    impl = staticmethod(np.log1p)

    def grad(self, inputs, output, gy):
        return [true_div(gy, add(inputs[0], 1))]


class Expm1(ScalarOp):
    name = "expm1"
    math_function = "expm1"
    transcendental = True
    impl = staticmethod(np.expm1)

    def grad(self, inputs, output, gy):
        return [mul(gy, add(output, 1))]


class Sin(ScalarOp):
    name = "sin"
    math_function = "sin"
    transcendental = True
    impl = staticmethod(np.sin)

    def grad(self, inputs, output, gy):
        return [mul(gy, cos(inputs[0]))]


class Cos(ScalarOp):
    name = "cos"
    math_function = "cos"
    transcendental = True
    impl = staticmethod(np.cos)

    def grad(self, inputs, output, gy):
        return [neg(mul(gy, sin(inputs[0])))]


class Tan(ScalarOp):
    name = "tan"
    math_function = "tan"
    transcendental = True
    impl = staticmethod(np.tan)

    def grad(self, inputs, output, gy):
        return [mul(gy, add(mul(output, output), 1))]


class Tanh(ScalarOp):
    name = "tanh"
    math_function = "tanh"
    transcendental = True
    impl = staticmethod(np.tanh)

    def grad(self, inputs, output, gy):
        return [mul(gy, sub(1, mul(output, output)))]  # 1 - t*t, t the forward node


class Sqrt(ScalarOp):
    name = "sqrt"
    math_function = "sqrt"
    nonnegative = True
    impl = staticmethod(np.sqrt)

    def grad(self, inputs, output, gy):
        return [true_div(mul(gy, 0.5), output)]


def _sigmoid(x):
    # exp of a non-positive number only: no overflow warning for large |x|.
    x = np.asarray(x)
    e = np.exp(-np.abs(x))
    one = np.ones((), dtype=e.dtype)
    return np.where(x >= 0, one / (one + e), e / (one + e))


def _softplus(x):
    x = np.asarray(x)
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


class Sigmoid(ScalarOp):
    name = "sigmoid"
    positive = True
    nonnegative = True
    transcendental = True
    impl = staticmethod(_sigmoid)

    def grad(self, inputs, output, gy):
        return [mul(gy, mul(output, sub(1, output)))]  # s * (1 - s), s the forward node


class Softplus(ScalarOp):
    """log(1 + exp(x)), computed without overflow."""
    name = "softplus"
    positive = True
    nonnegative = True
    transcendental = True
    impl = staticmethod(_softplus)

    def grad(self, inputs, output, gy):
        return [mul(gy, sigmoid(inputs[0]))]


class Relu(ScalarOp):
    """max(x, 0); relu'(0) = 0."""
    name = "relu"
    nonnegative = True

    @staticmethod
    def impl(x):
        x = np.asarray(x)
        return np.maximum(x, np.zeros((), dtype=x.dtype))

    def grad(self, inputs, output, gy):
        # From the output (relu(x) > 0 exactly when x > 0, NaN included): the forward pass then need
        # not keep x alive for the backward pass, which saves a stored array per layer.
        return [where(gt(output, 0), gy, 0)]


class Switch(ScalarOp):
    """where(cond, a, b). The gradient of the branch not taken is exactly zero (no NaN leaks through)."""
    name, nin = "where", 3
    impl = staticmethod(np.where)

    def grad(self, inputs, output, gy):
        cond = inputs[0]
        return [None, where(cond, gy, 0), where(cond, 0, gy)]


class AddN(ScalarOp):
    """x1 + x2 + ... + xn in one node: how sg.grad sums the contributions a variable gets from many consumers."""
    __props__ = ("nin",)
    name = "add_n"

    def __init__(self, nin=3):
        self.nin = int(nin)

    @staticmethod
    def impl(*xs):
        return functools.reduce(np.add, xs)

    def grad(self, inputs, output, gy):
        return [gy] * self.nin


class Identity(ScalarOp):
    name = "identity"
    impl = staticmethod(lambda x: np.array(x, copy=True))

    def grad(self, inputs, output, gy):
        return [gy]


class Cast(ScalarOp):
    __props__ = ("dtype",)
    name = "cast"

    def __init__(self, dtype="float64"):
        self.dtype = np.dtype(dtype).name

    def impl(self, x):
        return np.asarray(x).astype(self.dtype)

    def output_dtype(self, *dtypes):
        return self.dtype

    def __str__(self):
        return f"cast{{{self.dtype}}}"

    def grad(self, inputs, output, gy):
        x = inputs[0]
        if not x.type.is_float or not output.type.is_float:
            return [None]
        return [cast(gy, x.dtype)]


_elemwise_functions = {}


def _declare(*classes):
    for cls in classes:
        _elemwise_functions[cls.name] = Elemwise(cls())


_declare(Add, Sub, Mul, TrueDiv, Pow, Maximum, Minimum, Lt, Le, Gt, Ge, Eq, Ne, And, Or, Not,
         Neg, Abs, Sign, Exp, Log, Log1p, Expm1, Sin, Cos, Tan, Tanh, Sqrt, Sigmoid, Softplus,
         Relu, Switch, Identity)

SCALAR_OPS = {cls.name: cls for cls in (
    Add, Sub, Mul, TrueDiv, Pow, Maximum, Minimum, Lt, Le, Gt, Ge, Eq, Ne, And, Or, Not,
    Neg, Abs, Sign, Exp, Log, Log1p, Expm1, Sin, Cos, Tan, Tanh, Sqrt, Sigmoid, Softplus,
    Relu, Switch, Identity, Cast, AddN)}


def _f(name):
    op = _elemwise_functions[name]

    def apply(*args):
        return op(*args)

    apply.__name__ = name
    apply.__qualname__ = name
    apply.op = op
    return apply


add, sub, mul, true_div, pow = _f("add"), _f("sub"), _f("mul"), _f("true_div"), _f("pow")
maximum, minimum = _f("maximum"), _f("minimum")
lt, le, gt, ge, eq, ne = _f("lt"), _f("le"), _f("gt"), _f("ge"), _f("eq"), _f("ne")
logical_and, logical_or, logical_not = _f("and"), _f("or"), _f("not")
neg, abs_, sign, exp, log, log1p, expm1 = _f("neg"), _f("abs"), _f("sign"), _f("exp"), _f("log"), _f("log1p"), _f("expm1")
sin, cos, tan, tanh, sqrt = _f("sin"), _f("cos"), _f("tan"), _f("tanh"), _f("sqrt")
sigmoid, softplus, relu, where, identity = _f("sigmoid"), _f("softplus"), _f("relu"), _f("where"), _f("identity")


def add_n(*xs):
    """The sum of any number of variables as one node (``add`` for two, the variable itself for one)."""
    if len(xs) == 1:
        from .base import as_variable
        return as_variable(xs[0])
    if len(xs) == 2:
        return add(*xs)
    return Elemwise(AddN(len(xs)))(*xs)


def cast(x, dtype):
    """x converted to ``dtype``; a no-op when it already has it."""
    from .base import as_variable
    x = as_variable(x)
    dtype = np.dtype(dtype).name
    if x.dtype == dtype:
        return x
    return Elemwise(Cast(dtype))(x)
