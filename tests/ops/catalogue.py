"""The op catalogue: one row per op family and case, shared by the value, gradient and backend tests.

A row (``OpCase``) says how to build the op from symbolic inputs, how NumPy computes the same thing,
what inputs to feed it (``InputSpec``: shape, dtype, domain) and which inputs it is differentiable
in. Use it as::

    from tests.ops.catalogue import CATALOGUE, ids, sample_inputs, symbolic_inputs
    @pytest.mark.parametrize("row", CATALOGUE, ids=ids)
    def test_something(row): ...

so adding an op to symgraph adds its tests everywhere by adding a row here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy import special

import symgraph as sg
from symgraph.ops import shape as shape_ops

FLOAT_DTYPES = ("float64", "float32")

# domain name -> (low, high) of a uniform draw; "nonzero" draws |x| in (0.5, 2) with a random sign.
_UNIFORM = {"any": (-2.0, 2.0), "positive": (0.5, 2.0), "unit": (0.05, 0.95), "small": (-1.0, 1.0),
            "nonzero": (0.5, 2.0), "large": (995.0, 1005.0), "half": (-0.6, 0.6), "above_one": (1.2, 3.0)}


@dataclass(frozen=True)
class InputSpec:
    """One input of a row.

    ``dtype`` None means "the float dtype under test" (float64 or float32); otherwise fixed
    ("int64", "bool", ...). ``domain``: "any" (-2, 2), "positive" (0.5, 2), "unit" (0.05, 0.95),
    "small" (-1, 1), "nonzero" (|x| in (0.5, 2)), "large" (995, 1005), "half" (-0.6, 0.6),
    "above_one" (1.2, 3), "int" (integers in
    [low, high)), "bool". ``static``: the symbolic input carries the sample shape as its static
    shape (some ops, such as squeeze, need static lengths); otherwise every length is None.
    """
    shape: tuple
    dtype: str | None = None
    domain: str = "any"
    low: int = 0
    high: int = 3
    static: bool = False


@dataclass(frozen=True)
class OpCase:
    """A catalogue row. ``build(*symbolic_inputs)`` -> symbolic output; ``ref(*arrays)`` -> NumPy result.

    ``grad_wrt``: indices of the inputs the output is differentiable in (empty: not differentiable;
    those inputs are always float and their sample points avoid kinks and ties).
    ``dtypes``: the float dtypes the row runs with (rows without float inputs list only float64).
    ``cuda``: False for ops the cuda backend refuses at ``sg.function`` time (tested there as a refusal).
    """
    id: str
    build: Callable
    ref: Callable
    inputs: tuple
    grad_wrt: tuple = ()
    dtypes: tuple = FLOAT_DTYPES
    family: str = ""
    cuda: bool = True

    @property
    def differentiable(self) -> bool:
        return bool(self.grad_wrt)

    def __repr__(self):
        return f"OpCase({self.id})"


def ids(row) -> str:
    """pytest ``ids=`` callable: ``@pytest.mark.parametrize("row", CATALOGUE, ids=ids)``."""
    return row.id


def input_dtype(spec: InputSpec, dtype: str) -> str:
    return spec.dtype or dtype


def sample_inputs(row: OpCase, rng: np.random.Generator, dtype: str = "float64") -> list:
    """Arrays for ``row``'s inputs, float inputs in ``dtype``, drawn from each input's domain."""
    arrays = []
    for spec in row.inputs:
        want = input_dtype(spec, dtype)
        if spec.domain == "int" or np.dtype(want).kind in "iu":
            arrays.append(rng.integers(spec.low, spec.high, size=spec.shape).astype(want))
        elif spec.domain == "bool" or want == "bool":
            arrays.append(rng.random(spec.shape) < 0.5)
        else:
            low, high = _UNIFORM[spec.domain]
            values = rng.uniform(low, high, size=spec.shape)
            if spec.domain == "nonzero":
                values *= rng.choice([-1.0, 1.0], size=spec.shape)
            arrays.append(np.asarray(values, dtype=want))
    return arrays


def symbolic_inputs(row: OpCase, dtype: str = "float64", static: bool = False) -> list:
    """Symbolic variables for ``row``'s inputs (static lengths when ``static`` or the spec asks)."""
    return [sg.tensor(f"in{i}", input_dtype(spec, dtype),
                      spec.shape if (static or spec.static) else (None,) * len(spec.shape))
            for i, spec in enumerate(row.inputs)]


def tolerance(row: OpCase, dtype: str) -> dict:
    """``rtol``/``atol`` for comparing a row's values in ``dtype``."""
    return {"rtol": 1e-5, "atol": 1e-6} if dtype == "float32" else {"rtol": 1e-10, "atol": 1e-12}


# ---------------------------------------------------------------- helpers to build rows

def F(*shape, domain="any", static=False):
    """A float input of the dtype under test."""
    return InputSpec(tuple(shape), None, domain, static=static)


def I(*shape, low=0, high=3, dtype="int64", static=False):  # noqa: E743 - reads as a type
    return InputSpec(tuple(shape), dtype, "int", low, high, static=static)


def B(*shape):
    return InputSpec(tuple(shape), "bool", "bool")


CATALOGUE: list[OpCase] = []


def add_row(id, build, ref, inputs, grad_wrt=None, dtypes=None, family="", cuda=True):
    """Add a row; by default it is differentiable in its float inputs when ``grad_wrt`` is None."""
    if grad_wrt is None:
        grad_wrt = tuple(i for i, s in enumerate(inputs) if s.dtype is None)
    if dtypes is None:
        dtypes = FLOAT_DTYPES if any(s.dtype is None for s in inputs) else ("float64",)
    CATALOGUE.append(OpCase(id, build, ref, tuple(inputs), tuple(grad_wrt), tuple(dtypes), family, cuda))


def _np_sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _np_softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _np_log_softmax(x, axis):
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def _np_logsumexp(x, axis=None, keepdims=False):
    m = x.max(axis=axis, keepdims=True) if x.size else np.zeros((1,) * x.ndim, x.dtype)
    out = np.log(np.exp(x - m).sum(axis=axis, keepdims=True)) + m
    if not keepdims:
        out = np.squeeze(out, axis=axis) if axis is not None else out.reshape(())
    return out


def _np_one_hot(indices, n, dtype="float64"):
    return (indices[..., None] == np.arange(n)).astype(dtype)


# ---------------------------------------------------------------- elementwise

_UNARY = [  # name, sg function, numpy reference, domain, differentiable
    ("exp", sg.exp, np.exp, "any", True), ("log", sg.log, np.log, "positive", True),
    ("sin", sg.sin, np.sin, "any", True), ("cos", sg.cos, np.cos, "any", True),
    ("tan", sg.tan, np.tan, "small", True), ("tanh", sg.tanh, np.tanh, "any", True),
    ("sqrt", sg.sqrt, np.sqrt, "positive", True), ("abs", sg.abs, np.abs, "nonzero", True),
    ("sign", sg.sign, np.sign, "nonzero", False), ("log1p", sg.log1p, np.log1p, "unit", True),
    ("expm1", sg.expm1, np.expm1, "any", True), ("sigmoid", sg.sigmoid, _np_sigmoid, "any", True),
    ("softplus", sg.softplus, lambda x: np.logaddexp(0, x), "any", True),
    ("relu", sg.relu, lambda x: np.maximum(x, 0), "nonzero", True),
    ("neg", lambda x: -x, np.negative, "any", True), ("square", sg.square, np.square, "any", True),
    ("cbrt", sg.cbrt, np.cbrt, "nonzero", True),
]
for _name, _fn, _ref, _domain, _diff in _UNARY:
    add_row(f"{_name}", _fn, _ref, [F(2, 3, domain=_domain)], None if _diff else (), family="elemwise")
add_row("exp_0d", sg.exp, np.exp, [F(domain="any")], family="elemwise")
add_row("exp_empty", sg.exp, np.exp, [F(0, 3)], family="elemwise")
add_row("exp_int", sg.exp, np.exp, [I(4, low=-3, high=3)], family="elemwise")
add_row("sqrt_int", sg.sqrt, np.sqrt, [I(4, low=0, high=9)], family="elemwise")
add_row("neg_int", lambda x: -x, np.negative, [I(4, low=-3, high=3)], family="elemwise")
add_row("abs_int", sg.abs, np.abs, [I(4, low=-3, high=3)], family="elemwise")
add_row("sigmoid_large", sg.sigmoid, _np_sigmoid, [F(3, domain="large")], (), family="elemwise")

