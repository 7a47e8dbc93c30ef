"""Elementwise computation: a small set of scalar ops and one generic ``Elemwise`` op over them.

Every elementwise operation (``add``, ``exp``, ``where``...) is ``Elemwise(scalar_op)``,
so fusion and codegen treat them uniformly: a backend lowers a scalar op once
and gets every broadcasting shape for free. A scalar op's ``grad`` builds
tensor-level variables; ``Elemwise.grad`` then sums each one back to the shape of
its input (undoing broadcasting).
"""
from __future__ import annotations

import functools
import math

import numpy as np

from ..graph import Node
from ..types import TensorType, broadcast_shapes
from .base import Op, as_variables


#: every scalar op class of symgraph, by name (filled as the classes are defined)
SCALAR_OPS: dict = {}


class ScalarDialect:
    """What a backend offers the scalar formulas of ``ScalarOp.formula``: source text in, source text out.

    Operators (``+ - * / < <= == != and or not``) are the same in every backend (all are Python source
    compiled by Numba); what differs is provided here. ``dtype`` is the computation dtype (a NumPy dtype).
    """

    dtype = np.dtype("float64")

    def call(self, function, *args) -> str:
        """The NumPy/``math`` function ``function`` (``np.exp(x)`` on numba, ``math.exp(x)`` on cuda)."""
        raise NotImplementedError

    def lit(self, value) -> str:
        """The number ``value`` as a constant of the computation dtype (float32 stays float32)."""
        raise NotImplementedError

    def let(self, expression) -> str:
        """A name bound to ``expression`` (computed once, read any number of times)."""
        raise NotImplementedError

    def truth(self, x) -> str:
        """The operand ``x`` as a condition (non-zero is true)."""
        raise NotImplementedError

    def select(self, condition, a, b) -> str:
        """``a`` where ``condition`` holds, else ``b`` (only the branch taken is evaluated)."""
        return f"({a} if {condition} else {b})"

    def abs(self, x) -> str:
        """The absolute value of ``x``."""
        raise NotImplementedError

    def maximum(self, a, b) -> str:
        """NumPy's ``maximum`` (NaN propagates)."""
        raise NotImplementedError

    def minimum(self, a, b) -> str:
        """NumPy's ``minimum`` (NaN propagates)."""
        raise NotImplementedError

    def power(self, a, b) -> str:
        """``a ** b`` for floats (the backends compute integer powers exactly, on their own)."""
        raise NotImplementedError

    def mul(self, a, b) -> str:
        """``a * b`` rounded on its own, as NumPy rounds every product: a backend whose compiler would fuse
        the product into a following addition (a GPU's fused multiply-add) keeps it apart here."""
        return f"({a} * {b})"

    def convert(self, x, dtype) -> str:
        """``x`` converted to ``dtype`` by the backend's own conversion (for a float, only where the value fits
        ``dtype``: ``Cast.from_float`` guards the rest)."""
        raise NotImplementedError


class ScalarOp:
    """A pure function of ``nin`` scalars. Identity is class plus ``__props__``, like ``Op``.

    The class owns everything the op means: ``impl`` (the NumPy reference), ``output_dtype``, ``grad``,
    the facts rewrites read, and its scalar formula, which every backend renders (numba's generated
    source and both tape interpreters, cuda's kernels): either ``math_function``, the NumPy/``math``
    function the op is, or ``formula``, an expression written with a backend's ``ScalarDialect``.
    Defining a subclass in symgraph registers it (``SCALAR_OPS``), so a backend needs nothing more.
    """

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
    #: ``np.exp(x)`` (numba) or ``math.exp(x)`` (cuda); None for ops that write their ``formula``
    math_function = None
    #: the result is a truth value (comparisons, logical operators): the tapes store it as 0 or 1
    predicate = False
    #: float32 operands are computed in float64 and the result rounded once (as SciPy computes its special
    #: functions): for formulas whose float32 rounding errors would add up (digamma's recurrence)
    wide = False
    #: the SymPy function this op is (``"exp"``: ``sympy.exp``), for ``sg.to_sympy`` and the SymPy rewrite
    sympy_function = None
    #: for an op SymPy must not rewrite (a stable formula it would undo, as ``log1p``): a method
    #: ``sympy_readable(self, sp, *args)`` giving its formula for ``sg.to_sympy``; the SymPy rewrite
    #: keeps it as an opaque function of its name
    sympy_readable = None
    # A class marked ``public`` becomes ``sg.<name>`` (``FUNCTIONS`` below; api.py exports every one, and
    # its docstring is written from the class's: the summary line, ``reference`` and ``example``):
    public = False
    #: the NumPy expression the op computes, for its docstring ("np.cbrt(x)")
    reference = ""
    #: (arguments, printed result) of the docstring's example: ("[-8.0, 27.0]", "array([-2.,  3.])")
    example = None
    #: what the docstring says the result is (None: "NumPy's result dtype, float64 for integer operands")
    returns = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("name") and cls.__module__.startswith("symgraph."):
            SCALAR_OPS[cls.name] = cls

    @classmethod
    def has_formula(cls) -> bool:
        """Whether the op says how it is computed (``formula`` or ``math_function``), so backends can render it."""
        return cls.formula is not ScalarOp.formula or cls.math_function is not None

    def formula(self, f, *args) -> str:
        """Source computing this op on ``args`` (operand expressions, already in the computation dtype)
        in the dialect ``f`` of a backend (see ``ScalarDialect``). The default is ``math_function``."""
        if self.math_function is None:
            raise NotImplementedError(f"scalar op {self.name} declares no formula")
        return f.call(self.math_function, *args)

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

    def scalar_program(self, node):
        """``(nin, instructions, outputs)`` in the ``Fused`` format (ops/fused.py): one instruction."""
        nin = len(node.inputs)
        return nin, ((self.scalar_op, tuple(range(nin)), node.outputs[0].dtype),), (nin,)

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
    sympy_function = "Add"

    def formula(self, f, a, b):
        return f"({a} + {b})"

    def grad(self, inputs, output, gy):
        return [gy, gy]


class Sub(ScalarOp):
    name, nin = "sub", 2
    impl = staticmethod(np.subtract)

    def formula(self, f, a, b):
        return f"({a} - {b})"

    def grad(self, inputs, output, gy):
        return [gy, neg(gy)]


class Mul(ScalarOp):
    name, nin = "mul", 2
    impl = staticmethod(np.multiply)
    sympy_function = "Mul"

    def formula(self, f, a, b):
        return f.mul(a, b)

    def grad(self, inputs, output, gy):
        a, b = inputs
        return [mul(gy, b), mul(gy, a)]


class TrueDiv(ScalarOp):
    name, nin = "true_div", 2
    impl = staticmethod(np.true_divide)

    def formula(self, f, a, b):
        return f"({a} / {b})"

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
    sympy_function = "Pow"

    def formula(self, f, a, b):
        return f.power(a, b)

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
    sympy_function = "Max"

    def formula(self, f, a, b):
        return f.maximum(a, b)

    def grad(self, inputs, output, gy):
        a, b = inputs
        first = ge(a, b)
        return [where(first, gy, 0), where(first, 0, gy)]


class Minimum(ScalarOp):
    """Ties send the gradient to the first argument."""
    name, nin = "minimum", 2
    impl = staticmethod(np.minimum)
    sympy_function = "Min"

    def formula(self, f, a, b):
        return f.minimum(a, b)

    def grad(self, inputs, output, gy):
        a, b = inputs
        first = le(a, b)
        return [where(first, gy, 0), where(first, 0, gy)]


