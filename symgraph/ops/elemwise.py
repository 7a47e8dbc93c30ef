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
        return f"({a} * {b})"

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
        return np.asarray(x).astype(self.dtype)

    def formula(self, f, x):
        return x      # the backend's conversion to the result dtype is the whole op

    def output_dtype(self, *dtypes):
        return self.dtype

    def __str__(self):
        return f"cast{{{self.dtype}}}"

    def grad(self, inputs, output, gy):
        x = inputs[0]
        if not x.type.is_float or not output.type.is_float:
            return [None]
        return [cast(gy, x.dtype)]


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