# More of NumPy's math (and SciPy's special functions): name, sg function, reference, domain, differentiable.
# Edge points (inf, NaN, ±0, ties, the poles) are tested on every backend by tests/ops/test_more_math.py.
_MATH = [
    ("floor", sg.floor, np.floor, "any", True), ("ceil", sg.ceil, np.ceil, "any", True),
    ("trunc", sg.trunc, np.trunc, "any", True), ("round", sg.round, np.round, "any", True),
    ("arcsin", sg.arcsin, np.arcsin, "half", True), ("arccos", sg.arccos, np.arccos, "half", True),
    ("arctan", sg.arctan, np.arctan, "any", True), ("sinh", sg.sinh, np.sinh, "any", True),
    ("cosh", sg.cosh, np.cosh, "any", True), ("arcsinh", sg.arcsinh, np.arcsinh, "any", True),
    ("arccosh", sg.arccosh, np.arccosh, "above_one", True), ("arctanh", sg.arctanh, np.arctanh, "half", True),
    ("log2", sg.log2, np.log2, "positive", True), ("log10", sg.log10, np.log10, "positive", True),
    ("exp2", sg.exp2, np.exp2, "any", True), ("reciprocal", sg.reciprocal, np.reciprocal, "nonzero", True),
    ("erf", sg.erf, special.erf, "any", True), ("erfc", sg.erfc, special.erfc, "any", True),
    ("erfinv", sg.erfinv, special.erfinv, "half", True), ("lgamma", sg.lgamma, special.gammaln, "positive", True),
    ("digamma", sg.digamma, special.digamma, "positive", True),
    ("isnan", sg.isnan, np.isnan, "any", False), ("isinf", sg.isinf, np.isinf, "any", False),
    ("isfinite", sg.isfinite, np.isfinite, "any", False),
]
for _name, _fn, _ref, _domain, _diff in _MATH:
    add_row(_name, _fn, _ref, [F(2, 3, domain=_domain)], None if _diff else (), family="elemwise")
add_row("polygamma_1", lambda x: sg.polygamma(1, x), lambda x: special.polygamma(1, x).astype(x.dtype),
    [F(2, 3, domain="positive")], family="elemwise")
add_row("polygamma_3_negative", lambda x: sg.polygamma(3, x), lambda x: special.polygamma(3, x).astype(x.dtype),
    [F(2, 3, domain="half")], (), family="elemwise")
add_row("digamma_negative", sg.digamma, special.digamma, [F(2, 3, domain="half")], (), family="elemwise")
add_row("lgamma_negative", sg.lgamma, special.gammaln, [F(2, 3, domain="half")], (), family="elemwise")
add_row("logaddexp", sg.logaddexp, np.logaddexp, [F(2, 3), F(2, 3)], family="elemwise")
add_row("logaddexp_large", sg.logaddexp, np.logaddexp, [F(3, domain="large"), F(3, domain="large")],
    family="elemwise")
add_row("arctan2", sg.arctan2, np.arctan2, [F(2, 3, domain="nonzero"), F(2, 3, domain="nonzero")],
    family="elemwise")
add_row("hypot", sg.hypot, np.hypot, [F(2, 3, domain="nonzero"), F(3, domain="nonzero")], family="elemwise")
add_row("mod", sg.mod, np.mod, [F(2, 3), F(2, 3, domain="nonzero")], family="elemwise")
add_row("mod_operator", lambda a: a % 0.75, lambda a: a % a.dtype.type(0.75), [F(2, 3)], family="elemwise")
add_row("rmod_operator", lambda a: 5.0 % a, lambda a: a.dtype.type(5.0) % a, [F(2, 3, domain="nonzero")],
    family="elemwise")
add_row("floor_divide", sg.floor_divide, np.floor_divide, [F(2, 3), F(2, 3, domain="nonzero")], family="elemwise")
add_row("floordiv_operator", lambda a, b: a // b, np.floor_divide, [F(2, 3), F(3, domain="nonzero")],
    family="elemwise")
add_row("mod_int", lambda a, b: a % b, np.mod, [I(2, 4, low=-9, high=9), I(4, low=-4, high=4)],
    family="elemwise")
add_row("floordiv_int", lambda a, b: a // b, np.floor_divide, [I(2, 4, low=-9, high=9), I(4, low=-4, high=4)],
    family="elemwise")
add_row("floordiv_int8", lambda a, b: a // b, np.floor_divide,
    [I(6, low=-128, high=128, dtype="int8"), I(6, low=-2, high=2, dtype="int8")], family="elemwise")
add_row("floor_int", sg.floor, np.floor, [I(4, low=-3, high=3)], family="elemwise")
add_row("round_int", sg.round, np.round, [I(4, low=-3, high=3, dtype="int32")], family="elemwise")
add_row("reciprocal_int", sg.reciprocal, np.reciprocal, [I(6, low=1, high=4)], family="elemwise")
add_row("isnan_int", sg.isnan, np.isnan, [I(4)], family="elemwise")
add_row("softplus_large", sg.softplus, lambda x: np.logaddexp(0, x), [F(3, domain="large")], (), family="elemwise")

_BINARY = [  # name, sg function, numpy reference, domain of b, differentiable
    ("add", lambda a, b: a + b, np.add, "any", True), ("sub", lambda a, b: a - b, np.subtract, "any", True),
    ("mul", lambda a, b: a * b, np.multiply, "any", True),
    ("true_div", lambda a, b: a / b, np.true_divide, "nonzero", True),
    ("maximum", sg.maximum, np.maximum, "any", True), ("minimum", sg.minimum, np.minimum, "any", True),
]
for _name, _fn, _ref, _domain, _diff in _BINARY:
    add_row(_name, _fn, _ref, [F(2, 3), F(2, 3, domain=_domain)], family="elemwise")
add_row("pow", sg.pow, np.power, [F(2, 3, domain="positive"), F(2, 3)], family="elemwise")
add_row("pow_operator_const", lambda a: a ** 3, lambda a: a ** 3, [F(2, 3)], family="elemwise")
add_row("rpow_const", lambda a: 2.0 ** a, lambda a: 2.0 ** a, [F(2, 3)], family="elemwise")
add_row("clip", lambda a: sg.clip(a, -0.5, 0.5), lambda a: np.clip(a, -0.5, 0.5), [F(2, 3)], family="elemwise")
for _name, _fn, _ref in [("lt", lambda a, b: a < b, np.less), ("le", lambda a, b: a <= b, np.less_equal),
                         ("gt", lambda a, b: a > b, np.greater), ("ge", lambda a, b: a >= b, np.greater_equal),
                         ("eq", sg.eq, np.equal), ("ne", sg.ne, np.not_equal)]:
    add_row(_name, _fn, _ref, [F(2, 3), F(2, 3)], (), family="compare")
    add_row(f"{_name}_int", _fn, _ref, [I(5), I(5)], (), family="compare")
add_row("eq_float_const", lambda a: sg.eq(a, a), lambda a: np.equal(a, a), [F(3)], (), family="compare")
add_row("logical_and", sg.logical_and, np.logical_and, [B(2, 3), B(2, 3)], (), family="compare")
add_row("logical_or", lambda a, b: a | b, np.logical_or, [B(2, 3), B(3)], (), family="compare")
add_row("logical_not", lambda a: ~a, np.logical_not, [B(2, 3)], (), family="compare")
add_row("where", sg.where, np.where, [B(2, 3), F(2, 3), F(2, 3)], family="elemwise")
add_row("where_broadcast", sg.where, np.where, [B(3, 1), F(1, 4), F(4)], family="elemwise")
add_row("where_scalar_branch", lambda c, a: sg.where(c, a, 0.0), lambda c, a: np.where(c, a, a.dtype.type(0)),
    [B(2, 3), F(2, 3)], family="elemwise")
add_row("where_from_comparison", lambda a, b: sg.where(a > b, a, b), lambda a, b: np.where(a > b, a, b),
    [F(2, 3), F(2, 3)], family="elemwise")