class Comparison(ScalarOp):
    nin = 2
    predicate = True
    grad = _not_differentiable
    #: the Python operator (comparisons) or keyword (logical operators)
    operator = ""

    def formula(self, f, a, b):
        return f"({a} {self.operator} {b})"


class Lt(Comparison):
    name, operator = "lt", "<"
    impl = staticmethod(np.less)


class Le(Comparison):
    name, operator = "le", "<="
    impl = staticmethod(np.less_equal)


class Gt(Comparison):
    name, operator = "gt", ">"
    impl = staticmethod(np.greater)


class Ge(Comparison):
    name, operator = "ge", ">="
    impl = staticmethod(np.greater_equal)


class Eq(Comparison):
    name, operator = "eq", "=="
    impl = staticmethod(np.equal)


class Ne(Comparison):
    name, operator = "ne", "!="
    impl = staticmethod(np.not_equal)


class And(Comparison):
    name = "and"
    impl = staticmethod(np.logical_and)

    def formula(self, f, a, b):
        return f"({f.truth(a)} and {f.truth(b)})"


class Or(Comparison):
    name = "or"
    impl = staticmethod(np.logical_or)

    def formula(self, f, a, b):
        return f"({f.truth(a)} or {f.truth(b)})"


class Not(ScalarOp):
    name = "not"
    predicate = True
    impl = staticmethod(np.logical_not)
    grad = _not_differentiable

    def formula(self, f, x):
        return f"(not {f.truth(x)})"


class Neg(ScalarOp):
    name = "neg"
    impl = staticmethod(np.negative)

    def formula(self, f, x):
        return f"(-{x})"

    def grad(self, inputs, output, gy):
        return [neg(gy)]


class Abs(ScalarOp):
    """abs'(0) = 0."""
    name = "abs"
    nonnegative = True
    sympy_function = "Abs"
    impl = staticmethod(np.abs)

    def formula(self, f, x):
        return f.abs(x)

    def grad(self, inputs, output, gy):
        return [mul(gy, sign(inputs[0]))]


class Sign(ScalarOp):
    """-1, 0 or 1; NaN stays NaN and -0.0 gives 0.0, as in NumPy."""
    name = "sign"
    sympy_function = "sign"
    impl = staticmethod(np.sign)
    grad = _not_differentiable

    def formula(self, f, x):
        one, zero = f.lit(1), f.lit(0)
        if f.dtype.kind in "ub":
            return f.select(f"{x} > {zero}", one, x)
        equal = f.select(f"{x} == {zero}", zero, x)
        return f.select(f"{x} > {zero}", one, f.select(f"{x} < {zero}", f.lit(-1), equal))


class Exp(ScalarOp):
    name = "exp"
    math_function = "exp"
    sympy_function = "exp"
    positive = True
    nonnegative = True
    transcendental = True
    impl = staticmethod(np.exp)

    def grad(self, inputs, output, gy):
        return [mul(gy, output)]  # reuses the forward node exp(x)


class Log(ScalarOp):
    name = "log"
    math_function = "log"
    sympy_function = "log"
    transcendental = True
    impl = staticmethod(np.log)

    def grad(self, inputs, output, gy):
        return [true_div(gy, inputs[0])]


class Log1p(ScalarOp):
    name = "log1p"
    math_function = "log1p"
    transcendental = True
    impl = staticmethod(np.log1p)

    def sympy_readable(self, sp, x):
        return sp.log(1 + x)

    def grad(self, inputs, output, gy):
        return [true_div(gy, add(inputs[0], 1))]


class Expm1(ScalarOp):
    name = "expm1"
    math_function = "expm1"
    transcendental = True
    impl = staticmethod(np.expm1)

    def sympy_readable(self, sp, x):
        return sp.exp(x) - 1

    def grad(self, inputs, output, gy):
        return [mul(gy, add(output, 1))]


class Sin(ScalarOp):
    name = "sin"
    math_function = "sin"
    sympy_function = "sin"
    transcendental = True
    impl = staticmethod(np.sin)

    def grad(self, inputs, output, gy):
        return [mul(gy, cos(inputs[0]))]


class Cos(ScalarOp):
    name = "cos"
    math_function = "cos"
    sympy_function = "cos"
    transcendental = True
    impl = staticmethod(np.cos)

    def grad(self, inputs, output, gy):
        return [neg(mul(gy, sin(inputs[0])))]


class Tan(ScalarOp):
    name = "tan"
    math_function = "tan"
    sympy_function = "tan"
    transcendental = True
    impl = staticmethod(np.tan)

    def grad(self, inputs, output, gy):
        return [mul(gy, add(mul(output, output), 1))]


class Tanh(ScalarOp):
    name = "tanh"
    math_function = "tanh"
    sympy_function = "tanh"
    transcendental = True
    impl = staticmethod(np.tanh)

    def grad(self, inputs, output, gy):
        return [mul(gy, sub(1, mul(output, output)))]  # 1 - t*t, t the forward node


class Sqrt(ScalarOp):
    name = "sqrt"
    math_function = "sqrt"
    sympy_function = "sqrt"
    nonnegative = True
    impl = staticmethod(np.sqrt)

    def grad(self, inputs, output, gy):
        return [true_div(mul(gy, 0.5), output)]


class Cbrt(ScalarOp):
    """The real cube root: negative for negative ``x``; its derivative is ``inf`` at 0."""
    name = "cbrt"
    math_function = "cbrt"
    public = True
    reference = "np.cbrt(x)"
    example = ("[-8.0, 27.0]", "array([-2.,  3.])")
    impl = staticmethod(np.cbrt)

    def grad(self, inputs, output, gy):
        return [true_div(gy, mul(3, mul(output, output)))]   # 1 / (3 cbrt(x) ** 2), from the forward node


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
    """1 / (1 + exp(-x)) from exp(-|x|) only, so neither tail overflows."""
    name = "sigmoid"
    positive = True
    nonnegative = True
    transcendental = True
    impl = staticmethod(_sigmoid)

    def sympy_readable(self, sp, x):
        return 1 / (1 + sp.exp(-x))

    def formula(self, f, x):
        x = f.let(x)
        e = f.let(f.call("exp", f"(-{f.abs(x)})"))
        one = f.lit(1)
        return f.select(f"{x} >= {f.lit(0)}", f"{one} / ({one} + {e})", f"{e} / ({one} + {e})")

    def grad(self, inputs, output, gy):
        return [mul(gy, mul(output, sub(1, output)))]  # s * (1 - s), s the forward node


class Softplus(ScalarOp):
    """log(1 + exp(x)), computed without overflow."""
    name = "softplus"
    positive = True
    nonnegative = True
    transcendental = True
    impl = staticmethod(_softplus)

    def sympy_readable(self, sp, x):
        return sp.log(1 + sp.exp(x))

    def formula(self, f, x):
        x = f.let(x)
        return f"({f.maximum(x, f.lit(0))} + {f.call('log1p', f.call('exp', f'(-{f.abs(x)})'))})"

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

    def sympy_readable(self, sp, x):
        return sp.Max(x, 0)

    def formula(self, f, x):
        x, zero = f.let(x), f.lit(0)
        return f.select(f"{x} <= {zero}", zero, x)    # x <= 0 is False for NaN: NaN passes, as in np.maximum

    def grad(self, inputs, output, gy):
        # From the output (relu(x) > 0 exactly when x > 0, NaN included): the forward pass then need
        # not keep x alive for the backward pass, which saves a stored array per layer.
        return [where(gt(output, 0), gy, 0)]


