"""One accumulation rule for reductions, stated by the op and followed by every backend.

float32 sums and products accumulate in float64 and round once (``Reduce.accumulator_dtype``);
the data below is chosen so that a float32 running sum or product gives another answer
(1e8 + 1 == 1e8 in float32; 1e30 * 1e30 overflows float32), on every path a backend reduces by:
contiguous rows, a middle axis, strided views, the gradient's ``sum_to_shape``.
"""
from __future__ import annotations

import numpy as np
import pytest

import symgraph as sg
from symgraph.ops.reduce import Reduce, SumToShape, accumulator_dtype

BACKENDS = ["python", "numba", "cuda"]


def _cancelling_columns(n_ones=600):
    """A float32 (n_ones + 2, 3) matrix whose columns sum to n_ones exactly, but to 0 in float32 order."""
    column = np.array([1e8] + [1.0] * n_ones + [-1e8], dtype=np.float32)
    return np.stack([column, 2 * column, column], axis=1)


def _float64_rule(x, axis=None, kind="sum"):
    reduce = np.sum if kind == "sum" else np.prod
    return np.asarray(reduce(x.astype(np.float64), axis=axis)).astype(np.float32)


def test_the_rule_is_the_ops():
    assert accumulator_dtype("sum", "float32") == "float64"
    assert accumulator_dtype("prod", "float16") == "float64"
    assert accumulator_dtype("sum", "int64") == "int64"
    assert accumulator_dtype("max", "float32") == "float32"
    assert accumulator_dtype("any", "bool") == "bool"
    x = sg.matrix("x", dtype="float32")
    total = sg.sum(x, axis=0)
    assert isinstance(total.owner.op, Reduce) and total.owner.op.accumulator_dtype(total.dtype) == "float64"
    assert SumToShape().accumulator_dtype("float32") == "float64"
    # The data really separates the rules: NumPy's own float32 sum (pairwise) and a running float32 sum differ.
    data = _cancelling_columns()
    running = np.float32(0)
    for value in data[:, 0]:
        running = np.float32(running + value)
    assert running != 600 and _float64_rule(data, 0)[0] == 600


@pytest.mark.parametrize("backend", BACKENDS)
def test_float32_sums_and_products_accumulate_in_float64_on_every_backend(backend):
    data = _cancelling_columns()
    x = sg.matrix("x", dtype="float32")
    v = sg.vector("v", dtype="float32")
    outputs = [sg.sum(x), sg.sum(x, axis=0), sg.sum(x.T, axis=1), sg.sum(x.T, axis=0), sg.sum(x, axis=0, keepdims=True),
               sg.mean(x, axis=0), sg.sum(v), sg.prod(v)]
    big = np.array([1e30, 1e30, 1e-30, 1e-30, 3.0], dtype=np.float32)
    product_rows = np.array([[1e30, 1e30, 1e-30], [1e-30, 2.0, 1e30], [4.0, 1e20, 1e-20]], dtype=np.float32)
    f = sg.function([x, v], outputs, backend=backend)
    results = f(data, big)
    expected = [_float64_rule(data), _float64_rule(data, 0), _float64_rule(data, 0), _float64_rule(data.T, 0),
                _float64_rule(data, 0)[None, :], (_float64_rule(data, 0) / np.float32(data.shape[0])),
                _float64_rule(big), _float64_rule(big, kind="prod")]
    for result, want in zip(results, expected):
        assert result.dtype == np.float32
        np.testing.assert_array_equal(result, want)
    assert results[3].shape == (data.shape[0],)
    np.testing.assert_array_equal(results[7], np.float32(3.0))     # float32 running product: inf
    g = sg.function([x], sg.prod(x.T, axis=1), backend=backend)(product_rows.T.copy())
    np.testing.assert_allclose(g, _float64_rule(product_rows, 1, kind="prod"), rtol=1e-6)
    assert np.isfinite(g).all()


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_gradients_sum_to_shape_accumulates_as_sum(backend):
    data = _cancelling_columns()
    x, b = sg.matrix("x", dtype="float32"), sg.vector("b", dtype="float32")
    gradient = sg.grad(sg.sum(x * b), b)    # b's length is unknown: summed back at call time (sum_to_shape)
    result = sg.function([x, b], gradient, backend=backend)(data, np.ones(3, np.float32))
    assert result.dtype == np.float32
    np.testing.assert_array_equal(result, _float64_rule(data, 0))