# Not marked differentiable: float32 rounding of the output defeats float64 finite differences.
add_row("cast_to_float32", lambda a: sg.cast(a, "float32"), lambda a: a.astype("float32"), [F(2, 3)], (),
    family="elemwise")
add_row("cast_to_float64", lambda a: sg.cast(a, "float64"), lambda a: a.astype("float64"), [F(2, 3)],
    family="elemwise")
add_row("cast_to_int", lambda a: sg.cast(a, "int64"), lambda a: a.astype("int64"), [F(2, 3)], (), family="elemwise")
add_row("cast_int_to_float", lambda a: sg.cast(a, "float64"), lambda a: a.astype("float64"), [I(4)],
    family="elemwise")
add_row("cast_bool_to_float", lambda a: a.astype("float32"), lambda a: a.astype("float32"), [B(4)],
    family="elemwise")
# NumPy 2 promotion: Python numbers are weak, arrays and variables are not.
add_row("weak_scalar", lambda a: a * 2.0 + 1, lambda a: a * 2.0 + 1, [F(2, 3)], family="elemwise")
add_row("weak_scalar_reflected", lambda a: 1 - 3.0 / a, lambda a: 1 - 3.0 / a, [F(2, 3, domain="nonzero")],
    family="elemwise")
add_row("float32_plus_float64", lambda a, b: a + b, np.add,
    [F(2, 3), InputSpec((2, 3), "float64")], (0, 1), family="elemwise")
add_row("int_plus_float", lambda a, b: a + b, np.add, [I(2, 3), F(2, 3)], family="elemwise")
add_row("int_mul_int", lambda a, b: a * b, np.multiply, [I(2, 3, low=-4, high=4), I(2, 3, low=-4, high=4)],
    family="elemwise")
add_row("int_true_div", lambda a, b: a / b, np.true_divide, [I(4, low=-4, high=4), I(4, low=1, high=4)],
    family="elemwise")
add_row("int32_plus_int64", lambda a, b: a + b, np.add, [I(3, dtype="int32"), I(3)], family="elemwise")
add_row("array_constant_operand", lambda a: a + np.arange(3.0), lambda a: a + np.arange(3.0), [F(2, 3)],
    family="elemwise")
# broadcasting
add_row("add_broadcast_col_row", lambda a, b: a + b, np.add, [F(3, 1), F(1, 4)], family="broadcast")
add_row("add_broadcast_trailing", lambda a, b: a + b, np.add, [F(2, 3), F(3)], family="broadcast")
add_row("mul_broadcast_3d", lambda a, b: a * b, np.multiply, [F(2, 1, 4), F(3, 1)], family="broadcast")
add_row("sub_broadcast_0d", lambda a, b: a - b, np.subtract, [F(), F(2, 3)], family="broadcast")
add_row("add_0d_0d", lambda a, b: a + b, np.add, [F(), F()], family="broadcast")
add_row("maximum_broadcast", sg.maximum, np.maximum, [F(2, 3), F(2, 1)], family="broadcast")
add_row("add_empty_broadcast", lambda a, b: a + b, np.add, [F(0, 3), F(3)], family="broadcast")
add_row("add_static_broadcast", lambda a, b: a + b, np.add, [F(3, 1, static=True), F(1, 4, static=True)],
    family="broadcast")

# ---------------------------------------------------------------- reductions

_REDUCTIONS = [("sum", sg.sum, np.sum), ("prod", sg.prod, np.prod), ("max", sg.max, np.max),
               ("min", sg.min, np.min), ("mean", sg.mean, np.mean)]
_AXES = [None, 0, 1, -1, (0, 2), (-1, 0)]
for _name, _fn, _ref in _REDUCTIONS:
    _domain = "positive" if _name == "prod" else "any"
    for _axis in _AXES:
        for _keep in (False, True):
            if _keep and _axis not in (None, 1, (0, 2)):
                continue
            _id = f"{_name}_axis{_axis}{'_keepdims' if _keep else ''}".replace(" ", "")
            add_row(_id, lambda x, f=_fn, a=_axis, k=_keep: f(x, axis=a, keepdims=k),
                lambda x, f=_ref, a=_axis, k=_keep: f(x, axis=a, keepdims=k), [F(2, 3, 4, domain=_domain)],
                family="reduce")
    add_row(f"{_name}_0d", _fn, _ref, [F(domain=_domain)], family="reduce")
    add_row(f"{_name}_vector", _fn, _ref, [F(5, domain=_domain)], family="reduce")
for _name, _fn, _ref in [("sum", sg.sum, np.sum), ("prod", sg.prod, np.prod), ("max", sg.max, np.max),
                         ("min", sg.min, np.min), ("mean", sg.mean, np.mean)]:
    add_row(f"{_name}_int", lambda x, f=_fn: f(x, axis=0), lambda x, f=_ref: f(x, axis=0), [I(3, 4, low=-5, high=5)],
        family="reduce")
add_row("sum_empty", lambda x: sg.sum(x, axis=0), lambda x: np.sum(x, axis=0), [F(0, 3)], family="reduce")
add_row("sum_empty_all", sg.sum, np.sum, [F(0, 3)], family="reduce")
add_row("prod_empty", lambda x: sg.prod(x, axis=1), lambda x: np.prod(x, axis=1), [F(2, 0)], family="reduce")
add_row("sum_bool", sg.sum, np.sum, [B(3, 4)], family="reduce")
add_row("sum_method", lambda x: x.sum(axis=1), lambda x: x.sum(axis=1), [F(2, 3)], family="reduce")
add_row("mean_method", lambda x: x.mean(), lambda x: x.mean(), [F(2, 3)], family="reduce")
add_row("max_method", lambda x: x.max(axis=0), lambda x: x.max(axis=0), [F(2, 3)], family="reduce")
add_row("min_method", lambda x: x.min(axis=-1, keepdims=True), lambda x: x.min(axis=-1, keepdims=True), [F(2, 3)],
    family="reduce")
add_row("prod_method", lambda x: x.prod(axis=0), lambda x: x.prod(axis=0), [F(2, 3, domain="positive")],
    family="reduce")
add_row("size_property", lambda x: x.size, lambda x: np.int64(x.size), [F(2, 3)], (), family="reduce")
add_row("var", lambda x: sg.var(x, axis=1), lambda x: np.var(x, axis=1), [F(3, 4)], family="reduce")
add_row("std", lambda x: sg.std(x), lambda x: np.std(x), [F(3, 4)], family="reduce")

# ---------------------------------------------------------------- shapes

add_row("reshape_minus1", lambda x: sg.reshape(x, (6, -1)), lambda x: x.reshape(6, -1), [F(2, 3, 4)], family="shape")
add_row("reshape_flatten", lambda x: x.reshape(-1), lambda x: x.reshape(-1), [F(2, 3, 4)], family="shape")
add_row("reshape_method_args", lambda x: x.reshape(4, 6), lambda x: x.reshape(4, 6), [F(2, 3, 4)], family="shape")
add_row("reshape_to_0d", lambda x: sg.reshape(x, ()), lambda x: x.reshape(()), [F(1, 1)], family="shape")
add_row("reshape_from_0d", lambda x: sg.reshape(x, (1, 1)), lambda x: x.reshape(1, 1), [F()], family="shape")
add_row("reshape_symbolic", lambda x: sg.reshape(x, (x.shape[0], -1)), lambda x: x.reshape(x.shape[0], -1),
    [F(2, 3, 4)], family="shape")
add_row("reshape_shape_vector", lambda x, y: sg.reshape(x, sg.shape(y)), lambda x, y: x.reshape(y.shape),
    [F(2, 6), F(3, 4, static=True)], (0,), family="shape")
add_row("reshape_empty", lambda x: sg.reshape(x, (3, 0)), lambda x: x.reshape(3, 0), [F(0, 3)], family="shape")
add_row("reshape_int", lambda x: sg.reshape(x, (-1,)), lambda x: x.reshape(-1), [I(2, 3)], family="shape")
add_row("transpose", sg.transpose, np.transpose, [F(2, 3, 4)], family="shape")
add_row("transpose_axes", lambda x: sg.transpose(x, (1, 0, 2)), lambda x: np.transpose(x, (1, 0, 2)),
    [F(2, 3, 4)], family="shape")
add_row("transpose_negative_axes", lambda x: sg.transpose(x, (-1, 0, 1)), lambda x: np.transpose(x, (-1, 0, 1)),
    [F(2, 3, 4)], family="shape")