class Switch(ScalarOp):
    """where(cond, a, b). The gradient of the branch not taken is exactly zero (no NaN leaks through)."""
    name, nin = "where", 3
    impl = staticmethod(np.where)

    def formula(self, f, condition, a, b):
        return f.select(f.truth(condition), a, b)

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

    def formula(self, f, *args):
        return "(" + " + ".join(args) + ")"     # left to right, as the reference

    def grad(self, inputs, output, gy):
        return [gy] * self.nin


class Identity(ScalarOp):
    name = "identity"
    impl = staticmethod(lambda x: np.array(x, copy=True))

    def formula(self, f, x):
        return x

    def grad(self, inputs, output, gy):
        return [gy]


class Cast(ScalarOp):
    __props__ = ("dtype",)
    name = "cast"

    def __init__(self, dtype="float64"):
        self.dtype = np.dtype(dtype).name

    def impl(self, x):
        x = np.asarray(x)
        if x.dtype.kind == "f" and np.dtype(self.dtype).kind in "iu":
            return float_to_integer(x, self.dtype)
        return x.astype(self.dtype)

    def formula(self, f, x):
        return x      # the backend's conversion to the result dtype is the whole op (from_float for floats)

    def output_dtype(self, *dtypes):
        return self.dtype

    @staticmethod
    def from_float(f, x, target) -> str:
        """Source (dialect ``f``, whose dtype is ``x``'s float dtype) converting the float ``x`` to the integer
        dtype ``target`` for every input, the same on every backend.

        Truncation toward zero where the value fits; otherwise what NumPy's C casts give on x86-64, whose
        conversion instruction (32 or 64 bits wide) returns its most negative value for NaN, infinities
        and values out of its range, and whose narrower results keep the low bits: int8, int16, uint8 and
        uint16 through a 32-bit conversion, int64 and uint32 through a 64-bit one, uint64 as x86-64
        compilers convert it (from 2**63 up, a conversion of ``x - 2**63`` with the top bit set again).
        So a negative float wraps into an unsigned type (-2.5 to uint32 is 2**32 - 2), and NaN to int64 is
        -2**63. NumPy calls such casts undefined and warns ("invalid value encountered in cast"); its own
        results then depend on the platform and even on the array's layout (its vectorised loops convert
        NaN to uint32 as 2**31, its scalar ones as 0). A bare conversion in a kernel is undefined too (LLVM
        is free to give anything; its AVX-512 code saturates), hence the guard: every backend gives the
        bits above, the python backend included (``float_to_integer``).

        >>> float_to_integer(np.array([-2.5, np.nan, 1e30]), "uint32")
        array([4294967294,          0,          0], dtype=uint32)
        """
        target = np.dtype(target).name
        x = f.let(x)

        def convert(value, bits):      # the conversion instruction with a ``bits``-wide result
            lowest = -(2 ** (bits - 1))
            below = float(lowest) - 1.0                # exclusive bound where the float dtype holds it
            low = (f"({value} > {f.lit(below)})" if float(f.dtype.type(below)) == below
                   else f"({value} >= {f.lit(float(lowest))})")
            inside = f"({low} & ({value} < {f.lit(2.0 ** (bits - 1))}))"
            return f.select(inside, f.convert(value, f"int{bits}"), f.convert(repr(lowest), f"int{bits}"))

        if target == "uint64":
            top = f.lit(2.0 ** 63)
            high = f"({f.convert(convert(f'({x} - {top})', 64), 'uint64')} ^ {f.convert(repr(2 ** 63), 'uint64')})"
            return f.select(f"({x} >= {top})", high, f.convert(convert(x, 64), "uint64"))
        if target == "int64":
            return convert(x, 64)
        if target == "uint32":
            return f.convert(convert(x, 64), "uint32")
        if target == "int32":
            return convert(x, 32)
        return f.convert(convert(x, 32), target)

    def __str__(self):
        return f"cast{{{self.dtype}}}"

    def grad(self, inputs, output, gy):
        x = inputs[0]
        if not x.type.is_float or not output.type.is_float:
            return [None]
        return [cast(gy, x.dtype)]


def float_to_integer(x, dtype):
    """The float array ``x`` converted to the integer ``dtype`` as ``Cast.from_float`` defines it, in NumPy: where
    NumPy's ``astype`` gives the value (it fits), the same; elsewhere (NaN, infinities, out of range) the
    bits of x86-64's conversion, whatever NumPy's own loop would give there.

    Parameters
    ----------
    x : numpy.ndarray
        Floats (float16, float32 or float64).
    dtype : str or numpy.dtype
        An integer dtype.

    Returns
    -------
    numpy.ndarray
        ``x``'s shape, of ``dtype``.

    Examples
    --------
    >>> float_to_integer(np.array([2.9, -2.5, np.nan, 300.0]), "int8")
    array([  2,  -2,   0,  44], dtype=int8)
    """
    x = np.asarray(x)
    target = np.dtype(dtype)
    if x.dtype.kind != "f" or target.kind not in "iu":
        raise TypeError(f"float_to_integer: a float array and an integer dtype, not {x.dtype} and {target}")

    def convert(value, bits):
        lowest = -(2 ** (bits - 1))
        below = float(lowest) - 1.0
        low = value > below if float(x.dtype.type(below)) == below else value >= lowest
        inside = low & (value < 2.0 ** (bits - 1))
        with np.errstate(invalid="ignore"):
            fitted = np.where(inside, value, 0).astype(f"int{bits}")
        return np.where(inside, fitted, np.array(lowest, f"int{bits}"))

    with np.errstate(invalid="ignore", over="ignore"):
        if target == np.uint64:
            top = x.dtype.type(2.0 ** 63)
            high = convert(x - top, 64).view(np.uint64) ^ np.uint64(2 ** 63)
            return np.asarray(np.where(x >= top, high, convert(x, 64).view(np.uint64)), np.uint64)
        if target.itemsize == 8 or target == np.uint32:
            return convert(x, 64).astype(target)
        return convert(x, 32).astype(target)


# ---------------------------------------------------------------- more of NumPy's math
# Each class is the whole op: sg.<name> (public), its docstring (the class's, its reference and example),
# its NumPy/SciPy reference (impl), its formula for every backend and its derivative.

def _zero_gradient(self, inputs, output, output_grad):
    from .shape import zeros_like
    return [zeros_like(x) if x.type.is_float else None for x in inputs]


def _exact_for_integers(function):
    """A formula that is ``function`` for floats and the operand itself for integers and booleans (floor,
    ceil, trunc and round of an integer are that integer, in its dtype, as in NumPy 2)."""
    def formula(self, f, x):
        return x if f.dtype.kind in "iub" else f.call(function, x)
    return formula


class Floor(ScalarOp):
    """The largest integer not greater than ``x``: integer operands keep their dtype, as in NumPy 2; the
    derivative is 0 everywhere (also at the jumps)."""
    name = "floor"
    public = True
    reference = "np.floor(x)"
    example = ("[-1.5, 0.5, 2.0]", "array([-2.,  0.,  2.])")
    returns = "The result, with the dtype of ``x``."
    impl = staticmethod(np.floor)
    formula = _exact_for_integers("floor")
    grad = _zero_gradient


