"""Errors name the op and the operand shapes; run-time errors also name the user's line; softmax,
log_softmax and logsumexp stay finite and correct at inputs of 1000."""
import os

import numpy as np
import pytest

import symgraph as sg

THIS_FILE = os.path.basename(__file__)


def _run(inputs, output, *values):
    return sg.function(inputs, output, backend="python", optimizer=None)(*values)


# ---------------------------------------------------------------- build time

def test_matmul_inner_mismatch_names_op_and_shapes():
    a, b = sg.matrix("a", shape=(3, 4)), sg.matrix("b", shape=(5, 2))
    with pytest.raises(ValueError, match=r"dot.*\(3, 4\).*\(5, 2\)"):
        a @ b
    with pytest.raises(ValueError, match=r"dot.*\(3, 4\).*\(5, 2\)"):
        sg.dot(a, b)


def test_batched_matmul_mismatch_names_op_and_shapes():
    a = sg.tensor("a", shape=(2, 3, 4))
    with pytest.raises(ValueError, match=r"matmul.*\(2, 3, 4\).*\(2, 5, 6\)"):
        a @ sg.tensor("b", shape=(2, 5, 6))
    with pytest.raises(ValueError, match=r"matmul.*batch"):
        a @ sg.tensor("c", shape=(3, 4, 6))
    with pytest.raises(ValueError, match=r"matmul.*\(5,\)"):
        a @ sg.vector("v", shape=(5,))
    with pytest.raises(ValueError, match="matmul.*0-d"):
        sg.scalar("s") @ a


def test_broadcasting_mismatch_names_op_and_shapes():
    a, b = sg.matrix("a", shape=(2, 3)), sg.matrix("b", shape=(4, 3))
    with pytest.raises(ValueError, match=r"add.*'a'.*2, 3.*'b'.*4, 3"):
        a + b
    with pytest.raises(ValueError, match=r"maximum"):
        sg.maximum(a, sg.vector("c", shape=(4,)))


def test_bad_axis_names_op():
    x = sg.matrix("x")
    with pytest.raises(ValueError, match="sum.*axis 2"):
        sg.sum(x, axis=2)
    with pytest.raises(ValueError, match="max.*axis -3"):
        x.max(axis=-3)
    with pytest.raises(ValueError, match="softmax.*axis 2.*'x'"):
        sg.softmax(x, axis=2)
    with pytest.raises(ValueError, match="logsumexp.*axis 5"):
        sg.logsumexp(x, axis=5)
    with pytest.raises(ValueError, match="concatenate.*axis 2"):
        sg.concatenate([x, x], axis=2)
    with pytest.raises(ValueError, match="stack.*axis 4"):
        sg.stack([x, x], axis=4)
    with pytest.raises(ValueError, match="transpose"):
        sg.transpose(x, (0, 0))


def test_bad_reshape_names_op_and_shape():
    x = sg.matrix("x", shape=(2, 3))
    with pytest.raises(ValueError, match=r"reshape.*'x'.*\(4, 2\)"):
        x.reshape(4, 2)
    with pytest.raises(ValueError, match="reshape.*-1"):
        x.reshape(-1, -1)


def test_concatenate_mismatch_names_shapes():
    a, b = sg.matrix("a", shape=(2, 3)), sg.matrix("b", shape=(2, 4))
    with pytest.raises(ValueError, match=r"concatenate.*axis 1.*'a'.*'b'"):
        sg.concatenate([a, b], axis=0)
    with pytest.raises(ValueError, match="concatenate.*dimensions"):
        sg.concatenate([a, sg.vector("v")])
    with pytest.raises(ValueError, match="concatenate.*zero-dimensional"):
        sg.concatenate([sg.scalar("s"), sg.scalar("t")])
    with pytest.raises(ValueError, match="stack.*same shape"):
        sg.stack([a, sg.vector("v")])


def test_constant_index_out_of_range_fails_at_build_time():
    x = sg.matrix("x", shape=(3, 4))
    with pytest.raises(IndexError, match=r"subtensor.*index 5.*axis 0.*length 3"):
        x[5]
    with pytest.raises(IndexError, match=r"index -5.*axis 1.*length 4"):
        x[:, -5]
    with pytest.raises(IndexError, match=r"advanced_subtensor.*index 7.*axis 0.*length 3"):
        x[[0, 7]]
    with pytest.raises(IndexError, match="too many indices"):
        x[0, 0, 0]
    with pytest.raises(ValueError, match="one_hot.*out of range"):
        sg.one_hot(sg.constant([0, 4]), 3)


def test_bad_index_kinds_are_type_errors():
    x, i = sg.vector("x"), sg.scalar("i")
    with pytest.raises(TypeError, match="integer"):
        x[i]
    with pytest.raises(TypeError, match="boolean mask.*sg.where"):
        x[x > 0]
    with pytest.raises(TypeError, match="index"):
        x[1.5]
    with pytest.raises(TypeError, match="boolean scalar"):
        x[True]
    with pytest.raises(TypeError, match="list of symbolic indices"):
        x[[i, i]]
    with pytest.raises(ValueError, match="step cannot be zero"):
        x[::0]
    with pytest.raises(IndexError, match="single ellipsis"):
        sg.matrix("m")[..., 0, ...]