add_row("T", lambda x: x.T, lambda x: x.T, [F(2, 3)], family="shape")
add_row("transpose_method", lambda x: x.transpose(2, 0, 1), lambda x: x.transpose(2, 0, 1), [F(2, 3, 4)],
    family="shape")
add_row("dimshuffle", lambda x: shape_ops.dimshuffle(x, (1, "x", 0)), lambda x: x.T[:, None, :], [F(2, 3)],
    family="shape")
add_row("dimshuffle_drop", lambda x: shape_ops.dimshuffle(x, (2, 0)), lambda x: x[:, 0, :].T,
    [F(2, 1, 3, static=True)], family="shape")
add_row("expand_dims", lambda x: sg.expand_dims(x, 1), lambda x: np.expand_dims(x, 1), [F(2, 3)], family="shape")
add_row("expand_dims_multi", lambda x: sg.expand_dims(x, (0, -1)), lambda x: np.expand_dims(x, (0, -1)),
    [F(2, 3)], family="shape")
add_row("squeeze", sg.squeeze, np.squeeze, [F(2, 1, 3, 1, static=True)], family="shape")
add_row("squeeze_axis", lambda x: sg.squeeze(x, 1), lambda x: np.squeeze(x, 1), [F(2, 1, 3, static=True)],
    family="shape")
add_row("broadcast_to", lambda x: sg.broadcast_to(x, (2, 3, 4)), lambda x: np.broadcast_to(x, (2, 3, 4)),
    [F(3, 1)], family="shape")
add_row("zeros_like", sg.zeros_like, np.zeros_like, [F(2, 3)], (), family="shape")
add_row("ones_like", sg.ones_like, np.ones_like, [F(2, 3)], (), family="shape")
add_row("zeros_like_int", sg.zeros_like, np.zeros_like, [I(4)], family="shape")
add_row("ones_like_0d", sg.ones_like, np.ones_like, [F()], (), family="shape")
add_row("stop_gradient", lambda x: sg.stop_gradient(x) * x, lambda x: x * x, [F(2, 3)], (), family="shape")
add_row("abs_builtin", lambda x: abs(x), np.abs, [F(2, 3, domain="nonzero")], family="shape")
add_row("iterate_static", lambda x: sg.stack(list(x)[::-1]), lambda x: x[::-1], [F(3, 2, static=True)],
    family="shape")
add_row("shape_vector", lambda x: sg.shape(x), lambda x: np.array(x.shape, dtype="int64"), [F(2, 3)], (),
    family="shape")
add_row("shape_entry", lambda x: x.shape[1] * 2, lambda x: np.int64(x.shape[1] * 2), [F(2, 3)], (), family="shape")

# einsum and norm (symgraph/ops/contract.py); tests/ops/test_einsum.py draws random subscripts
add_row("einsum_batched_matmul", lambda a, b: sg.einsum("bij,bjk->bik", a, b),
    lambda a, b: np.einsum("bij,bjk->bik", a, b), [F(2, 3, 4), F(2, 4, 5)], family="linalg")
add_row("einsum_trace", lambda a: sg.einsum("ii", a), lambda a: np.einsum("ii", a), [F(3, 3)], family="linalg")
add_row("einsum_chain_ellipsis", lambda a, b, c: sg.einsum("...ij,jk,k->...i", a, b, c),
    lambda a, b, c: np.einsum("...ij,jk,k->...i", a, b, c), [F(2, 3, 4), F(4, 2), F(2)], family="linalg")
add_row("einsum_outer_sum", lambda a, b: sg.einsum("i,jk->", a, b), lambda a, b: np.einsum("i,jk->", a, b),
    [F(3), F(2, 2)], family="linalg")
add_row("norm", sg.norm, np.linalg.norm, [F(2, 3)], family="reduce")
add_row("norm_axis_p", lambda x: sg.norm(x, ord=3, axis=1), lambda x: np.linalg.norm(x, ord=3, axis=1),
    [F(2, 3, domain="nonzero")], family="reduce")
add_row("norm_matrix_inf", lambda x: sg.norm(x, ord=np.inf, axis=(2, 0), keepdims=True),
    lambda x: np.linalg.norm(x, ord=np.inf, axis=(2, 0), keepdims=True), [F(3, 2, 4)], family="reduce")


# the singular value decomposition (symgraph/ops/svd.py): the vectors' signs are LAPACK's choice, so rows
# compare quantities that do not depend on them; tests/ops/test_svd.py checks the rest.
def _sg_svd_vectors(x, full=False):
    u, s, vh = sg.linalg.svd(x, full_matrices=full)
    if not full:
        return sg.matmul(sg.abs(u), sg.abs(vh) * s[..., :, None])
    k = min(x.type.shape[-2:]) if None not in x.type.shape[-2:] else sg.shape(s)[-1]
    rest = u[..., :, k:]      # the completion of a tall matrix: its projection is what is defined
    return sg.matmul(u[..., :, :k] * s[..., None, :], vh[..., :k, :]) + sg.sum(sg.matmul(rest, sg.swapaxes(rest, -1, -2)))


def _np_svd_vectors(x, full=False):
    u, s, vh = np.linalg.svd(x, full_matrices=full)
    if not full:
        return np.abs(u) @ (np.abs(vh) * s[..., :, None])
    k = s.shape[-1]
    rest = u[..., :, k:]
    return (u[..., :, :k] * s[..., None, :]) @ vh[..., :k, :] + np.sum(rest @ np.swapaxes(rest, -1, -2))


add_row("norm_spectral", lambda x: sg.norm(x, 2), lambda x: np.linalg.norm(x, 2), [F(3, 4)], family="linalg")
add_row("norm_nuclear_axes_keepdims", lambda x: sg.norm(x, "nuc", axis=(2, 0), keepdims=True),
    lambda x: np.linalg.norm(x, "nuc", axis=(2, 0), keepdims=True), [F(3, 2, 4)], family="linalg")
add_row("norm_smallest_singular", lambda x: sg.norm(x, -2, axis=(1, 2)),
    lambda x: np.linalg.norm(x, -2, axis=(1, 2)), [F(2, 4, 3)], family="linalg")
add_row("svdvals_batched", sg.linalg.svdvals, lambda x: np.linalg.svd(x, compute_uv=False), [F(2, 3, 4)],
    family="linalg")
add_row("svd_vectors_tall", _sg_svd_vectors, _np_svd_vectors, [F(4, 3)], family="linalg")
add_row("svd_vectors_wide_batched", _sg_svd_vectors, _np_svd_vectors, [F(2, 2, 4)], family="linalg")
add_row("svd_vectors_square_full", lambda x: _sg_svd_vectors(x, True), lambda x: _np_svd_vectors(x, True),
    [F(3, 3)], family="linalg")
add_row("svd_full_tall", lambda x: _sg_svd_vectors(x, True), lambda x: _np_svd_vectors(x, True), [F(4, 2)], (),
    family="linalg")
add_row("svdvals_int", sg.linalg.svdvals, lambda x: np.linalg.svd(x, compute_uv=False), [I(3, 2, low=-3, high=4)],
    family="linalg")

# solving, factorising and the spectral decompositions (symgraph/ops/factor.py, spectral.py): matrices made
# well conditioned (and symmetric positive definite where the op needs it) inside the row, so every sample
# point is a smooth one; signs of eigenvectors and QR factors compared through invariant quantities.
# tests/ops/test_factor.py and test_spectral.py test the rest (errors, batches, float32, Hessians).
def _sg_spd(x):
    return sg.matmul(x, sg.swapaxes(x, -1, -2)) + 3.0 * sg.eye(x.shape[-1])


def _np_spd(x):
    return x @ np.swapaxes(x, -1, -2) + 3.0 * np.eye(x.shape[-1])


def _sg_shifted(x):
    return x + 4.0 * sg.eye(x.shape[-1])


def _np_shifted(x):
    return x + 4.0 * np.eye(x.shape[-1])


def _np_lower_solve(L, b):
    return np.linalg.solve(np.tril(L), b)


add_row("linalg_inv", lambda x: sg.linalg.inv(_sg_shifted(x)), lambda x: np.linalg.inv(_np_shifted(x)),
        [F(2, 3, 3)], dtypes=("float64",), family="linalg")