class Ceil(ScalarOp):
    """The smallest integer not less than ``x``: integer operands keep their dtype, as in NumPy 2; the
    derivative is 0 everywhere (also at the jumps)."""
    name = "ceil"
    public = True
    reference = "np.ceil(x)"
    example = ("[-1.5, 0.5, 2.0]", "array([-1.,  1.,  2.])")
    returns = "The result, with the dtype of ``x``."
    impl = staticmethod(np.ceil)
    formula = _exact_for_integers("ceil")
    grad = _zero_gradient


class Trunc(ScalarOp):
    """``x`` rounded toward zero: integer operands keep their dtype, as in NumPy 2; the derivative is 0
    everywhere (also at the jumps)."""
    name = "trunc"
    public = True
    reference = "np.trunc(x)"
    example = ("[-1.5, 0.5, 2.0]", "array([-1.,  0.,  2.])")
    returns = "The result, with the dtype of ``x``."
    impl = staticmethod(np.trunc)
    formula = _exact_for_integers("trunc")
    grad = _zero_gradient


class Round(ScalarOp):
    """``x`` rounded to the nearest integer, halves to even (``round(2.5) == 2.0``, ``round(-0.5) == -0.0``):
    integer operands keep their dtype; the derivative is 0 everywhere (also at the jumps)."""
    name = "round"
    public = True
    reference = "np.round(x)"
    example = ("[0.5, 1.5, 2.5, -0.7]", "array([ 0.,  2.,  2., -1.])")
    returns = "The result, with the dtype of ``x``."
    impl = staticmethod(np.round)
    grad = _zero_gradient

    def formula(self, f, x):
        if f.dtype.kind in "iub":
            return x
        x = f.let(x)
        low = f.let(f.call("floor", x))
        fraction = f.let(f"({x} - {low})")          # exact
        up = f"({low} + {f.lit(1)})"
        tie = f.select(f"{f.call('fmod', low, f.lit(2))} == {f.lit(0)}", low, up)
        nearest = f.select(f"{fraction} > {f.lit(0.5)}", up, f.select(f"{fraction} < {f.lit(0.5)}", low, tie))
        return f.call("copysign", nearest, x)        # -0.4 rounds to -0.0, as in NumPy


def _float_modulus(f, a, b):
    """``(fmod(a, b), a, b)`` as names: the start of NumPy's ``npy_divmod`` for floats."""
    a, b = f.let(a), f.let(b)
    return f.let(f.call("fmod", a, b)), a, b


def _integer_division(f, a, b, operator):
    """``a // b`` or ``a % b`` for integers as NumPy computes them: floor semantics, 0 for a zero divisor,
    and ``MIN // -1 == MIN`` (which wraps) without dividing (a hardware trap otherwise)."""
    a, b = f.let(a), f.let(b)
    zero, one = f.lit(0), f.lit(1)
    if f.dtype.kind == "u":
        return f.select(f"{b} == {zero}", zero, f"({a} {operator} {b})")
    minus_one = f.lit(-1)
    divisor = f.let(f.select(f"({b} == {zero}) or ({b} == {minus_one})", one, b))
    quotient = f"({a} {operator} {divisor})"
    if operator == "%":
        by_minus_one = zero
    else:
        low = f.lit(np.iinfo(f.dtype).min)
        by_minus_one = f.select(f"{a} == {low}", low, f"(-{a})")
    return f.select(f"{b} == {zero}", zero, f.select(f"{b} == {minus_one}", by_minus_one, quotient))


class Mod(ScalarOp):
    """The remainder of floor division, with the sign of ``b`` (``a % b``): NumPy's and Python's
    convention, ``-7 % 3 == 2`` and ``7 % -3 == -2``. An integer remainder by 0 is 0 and a float one NaN,
    as in NumPy. Derivatives 1 and ``-floor_divide(a, b)``."""
    name, nin = "mod", 2
    public = True
    reference = "np.mod(a, b)"
    example = ("[-7.0, 7.0, 7.5], [3.0, -3.0, 2.0]", "array([ 2. , -2. ,  1.5])")
    returns = "The result, with the promoted dtype of ``a`` and ``b``."
    impl = staticmethod(np.mod)

    def formula(self, f, a, b):
        if f.dtype.kind in "iub":
            return _integer_division(f, a, b, "%")
        m, a, b = _float_modulus(f, a, b)
        zero = f.lit(0)
        adjusted = f.select(f"({b} < {zero}) != ({m} < {zero})", f"({m} + {b})", m)
        return f.select(f"{b} == {zero}", m, f.select(f"{m} != {zero}", adjusted, f.call("copysign", zero, b)))

    def grad(self, inputs, output, gy):
        a, b = inputs
        return [gy, neg(mul(gy, floor_divide(a, b)))]


class FloorDivide(ScalarOp):
    """``a / b`` rounded down (``a // b``): NumPy's convention, ``-7 // 2 == -4``. An integer division by
    0 gives 0 and ``MIN // -1`` wraps to ``MIN``, as in NumPy; a float division by 0 gives ``a / b``
    (inf or NaN). The derivative is 0 everywhere."""
    name, nin = "floor_divide", 2
    public = True
    reference = "np.floor_divide(a, b)"
    example = ("[-7.0, 7.0, 7.5], [2.0, -2.0, 2.0]", "array([-4., -4.,  3.])")
    returns = "The result, with the promoted dtype of ``a`` and ``b``."
    impl = staticmethod(np.floor_divide)
    grad = _zero_gradient

    def formula(self, f, a, b):
        if f.dtype.kind in "iub":
            return _integer_division(f, a, b, "//")
        m, a, b = _float_modulus(f, a, b)      # NumPy's npy_divmod, step for step
        zero, one = f.lit(0), f.lit(1)
        exact = f.let(f"(({a} - {m}) / {b})")
        crosses = f"{m} != {zero} and (({b} < {zero}) != ({m} < {zero}))"
        quotient = f.let(f.select(crosses, f"({exact} - {one})", exact))
        low = f.let(f.call("floor", quotient))
        rounded = f.select(f"({quotient} - {low}) > {f.lit(0.5)}", f"({low} + {one})", low)
        nonzero = f.select(f"{quotient} != {zero}", rounded, f.call("copysign", zero, f"({a} / {b})"))
        return f.select(f"{b} == {zero}", f"({a} / {b})", nonzero)


class Reciprocal(ScalarOp):
    """``1 / x``: for integers NumPy's C division by truncation (``reciprocal(2) == 0``); an integer 0 gives
    0 on every backend (NumPy's value there is undefined behaviour in C and depends on the dtype)."""
    name = "reciprocal"
    public = True
    reference = "np.reciprocal(x)"
    example = ("[2.0, -0.5]", "array([ 0.5, -2. ])")
    returns = "The result, with the dtype of ``x``."

    @staticmethod
    def impl(x):
        x = np.asarray(x)
        if x.dtype.kind in "iu":
            return np.where(x == 0, x, np.reciprocal(np.where(x == 0, np.ones((), x.dtype), x)))
        return np.reciprocal(x)

    def formula(self, f, x):
        if f.dtype.kind in "iub":
            if f.dtype.kind == "b":
                return x
            x, one = f.let(x), f.lit(1)
            if f.dtype.kind == "u":
                return f.select(f"{x} == {one}", one, f.lit(0))
            return f.select(f"({x} == {one}) or ({x} == {f.lit(-1)})", x, f.lit(0))
        return f"({f.lit(1)} / {x})"

    def grad(self, inputs, output, gy):
        return [neg(mul(gy, mul(output, output)))]


