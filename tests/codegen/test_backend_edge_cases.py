"""Functions at the edges of what a backend computes: no outputs at all, and dtypes a backend lacks."""
from __future__ import annotations

import numpy as np
import pytest

import symgraph as sg

BACKENDS = ["python", "numba", "cuda"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_function_with_no_outputs_and_no_updates_returns_an_empty_list(backend):
    x = sg.vector("x")
    f = sg.function([x], [], backend=backend)
    assert f(np.arange(3.0)) == []
    assert f(x=np.arange(2.0)) == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_function_with_only_updates_returns_an_empty_list_and_updates(backend):
    x = sg.vector("x")
    w = sg.shared(np.zeros(2), name="w")
    f = sg.function([x], [], updates=[(w, w + x)], backend=backend)
    assert f(np.array([1.0, 2.0])) == []
    np.testing.assert_array_equal(w.get_value(), [1.0, 2.0])


def test_numba_refuses_float16_when_the_function_is_built_naming_the_input():
    x = sg.vector("half_input", dtype="float16")
    with pytest.raises(TypeError, match=r"float16.*input 'half_input'"):
        sg.function([x], x * 2, backend="numba")
    w = sg.shared(np.zeros(2, np.float16), name="half_weights")
    with pytest.raises(TypeError, match=r"float16.*shared variable 'half_weights'"):
        sg.function([], w + 1, backend="numba")


def test_numba_refuses_a_float16_intermediate_naming_the_op_and_the_line():
    y = sg.vector("y", dtype="float32")
    with pytest.raises(TypeError, match=r"float16.*computed by .*built at .*test_backend_edge_cases.py"):
        sg.function([y], sg.cast(sg.cast(y, "float16") * 2, "float32"), backend="numba", optimizer=None)


def test_a_long_float16_scalar_chain_is_refused_not_run_on_the_tape():
    s = sg.scalar("s", dtype="float16")
    value = s
    for k in range(400):
        value = value * 1.0001 + 0.5
    with pytest.raises(TypeError, match=r"float16.*input 's'"):
        sg.function([s], value, backend="numba")


@pytest.mark.parametrize("backend", ["python", "cuda"])
def test_float16_still_computes_where_the_backend_has_it(backend):
    x = sg.vector("x", dtype="float16")
    result = sg.function([x], x * 2 + 1, backend=backend)(np.array([1.5, -3.0], np.float16))
    assert result.dtype == np.float16
    np.testing.assert_array_equal(result, np.array([4.0, -5.0], np.float16))


@pytest.mark.parametrize("ndim", [0, 1])
def test_boolean_sums_on_the_tapes_are_a_logical_or(ndim):
    """Long programs run on the tape interpreters, whose registers hold booleans as 0/1: True + True is
    True (1), as in NumPy, not 2 (scalar tape for 0-d programs, vector tape for a long fused node)."""
    x = sg.vector("x") if ndim else sg.scalar("x")
    value = x
    for _ in range(320):
        value = value * 1.0001 + 0.5
    flag = sg.add(value > 0, x > 0) + (x > -1)
    output = sg.cast(flag, "float64") * 10 + value
    f = sg.function([x], output, backend="numba")
    assert ("run_pooled" in f.source) if ndim else f.source.startswith('"""Tape program')
    data = np.array([1.0, -400.0, 2.0]) if ndim else 1.0
    expected = sg.function([x], output, backend="python")(data)
    np.testing.assert_allclose(f(data), expected, rtol=1e-12)
    assert np.any(np.asarray(expected) - np.asarray(sg.function([x], value, backend="python")(data)) == 10)