add_row("linalg_solve", lambda a, b: sg.linalg.solve(_sg_shifted(a), b),
        lambda a, b: np.linalg.solve(_np_shifted(a), b), [F(3, 3), F(3, 2)], dtypes=("float64",), family="linalg")
add_row("linalg_solve_pos_vector", lambda a, b: sg.linalg.solve(_sg_spd(a), b, assume_a="pos"),
        lambda a, b: np.linalg.solve(_np_spd(a), b), [F(3, 3), F(3)], dtypes=("float64",), family="linalg")
add_row("linalg_cholesky", lambda x: sg.linalg.cholesky(_sg_spd(x)), lambda x: np.linalg.cholesky(_np_spd(x)),
        [F(2, 3, 3)], dtypes=("float64",), family="linalg")
add_row("linalg_solve_triangular", lambda a, b: sg.linalg.solve_triangular(_sg_shifted(a), b, lower=True),
        lambda a, b: _np_lower_solve(_np_shifted(a), b), [F(3, 3), F(3, 2)], dtypes=("float64",),
        family="linalg")
add_row("linalg_cho_solve", lambda a, b: sg.linalg.cho_solve((sg.linalg.cholesky(_sg_spd(a)), True), b),
        lambda a, b: np.linalg.solve(_np_spd(a), b), [F(3, 3), F(3)], dtypes=("float64",), family="linalg")
add_row("linalg_det", lambda x: sg.linalg.det(_sg_shifted(x)), lambda x: np.linalg.det(_np_shifted(x)),
        [F(2, 3, 3)], dtypes=("float64",), family="linalg")
add_row("linalg_slogdet", lambda x: sg.linalg.slogdet(_sg_shifted(x))[1],
        lambda x: np.linalg.slogdet(_np_shifted(x))[1], [F(3, 3)], dtypes=("float64",), family="linalg")
add_row("linalg_eigvalsh", lambda x: sg.linalg.eigvalsh(_sg_spd(x)), lambda x: np.linalg.eigvalsh(_np_spd(x)),
        [F(2, 3, 3)], dtypes=("float64",), family="linalg", cuda=False)
add_row("linalg_eigh_projector", lambda x: sg.matmul(sg.linalg.eigh(_sg_spd(x))[1] ** 2, sg.arange(3.0)),
        lambda x: (np.linalg.eigh(_np_spd(x))[1] ** 2) @ np.arange(3.0), [F(3, 3)], dtypes=("float64",),
        family="linalg", cuda=False)
add_row("linalg_qr_product", lambda x: sg.abs(sg.linalg.qr(x)[1]), lambda x: np.abs(np.linalg.qr(x)[1]),
        [F(4, 3)], dtypes=("float64",), family="linalg", cuda=False)
add_row("linalg_pinv", sg.linalg.pinv, np.linalg.pinv, [F(3, 2)], dtypes=("float64",), family="linalg",
        cuda=False)
add_row("linalg_matrix_power", lambda x: sg.linalg.matrix_power(x, 3), lambda x: np.linalg.matrix_power(x, 3),
        [F(3, 3)], dtypes=("float64",), family="linalg")

# convolution networks (symgraph/ops/conv.py); tests/ops/test_conv.py tests the grid of options
def _conv_ref(*args, **kwargs):
    from tests.ops.test_conv import conv_reference
    return conv_reference(*args, **kwargs)


def _pool_ref(*args, **kwargs):
    from tests.ops.test_conv import pool_reference
    return pool_reference(*args, **kwargs)


add_row("conv2d_strided_grouped", lambda x, w: sg.conv2d(x, w, stride=(2, 1), padding=1, groups=2),
        lambda x, w: _conv_ref(x, w, (2, 1), ((1, 1), (1, 1)), (1, 1), 2), [F(2, 4, 6, 5), F(6, 2, 3, 2)],
        family="conv")
add_row("conv2d_dilated", lambda x, w: sg.conv2d(x, w, padding=(2, 1), dilation=2),
        lambda x, w: _conv_ref(x, w, (1, 1), ((2, 2), (1, 1)), (2, 2)), [F(1, 2, 7, 6), F(3, 2, 2, 3)],
        family="conv")
add_row("max_pool2d_overlapping_padded", lambda x: sg.max_pool2d(x, 3, 2, 1),
        lambda x: _pool_ref(x, (3, 3), (2, 2), (1, 1), "max"), [F(2, 3, 7, 8)], family="conv")
add_row("avg_pool2d_padding_not_counted", lambda x: sg.avg_pool2d(x, (3, 2), (2, 2), (1, 1), count_include_pad=False),
        lambda x: _pool_ref(x, (3, 2), (2, 2), (1, 1), "avg", False), [F(2, 2, 7, 6)], family="conv")

# control flow (symgraph/ops/scan.py, ifelse.py); tests/test_scan.py and tests/test_ifelse.py test the rest
def _sg_running_sum_of_squares(x):
    total, _ = sg.scan(lambda v, acc: acc + v * v, sequences=x, outputs_info=sg.constant(np.zeros(3, x.dtype)))
    return total


def _sg_two_tap_recurrence(x):
    initial = sg.constant(np.ones((2, 3), x.dtype))
    out, _ = sg.scan(lambda v, a, b: 0.5 * a + sg.tanh(b) * v, sequences=x,
                     outputs_info=dict(initial=initial, taps=[-2, -1]))
    return out


def _np_two_tap_recurrence(x):
    a, b, rows = np.ones(3, x.dtype), np.ones(3, x.dtype), []
    for v in x:
        a, b = b, 0.5 * a + np.tanh(b) * v
        rows.append(b)
    return np.stack(rows)


add_row("scan_running_sum", _sg_running_sum_of_squares, lambda x: np.cumsum(x * x, axis=0), [F(4, 3)],
    family="control")
add_row("scan_two_taps", _sg_two_tap_recurrence, _np_two_tap_recurrence, [F(5, 3)], family="control")
add_row("ifelse", lambda x, y: sg.ifelse(sg.sum(x) > 0, x * 2.0, sg.exp(y)),
    lambda x, y: 2 * x if x.sum() > 0 else np.exp(y), [F(2, 3), F(2, 3)], family="control")

add_row("softmax_axis_none", lambda x: sg.softmax(x, axis=None), lambda x: np.exp(x) / np.exp(x).sum(), [F(2, 3)],
    family="nnet")
add_row("log_softmax_axis_none", lambda x: sg.log_softmax(x, axis=None), lambda x: x - np.log(np.exp(x).sum()),
    [F(2, 3)], family="nnet")

# Along an axis (symgraph/ops/sort.py)
add_row("argmax", lambda x: sg.argmax(x, axis=1), lambda x: np.argmax(x, axis=1), [F(3, 4)], (), family="reduce")
add_row("argmin_flat_method", lambda x: x.argmin(), lambda x: np.argmin(x), [F(3, 4)], (), family="reduce")
add_row("argmax_keepdims", lambda x: sg.argmax(x, axis=0, keepdims=True), lambda x: np.argmax(x, 0, keepdims=True),
    [F(2, 3, 4)], (), family="reduce")
add_row("argmax_int_ties", lambda x: sg.argmax(x, axis=-1), lambda x: np.argmax(x, axis=-1),
    [I(4, 5, low=0, high=2)], (), family="reduce")
add_row("cumsum", lambda x: sg.cumsum(x, axis=1), lambda x: np.cumsum(x, axis=1), [F(2, 3, 4)], family="reduce")
add_row("cumsum_flat_method", lambda x: x.cumsum(), lambda x: x.cumsum(), [F(2, 3)], family="reduce")
add_row("cumsum_int8", lambda x: sg.cumsum(x, axis=0), lambda x: np.cumsum(x, axis=0),
    [I(4, 2, low=-100, high=100, dtype="int8")], family="reduce")
add_row("cumprod", lambda x: sg.cumprod(x, axis=0), lambda x: np.cumprod(x, axis=0), [F(4, 3, domain="nonzero")],
    family="reduce")
add_row("sort", lambda x: sg.sort(x, axis=0), lambda x: np.sort(x, axis=0, kind="stable"), [F(4, 3)],
    family="reduce")