class Arcsin(ScalarOp):
    """The inverse sine, in ``[-pi/2, pi/2]`` (NaN outside ``[-1, 1]``): derivative ``1 / sqrt(1 - x**2)``
    (``inf`` at ±1)."""
    name = "arcsin"
    math_function = "arcsin"
    sympy_function = "asin"
    transcendental = True
    public = True
    reference = "np.arcsin(x)"
    example = ("[0.0, 1.0]", "array([0.        , 1.57079633])")
    impl = staticmethod(np.arcsin)

    def grad(self, inputs, output, gy):
        x = inputs[0]
        return [true_div(gy, sqrt(sub(1, mul(x, x))))]


class Arccos(ScalarOp):
    """The inverse cosine, in ``[0, pi]`` (NaN outside ``[-1, 1]``): derivative ``-1 / sqrt(1 - x**2)``."""
    name = "arccos"
    math_function = "arccos"
    sympy_function = "acos"
    transcendental = True
    public = True
    reference = "np.arccos(x)"
    example = ("[1.0, 0.0]", "array([0.        , 1.57079633])")
    impl = staticmethod(np.arccos)

    def grad(self, inputs, output, gy):
        x = inputs[0]
        return [neg(true_div(gy, sqrt(sub(1, mul(x, x)))))]


class Arctan(ScalarOp):
    """The inverse tangent, in ``(-pi/2, pi/2)``: derivative ``1 / (1 + x**2)``."""
    name = "arctan"
    math_function = "arctan"
    sympy_function = "atan"
    transcendental = True
    public = True
    reference = "np.arctan(x)"
    example = ("[0.0, 1.0]", "array([0.        , 0.78539816])")
    impl = staticmethod(np.arctan)

    def grad(self, inputs, output, gy):
        x = inputs[0]
        return [true_div(gy, add(1, mul(x, x)))]


class Sinh(ScalarOp):
    """The hyperbolic sine: derivative ``cosh(x)``."""
    name = "sinh"
    math_function = "sinh"
    sympy_function = "sinh"
    transcendental = True
    public = True
    reference = "np.sinh(x)"
    example = ("[0.0, 1.0]", "array([0.        , 1.17520119])")
    impl = staticmethod(np.sinh)

    def grad(self, inputs, output, gy):
        return [mul(gy, cosh(inputs[0]))]


class Cosh(ScalarOp):
    """The hyperbolic cosine: derivative ``sinh(x)``."""
    name = "cosh"
    math_function = "cosh"
    sympy_function = "cosh"
    positive = True
    nonnegative = True
    transcendental = True
    public = True
    reference = "np.cosh(x)"
    example = ("[0.0, 1.0]", "array([1.        , 1.54308063])")
    impl = staticmethod(np.cosh)

    def grad(self, inputs, output, gy):
        return [mul(gy, sinh(inputs[0]))]


class Arcsinh(ScalarOp):
    """The inverse hyperbolic sine: derivative ``1 / sqrt(x**2 + 1)``."""
    name = "arcsinh"
    math_function = "arcsinh"
    sympy_function = "asinh"
    transcendental = True
    public = True
    reference = "np.arcsinh(x)"
    example = ("[0.0, 1.0]", "array([0.        , 0.88137359])")
    impl = staticmethod(np.arcsinh)

    def grad(self, inputs, output, gy):
        x = inputs[0]
        return [true_div(gy, sqrt(add(mul(x, x), 1)))]


class Arccosh(ScalarOp):
    """The inverse hyperbolic cosine (NaN below 1): derivative ``1 / sqrt(x**2 - 1)`` (``inf`` at 1)."""
    name = "arccosh"
    math_function = "arccosh"
    sympy_function = "acosh"
    nonnegative = True
    transcendental = True
    public = True
    reference = "np.arccosh(x)"
    example = ("[1.0, 2.0]", "array([0.       , 1.3169579])")
    impl = staticmethod(np.arccosh)

    def grad(self, inputs, output, gy):
        x = inputs[0]
        return [true_div(gy, sqrt(sub(mul(x, x), 1)))]


class Arctanh(ScalarOp):
    """The inverse hyperbolic tangent (±inf at ±1, NaN beyond): derivative ``1 / (1 - x**2)``."""
    name = "arctanh"
    math_function = "arctanh"
    sympy_function = "atanh"
    transcendental = True
    public = True
    reference = "np.arctanh(x)"
    example = ("[0.0, 0.5]", "array([0.        , 0.54930614])")
    impl = staticmethod(np.arctanh)

    def grad(self, inputs, output, gy):
        x = inputs[0]
        return [true_div(gy, sub(1, mul(x, x)))]


class Arctan2(ScalarOp):
    """The angle of the point ``(b, a)`` (``a`` the y coordinate, as ``np.arctan2(y, x)``), in
    ``[-pi, pi]``, with C's conventions for zeros and infinities: derivatives ``b / r**2`` and ``-a / r**2``
    (``r**2 = a**2 + b**2``), taken as 0 at the origin."""
    name, nin = "arctan2", 2
    math_function = "arctan2"
    transcendental = True
    public = True
    reference = "np.arctan2(a, b)"
    example = ("[1.0, 0.0], [0.0, -1.0]", "array([1.57079633, 3.14159265])")
    returns = "The result, a float dtype (float64 for integer operands)."
    impl = staticmethod(np.arctan2)

    def grad(self, inputs, output, gy):
        a, b = inputs
        r2 = add(mul(a, a), mul(b, b))
        safe = where(eq(r2, 0), 1, r2)
        scale = where(eq(r2, 0), 0, true_div(gy, safe))
        return [mul(scale, b), neg(mul(scale, a))]


class Hypot(ScalarOp):
    """``sqrt(a**2 + b**2)`` without overflow or underflow in the squares (``hypot(inf, nan)`` is ``inf``,
    as in C): derivatives ``a / hypot`` and ``b / hypot``, taken as 0 at the origin."""
    name, nin = "hypot", 2
    math_function = "hypot"
    nonnegative = True
    public = True
    reference = "np.hypot(a, b)"
    example = ("[3.0, 5.0], [4.0, 12.0]", "array([ 5., 13.])")
    returns = "The result, a float dtype (float64 for integer operands)."
    impl = staticmethod(np.hypot)

    def grad(self, inputs, output, gy):
        a, b = inputs
        zero = eq(output, 0)
        scale = where(zero, 0, true_div(gy, where(zero, 1, output)))
        return [mul(scale, a), mul(scale, b)]


class Log2(ScalarOp):
    """The base-2 logarithm: derivative ``1 / (x log 2)``."""
    name = "log2"
    math_function = "log2"
    transcendental = True
    public = True
    reference = "np.log2(x)"
    example = ("[1.0, 8.0]", "array([0., 3.])")
    impl = staticmethod(np.log2)

    def sympy_readable(self, sp, x):
        return sp.log(x, 2)

    def grad(self, inputs, output, gy):
        return [true_div(gy, mul(inputs[0], float(np.log(2.0))))]


class Log10(ScalarOp):
    """The base-10 logarithm: derivative ``1 / (x log 10)``."""
    name = "log10"
    math_function = "log10"
    transcendental = True
    public = True
    reference = "np.log10(x)"
    example = ("[1.0, 1000.0]", "array([0., 3.])")
    impl = staticmethod(np.log10)

    def sympy_readable(self, sp, x):
        return sp.log(x, 10)

    def grad(self, inputs, output, gy):
        return [true_div(gy, mul(inputs[0], float(np.log(10.0))))]


