"""Scalar ops in numba kernels, shared by ``Elemwise`` and ``Fused`` nodes: one scalar op -> one expression.

The formula is the op's own (``ScalarOp.formula``, written once in symgraph/ops/elemwise.py and
rendered here with ``NumbaDialect``: NumPy's functions, typed constants such as ``np.float32(1.0)``
so a float32 graph never silently computes in float64). What this module adds is NumPy's dtype rules.

Integers follow NumPy's bits, not Numba's: Numba computes ``int8 + int8`` (and every
other integer operation) in 64 bits, where NumPy wraps in the op's dtype, so the
result of every integer operation narrower than 64 bits is cast back to its dtype
(``np.int8(a + b)``; Numba's integer casts truncate, which is NumPy's wrap-around)
before anything reads it; int64 add, sub, mul, neg and abs run in uint64 (Numba's signed overflow
is undefined behaviour to LLVM). Integer ``**`` is exact (repeated squaring, ``runtime.int_power``)
and a negative exponent raises, as NumPy does. A signed integer compared with a
uint64 is compared exactly (NumPy's ``qQ->?`` loops), not through float64.
"""
from __future__ import annotations

import re

import numpy as np

from symgraph.ops.elemwise import SCALAR_OPS, ScalarDialect

from .kernel import cast_code, dtype_code, literal

_COMPARE = {"lt", "le", "gt", "ge", "eq", "ne"}
_LOGIC = {"and", "or", "not"}


#: functions vmath.py implements, with the suffix of each dtype it implements them for (and ``pow``)
VECTOR_FUNCTIONS = frozenset({"exp", "expm1", "tanh", "log", "log1p", "sin", "cos", "tan", "erf", "erfc", "log2",
                              "log10", "exp2", "sinh", "cosh", "arctan", "arctan2", "arcsin", "arccos",
                              "arcsinh", "arccosh", "arctanh", "hypot", "cbrt"})
_VECTOR_SUFFIX = {"float64": "_f64", "float32": "_f32"}


class NumbaDialect(ScalarDialect):
    """How the ops' scalar formulas (``ScalarOp.formula``) are written in a numba kernel: NumPy's functions."""

    def __init__(self, dtype, let, vector_math=None):
        self.dtype = np.dtype(dtype)
        self._let = let
        self._vector_math = vector_math

    def let(self, expression):
        return _named(expression, self._let)

    def call(self, function, *args):
        if self._vector_math is not None and function in VECTOR_FUNCTIONS and self.dtype.name in _VECTOR_SUFFIX:
            # the vectorisable implementation (vmath.py) instead of libm's scalar call
            return f"{self._vector_math()}.{function}{_VECTOR_SUFFIX[self.dtype.name]}({', '.join(args)})"
        if hasattr(np, function):
            return f"np.{function}({', '.join(args)})"
        # NumPy lacks it (erf, erfc, lgamma): Python's ``math``, whose result Numba types as float64
        value = f"math.{function}({', '.join(args)})"
        return f"np.float32({value})" if self.dtype == np.float32 else value

    def lit(self, value):
        return literal(value, self.dtype)

    def truth(self, x):
        return x           # operands of logical operators and conditions are converted to bool first

    def abs(self, x):
        return f"np.abs({x})"

    def maximum(self, a, b):
        return f"np.maximum({a}, {b})"

    def minimum(self, a, b):
        return f"np.minimum({a}, {b})"

    def convert(self, x, dtype):
        return f"{dtype_code(dtype)}({x})"

    def power(self, a, b):
        if self._vector_math is not None and self.dtype.name in _VECTOR_SUFFIX:
            # vmath.py's pow: vectorisable, within 1 ulp and exact where the power is a float (libm: a call)
            return f"{self._vector_math()}.pow{_VECTOR_SUFFIX[self.dtype.name]}({a}, {b})"
        return f"np.power({a}, {b})"


def scalar_expression(scalar_op, operands, operand_dtypes, out_dtype, kernel, vector=True) -> str:
    """Source computing ``scalar_op`` on ``operands`` (expressions of ``operand_dtypes``) as ``out_dtype``.

    The formula is the op's own (``ScalarOp.formula``); this function adds NumPy's dtype rules, which
    Numba does not follow by itself. ``kernel`` (a ``KernelWriter``) binds temporaries and emits the checks
    an op needs (a negative integer exponent); the expression's value already has ``out_dtype``'s bits.
    ``vector``: the expression is computed in a loop over elements (vmath.py's functions when the kernel
    uses them), not once for a 0-d value (libm's).
    """
    name = scalar_op.name
    if name == "cast":
        return cast_code(operands[0], operand_dtypes[0], out_dtype, kernel.let)
    if name in _COMPARE:
        return _comparison(scalar_op, operands, operand_dtypes, kernel.let)
    if name in _LOGIC:
        args = [cast_code(x, d, "bool") for x, d in zip(operands, operand_dtypes)]
        return scalar_op.formula(NumbaDialect("bool", kernel.let), *args)
    if scalar_op.predicate:     # isnan, isinf, isfinite: in their operand's dtype (isnan of an int is False)
        common = np.result_type(*operand_dtypes).name
        args = [cast_code(x, d, common) for x, d in zip(operands, operand_dtypes)]
        return scalar_op.formula(NumbaDialect(common, kernel.let), *args)
    if name == "where":
        args = [cast_code(operands[0], operand_dtypes[0], "bool")]
        args += [cast_code(x, d, out_dtype) for x, d in zip(operands[1:], operand_dtypes[1:])]
        return scalar_op.formula(NumbaDialect(out_dtype, kernel.let, _vector_math(kernel, vector)), *args)
    if not scalar_op.has_formula():
        raise NotImplementedError(f"the numba backend has no lowering for scalar op {scalar_op}")
    if np.dtype(out_dtype).kind == "b" and name in ("add", "mul", "maximum", "minimum"):
        # NumPy: add/max of bools is logical or, mul/min is logical and.
        a, b = (cast_code(x, d, "bool") for x, d in zip(operands, operand_dtypes))
        return f"({a} or {b})" if name in ("add", "maximum") else f"({a} and {b})"
    if scalar_op.wide and out_dtype == "float32":     # computed in float64, rounded once
        args = [cast_code(x, d, "float64") for x, d in zip(operands, operand_dtypes)]
        dialect = NumbaDialect("float64", kernel.let, _vector_math(kernel, vector))
        return f"np.float32({scalar_op.formula(dialect, *args)})"
    args = [cast_code(x, d, out_dtype) for x, d in zip(operands, operand_dtypes)]
    if name == "pow" and np.dtype(out_dtype).kind in "iu":
        return _integer_power(args, out_dtype, kernel)
    if np.dtype(out_dtype) == np.int64 and name in _WRAPPING:
        return _int64_wrapping(scalar_op, args, kernel.let)
    dialect = NumbaDialect(out_dtype, kernel.let, _vector_math(kernel, vector))
    return narrowed(scalar_op.formula(dialect, *args), out_dtype)