add_row("sort_last", sg.sort, lambda x: np.sort(x, kind="stable"), [F(2, 5)], family="reduce")
add_row("argsort", lambda x: sg.argsort(x, axis=None), lambda x: np.argsort(x, axis=None, kind="stable"),
    [F(3, 4)], (), family="reduce")
add_row("argsort_int_ties", lambda x: x.argsort(axis=0), lambda x: np.argsort(x, axis=0, kind="stable"),
    [I(5, 3, low=0, high=3)], (), family="reduce")
add_row("take_along_axis", lambda x: sg.take_along_axis(x, sg.argsort(x, axis=1)[:, ::-1], 1),
    lambda x: np.take_along_axis(x, np.argsort(x, axis=1, kind="stable")[:, ::-1], 1), [F(3, 4)],
    family="index")

# NumPy's array functions built from the core ops (symgraph/ops/arrays.py)
add_row("any_axis", lambda x: sg.any(x, axis=1), lambda x: np.any(x, axis=1), [F(2, 3)], (), family="reduce")
add_row("all_bool", lambda x: x.all(axis=0, keepdims=True), lambda x: np.all(x, axis=0, keepdims=True), [B(3, 4)],
    family="reduce")
add_row("var_ddof", lambda x: sg.var(x, axis=0, ddof=1), lambda x: np.var(x, axis=0, ddof=1), [F(3, 4)],
    family="reduce")
add_row("std_ddof_method", lambda x: x.std(axis=1, ddof=1, keepdims=True),
    lambda x: np.std(x, axis=1, ddof=1, keepdims=True), [F(3, 4)], family="reduce")
add_row("zeros", lambda x: sg.zeros((x.shape[0], 2), dtype=x.dtype) + x[:, None],
    lambda x: np.zeros((len(x), 2), dtype=x.dtype) + x[:, None],
    [F(3)], family="shape")
add_row("ones_int", lambda x: sg.ones(x.shape[0], dtype="int32"), lambda x: np.ones(len(x), dtype="int32"), [F(3)],
    (), family="shape")
add_row("full", lambda x: sg.full((2, x.shape[0]), 2.5, dtype=x.dtype) * x,
    lambda x: np.full((2, len(x)), 2.5, dtype=x.dtype) * x, [F(3)],
    family="shape")
add_row("eye", lambda x: sg.eye(x.shape[0], 4, k=1, dtype=x.dtype) * x[:, None],
    lambda x: np.eye(len(x), 4, k=1, dtype=x.dtype) * x[:, None],
    [F(3)], family="shape")
add_row("linspace", lambda a: sg.linspace(a, a + 2.0, 5), lambda a: np.linspace(a, a + 2.0, 5), [F()],
    family="shape")
add_row("linspace_open", lambda a: sg.linspace(0.0, a, 4, endpoint=False),
    lambda a: np.linspace(0.0, a, 4, endpoint=False), [F(domain="positive")], family="shape")
add_row("diag_vector", lambda x: sg.diag(x, -1), lambda x: np.diag(x, -1), [F(3)], family="shape")
add_row("diag_matrix", lambda x: sg.diag(x, 1), lambda x: np.diag(x, 1), [F(3, 4)], family="shape")
add_row("trace", sg.trace, np.trace, [F(3, 3)], family="shape")
add_row("tril", lambda x: sg.tril(x, -1), lambda x: np.tril(x, -1), [F(2, 3, 4)], family="shape")
add_row("triu", sg.triu, np.triu, [F(3, 4)], family="shape")
add_row("flatten_method", lambda x: x.flatten(), lambda x: x.flatten(), [F(2, 3)], family="shape")
add_row("moveaxis", lambda x: sg.moveaxis(x, 0, -1), lambda x: np.moveaxis(x, 0, -1), [F(2, 3, 4)], family="shape")
add_row("swapaxes", lambda x: sg.swapaxes(x, 0, 2), lambda x: np.swapaxes(x, 0, 2), [F(2, 3, 4)], family="shape")
add_row("vstack", lambda a, b: sg.vstack([a, b]), lambda a, b: np.vstack([a, b]), [F(3), F(2, 3)], family="shape")
add_row("hstack", lambda a, b: sg.hstack([a, b]), lambda a, b: np.hstack([a, b]), [F(2, 3), F(2, 1)],
    family="shape")
add_row("column_stack", lambda a, b: sg.column_stack([a, b]), lambda a, b: np.column_stack([a, b]), [F(3), F(3)],
    family="shape")
add_row("split", lambda x: sg.split(x, 2, axis=1)[1], lambda x: np.split(x, 2, axis=1)[1], [F(2, 4)],
    family="shape")
add_row("split_indices", lambda x: sg.concatenate(sg.split(x, [1, 3])[::-1]),
    lambda x: np.concatenate(np.split(x, [1, 3])[::-1]), [F(5, 2)], family="shape")
add_row("array_split", lambda x: sg.array_split(x, 3)[0] * 2.0, lambda x: np.array_split(x, 3)[0] * 2.0, [F(7)],
    family="shape")
add_row("tensordot", lambda a, b: sg.tensordot(a, b, axes=([0, 2], [1, 0])),
    lambda a, b: np.tensordot(a, b, axes=([0, 2], [1, 0])), [F(2, 3, 4), F(4, 2, 5)], family="linalg")
add_row("tensordot_outer", lambda a, b: sg.tensordot(a, b, axes=0), lambda a, b: np.tensordot(a, b, axes=0),
    [F(2), F(3)], family="linalg")
add_row("take", lambda x: sg.take(x, [2, 0, -1], axis=1), lambda x: np.take(x, [2, 0, -1], axis=1), [F(2, 3)],
    family="index")
add_row("take_flat", lambda x: sg.take(x, [[5, 0], [1, 1]]), lambda x: np.take(x, [[5, 0], [1, 1]]), [F(2, 3)],
    family="index")
add_row("repeat", lambda x: sg.repeat(x, 2, axis=0), lambda x: np.repeat(x, 2, axis=0), [F(2, 3)], family="shape")
add_row("repeat_counts", lambda x: sg.repeat(x, [1, 0, 3], axis=1), lambda x: np.repeat(x, [1, 0, 3], axis=1),
    [F(2, 3)], family="shape")
add_row("tile", lambda x: sg.tile(x, (2, 1, 3)), lambda x: np.tile(x, (2, 1, 3)), [F(2, 3)], family="shape")
add_row("pad_constant", lambda x: sg.pad(x, ((1, 0), (2, 1)), constant_values=1.5),
    lambda x: np.pad(x, ((1, 0), (2, 1)), constant_values=1.5), [F(2, 3)], family="shape")
add_row("pad_edge", lambda x: sg.pad(x, 2, mode="edge"), lambda x: np.pad(x, 2, mode="edge"), [F(2, 3)],
    family="shape")
add_row("pad_reflect", lambda x: sg.pad(x, (3, 1), mode="reflect"), lambda x: np.pad(x, (3, 1), mode="reflect"),
    [F(3, 4)], family="shape")

# ---------------------------------------------------------------- joining

add_row("concatenate_axis0", lambda a, b: sg.concatenate([a, b]), lambda a, b: np.concatenate([a, b]),
    [F(2, 3), F(4, 3)], family="join")
add_row("concatenate_axis1", lambda a, b, c: sg.concatenate([a, b, c], axis=1),
    lambda a, b, c: np.concatenate([a, b, c], axis=1), [F(2, 3), F(2, 1), F(2, 2)], family="join")
add_row("concatenate_axis_negative", lambda a, b: sg.concatenate([a, b], axis=-1),
    lambda a, b: np.concatenate([a, b], axis=-1), [F(2, 2, 3), F(2, 2, 1)], family="join")
add_row("concatenate_vectors", lambda a, b: sg.concatenate([a, b]), lambda a, b: np.concatenate([a, b]),
    [F(3), F(2)], family="join")
add_row("concatenate_with_constant", lambda a: sg.concatenate([a, np.ones((1, 3))]),
    lambda a: np.concatenate([a, np.ones((1, 3))]), [F(2, 3)], family="join")
add_row("concatenate_with_empty", lambda a, b: sg.concatenate([a, b]), lambda a, b: np.concatenate([a, b]),
    [F(2, 3), F(0, 3)], family="join")
add_row("concatenate_static", lambda a, b: sg.concatenate([a, b], axis=1), lambda a, b: np.concatenate([a, b], 1),
    [F(2, 3, static=True), F(2, 2, static=True)], family="join")