class Exp2(ScalarOp):
    """``2 ** x``: derivative ``2 ** x log 2``."""
    name = "exp2"
    math_function = "exp2"
    positive = True
    nonnegative = True
    transcendental = True
    public = True
    reference = "np.exp2(x)"
    example = ("[0.0, 3.0]", "array([1., 8.])")
    impl = staticmethod(np.exp2)

    def sympy_readable(self, sp, x):
        return 2 ** x

    def grad(self, inputs, output, gy):
        return [mul(gy, mul(output, float(np.log(2.0))))]


class Logaddexp(ScalarOp):
    """``log(exp(a) + exp(b))`` without overflow (``logaddexp(1000, 1000)`` is ``1000 + log 2``) or
    cancellation, as NumPy computes it: derivatives ``sigmoid(a - b)`` and ``sigmoid(b - a)``."""
    name, nin = "logaddexp", 2
    transcendental = True
    public = True
    reference = "np.logaddexp(a, b)"
    example = ("[0.0, 1000.0], [0.0, 1000.0]", "array([6.93147181e-01, 1.00069315e+03])")
    returns = "The result, a float dtype (float64 for integer operands)."
    impl = staticmethod(np.logaddexp)

    def sympy_readable(self, sp, a, b):
        return sp.log(sp.exp(a) + sp.exp(b))

    def formula(self, f, a, b):
        a, b = f.let(a), f.let(b)
        d = f.let(f"({a} - {b})")
        zero = f.lit(0)
        above = f"({a} + {f.call('log1p', f.call('exp', f'(-{d})'))})"
        below = f"({b} + {f.call('log1p', f.call('exp', d))})"
        # equal operands first: also two infinities of one sign, whose difference is NaN
        return f.select(f"{a} == {b}", f"({a} + {f.lit(np.log(2.0))})",
                        f.select(f"{d} > {zero}", above, f.select(f"{d} <= {zero}", below, d)))

    def grad(self, inputs, output, gy):
        a, b = inputs
        return [mul(gy, sigmoid(sub(a, b))), mul(gy, sigmoid(sub(b, a)))]


_TWO_OVER_SQRT_PI = 2.0 / float(np.sqrt(np.pi))


class Erf(ScalarOp):
    """The error function ``2/sqrt(pi) * integral of exp(-t**2) from 0 to x``: derivative
    ``2/sqrt(pi) * exp(-x**2)``."""
    name = "erf"
    math_function = "erf"
    sympy_function = "erf"
    transcendental = True
    public = True
    reference = "scipy.special.erf(x)"
    example = ("[0.0, 1.0]", "array([0.        , 0.84270079])")

    @staticmethod
    def impl(x):
        from scipy import special
        return special.erf(x)

    def grad(self, inputs, output, gy):
        x = inputs[0]
        return [mul(gy, mul(_TWO_OVER_SQRT_PI, exp(neg(mul(x, x)))))]


class Erfc(ScalarOp):
    """``1 - erf(x)``, accurate where ``erf(x)`` is close to 1 (``erfc(10)`` is ``2.1e-45``, not 0):
    derivative ``-2/sqrt(pi) * exp(-x**2)``."""
    name = "erfc"
    math_function = "erfc"
    sympy_function = "erfc"
    nonnegative = True
    transcendental = True
    public = True
    reference = "scipy.special.erfc(x)"
    example = ("[0.0, 1.0]", "array([1.        , 0.15729921])")

    @staticmethod
    def impl(x):
        from scipy import special
        return special.erfc(x)

    def grad(self, inputs, output, gy):
        x = inputs[0]
        return [neg(mul(gy, mul(_TWO_OVER_SQRT_PI, exp(neg(mul(x, x))))))]


# Giles, "Approximating the erfinv function" (GPU Computing Gems, 2011): single-precision polynomials in
# w = -log(1 - y**2), for w < 5 (in w - 2.5) and beyond (in sqrt(w) - 3), highest degree first.
_ERFINV_CENTRAL = (2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087,
                   -0.00125372503, -0.00417768164, 0.246640727, 1.50140941)
_ERFINV_TAIL = (-0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773,
                -0.0076224613, 0.00943887047, 1.00167406, 2.83297682)


def _horner(f, coefficients, w):
    value = f.lit(coefficients[0])
    for c in coefficients[1:]:
        value = f.let(f"({f.lit(c)} + {value} * {w})")
    return value


class Erfinv(ScalarOp):
    """The inverse of ``erf`` on ``[-1, 1]`` (±inf at ±1, NaN beyond): Giles' approximation refined by
    four Newton steps, on ``log(erfc(|x|)) = log(1 - |y|)`` where ``|y| > 0.5``, so the result keeps its
    relative accuracy up to ``y = 1 - 1e-16``; odd, so ``erfinv(-0.0)`` is -0.0. Derivative
    ``sqrt(pi)/2 * exp(erfinv(y)**2)``."""
    name = "erfinv"
    transcendental = True
    wide = True
    public = True
    reference = "scipy.special.erfinv(x)"
    example = ("[0.0, 0.5]", "array([0.        , 0.47693628])")

    @staticmethod
    def impl(x):
        from scipy import special
        return np.copysign(special.erfinv(x), x)     # odd: erfinv(-0.0) is -0.0 (SciPy gives +0.0)

    def formula(self, f, y):
        y = f.let(y)
        one = f.lit(1)
        a = f.let(f.abs(y))
        w = f.let(f"(-{f.call('log', f'(({one} - {a}) * ({one} + {a}))')})")
        central = _horner(f, _ERFINV_CENTRAL, f.let(f"({w} - {f.lit(2.5)})"))
        tail = _horner(f, _ERFINV_TAIL, f.let(f"({f.call('sqrt', w)} - {f.lit(3.0)})"))
        t = f.let(f"({f.select(f'{w} < {f.lit(5.0)}', central, tail)} * {a})")
        # Newton steps: on erf(t) = a in the middle; in the tail on log(erfc(t)) = log(1 - a), which converges
        # as fast where erfc falls exponentially (1 - a is exact there, a > 0.5)
        tail_side = f.let(f"{a} > {f.lit(0.5)}")
        log_complement = f.let(f.call("log", f"({one} - {a})"))
        for _ in range(4):
            slope = f.let(f"({f.lit(_TWO_OVER_SQRT_PI)} * {f.call('exp', f'(-{t} * {t})')})")
            complement = f.let(f.call("erfc", t))
            tail_step = f"(({log_complement} - {f.call('log', complement)}) * {complement} / {slope})"
            middle_step = f"(({f.call('erf', t)} - {a}) / {slope})"
            t = f.let(f"({t} - {f.select(tail_side, tail_step, middle_step)})")
        magnitude = f.select(f"{a} < {one}", t, f.select(f"{a} == {one}", f.lit(np.inf), f.lit(np.nan)))
        return f.call("copysign", magnitude, y)

    def grad(self, inputs, output, gy):
        return [mul(gy, mul(float(np.sqrt(np.pi)) / 2.0, exp(mul(output, output))))]


