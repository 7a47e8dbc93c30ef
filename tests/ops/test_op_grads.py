"""Each differentiable catalogue row: ``sg.grad`` against central finite differences, and the second
derivative (a Hessian-vector product, ``grad`` of ``grad``) against finite differences of the gradient.

The cost is ``sum(output * W)`` for a fixed random ``W``, so every output entry is checked.
"""
import numpy as np
import pytest

import symgraph as sg

try:
    from tests.ops.catalogue import DIFFERENTIABLE, ids, sample_inputs, symbolic_inputs
except ImportError:  # pytest run without the repository root on sys.path
    from catalogue import DIFFERENTIABLE, ids, sample_inputs, symbolic_inputs

EPS = 1e-6


def _compile(inputs, outputs):
    return sg.function(inputs, outputs, backend="python", optimizer=None)


def _setup(row, seed=0, static=False):
    rng = np.random.default_rng(seed)
    arrays = sample_inputs(row, rng, "float64")
    variables = symbolic_inputs(row, "float64", static=static)
    output = row.build(*variables)
    out_value = _compile(variables, output)(*arrays)
    weights = sg.tensor("weights", "float64", (None,) * output.ndim)
    cost = sg.sum(output * weights)
    return rng, arrays, variables, cost, weights, rng.standard_normal(np.shape(out_value))


def _finite_difference(evaluate, arrays, index):
    """Central differences of the scalar (or array) ``evaluate(arrays)`` along every entry of ``arrays[index]``."""
    base = arrays[index]
    columns = []
    for k in range(base.size):
        plus, minus = [a.copy() for a in arrays], [a.copy() for a in arrays]
        plus[index].flat[k] += EPS
        minus[index].flat[k] -= EPS
        columns.append((np.asarray(evaluate(plus)) - np.asarray(evaluate(minus))) / (2 * EPS))
    return np.array(columns).reshape(base.shape + np.shape(columns[0]) if columns else base.shape)


@pytest.mark.parametrize("static", [False, True], ids=["dynamic_shapes", "static_shapes"])
@pytest.mark.parametrize("row", DIFFERENTIABLE, ids=ids)
def test_gradient_matches_finite_differences(row, static):
    rng, arrays, variables, cost, weights, w = _setup(row, static=static)
    wrt = [variables[i] for i in row.grad_wrt]
    grads = sg.grad(cost, wrt)
    f_cost = _compile(variables + [weights], cost)
    f_grads = _compile(variables + [weights], grads)
    analytic = f_grads(*arrays, w)
    for i, g in zip(row.grad_wrt, analytic):
        assert g.shape == arrays[i].shape and g.dtype == arrays[i].dtype
        numeric = _finite_difference(lambda a: f_cost(*a, w), arrays, i)
        np.testing.assert_allclose(g, numeric, rtol=1e-5, atol=1e-6, err_msg=f"{row.id}: d/d input {i}")


@pytest.mark.parametrize("row", DIFFERENTIABLE, ids=ids)
def test_second_derivative_matches_finite_differences(row):
    rng, arrays, variables, cost, weights, w = _setup(row, seed=1)
    i = row.grad_wrt[0]
    x = variables[i]
    g = sg.grad(cost, x)
    direction = sg.tensor("direction", "float64", (None,) * x.ndim)
    hessian_vector = sg.grad(sg.sum(g * direction), x, disconnected="zero")
    v = rng.standard_normal(arrays[i].shape)
    f_g = _compile(variables + [weights], g)
    f_hv = _compile(variables + [weights, direction], hessian_vector)
    analytic = f_hv(*arrays, w, v)
    plus, minus = [a.copy() for a in arrays], [a.copy() for a in arrays]
    plus[i] = plus[i] + EPS * v
    minus[i] = minus[i] - EPS * v
    numeric = (f_g(*plus, w) - f_g(*minus, w)) / (2 * EPS)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-4, atol=1e-5, err_msg=f"{row.id}: Hessian-vector")
