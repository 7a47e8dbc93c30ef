"""The scalar-op lowering table shared by ``Elemwise`` and ``Fused`` nodes: one scalar op -> one expression.

Each entry receives its operands as source expressions already converted to the
dtype it computes in, the result dtype, and ``let`` (to bind a temporary), and
returns an expression. Constants are typed (``np.float32(1.0)``) so a float32
graph never silently computes in float64.

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

from .kernel import cast_code, dtype_code, literal

#: scalar op name -> function(operands, dtype, let) -> expression
SCALAR_LOWERINGS: dict = {}

# How operands are converted before the expression: to the result dtype (arithmetic),
# to their common dtype (comparisons), to bool (logic), or as the op says (where, cast).
_COMPARE = {"lt": "<", "le": "<=", "gt": ">", "ge": ">=", "eq": "==", "ne": "!="}
_LOGIC = {"and", "or", "not"}


def scalar(*names):
    def decorate(function):
        for name in names:
            SCALAR_LOWERINGS[name] = function
        return function
    return decorate


def scalar_expression(scalar_op, operands, operand_dtypes, out_dtype, kernel) -> str:
    """Source computing ``scalar_op`` on ``operands`` (expressions of ``operand_dtypes``) as ``out_dtype``.

    ``kernel`` (a ``KernelWriter``) binds temporaries and emits the checks an op needs (a negative
    integer exponent); the expression's value already has ``out_dtype``'s bits.
    """
    name = scalar_op.name
    if name == "cast":
        return cast_code(operands[0], operand_dtypes[0], out_dtype)
    if name in _COMPARE:
        return _comparison(name, operands, operand_dtypes, kernel.let)
    if name in _LOGIC:
        args = [cast_code(x, d, "bool") for x, d in zip(operands, operand_dtypes)]
        if name == "not":
            return f"(not {args[0]})"
        return f"({args[0]} {name} {args[1]})"
    if name == "where":
        cond = cast_code(operands[0], operand_dtypes[0], "bool")
        a = cast_code(operands[1], operand_dtypes[1], out_dtype)
        b = cast_code(operands[2], operand_dtypes[2], out_dtype)
        return f"({a} if {cond} else {b})"
    template = template_for(scalar_op)
    if template is None:
        raise NotImplementedError(f"the numba backend has no lowering for scalar op {scalar_op}")
    if np.dtype(out_dtype).kind == "b" and name in ("add", "mul", "maximum", "minimum"):
        # NumPy: add/max of bools is logical or, mul/min is logical and.
        a, b = (cast_code(x, d, "bool") for x, d in zip(operands, operand_dtypes))
        return f"({a} or {b})" if name in ("add", "maximum") else f"({a} and {b})"
    args = [cast_code(x, d, out_dtype) for x, d in zip(operands, operand_dtypes)]
    if name == "pow" and np.dtype(out_dtype).kind in "iu":
        return _integer_power(args, out_dtype, kernel)
    if np.dtype(out_dtype) == np.int64 and name in _WRAPPING:
        return _int64_wrapping(name, args, kernel.let)
    return narrowed(template(args, out_dtype, kernel.let), out_dtype)


def template_for(scalar_op):
    """The numba template of ``scalar_op``: its entry in this table, else ``np.<f>`` for the function the
    op declares it is (``ScalarOp.math_function``); None when there is neither."""
    template = SCALAR_LOWERINGS.get(scalar_op.name)
    if template is None and getattr(scalar_op, "math_function", None):
        template = _ufunc(scalar_op.math_function)
    return template


# Numba marks signed 64-bit arithmetic "no signed wrap" (LLVM's nsw), so an overflow is undefined and
# LLVM folds, for instance, ``a + b > 0`` as if it could not wrap. The same operation on uint64 is plain
# modular arithmetic with the same bits: int64 add, sub, mul, neg and abs go through it.
_WRAPPING = {"add", "sub", "mul", "add_n", "neg", "abs"}


def _int64_wrapping(name, args, let) -> str:
    if name == "abs":      # abs(-2**63) is -2**63, as in NumPy
        x = _named(args[0], let)
        return f"np.int64(np.uint64({x}) if {x} >= np.int64(0) else -np.uint64({x}))"
    unsigned = [f"np.uint64({a})" for a in args]
    return f"np.int64({SCALAR_LOWERINGS[name](unsigned, 'uint64', let)})"


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


def _comparison(name, operands, operand_dtypes, let) -> str:
    """``a <op> b`` as NumPy compares: in the operands' common dtype, except a signed integer against a
    uint64 (common dtype float64, which would round), compared exactly by sign and then as uint64."""
    kinds = [np.dtype(d) for d in operand_dtypes]
    mixed = {k.kind for k in kinds} == {"i", "u"} and any(k == np.uint64 for k in kinds)
    if not mixed:
        common = np.result_type(*operand_dtypes).name
        a, b = (cast_code(x, d, common) for x, d in zip(operands, operand_dtypes))
        return f"({a} {_COMPARE[name]} {b})"
    if kinds[0].kind == "u":   # keep the signed operand on the left: a > b is b < a
        name = {"lt": "gt", "le": "ge", "gt": "lt", "ge": "le"}.get(name, name)
        operands, operand_dtypes = operands[::-1], operand_dtypes[::-1]
    signed = _named(cast_code(operands[0], operand_dtypes[0], "int64"), let)
    unsigned = cast_code(operands[1], operand_dtypes[1], "uint64")
    as_unsigned = f"np.uint64({signed}) {_COMPARE[name]} {unsigned}"
    negative = f"{signed} < np.int64(0)"
    if name in ("lt", "le", "ne"):     # a negative number is below every uint64
        return f"({negative} or {as_unsigned})"
    return f"(not ({negative}) and {as_unsigned})"


@scalar("add")
def _add(args, dtype, let):
    return f"({args[0]} + {args[1]})"


@scalar("add_n")
def _add_n(args, dtype, let):  # the one node sg.grad sums many gradient contributions with
    return "(" + " + ".join(args) + ")"


@scalar("sub")
def _sub(args, dtype, let):
    return f"({args[0]} - {args[1]})"


@scalar("mul")
def _mul(args, dtype, let):
    return f"({args[0]} * {args[1]})"


@scalar("true_div")
def _true_div(args, dtype, let):
    return f"({args[0]} / {args[1]})"


@scalar("neg")
def _neg(args, dtype, let):
    return f"(-{args[0]})"


@scalar("identity")
def _identity(args, dtype, let):
    return args[0]


@scalar("pow")
def _pow(args, dtype, let):
    return f"np.power({args[0]}, {args[1]})"


def _ufunc(numpy_name):
    def lower(args, dtype, let):
        return f"np.{numpy_name}({', '.join(args)})"
    return lower


for _name in ("maximum", "minimum", "abs", "sign"):
    SCALAR_LOWERINGS[_name] = _ufunc(_name)


@scalar("relu")
def _relu(args, dtype, let):
    x = let(args[0])
    zero = literal(0, dtype)
    # x <= 0 is False for NaN, so NaN passes through as np.maximum(x, 0) does.
    return f"({zero} if {x} <= {zero} else {x})"


@scalar("sigmoid")
def _sigmoid(args, dtype, let):
    x = let(args[0])
    one, zero = literal(1, dtype), literal(0, dtype)
    e = let(f"np.exp(-np.abs({x}))")  # exp of a non-positive number: no overflow
    return f"({one} / ({one} + {e}) if {x} >= {zero} else {e} / ({one} + {e}))"


@scalar("softplus")
def _softplus(args, dtype, let):
    x = let(args[0])
    zero = literal(0, dtype)
    return f"(np.maximum({x}, {zero}) + np.log1p(np.exp(-np.abs({x}))))"