class Lgamma(ScalarOp):
    """``log|Gamma(x)|``, accurate for large ``x`` (no overflow of Gamma itself): ``inf`` at 0, the
    negative integers and ±inf (as C's and Python's ``lgamma``; SciPy's ``gammaln(-inf)`` is ``-inf``), and
    ``-log|x|`` at float64's subnormals (as C's ``lgamma``, where SciPy's ``gammaln`` gives ``inf``).
    Derivative ``digamma(x)``."""
    name = "lgamma"
    math_function = "lgamma"
    transcendental = True
    public = True
    reference = "scipy.special.gammaln(x)"
    example = ("[1.0, 5.0]", "array([0.        , 3.17805383])")

    @staticmethod
    def impl(x):
        from scipy import special
        x = np.asarray(x)
        value = np.where(x == -np.inf, np.inf, special.gammaln(x))
        if x.dtype != np.float64:
            return value
        # a subnormal x: lgamma(x) = -log|x| - 0.577... x + O(x**2), so -log|x| to the last bit
        tiny = (x != 0) & (np.abs(x) < np.finfo(np.float64).tiny)
        return np.where(tiny, -np.log(np.abs(np.where(tiny, x, 1.0))), value)

    def sympy_readable(self, sp, x):
        return sp.loggamma(x)

    def formula(self, f, x):
        x = f.let(x)
        return f.select(f"{x} == {f.lit(-np.inf)}", f.lit(np.inf), f.call("lgamma", x))

    def grad(self, inputs, output, gy):
        return [mul(gy, digamma(inputs[0]))]


# Asymptotic series at u >= 10 (after shifting x up by 10 with the recurrence), Bernoulli numbers:
# digamma(u) ~ log u - 1/(2u) - sum B_2k / (2k u**2k).
_DIGAMMA_SERIES = (-1 / 12, 1 / 120, -1 / 252, 1 / 240, -1 / 132, 691 / 32760, -1 / 12)
_SHIFT = 10


def _series(f, coefficients, inverse_square):
    value = f.lit(coefficients[-1])
    for c in reversed(coefficients[:-1]):
        value = f.let(f"({f.lit(c)} + {value} * {inverse_square})")
    return value


def _shifted(f, z):
    """``(u, sum of 1/(z + k) for k < 10)`` where ``z < 10`` (u = z + 10), else ``(z, 0)``."""
    near = f.let(f"{z} < {f.lit(_SHIFT)}")
    terms = [f"({f.lit(1)} / ({z} + {f.lit(k)}))" for k in range(_SHIFT)]
    total = f.let("(" + " + ".join(terms) + ")")
    return f.let(f.select(near, f"({z} + {f.lit(_SHIFT)})", z)), f.select(near, total, f.lit(0))


def _near_integer_offset(f, x):
    """``x - k`` for an integer ``k`` near ``x`` (exact): ``tan(pi * x)`` and ``sin(pi * x) ** 2`` have period
    1 in ``x``, and ``pi * (x - k)`` keeps its relative accuracy near the poles at the integers."""
    return f.let(f"({x} - {f.call('floor', f'({x} + {f.lit(0.5)})')})")


class Digamma(ScalarOp):
    """The logarithmic derivative of Gamma, ``Gamma'(x) / Gamma(x)``: the recurrence up to ``x >= 10``, an
    asymptotic series there, and the reflection formula below 0 (NaN at the negative integers, -inf at +0
    and +inf at -0, as SciPy). Derivative ``polygamma(1, x)``."""
    name = "digamma"
    transcendental = True
    wide = True
    public = True
    reference = "scipy.special.digamma(x)"
    example = ("[1.0, 0.5]", "array([-0.57721566, -1.96351003])")

    @staticmethod
    def impl(x):
        from scipy import special
        return special.digamma(x)

    def sympy_readable(self, sp, x):
        return sp.polygamma(0, x)

    def formula(self, f, x):
        x = f.let(x)
        zero, one = f.lit(0), f.lit(1)
        negative = f.let(f"{x} < {zero}")
        z = f.let(f.select(negative, f"({one} - {x})", x))
        u, shift = _shifted(f, z)
        inverse = f.let(f"({one} / {u})")
        square = f.let(f"({inverse} * {inverse})")
        series = _series(f, _DIGAMMA_SERIES, square)
        value = f.let(f"({f.call('log', u)} - {f.lit(0.5)} * {inverse} + {series} * {square} - {shift})")
        pi = f.lit(np.pi)
        reflected = f"({value} - {pi} / {f.call('tan', f'({pi} * {_near_integer_offset(f, x)})')})"
        pole = f"{negative} and {f.call('floor', x)} == {x}"
        at_zero = f.call("copysign", f.lit(np.inf), f"(-{x})")
        return f.select(f"{x} == {zero}", at_zero,
                        f.select(pole, f.lit(np.nan), f.select(negative, reflected, value)))

    def grad(self, inputs, output, gy):
        return [mul(gy, polygamma(1, inputs[0]))]


# B_2, B_4, ..., B_16: the Bernoulli numbers of the asymptotic series of the polygamma functions
_BERNOULLI = (1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66, -691 / 2730, 7 / 6, -3617 / 510)


def _cot_derivative(n) -> list:
    """Coefficients (constant first) of the polynomial ``P_n`` with ``d^n/dy^n cot(y) = P_n(cot(y))``:
    ``P_0(c) = c`` and ``P_(k+1)(c) = -(1 + c**2) P_k'(c)``."""
    p = [0, 1]
    for _ in range(n):
        derivative = [k * p[k] for k in range(1, len(p))] or [0]
        product = [0] * (len(derivative) + 2)
        for k, a in enumerate(derivative):
            product[k] -= a
            product[k + 2] -= a
        p = product
    return p


class Polygamma(ScalarOp):
    """The ``n``-th derivative of ``digamma`` (``n >= 1``): the recurrence up to ``x >= 10``, an asymptotic
    series there, and the reflection formula below 0; ``(-1)**(n+1) * inf`` at 0, the negative integers and
    -inf, as SciPy. Derivative ``polygamma(n + 1, x)``."""
    __props__ = ("n",)
    name = "polygamma"
    transcendental = True
    wide = True

    def __init__(self, n=1):
        self.n = int(n)
        if self.n < 1:
            raise ValueError(f"polygamma: n must be a positive integer here (digamma is n = 0), got {n}")

    def impl(self, x):
        from scipy import special
        x = np.asarray(x)
        dtype = x.dtype if x.dtype.kind == "f" else np.dtype("float64")
        return np.asarray(special.polygamma(self.n, x)).astype(dtype)

    def formula(self, f, x):
        n = self.n
        sign = (-1) ** (n + 1)
        x = f.let(x)
        zero, one = f.lit(0), f.lit(1)
        negative = f.let(f"{x} < {zero}")
        z = f.let(f.select(negative, f"({one} - {x})", x))
        near = f.let(f"{z} < {f.lit(_SHIFT)}")
        # the recurrence psi_n(z) = psi_n(z + 10) + (-1)**(n+1) n! sum_k 1 / (z + k)**(n+1)
        terms = []
        for k in range(_SHIFT):
            t = f.let(f"({one} / ({z} + {f.lit(k)}))")
            terms.append(f.let(" * ".join([t] * (n + 1))))
        shift = f.let(f.select(near, "(" + " + ".join(terms) + ")", zero))
        u = f.let(f.select(near, f"({z} + {f.lit(_SHIFT)})", z))
        inverse = f.let(f"({one} / {u})")
        square = f.let(f"({inverse} * {inverse})")
        # psi_n(u) ~ (-1)**(n+1) [(n-1)!/u**n + n!/(2 u**(n+1)) + sum_k B_2k (2k+n-1)!/(2k)! / u**(2k+n)]
        coefficients = [b * math.factorial(2 * k + n + 1) / math.factorial(2 * k + 2)
                        for k, b in enumerate(_BERNOULLI)]
        series = _series(f, coefficients, square)
        inverse_n = f.let(" * ".join([inverse] * n))
        bracket = (f"({f.lit(math.factorial(n - 1))} + {f.lit(math.factorial(n) / 2)} * {inverse} + "
                   f"{series} * {square})")
        value = f.let(f"({f.lit(sign)} * {inverse_n} * {bracket} + {f.lit(sign * math.factorial(n))} * {shift})")
        # reflection: psi_n(x) = (-1)**n psi_n(1 - x) - pi**(n+1) P_n(cot(pi x))
        pi = f.lit(np.pi)
        c = f.let(f"({one} / {f.call('tan', f'({pi} * {_near_integer_offset(f, x)})')})")
        polynomial = [a for a in _cot_derivative(n)]
        cot_term = f.lit(polynomial[-1])
        for a in reversed(polynomial[:-1]):
            cot_term = f.let(f"({f.lit(a)} + {cot_term} * {c})")
        reflected = f"({f.lit((-1) ** n)} * {value} - {f.lit(np.pi ** (n + 1))} * {cot_term})"
        pole = f"{x} <= {zero} and {f.call('floor', x)} == {x}"
        return f.select(pole, f.lit(sign * np.inf), f.select(negative, reflected, value))

    def grad(self, inputs, output, gy):
        return [mul(gy, polygamma(self.n + 1, inputs[0]))]