def _vector_math(kernel, vector=True):
    """What names vmath.py in ``kernel``'s module (a callable adding the import), or None: libm's functions
    (also for a scalar program of one element, ``vector`` False: nothing there vectorises)."""
    return getattr(kernel, "vector_math", None) if vector else None


# Numba marks signed 64-bit arithmetic "no signed wrap" (LLVM's nsw), so an overflow is undefined and
# LLVM folds, for instance, ``a + b > 0`` as if it could not wrap. The same operation on uint64 is plain
# modular arithmetic with the same bits: int64 add, sub, mul, neg and abs go through it.
_WRAPPING = {"add", "sub", "mul", "add_n", "neg", "abs"}


def _int64_wrapping(scalar_op, args, let) -> str:
    if scalar_op.name == "abs":      # abs(-2**63) is -2**63, as in NumPy
        x = _named(args[0], let)
        return f"np.int64(np.uint64({x}) if {x} >= np.int64(0) else -np.uint64({x}))"
    unsigned = [f"np.uint64({a})" for a in args]
    return f"np.int64({scalar_op.formula(NumbaDialect('uint64', let), *unsigned)})"


def _named(code, let) -> str:
    """``code`` if it is already a name (read twice for free), else a new local bound to it."""
    return code if code.isidentifier() else let(code)


def narrowed(expression, dtype) -> str:
    """``expression`` (an integer Numba may hold in 64 bits) wrapped to ``dtype`` as NumPy wraps."""
    dt = np.dtype(dtype)
    if dt.kind in "iu" and dt.itemsize < 8:
        return f"{dtype_code(dt)}({expression})"
    return expression


def raises_per_element(instructions) -> bool:
    """Whether the scalar program checks values element by element (a signed integer power's exponent):
    its loop must stay serial, since Numba runs no ``prange`` loop that can raise in parallel."""
    return any(op.name == "pow" and np.dtype(dtype).kind == "i" for op, _, dtype in instructions)


_NON_NEGATIVE_LITERAL = re.compile(r"np\.u?int\d+\((\d+)\)")


def _integer_power(args, dtype, kernel) -> str:
    """NumPy's integer ``**``: exact in the dtype's wrapping arithmetic; a negative exponent raises."""
    base, exponent = args
    dt = np.dtype(dtype)
    if dt.kind == "i" and not _NON_NEGATIVE_LITERAL.fullmatch(exponent):
        kernel.check(f"{exponent} < {literal(0, dt)}",
                     "pow: Integers to negative integer powers are not allowed (as in NumPy)")
    # In uint64: the same bits modulo 2**64 as signed arithmetic, without Numba's undefined signed overflow.
    power = f"{kernel.runtime()}.int_power(np.uint64({base}), np.uint64({exponent}), np.uint64(1))"
    return f"{dtype_code(dt)}({power})"


def _comparison(scalar_op, operands, operand_dtypes, let) -> str:
    """``a <op> b`` as NumPy compares: in the operands' common dtype, except a signed integer against a
    uint64 (common dtype float64, which would round), compared exactly by sign and then as uint64."""
    name = scalar_op.name
    kinds = [np.dtype(d) for d in operand_dtypes]
    mixed = {k.kind for k in kinds} == {"i", "u"} and any(k == np.uint64 for k in kinds)
    if not mixed:
        common = np.result_type(*operand_dtypes).name
        a, b = (cast_code(x, d, common) for x, d in zip(operands, operand_dtypes))
        return scalar_op.formula(NumbaDialect(common, let), a, b)
    if kinds[0].kind == "u":   # keep the signed operand on the left: a > b is b < a
        name = {"lt": "gt", "le": "ge", "gt": "lt", "ge": "le"}.get(name, name)
        operands, operand_dtypes = operands[::-1], operand_dtypes[::-1]
    signed = _named(cast_code(operands[0], operand_dtypes[0], "int64"), let)
    unsigned = cast_code(operands[1], operand_dtypes[1], "uint64")
    as_unsigned = f"np.uint64({signed}) {SCALAR_OPS[name].operator} {unsigned}"
    negative = f"{signed} < np.int64(0)"
    if name in ("lt", "le", "ne"):     # a negative number is below every uint64
        return f"({negative} or {as_unsigned})"
    return f"(not ({negative}) and {as_unsigned})"