add_row("concatenate_mixed_dtypes", lambda a, b: sg.concatenate([a, b]), lambda a, b: np.concatenate([a, b]),
    [F(2), InputSpec((3,), "float64")], family="join")
add_row("concatenate_int_float", lambda a, b: sg.concatenate([a, b]), lambda a, b: np.concatenate([a, b]),
    [I(2), F(3)], family="join")
add_row("concatenate_int", lambda a, b: sg.concatenate([a, b]), lambda a, b: np.concatenate([a, b]),
    [I(2), I(3)], family="join")
add_row("stack_axis0", lambda a, b: sg.stack([a, b]), lambda a, b: np.stack([a, b]), [F(2, 3), F(2, 3)],
    family="join")
add_row("stack_axis1", lambda a, b, c: sg.stack([a, b, c], axis=1), lambda a, b, c: np.stack([a, b, c], axis=1),
    [F(2, 3), F(2, 3), F(2, 3)], family="join")
add_row("stack_axis_last", lambda a, b: sg.stack([a, b], axis=-1), lambda a, b: np.stack([a, b], axis=-1),
    [F(2, 3), F(2, 3)], family="join")
add_row("stack_scalars", lambda a, b: sg.stack([a, b, 2.0]),
    lambda a, b: np.stack([a, b, np.asarray(2.0, a.dtype)]), [F(), F()], family="join")
add_row("stack_single", lambda a: sg.stack([a]), lambda a: np.stack([a]), [F(3)], family="join")

# ---------------------------------------------------------------- indexing

add_row("index_int", lambda x: x[1], lambda x: x[1], [F(3, 4)], family="index")
add_row("index_negative", lambda x: x[-1], lambda x: x[-1], [F(3, 4)], family="index")
add_row("index_to_0d", lambda x: x[1, 2], lambda x: np.asarray(x[1, 2]), [F(3, 4)], family="index")
add_row("index_0d_negative", lambda x: x[-2], lambda x: np.asarray(x[-2]), [F(5)], family="index")
add_row("slice", lambda x: x[1:3], lambda x: x[1:3], [F(4, 3)], family="index")
add_row("slice_step", lambda x: x[::2, 1:], lambda x: x[::2, 1:], [F(5, 3)], family="index")
add_row("slice_negative_step", lambda x: x[::-1, -2::-1], lambda x: x[::-1, -2::-1], [F(4, 3)], family="index")
add_row("slice_negative_bounds", lambda x: x[-3:-1], lambda x: x[-3:-1], [F(5)], family="index")
add_row("slice_empty", lambda x: x[3:1], lambda x: x[3:1], [F(5)], family="index")
add_row("slice_out_of_range_clips", lambda x: x[2:100], lambda x: x[2:100], [F(5)], family="index")
add_row("slice_static", lambda x: x[1:, ::2], lambda x: x[1:, ::2], [F(4, 5, static=True)], family="index")
add_row("index_column", lambda x: x[:, 1], lambda x: x[:, 1], [F(3, 4)], family="index")
add_row("index_ellipsis", lambda x: x[..., 0], lambda x: x[..., 0], [F(2, 3, 4)], family="index")
add_row("index_ellipsis_middle", lambda x: x[1, ..., 1:3], lambda x: x[1, ..., 1:3], [F(2, 3, 4)], family="index")
add_row("index_newaxis", lambda x: x[None, :, 1], lambda x: x[None, :, 1], [F(3, 4)], family="index")
add_row("index_newaxis_middle", lambda x: x[1:, None, np.newaxis], lambda x: x[1:, None, None], [F(3, 4)],
    family="index")
add_row("index_symbolic", lambda x, i: x[:, i], lambda x, i: x[:, i], [F(3, 4), I(low=-4, high=4)], (0,),
    family="index")
add_row("index_symbolic_0d", lambda x, i: x[i], lambda x, i: np.asarray(x[i]), [F(5), I(low=-5, high=5)], (0,),
    family="index")
add_row("slice_symbolic", lambda x, i, j: x[i:j], lambda x, i, j: x[i:j], [F(6, 2), I(low=0, high=3), I(low=3, high=6)],
    (0,), family="index")
add_row("slice_symbolic_step", lambda x, i: x[::i], lambda x, i: x[::i], [F(7), I(low=1, high=4)], (0,),
    family="index")
add_row("slice_shape_bound", lambda x: x[:x.shape[0] - 1], lambda x: x[:x.shape[0] - 1], [F(4, 2)],
    family="index")
add_row("index_int_input", lambda x: x[2], lambda x: x[2], [I(4, 3, low=-9, high=9)], family="index")
add_row("index_empty_array", lambda x: x[1:], lambda x: x[1:], [F(1, 3)], family="index")
add_row("advanced_vector", lambda x, i: x[i], lambda x, i: x[i], [F(4, 3), I(5, low=0, high=4)], (0,),
    family="advanced_index")
add_row("advanced_repeated", lambda x: x[[0, 2, 0, 0]], lambda x: x[[0, 2, 0, 0]], [F(3)], family="advanced_index")
add_row("advanced_negative", lambda x: x[[-1, 0, -3]], lambda x: x[[-1, 0, -3]], [F(3, 2)], family="advanced_index")
add_row("advanced_two_arrays", lambda x, i, j: x[i, j], lambda x, i, j: x[i, j],
    [F(4, 3), I(5, low=0, high=4), I(5, low=0, high=3)], (0,), family="advanced_index")
add_row("advanced_columns", lambda x, i: x[:, i], lambda x, i: x[:, i], [F(2, 4, 3), I(2, 2, low=-4, high=4)], (0,),
    family="advanced_index")
add_row("advanced_arange_labels", lambda x, y: x[sg.arange(x.shape[0]), y], lambda x, y: x[np.arange(len(x)), y],
    [F(5, 3), I(5, low=0, high=3)], (0,), family="advanced_index")
add_row("advanced_broadcast_indices", lambda x: x[[[0], [2]], [1, 0, 1]], lambda x: x[[[0], [2]], [1, 0, 1]],
    [F(3, 2)], family="advanced_index")
add_row("advanced_nonadjacent", lambda x: x[[0, 1], :, [2, 0]], lambda x: x[[0, 1], :, [2, 0]], [F(2, 3, 4)],
    family="advanced_index")
add_row("advanced_int_and_array", lambda x: x[1, :, [0, 3]], lambda x: x[1, :, [0, 3]], [F(2, 3, 4)],
    family="advanced_index")
add_row("advanced_with_newaxis", lambda x: x[None, [1, 0]], lambda x: x[None, [1, 0]], [F(2, 3)],
    family="advanced_index")
add_row("advanced_constant_mask", lambda x: x[np.array([True, False, True])],
    lambda x: x[np.array([True, False, True])], [F(3, 2)], family="advanced_index")
add_row("advanced_int_data", lambda x, i: x[i], lambda x, i: x[i], [I(4, low=-5, high=5), I(3, low=0, high=4)],
    family="advanced_index")
add_row("advanced_static", lambda x: x[[2, 0]], lambda x: x[[2, 0]], [F(3, 4, static=True)], family="advanced_index")
add_row("inc_subtensor", lambda x, y: sg.inc_subtensor(x[1:3], y), lambda x, y: _np_inc(x, slice(1, 3), y),
    [F(4, 2), F(2)], family="index")
add_row("set_subtensor", lambda x, y: sg.set_subtensor(x[:, 0], y), lambda x, y: _np_set(x, (slice(None), 0), y),
    [F(3, 2), F(3)], family="index")
add_row("advanced_inc_subtensor", lambda x, y: sg.inc_subtensor(x[[0, 2, 0]], y),
    lambda x, y: _np_add_at(x, [0, 2, 0], y), [F(3, 2), F(3, 2)], family="advanced_index")
add_row("advanced_set_subtensor", lambda x, y: sg.set_subtensor(x[[1, 2]], y),
    lambda x, y: _np_set(x, [1, 2], y), [F(3, 2), F(2)], family="advanced_index")


def _np_inc(x, key, y):
    out = x.copy()
    out[key] += y
    return out


def _np_set(x, key, y):
    out = x.copy()
    out[key] = y
    return out


def _np_add_at(x, key, y):
    out = x.copy()
    np.add.at(out, key, y)
    return out