def test_one_hot_and_arange_argument_errors():
    with pytest.raises(TypeError, match="one_hot.*integers"):
        sg.one_hot(sg.vector("v"), 3)
    with pytest.raises(TypeError, match="one_hot.*integer scalar"):
        sg.one_hot(sg.vector("i", dtype="int64"), sg.vector("n", dtype="int64"))
    with pytest.raises(ValueError, match="arange.*step"):
        sg.arange(0, 5, 0)


# ---------------------------------------------------------------- run time: op and user file named

def _assert_names_user_file(excinfo, *words):
    message = str(excinfo.value)
    assert THIS_FILE in message, message
    for word in words:
        assert word in message, message


def test_runtime_matmul_mismatch():
    a, b = sg.matrix("a"), sg.matrix("b")
    with pytest.raises(ValueError) as excinfo:
        _run([a, b], a @ b, np.ones((3, 4)), np.ones((5, 2)))
    _assert_names_user_file(excinfo, "dot", "(3, 4)", "(5, 2)")
    t = sg.tensor("t")
    with pytest.raises(ValueError) as excinfo:
        _run([t, b], t @ b, np.ones((2, 3, 4)), np.ones((5, 2)))
    _assert_names_user_file(excinfo, "matmul", "(2, 3, 4)", "(5, 2)")


def test_runtime_broadcast_mismatch():
    a, b = sg.matrix("a"), sg.matrix("b")
    with pytest.raises(ValueError) as excinfo:
        _run([a, b], a + b, np.ones((2, 3)), np.ones((4, 3)))
    _assert_names_user_file(excinfo, "add")


def test_runtime_index_out_of_range():
    x, i = sg.vector("x"), sg.scalar("i", dtype="int64")
    with pytest.raises(IndexError) as excinfo:
        _run([x, i], x[i], np.ones(3), 3)
    _assert_names_user_file(excinfo, "subtensor", "(3,)")
    with pytest.raises(IndexError) as excinfo:
        _run([x], x[5], np.ones(3))
    _assert_names_user_file(excinfo, "subtensor")
    idx = sg.vector("idx", dtype="int64")
    with pytest.raises(IndexError) as excinfo:
        _run([x, idx], x[idx], np.ones(3), [0, 3])
    _assert_names_user_file(excinfo, "advanced_subtensor")
    with pytest.raises(ValueError):  # IndexError subclass that is also a ValueError
        _run([x, idx], x[idx], np.ones(3), [-4])


def test_runtime_reshape_concatenate_one_hot_errors():
    x, y = sg.matrix("x"), sg.matrix("y")
    with pytest.raises(ValueError) as excinfo:
        _run([x], x.reshape(4, -1), np.ones((2, 3)))
    _assert_names_user_file(excinfo, "reshape")
    with pytest.raises(ValueError) as excinfo:
        _run([x, y], sg.concatenate([x, y]), np.ones((2, 3)), np.ones((2, 4)))
    _assert_names_user_file(excinfo, "concatenate", "(2, 3)", "(2, 4)")
    labels = sg.vector("labels", dtype="int64")
    with pytest.raises(IndexError) as excinfo:
        _run([labels], sg.one_hot(labels, 3), [0, 3])
    _assert_names_user_file(excinfo, "one_hot")


# ---------------------------------------------------------------- numerical stability

@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_softmax_family_is_stable_at_1000(dtype):
    x = sg.vector("x", dtype=dtype)
    outputs = [sg.softmax(x), sg.log_softmax(x), sg.logsumexp(x)]
    grads = [sg.grad(sg.logsumexp(x), x), sg.grad(sg.log_softmax(x)[0], x), sg.grad(sg.softmax(x)[1], x)]
    values = _run([x], outputs + grads, np.array([1000.0, 1000.0, -1000.0], dtype=dtype))
    assert all(np.all(np.isfinite(v)) for v in values)
    assert all(v.dtype == dtype for v in values)
    softmax, log_softmax, lse, g_lse, g_log_softmax, g_softmax = values
    # float32 spacing at 1000 is 6e-5, so exp(x - logsumexp(x)) is only that accurate there.
    tol = 1e-7 if dtype == "float64" else 1e-4
    np.testing.assert_allclose(softmax, [0.5, 0.5, 0.0], atol=tol)
    np.testing.assert_allclose(log_softmax, [-np.log(2), -np.log(2), -2000 - np.log(2)], rtol=1e-6)
    np.testing.assert_allclose(lse, 1000 + np.log(2), rtol=1e-6)
    np.testing.assert_allclose(g_lse, [0.5, 0.5, 0.0], atol=tol)
    np.testing.assert_allclose(g_log_softmax, [0.5, -0.5, 0.0], atol=tol)
    np.testing.assert_allclose(g_softmax, [-0.25, 0.25, 0.0], atol=tol)


def test_logsumexp_handles_infinities_and_axes():
    x = sg.matrix("x")
    rows = np.array([[-np.inf, -np.inf], [np.inf, 0.0], [1000.0, -1000.0]])
    value = _run([x], sg.logsumexp(x, axis=1), rows)
    np.testing.assert_allclose(value, [-np.inf, np.inf, 1000.0])
    value = _run([x], sg.logsumexp(x, axis=0, keepdims=True), np.full((2, 3), -1000.0))
    np.testing.assert_allclose(value, np.full((1, 3), -1000.0 + np.log(2)))
