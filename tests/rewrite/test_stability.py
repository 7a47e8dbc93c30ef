"""Stability rewrites: finite, correct values (and gradients) where the naive graph overflows."""
import numpy as np
import pytest

import symgraph as sg
from symgraph.rewrite import optimize_graph

from .helpers import compare, op_names


def np_log_softmax(x):
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def fired(outputs, name):
    _, log = optimize_graph(outputs if isinstance(outputs, list) else [outputs])
    return log.fired(name)


def test_log_sigmoid_finite_at_minus_1000_with_gradient():
    x = sg.vector("x")
    cost = sg.sum(sg.log(sg.sigmoid(x)))
    g = sg.grad(cost, x)
    assert fired([cost, g], "log_sigmoid_to_softplus")
    f = sg.function([x], [cost, g], backend="python")
    xv = np.array([-1000.0, -3.0, 0.0, 1000.0])
    value, grad = f(xv)
    expected = -np.logaddexp(0, -xv)
    np.testing.assert_allclose(value, expected.sum())
    with np.errstate(over="ignore"):
        np.testing.assert_allclose(grad, 1 - 1 / (1 + np.exp(-xv)))  # d/dx log sigmoid = 1 - sigmoid
    # Without the optimizer the same graph gives -inf and NaN.
    raw = sg.function([x], [cost, g], backend="python", optimizer=None)(xv)
    assert not np.isfinite(raw[0]) or not np.all(np.isfinite(raw[1]))


def test_log_one_minus_sigmoid():
    x = sg.vector("x")
    out = sg.log(1.0 - sg.sigmoid(x))
    # either directly, or as 1 - sigmoid(x) -> sigmoid(-x) followed by log(sigmoid) -> -softplus
    assert fired(out, "log_one_minus_sigmoid") or fired(out, "one_minus_sigmoid")
    assert "softplus" in op_names(optimize_graph([out], mode={"mode": "fast_run", "exclude": ["fusion"]})[0])
    f = sg.function([x], out, backend="python")
    xv = np.array([1000.0, 0.0, -5.0])
    np.testing.assert_allclose(f(xv), -np.logaddexp(0, xv))
    compare([x], out, [np.array([-2.0, 0.5, 3.0])])


def test_log_softmax_with_entries_of_1000():
    x = sg.matrix("x")
    out = sg.log(sg.softmax(x))
    assert fired(out, "log_softmax_from_log")
    f = sg.function([x], out, backend="python")
    xv = np.array([[1000.0, 0.0, -1000.0], [1000.0, 1000.0, 999.0]])
    result = f(xv)
    assert np.all(np.isfinite(result))
    np.testing.assert_allclose(result, np_log_softmax(xv))
    assert "log_softmax" in op_names(f.graph.outputs)


def test_softmax_cross_entropy_with_huge_logits_value_and_gradient():
    x, y = sg.matrix("x"), sg.matrix("y")
    cost = -sg.sum(y * sg.log(sg.softmax(x)))
    g = sg.grad(cost, x)
    f = sg.function([x, y], [cost, g], backend="python")
    xv = np.array([[1000.0, 0.0, -1000.0], [0.5, 2000.0, 3.0]])
    yv = np.eye(3)[[2, 0]]
    value, grad = f(xv, yv)
    p = np.exp(np_log_softmax(xv))
    np.testing.assert_allclose(value, -(yv * np_log_softmax(xv)).sum())
    np.testing.assert_allclose(grad, p * yv.sum(axis=1, keepdims=True) - yv, atol=1e-12)
    # moderate logits: optimized and unoptimized agree
    small = np.random.default_rng(1).normal(size=(2, 3))
    compare([x, y], [cost, g], [small, yv])


def test_log_sum_exp_becomes_logsumexp():
    x = sg.matrix("x")
    out = sg.log(sg.sum(sg.exp(x), axis=1))
    assert fired(out, "log_sum_exp_to_logsumexp")
    f = sg.function([x], out, backend="python")
    xv = np.array([[1000.0, 999.0], [-1000.0, -1001.0]])
    m = xv.max(axis=1)
    np.testing.assert_allclose(f(xv), m + np.log(np.exp(xv - m[:, None]).sum(axis=1)))


def test_log1p_and_expm1_are_accurate_for_tiny_inputs():
    x = sg.vector("x")
    tiny = np.array([1e-20, -1e-18, 1e-10])
    for out, name, reference in [(sg.log(1.0 + x), "log_one_plus_to_log1p", np.log1p),
                                 (sg.log(x + 1.0), "log_one_plus_to_log1p", np.log1p),
                                 (sg.exp(x) - 1.0, "exp_minus_one_to_expm1", np.expm1)]:
        assert fired(out, name)
        f = sg.function([x], out, backend="python")
        np.testing.assert_allclose(f(tiny), reference(tiny), rtol=1e-12)


def test_softplus_from_log1p_exp_no_overflow():
    x = sg.vector("x")
    out = sg.log(1.0 + sg.exp(x))
    f = sg.function([x], out, backend="python")
    np.testing.assert_allclose(f(np.array([1000.0, 0.0, -1000.0])), np.logaddexp(0, [1000.0, 0.0, -1000.0]))


def test_cancellation_does_not_fire_for_possibly_zero_divisors():
    x, y = sg.vector("x"), sg.vector("y")
    out = (y / x) * x                           # x can be 0: (y / 0) * 0 is NaN and must stay so
    assert not fired(out, "cancel_division")
    f = sg.function([x, y], out, backend="python")
    assert np.isnan(f(np.array([0.0]), np.array([1.0]))[0])


@pytest.mark.parametrize("xv", [np.array([-1000.0, 0.0, 1000.0]), np.array([-20.0, 1e-5, 20.0])])
def test_binary_cross_entropy_of_sigmoid_is_finite(xv):
    x, t = sg.vector("x"), sg.vector("t")
    s = sg.sigmoid(x)
    cost = -sg.sum(t * sg.log(s) + (1.0 - t) * sg.log(1.0 - s))
    g = sg.grad(cost, x)
    f = sg.function([x, t], [cost, g], backend="python")
    tv = np.array([1.0, 0.0, 1.0])
    value, grad = f(xv, tv)
    expected = (tv * np.logaddexp(0, -xv) + (1 - tv) * np.logaddexp(0, xv)).sum()
    np.testing.assert_allclose(value, expected)
    with np.errstate(over="ignore"):
        np.testing.assert_allclose(grad, 1 / (1 + np.exp(-xv)) - tv, atol=1e-12)
