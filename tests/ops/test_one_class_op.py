"""``sg.cbrt`` was added as one class (symgraph/ops/elemwise.py) and one catalogue row: these tests check
that nothing else was needed, on every path a scalar op can take (the catalogue checks values, gradients
and every backend; here the two tape interpreters and the places a name would otherwise be written)."""
from __future__ import annotations

import numpy as np
import pytest

import symgraph as sg
from symgraph.codegen.numba import tape
from symgraph.ops.elemwise import SCALAR_OPS, Cbrt


def chain(x, steps):
    for _ in range(steps):
        x = sg.cbrt(x * 1.5 - 0.25)
    return x


def numpy_chain(x, steps):
    for _ in range(steps):
        x = np.cbrt(x * 1.5 - 0.25)
    return x


def test_the_class_is_all_the_backends_and_the_api_need():
    assert SCALAR_OPS["cbrt"] is Cbrt
    assert "cbrt" in tape.OPCODES
    assert "cbrt" in sg.__all__ and sg.cbrt.__doc__.startswith("The real cube root")


def test_a_long_scalar_program_runs_on_the_scalar_tape():
    x = sg.scalar("x")
    y = chain(x, 160)
    f = sg.function([x], y, backend="numba")
    assert "run_tape" in f.source                 # the tape, not generated code
    for value in (-3.0, 0.5, 7.0):
        np.testing.assert_allclose(f(value), numpy_chain(np.float64(value), 160), rtol=1e-12)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_long_fused_node_runs_on_the_vector_tape(dtype):
    x = sg.vector("x", dtype=dtype)
    f = sg.function([x], chain(x, 120), backend="numba")
    assert "run_pooled" in f.source               # the vector tape
    values = np.linspace(-5, 5, 1500).astype(dtype)
    expected = numpy_chain(values, 120)
    np.testing.assert_allclose(f(values), expected, rtol=2e-5 if dtype == "float32" else 1e-12)
    assert f(values).dtype == np.dtype(dtype)


def test_its_gradient_is_one_third_of_a_power():
    x = sg.vector("x")
    g = sg.function([x], sg.grad(sg.cbrt(x).sum(), x), backend="numba")
    values = np.array([-8.0, 1.0, 27.0])
    np.testing.assert_allclose(g(values), 1 / (3 * np.cbrt(values) ** 2), rtol=1e-14)
    assert np.isinf(g(np.array([0.0]))[0])