# ---------------------------------------------------------------- products

for _name, _shapes in [("vv", ((4,), (4,))), ("mv", ((3, 4), (4,))), ("vm", ((4,), (4, 2))),
                       ("mm", ((3, 4), (4, 2))), ("mm_empty_inner", ((3, 0), (0, 2))),
                       ("mm_empty_outer", ((0, 4), (4, 2)))]:
    add_row(f"dot_{_name}", sg.dot, np.dot, [F(*_shapes[0]), F(*_shapes[1])], family="linalg")
    add_row(f"matmul_{_name}", lambda a, b: a @ b, np.matmul, [F(*_shapes[0]), F(*_shapes[1])], family="linalg")
add_row("dot_scalar_matrix", sg.dot, np.dot, [F(), F(2, 3)], family="linalg")
add_row("dot_matrix_scalar", sg.dot, np.dot, [F(2, 3), F()], family="linalg")
add_row("dot_3d_matrix", sg.dot, np.dot, [F(2, 3, 4), F(4, 2)], family="linalg")
add_row("dot_3d_vector", sg.dot, np.dot, [F(2, 3, 4), F(4)], family="linalg")
add_row("dot_3d_3d", sg.dot, np.dot, [F(2, 3, 4), F(2, 4, 3)], family="linalg")
add_row("dot_vector_3d", sg.dot, np.dot, [F(4), F(2, 4, 3)], family="linalg")
add_row("dot_matrix_4d", sg.dot, np.dot, [F(3, 4), F(2, 1, 4, 2)], family="linalg")
add_row("dot_static", sg.dot, np.dot, [F(3, 4, static=True), F(4, 2, static=True)], family="linalg")
add_row("dot_int", sg.dot, np.dot, [I(3, 4, low=-3, high=3), I(4, low=-3, high=3)], family="linalg")
add_row("dot_int_float", sg.dot, np.dot, [I(3, 4, low=-3, high=3), F(4)], family="linalg")
add_row("dot_method", lambda a, b: a.dot(b), lambda a, b: a.dot(b), [F(2, 3), F(3, 2)], family="linalg")
add_row("matmul_batched", lambda a, b: a @ b, np.matmul, [F(2, 3, 4), F(2, 4, 5)], family="linalg")
add_row("matmul_batch_broadcast", lambda a, b: a @ b, np.matmul, [F(2, 1, 3, 4), F(5, 4, 2)], family="linalg")
add_row("matmul_matrix_batched", lambda a, b: a @ b, np.matmul, [F(3, 4), F(2, 4, 5)], family="linalg")
add_row("matmul_batched_matrix", lambda a, b: sg.matmul(a, b), np.matmul, [F(2, 3, 4), F(4, 5)], family="linalg")
add_row("matmul_batched_vector", lambda a, b: a @ b, np.matmul, [F(2, 3, 4), F(4)], family="linalg")
add_row("matmul_vector_batched", lambda a, b: a @ b, np.matmul, [F(4), F(2, 4, 5)], family="linalg")
add_row("matmul_batched_static", lambda a, b: a @ b, np.matmul,
    [F(2, 3, 4, static=True), F(1, 4, 5, static=True)], family="linalg")
add_row("matmul_constant", lambda a: a @ np.arange(6.0).reshape(3, 2), lambda a: a @ np.arange(6.0).reshape(3, 2),
    [F(2, 3)], family="linalg")
add_row("outer", sg.outer, np.outer, [F(3), F(4)], family="linalg")
add_row("outer_matrix_flattens", sg.outer, np.outer, [F(2, 2), F(3)], family="linalg")

# ---------------------------------------------------------------- nnet

for _axis, _shape in [(-1, (3, 4)), (0, (3, 4)), (1, (2, 3, 4)), (-1, (5,))]:
    add_row(f"softmax_axis{_axis}_{len(_shape)}d", lambda x, a=_axis: sg.softmax(x, axis=a),
        lambda x, a=_axis: _np_softmax(x, a), [F(*_shape)], family="nnet")
    add_row(f"log_softmax_axis{_axis}_{len(_shape)}d", lambda x, a=_axis: sg.log_softmax(x, axis=a),
        lambda x, a=_axis: _np_log_softmax(x, a), [F(*_shape)], family="nnet")
add_row("softmax_large", sg.softmax, lambda x: _np_softmax(x, -1), [F(2, 3, domain="large")], (), family="nnet")
add_row("log_softmax_large", sg.log_softmax, lambda x: _np_log_softmax(x, -1), [F(2, 3, domain="large")], (),
    family="nnet")
add_row("softmax_empty", sg.softmax, lambda x: x.copy(), [F(0, 3)], family="nnet")
add_row("softmax_int", sg.softmax, lambda x: _np_softmax(x.astype("float64"), -1), [I(2, 3)], family="nnet")
for _axis in [None, 0, -1, (0, 2)]:
    for _keep in (False, True):
        add_row(f"logsumexp_axis{_axis}{'_keepdims' if _keep else ''}".replace(" ", ""),
            lambda x, a=_axis, k=_keep: sg.logsumexp(x, axis=a, keepdims=k),
            lambda x, a=_axis, k=_keep: _np_logsumexp(x, a, k), [F(2, 3, 4)], family="nnet")
add_row("logsumexp_vector", sg.logsumexp, _np_logsumexp, [F(5)], family="nnet")
add_row("logsumexp_0d", sg.logsumexp, lambda x: x.copy(), [F()], family="nnet")
add_row("logsumexp_large", sg.logsumexp, _np_logsumexp, [F(4, domain="large")], (), family="nnet")
add_row("logsumexp_empty", lambda x: sg.logsumexp(x, axis=0), lambda x: np.full(x.shape[1:], -np.inf, x.dtype),
    [F(0, 3)], (), family="nnet")
add_row("one_hot", lambda i: sg.one_hot(i, 4), lambda i: _np_one_hot(i, 4), [I(5, low=0, high=4)], family="nnet")
add_row("one_hot_2d", lambda i: sg.one_hot(i, 3, dtype="float32"), lambda i: _np_one_hot(i, 3, "float32"),
    [I(2, 3, low=0, high=3)], family="nnet")
add_row("one_hot_symbolic_n", lambda i, x: sg.one_hot(i, x.shape[0]), lambda i, x: _np_one_hot(i, len(x)),
    [I(4, low=0, high=3), F(3)], (), family="nnet")
add_row("one_hot_0d", lambda i: sg.one_hot(i, 3), lambda i: _np_one_hot(i, 3), [I(low=0, high=3)], family="nnet")
add_row("cross_entropy", lambda x, y: -sg.mean(sg.log_softmax(x)[sg.arange(x.shape[0]), y]),
    lambda x, y: -np.mean(_np_log_softmax(x, -1)[np.arange(len(x)), y]), [F(4, 3), I(4, low=0, high=3)], (0,),
    family="nnet")

# ---------------------------------------------------------------- arange

add_row("arange_stop", lambda: sg.arange(5), lambda: np.arange(5), [], family="arange")
add_row("arange_start_stop_step", lambda: sg.arange(2, 11, 3), lambda: np.arange(2, 11, 3), [], family="arange")
add_row("arange_negative_step", lambda: sg.arange(5, 0, -2), lambda: np.arange(5, 0, -2), [], family="arange")
add_row("arange_empty", lambda: sg.arange(3, 1), lambda: np.arange(3, 1), [], family="arange")
add_row("arange_float", lambda: sg.arange(0, 1, 0.25, dtype="float32"), lambda: np.arange(0, 1, 0.25, dtype="float32"),
    [], family="arange")
add_row("arange_symbolic", lambda x: sg.arange(x.shape[0]), lambda x: np.arange(len(x)), [F(4)], (), family="arange")
add_row("arange_symbolic_bounds", lambda i, j: sg.arange(i, j), lambda i, j: np.arange(i, j),
    [I(low=-3, high=2), I(low=2, high=6)], family="arange")

CATALOGUE_IDS = [r.id for r in CATALOGUE]
assert len(set(CATALOGUE_IDS)) == len(CATALOGUE_IDS), "catalogue ids must be unique"
DIFFERENTIABLE = [r for r in CATALOGUE if r.differentiable]
FAMILIES = sorted({r.family for r in CATALOGUE})
