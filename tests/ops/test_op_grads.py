"""Every differentiable op of the catalogue: first, second and third derivatives against central finite
differences (float64, and float32 for the first), plus the rule that non-differentiable inputs get no gradient.

The cost is ``sum(output * W)`` for fixed random weights ``W``, so every output entry contributes;
``sg.verify_grad`` (the one finite-difference checker) compares the gradient along random
directions and checks its shape and dtype. The first derivative is checked with lengths known
only at call time and with every length static.
"""
import zlib

import numpy as np
import pytest

import symgraph as sg

try:
    from tests.ops.catalogue import CATALOGUE, DIFFERENTIABLE, ids, sample_inputs
except ImportError:  # pytest run without the repository root on sys.path
    from catalogue import CATALOGUE, DIFFERENTIABLE, ids, sample_inputs


def _weights(row, arrays, rng):
    """Fixed random weights shaped like the row's output: the scalar reduction sum(w * op(x))."""
    out = np.asarray(row.ref(*arrays))
    return rng.uniform(0.5, 1.5, size=out.shape)


def _scalar_reduction(row, weights):
    def cost(*xs):
        out = row.build(*xs)
        if not out.type.is_float:
            out = sg.cast(out, "float64")
        return sg.sum(out * weights.astype(out.dtype))
    return cost


def _directional_derivative(cost, directions, wrt_positions):
    """x -> <grad cost(x), r>: its gradient is the Hessian of ``cost`` applied to ``r``."""
    def first(*xs):
        wrt = [xs[i] for i in wrt_positions]
        grads = sg.grad(cost(*xs), wrt, disconnected="zero")
        total = None
        for g, r in zip(grads, directions):
            term = sg.sum(g * r.astype(g.dtype))
            total = term if total is None else total + term
        return total
    return first


def _static(row):
    return [spec.static for spec in row.inputs]


def _float_positions(arrays):
    return [i for i, a in enumerate(arrays) if a.dtype.kind == "f"]


@pytest.mark.parametrize("static", [False, True], ids=["dynamic_shapes", "static_shapes"])
@pytest.mark.parametrize("row", DIFFERENTIABLE, ids=ids)
def test_first_derivative_matches_finite_differences(row, static):
    rng = np.random.default_rng(zlib.crc32(row.id.encode()))
    arrays = sample_inputs(row, rng, "float64")
    sg.verify_grad(_scalar_reduction(row, _weights(row, arrays, rng)), arrays, rng=rng,
                   static_shape=True if static else _static(row))


@pytest.mark.parametrize("row", [r for r in DIFFERENTIABLE if "float32" in r.dtypes], ids=ids)
def test_first_derivative_in_float32(row):
    # verify_grad also checks that each gradient has its input's dtype (float32 stays float32).
    rng = np.random.default_rng(zlib.crc32(row.id.encode()))
    arrays = sample_inputs(row, rng, "float32")
    sg.verify_grad(_scalar_reduction(row, _weights(row, arrays, rng)), arrays, rng=rng,
                   static_shape=_static(row), n_directions=1)


@pytest.mark.parametrize("row", DIFFERENTIABLE, ids=ids)
def test_second_derivative_matches_finite_differences_of_the_first(row):
    rng = np.random.default_rng(zlib.crc32(row.id.encode()) + 1)
    arrays = sample_inputs(row, rng, "float64")
    cost = _scalar_reduction(row, _weights(row, arrays, rng))
    positions = _float_positions(arrays)
    directions = [rng.standard_normal(arrays[i].shape) for i in positions]
    sg.verify_grad(_directional_derivative(cost, directions, positions), arrays, rng=rng,
                   static_shape=_static(row), n_directions=2)


@pytest.mark.parametrize("row", DIFFERENTIABLE, ids=ids)
def test_third_derivative(row):
    rng = np.random.default_rng(zlib.crc32(row.id.encode()) + 2)
    arrays = sample_inputs(row, rng, "float64")
    cost = _scalar_reduction(row, _weights(row, arrays, rng))
    positions = _float_positions(arrays)
    first = [rng.standard_normal(arrays[i].shape) for i in positions]
    second = [rng.standard_normal(arrays[i].shape) for i in positions]
    third = _directional_derivative(_directional_derivative(cost, first, positions), second, positions)
    sg.verify_grad(third, arrays, rng=rng, static_shape=_static(row), n_directions=1, rtol=1e-3)


_ZERO_GRADIENT = ("sign", "zeros_like", "ones_like", "ones_like_0d", "arange_symbolic", "one_hot_symbolic_n")


def _passes_no_gradient(row):
    if row.differentiable or not any(spec.dtype is None or spec.dtype.startswith("float") for spec in row.inputs):
        return False
    if row.id in _ZERO_GRADIENT:
        return True
    out = row.build(*[sg.tensor(f"in{i}", spec.dtype or "float64",
                                spec.shape if spec.static else (None,) * len(spec.shape))
                      for i, spec in enumerate(row.inputs)])
    return not out.type.is_float


@pytest.mark.parametrize("row", [r for r in CATALOGUE if _passes_no_gradient(r)], ids=ids)
def test_non_differentiable_rows_give_zero_gradient(row):
    """Comparisons, one_hot, casts to integers, shapes, sign: the float inputs get exactly zero."""
    rng = np.random.default_rng(0)
    arrays = sample_inputs(row, rng, "float64")
    inputs = [sg.tensor(f"in{i}", a.dtype, a.shape if spec.static else (None,) * a.ndim)
              for i, (a, spec) in enumerate(zip(arrays, row.inputs))]
    out = row.build(*inputs)
    cost = sg.sum(sg.cast(out, "float64") if not out.type.is_float else out)
    floats = [v for v in inputs if v.type.is_float]
    grads = sg.grad(cost, floats, disconnected="zero")
    values = sg.function(inputs, list(grads), backend="python", optimizer=None)(*arrays)
    for v in values:
        assert np.all(v == 0)


def test_integer_indices_pass_no_gradient():
    x = sg.vector("x")
    i = sg.scalar("i", dtype="int64")
    g = sg.grad(x[i] * 3.0, x)
    f = sg.function([x, i], g, backend="python", optimizer=None)
    np.testing.assert_array_equal(f(np.ones(4), 2), [0, 0, 3, 0])
    with pytest.raises(TypeError, match="'i'"):
        sg.grad(x[i] * 3.0, i)