def polygamma(n, x):
    """The ``n``-th derivative of the digamma function, elementwise, as ``scipy.special.polygamma(n, x)``.

    Parameters
    ----------
    n : int
        The order, ``n >= 0`` (a Python int: 0 is ``digamma``, 1 the trigamma function).
    x : Variable or array_like
        The operand (Python numbers and arrays become constants).

    Returns
    -------
    Variable
        The result, with the dtype of a float ``x`` (float64 for integers; SciPy's ``polygamma`` gives
        float64 for float32 too). ``(-1)**(n+1) * inf`` at 0 and the negative integers. Its derivative is
        ``polygamma(n + 1, x)``, to any order.

    Examples
    --------
    >>> x = sg.vector("x")
    >>> sg.function([x], sg.polygamma(1, x), backend="python")([1.0, 0.5])
    array([1.64493407, 4.9348022 ])
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise TypeError(f"polygamma: n must be a non-negative Python int, got {n!r}")
    return digamma(x) if n == 0 else Elemwise(Polygamma(int(n)))(x)


# log(erfc(x)) ~ -x**2 - log(x sqrt(pi)) + log(1 + sum_n (-1)**n (2n-1)!! / (2 x**2)**n) for large x
_LOG_ERFC_SWITCH = 20.0
_LOG_ERFC_TERMS = 10


class LogErfc(ScalarOp):
    """``log(erfc(x))``, finite where ``erfc`` underflows (x > 26): the stability rewrite ``log_of_erfc``
    writes it; derivative ``-2/sqrt(pi) * exp(-x**2 - log_erfc(x))``, finite there too."""
    name = "log_erfc"
    transcendental = True

    @staticmethod
    def impl(x):
        from scipy import special
        x = np.asarray(x)
        with np.errstate(all="ignore"):
            return np.where(x < _LOG_ERFC_SWITCH, np.log(special.erfc(np.minimum(x, _LOG_ERFC_SWITCH))),
                            _log_erfc_tail(np.maximum(x, _LOG_ERFC_SWITCH)))

    def sympy_readable(self, sp, x):
        return sp.log(sp.erfc(x))

    def formula(self, f, x):
        x = f.let(x)
        one = f.lit(1)
        large = f.let(f"{x} >= {f.lit(_LOG_ERFC_SWITCH)}")
        z = f.let(f.select(large, x, f.lit(_LOG_ERFC_SWITCH)))         # the series only where it holds
        w = f.let(f"({one} / ({f.lit(2)} * {z} * {z}))")
        series = f.lit(0)
        for n in range(_LOG_ERFC_TERMS, 0, -1):   # Horner: 1 - w (1 - 3 w (1 - 5 w ...))
            series = f.let(f"({f.lit(2 * n - 1)} * {w} * ({one} - {series}))") if n < _LOG_ERFC_TERMS else \
                f.let(f"({f.lit(2 * n - 1)} * {w})")
        tail = (f"(-{z} * {z} - {f.call('log', f'({z} * {f.lit(np.sqrt(np.pi))})')} + "
                f"{f.call('log1p', f'(-{series})')})")
        small = f.let(f.select(large, f.lit(0), x))
        return f.select(large, tail, f.call("log", f.call("erfc", small)))

    def grad(self, inputs, output, gy):
        x = inputs[0]
        return [neg(mul(gy, mul(_TWO_OVER_SQRT_PI, exp(sub(neg(mul(x, x)), output)))))]


def _log_erfc_tail(x):
    w = 1.0 / (2.0 * x * x)
    series = (2 * _LOG_ERFC_TERMS - 1) * w
    for n in range(_LOG_ERFC_TERMS - 1, 0, -1):
        series = (2 * n - 1) * w * (1 - series)
    return -x * x - np.log(x * np.sqrt(np.pi)) + np.log1p(-series)


class IsNan(ScalarOp):
    """Whether ``x`` is NaN: False for integers and booleans; not differentiable."""
    name = "isnan"
    predicate = True
    public = True
    reference = "np.isnan(x)"
    example = ("[1.0, np.nan]", "array([False,  True])")
    returns = "A boolean variable."
    impl = staticmethod(np.isnan)
    grad = _not_differentiable

    def formula(self, f, x):
        return "False" if f.dtype.kind in "iub" else f.call("isnan", x)


class IsInf(ScalarOp):
    """Whether ``x`` is +inf or -inf: False for integers and booleans; not differentiable."""
    name = "isinf"
    predicate = True
    public = True
    reference = "np.isinf(x)"
    example = ("[1.0, -np.inf]", "array([False,  True])")
    returns = "A boolean variable."
    impl = staticmethod(np.isinf)
    grad = _not_differentiable

    def formula(self, f, x):
        return "False" if f.dtype.kind in "iub" else f.call("isinf", x)


class IsFinite(ScalarOp):
    """Whether ``x`` is neither inf nor NaN: True for integers and booleans; not differentiable."""
    name = "isfinite"
    predicate = True
    public = True
    reference = "np.isfinite(x)"
    example = ("[1.0, np.inf, np.nan]", "array([ True, False, False])")
    returns = "A boolean variable."
    impl = staticmethod(np.isfinite)
    grad = _not_differentiable

    def formula(self, f, x):
        return "True" if f.dtype.kind in "iub" else f.call("isfinite", x)


# One Elemwise op per scalar op class without parameters (cast and add_n are built per call).
_elemwise_functions = {cls.name: Elemwise(cls()) for cls in SCALAR_OPS.values() if not cls.__props__}


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
cosh, sinh, digamma = _f("cosh"), _f("sinh"), _f("digamma")
mod, floor_divide = _f("mod"), _f("floor_divide")

#: the functions of the scalar op classes marked ``public``, by name: api.py exports each as ``sg.<name>``,
#: so a new elementwise function is its class (and a row of the test catalogue), nothing more
FUNCTIONS = {cls.name: _f(cls.name) for cls in SCALAR_OPS.values() if cls.public}


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
