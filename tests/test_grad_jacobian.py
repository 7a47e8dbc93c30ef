"""Dense Jacobians and Hessians of every differentiable catalogue op, against finite differences.

They exercise the batching rules of ``symgraph.vectorize`` on every op a gradient graph can hold.
"""
import zlib

import numpy as np
import pytest

import symgraph as sg
from tests.ops.catalogue import DIFFERENTIABLE, ids, sample_inputs

EPS = 1e-6


def _setup(row):
    rng = np.random.default_rng(zlib.crc32(row.id.encode()) + 5)
    arrays = sample_inputs(row, rng, "float64")
    position = next(i for i, a in enumerate(arrays) if a.dtype.kind == "f")
    flat = sg.vector("flat")
    inputs = [sg.tensor(f"in{i}", a.dtype, a.shape if spec.static else (None,) * a.ndim)
              for i, (a, spec) in enumerate(zip(arrays, row.inputs))]
    args = list(inputs)
    args[position] = sg.reshape(flat, arrays[position].shape)
    others = [v for i, v in enumerate(inputs) if i != position]
    other_arrays = [a for i, a in enumerate(arrays) if i != position]
    return rng, arrays, position, flat, args, others, other_arrays


def _fd_jacobian(f, x):
    columns = []
    for i in range(x.size):
        step = np.zeros_like(x)
        step[i] = EPS
        columns.append((np.asarray(f(x + step), dtype="float64") - np.asarray(f(x - step), dtype="float64"))
                       / (2 * EPS))
    return np.stack(columns, axis=-1) if columns else np.zeros(np.shape(f(x)) + (0,))


@pytest.mark.parametrize("row", DIFFERENTIABLE, ids=ids)
def test_jacobian_of_every_op(row):
    rng, arrays, position, flat, args, others, other_arrays = _setup(row)
    out = row.build(*args)
    expr = sg.reshape(sg.cast(out, "float64"), (-1,))
    jac = sg.jacobian(expr, flat, disconnected="zero", vectorize=True)
    f = sg.function([flat] + others, [expr, jac], backend="python", optimizer=None)
    x0 = arrays[position].reshape(-1)
    value, got = f(x0, *other_arrays)
    expected = _fd_jacobian(lambda x: f(x, *other_arrays)[0], x0)
    assert got.shape == (value.size, x0.size)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("row", DIFFERENTIABLE, ids=ids)
def test_hessian_of_every_op(row):
    rng, arrays, position, flat, args, others, other_arrays = _setup(row)
    out = sg.cast(row.build(*args), "float64")
    weights = rng.uniform(0.5, 1.5, size=np.shape(row.ref(*arrays)))
    cost = sg.sum(out * weights)
    gradient = sg.grad(cost, flat, disconnected="zero")
    hess = sg.hessian(cost, flat, disconnected="zero", vectorize=True)
    f = sg.function([flat] + others, [gradient, hess], backend="python", optimizer=None)
    x0 = arrays[position].reshape(-1)
    _, got = f(x0, *other_arrays)
    expected = _fd_jacobian(lambda x: f(x, *other_arrays)[0], x0)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
