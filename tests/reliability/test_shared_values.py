"""Values entering a compiled function or a shared variable: checked casts, byte order, update shapes.

Every backend (python, numba, and cuda under the simulator) must refuse an update that breaks a
shared variable's static shape without committing anything, keep working after
``set_value(read_only, borrow=True)``, and compute right with big-endian inputs and shared values.
"""
import numpy as np
import pytest

import symgraph as sg

from .helpers import available_backends, backend_options

BACKENDS = available_backends()


def compile_(inputs, outputs, backend, **kw):
    return sg.function(inputs, outputs, backend=backend, **backend_options(backend), **kw)


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_update_breaking_the_static_shape_raises_and_commits_nothing(backend):
    W = sg.shared(np.arange(5.0), name="W", shape=(5,))
    c = sg.shared(np.float64(0.0), name="c")
    v = sg.vector("v")
    f = compile_([v], sg.sum(v), backend, updates=[(c, c + 1.0), (W, v)])
    with pytest.raises(ValueError, match=r"'W'.*shape \(2,\).*static shape \(5,\)"):
        f(np.array([1.0, 2.0]))
    np.testing.assert_array_equal(W.get_value(), np.arange(5.0))
    assert c.get_value() == 0.0                 # the other update of the call is not committed either
    reader = compile_([], W * 2.0, backend)
    np.testing.assert_array_equal(reader(), np.arange(5.0) * 2)
    assert f(np.ones(5)) == 5.0                 # a fitting value is committed
    np.testing.assert_array_equal(W.get_value(), np.ones(5))
    assert c.get_value() == 1.0


@pytest.mark.parametrize("value, dtype", [
    ([2**40, 2**31], "int32"), ([-1], "uint8"), ([256], "uint8"), ([2**63], "int64"),
    ([1e300], "float32"), ([np.nan], "int64"), ([1.5], "int32"), ([1 + 2j], "float64"),
])
def test_shared_with_a_dtype_refuses_values_the_cast_would_change(value, dtype):
    with pytest.raises(ValueError, match="'big'"):
        sg.shared(np.array(value), name="big", dtype=dtype)


def test_shared_with_a_dtype_accepts_values_that_survive_the_cast():
    assert sg.shared(np.array([3.0, -2.0]), dtype="int8").get_value().tolist() == [3, -2]
    assert sg.shared(np.array([1 + 0j]), dtype="float64").get_value().tolist() == [1.0]
    assert sg.shared(np.array([0.1]), dtype="float32").get_value()[0] == np.float32(0.1)   # rounding


def test_set_value_refuses_out_of_range_integers_and_keeps_the_old_value():
    s = sg.shared(np.array([1, 2], dtype="int32"), name="s")
    with pytest.raises(ValueError, match=r"'s'.*out of range for int32"):
        s.set_value(np.array([2**40, 2**31]))
    with pytest.raises(ValueError, match=r"'s'.*out of range for int32"):
        s.set_value([2**70, 1])
    with pytest.raises(ValueError, match=r"'s'.*masked"):
        s.set_value(np.ma.masked_array([1, 2], mask=[False, True]))
    assert s.get_value().tolist() == [1, 2]
    s.set_value(np.array([-5, 7], dtype="int64"))          # in range: accepted
    assert s.get_value().dtype == np.int32 and s.get_value().tolist() == [-5, 7]


@pytest.mark.parametrize("backend", BACKENDS)
def test_set_value_with_a_read_only_borrowed_array_keeps_every_call_working(backend):
    W = sg.shared(np.zeros(3), name="W")
    x = sg.vector("x")
    f = compile_([x], W + x, backend)
    step = compile_([], [], backend, updates=[(W, W + 1.0)])
    frozen = np.arange(3.0)
    frozen.flags.writeable = False
    W.set_value(frozen, borrow=True)
    for k in range(3):
        np.testing.assert_array_equal(f(np.ones(3)), np.arange(3.0) + k + 1)
        step()
    np.testing.assert_array_equal(frozen, np.arange(3.0))   # the caller's array is untouched


@pytest.mark.parametrize("backend", BACKENDS)
def test_big_endian_inputs_and_shared_values_compute_right(backend):
    big = np.arange(4.0).astype(">f8")
    W = sg.shared(np.arange(4.0, 8.0).astype(">f8"), name="W")
    assert W.get_value().dtype.isnative
    x, m = sg.vector("x"), sg.matrix("m")
    f = compile_([x, m], [x * W, sg.sum(m, axis=0)], backend)
    got = f(big, np.arange(6.0).reshape(2, 3).astype(">f8"))
    np.testing.assert_array_equal(got[0], np.arange(4.0) * np.arange(4.0, 8.0))
    np.testing.assert_array_equal(got[1], [3.0, 5.0, 7.0])
    W.set_value(np.ones(4).astype(">f8"), borrow=True)
    np.testing.assert_array_equal(f(big, np.ones((1, 1)))[0], np.arange(4.0))
    i = sg.vector("i", dtype="int32")
    g = compile_([i], i * 2, backend)
    np.testing.assert_array_equal(g(np.array([1, -2], dtype=">i4")), [2, -4])


def test_big_endian_constants_compute_right():
    x = sg.vector("x")
    for backend in BACKENDS:
        f = compile_([x], x + np.arange(3.0).astype(">f8"), backend)
        np.testing.assert_array_equal(f(np.ones(3)), [1.0, 2.0, 3.0])


@pytest.mark.skipif("cuda" not in BACKENDS or "numba" not in BACKENDS, reason="needs the cuda and numba backends")
def test_a_numba_function_reads_the_value_a_cuda_function_committed():
    w = sg.shared(np.zeros(2), name="w")
    step = compile_([], [], "cuda", updates=[(w, w + 1.0)])
    read = compile_([], w * 1.0, "numba")
    count = sg.shared(np.float64(0.0), name="count")
    bump = compile_([], [], "cuda", updates=[(count, count + 1.0)])
    read_count = compile_([], count + 0.0, "numba")
    for k in range(1, 3):
        step()
        bump()
        np.testing.assert_array_equal(read(), [k, k])
        assert float(read_count()) == k
