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


# ---------------------------------------------------------------- issue 14: the forms seen in peers' suites

from scipy import special  # noqa: E402

BIG = np.array([-1000.0, -40.0, -1.5, 0.0, 2.0, 37.0, 800.0, 1000.0])


def value_and_grad(build, xv, backend="python", optimizer="fast_run"):
    """The value of sum(build(x)) and its gradient, compiled on ``backend``."""
    x = sg.vector("x")
    cost = sg.sum(build(x))
    f = sg.function([x], [cost, sg.grad(cost, x)], backend=backend, optimizer=optimizer)
    return f(xv)


@pytest.mark.parametrize("name, build, value, derivative", [
    ("sigmoid_from_quotient", lambda x: 1.0 / (1.0 + sg.exp(-x)), special.expit,
     lambda v: special.expit(v) * special.expit(-v)),
    ("sigmoid_from_quotient", lambda x: sg.exp(x) / (1.0 + sg.exp(x)), special.expit,
     lambda v: special.expit(v) * special.expit(-v)),
    ("sigmoid_from_quotient", lambda x: 3.0 / (sg.exp(x) + 1.0), lambda v: 3 * special.expit(-v),
     lambda v: -3 * special.expit(v) * special.expit(-v)),
    ("sigmoid_times_exp", lambda x: sg.sigmoid(-x) * sg.exp(x), special.expit,
     lambda v: special.expit(v) * special.expit(-v)),
    ("log1p_minus_sigmoid", lambda x: sg.log1p(-sg.sigmoid(x)), lambda v: -np.logaddexp(0, v),
     lambda v: -special.expit(v)),
    ("log1p_exp_to_softplus", lambda x: sg.log1p(sg.exp(x)), lambda v: np.logaddexp(0, v), special.expit),
    ("one_minus_sigmoid", lambda x: -sg.log(1.0 - 1.0 / (1.0 + sg.exp(-x))), lambda v: np.logaddexp(0, v),
     special.expit),
])
@pytest.mark.parametrize("backend", ["python", "numba"])
def test_hand_written_sigmoid_forms_have_finite_values_and_gradients(name, build, value, derivative, backend):
    x = sg.vector("x")
    assert fired([build(x)], name)
    got_value, got_grad = value_and_grad(build, BIG, backend)
    np.testing.assert_allclose(got_value, value(BIG).sum(), rtol=1e-12)
    np.testing.assert_allclose(got_grad, derivative(BIG), rtol=1e-12, atol=1e-300)
    # the gradient is finite also without the optimizer: sg.grad differentiated the stable form
    assert np.all(np.isfinite(value_and_grad(build, BIG, optimizer=None)[1]))


def log_softmax_grad(x, upstream, axis=-1):
    """d/dx of sum(upstream * log_softmax(x))."""
    return upstream - special.softmax(x, axis=axis) * upstream.sum(axis=axis, keepdims=True)


@pytest.mark.parametrize("view", [
    lambda s: s[np.array([0, 1]), np.array([0, 2])],          # the deeplearning.net NLL pattern
    lambda s: s[sg.arange(s.shape[0]), np.array([1, 2])],
    lambda s: s[1],
    lambda s: s[:, 1:],
    lambda s: s.T,
    lambda s: s.reshape((-1,)),
    lambda s: s[0][None, :],                                   # PyTensor's subtensor + dimshuffle variant
    lambda s: sg.expand_dims(s.T, 0)[0, 1:],
])
@pytest.mark.parametrize("log_first", [False, True])
def test_log_softmax_through_indexing_and_views(view, log_first):
    x = sg.matrix("x")
    cost = -sg.sum(view(sg.log(sg.softmax(x))) if log_first else sg.log(view(sg.softmax(x))))
    g = sg.grad(cost, x)
    if not log_first:
        assert fired([cost], "log_through_views")
    xv = np.array([[0.0, 1000.0, -1000.0], [1.0, 2.0, 3.0]])
    value, grad = sg.function([x], [cost, g], backend="python")(xv)
    # the reference: the same view of NumPy's log_softmax, differentiated by hand through a 0/1 mask
    probe = sg.matrix("probe")
    mask = sg.function([probe], sg.grad(sg.sum(view(probe)), probe), backend="python")(np.zeros_like(xv))
    assert mask.sum() >= 1
    np.testing.assert_allclose(value, -(mask * special.log_softmax(xv, axis=1)).sum(), rtol=1e-12)
    np.testing.assert_allclose(grad, -log_softmax_grad(xv, mask, axis=1), rtol=1e-12, atol=1e-12)


def test_log_of_a_transposed_sum_of_exp_is_logsumexp():
    t = sg.tensor("t")
    out = sg.log(sg.sum(sg.exp(t), axis=2).T)
    assert fired([out], "log_through_views")
    weights = np.arange(6.0).reshape(3, 2)
    cost = sg.sum(out * weights)
    tv = np.full((2, 3, 4), -1000.0)
    value, grad = sg.function([t], [cost, sg.grad(cost, t)], backend="python")(tv)
    np.testing.assert_allclose(value, (special.logsumexp(tv, axis=2).T * weights).sum())
    np.testing.assert_allclose(grad, np.repeat(weights.T[:, :, None] / 4, 4, axis=2))


@pytest.mark.parametrize("point", [(1e4, 1e4), (1e4, -1e4), (-1e4, -1e4), (0.5, -2.0), (-np.inf, 3.0)])
def test_log_of_a_sum_of_exps_is_logsumexp(point):
    a, b = sg.scalar("a"), sg.scalar("b")
    out = sg.log(sg.exp(a) + sg.exp(b))
    assert fired([out], "log_of_exp_sum")
    f = sg.function([a, b], [out, *sg.grad(out, [a, b])], backend="python")
    value, ga, gb = f(*point)
    np.testing.assert_allclose(value, np.logaddexp(*point))
    np.testing.assert_allclose([ga, gb], [special.expit(point[0] - point[1]), special.expit(point[1] - point[0])])


def test_log_of_a_sum_of_three_broadcast_exps():
    x, y = sg.matrix("x"), sg.vector("y")
    out = sg.log(sg.exp(x) + (sg.exp(y) + sg.exp(2.0 * x)))
    assert fired([out], "log_of_exp_sum")
    xv, yv = np.array([[1000.0, -3.0], [0.0, 700.0]]), np.array([999.0, -1000.0])
    stacked = np.stack(np.broadcast_arrays(xv, yv, 2 * xv))
    np.testing.assert_allclose(sg.function([x, y], out, backend="python")(xv, yv), special.logsumexp(stacked, axis=0))


@pytest.mark.parametrize("shape, build, axis", [
    ((3,), lambda c: sg.exp(c) / sg.exp(c).sum(), 0),
    ((2, 3), lambda c: sg.exp(c) / sg.exp(c).sum(axis=1, keepdims=True), 1),
    ((2, 3), lambda c: sg.exp(c) / sg.exp(c).sum(axis=1)[:, None], 1),
    ((2, 3), lambda c: sg.exp(c) / sg.exp(c).sum(axis=0), 0),
    ((2, 3, 2), lambda c: sg.exp(c) / sg.expand_dims(sg.exp(c).sum(axis=1), 1), 1),
])
def test_softmax_written_by_hand(shape, build, axis):
    c = sg.tensor("c", shape=(None,) * len(shape))
    out = build(c)
    assert fired([out], "softmax_from_quotient")
    cv = np.random.default_rng(3).normal(size=shape)
    cv.flat[0], cv.flat[-1] = 1000.0, -1000.0
    weights = np.arange(cv.size, dtype=float).reshape(shape)
    cost = sg.sum(out * weights)
    value, grad = sg.function([c], [out, sg.grad(cost, c)], backend="python")(cv)
    p = special.softmax(cv, axis=axis)
    np.testing.assert_allclose(value, p, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(grad, p * (weights - (p * weights).sum(axis=axis, keepdims=True)), rtol=1e-9, atol=1e-12)


def test_a_sum_that_does_not_broadcast_back_along_its_axis_is_not_softmax():
    c = sg.matrix("c")
    out = sg.exp(c) / sg.exp(c).sum(axis=1)        # (2, 2): divides row i by the sum of row j
    assert not fired([out], "softmax_from_quotient")
    cv = np.array([[0.0, 1.0], [2.0, 3.0]])
    np.testing.assert_allclose(sg.function([c], out, backend="python")(cv), np.exp(cv) / np.exp(cv).sum(axis=1))


@pytest.mark.parametrize("backend", ["python", "numba"])
def test_theano_tutorial_logistic_regression_with_a_hand_written_sigmoid(backend):
    """The Theano tutorial's p = 1 / (1 + exp(-x.w - b)) is a sigmoid: finite cross-entropy and training step
    at logits of +-1000, and the optimized step holds no exp or log."""
    rng = np.random.default_rng(0)
    x, y = sg.matrix("x"), sg.vector("y")
    w0 = rng.standard_normal(4)
    w, b = sg.shared(w0, name="w"), sg.shared(0.0, name="b")
    p_1 = 1 / (1 + sg.exp(-sg.dot(x, w) - b))
    xent = -y * sg.log(p_1) - (1 - y) * sg.log(1 - p_1)
    cost = xent.mean() + 0.01 * (w ** 2).sum()
    gw, gb = sg.grad(cost, [w, b])
    new_w, new_b = w - 0.1 * gw, b - 0.1 * gb
    optimized, log = optimize_graph([p_1 > 0.5, xent, new_w, new_b], mode={"exclude": ["fusion"]})
    assert log.fired("sigmoid_from_quotient")
    names = op_names(optimized)
    assert not {"exp", "log", "log1p"} & set(names), names
    assert names.count("softplus") == 2
    train = sg.function([x, y], [p_1 > 0.5, xent], updates=[(w, new_w), (b, new_b)], backend=backend)
    xv, yv = rng.standard_normal((5, 4)) * 300, np.array([1.0, 0.0, 1.0, 1.0, 0.0])
    prediction, got_xent = train(xv, yv)
    z = xv @ w0
    np.testing.assert_array_equal(prediction, z > 0)
    np.testing.assert_allclose(got_xent, yv * np.logaddexp(0, -z) + (1 - yv) * np.logaddexp(0, z), rtol=1e-12)
    residual = special.expit(z) - yv
    np.testing.assert_allclose(w.get_value(), w0 - 0.1 * (xv.T @ residual / 5 + 0.02 * w0), rtol=1e-12)
    np.testing.assert_allclose(b.get_value(), -0.1 * residual.mean(), rtol=1e-12)


@pytest.mark.parametrize("build", [
    lambda x, g: g / (1.0 + sg.exp(x)) * sg.exp(x),           # d/dx log1p(exp(x)), as backprop writes it
    lambda x, g: sg.exp(x) * (g * (1.0 / (1.0 + sg.exp(x)))),
    lambda x, g: g * (sg.sigmoid(-x) * sg.exp(x)),
])
def test_gradient_formulas_written_naively_are_stabilised_by_the_optimizer(build):
    """The optimizer's stability rewrites also reach gradient graphs built without sg.grad."""
    x, g = sg.vector("x"), sg.vector("g")
    out = build(x, g)
    _, log = optimize_graph([out])
    assert log.fired("sigmoid_times_exp")
    xv, gv = np.array([-1000.0, -2.0, 0.0, 3.0, 1000.0]), np.full(5, 2.0)
    np.testing.assert_allclose(sg.function([x, g], out, backend="python")(xv, gv), 2 * special.expit(xv), rtol=1e-12)


@pytest.mark.parametrize("axis", [0, -1])
@pytest.mark.parametrize("idx0", [0, slice(1, None), slice(None)])
@pytest.mark.parametrize("idx1", [None, [0, 1, 1, -1]])
def test_pytensor_logsoftmax_subtensor_dimshuffle(axis, idx0, idx1):
    """PyTensor's test_logsoftmax_subtensor_dimshuffle: log(softmax(x)[idx0, idx1]) holds no softmax
    once optimized, and is finite where log of the softmax underflows."""
    logit_p = sg.matrix("logit_p")
    out = sg.log(sg.softmax(logit_p, axis=axis)[(idx0, idx1)])
    f = sg.function([logit_p], out, backend="python")
    assert "softmax" not in op_names(f.graph.outputs)
    test_logit_p = np.array([[-10.0, -10.0, 999.0], [999.0, 990.0, -10.0]])
    expected = special.log_softmax(test_logit_p, axis=axis)[(idx0, idx1)]
    np.testing.assert_allclose(f(test_logit_p), expected, rtol=1e-12)
    cost = sg.sum(out)
    g = sg.function([logit_p], sg.grad(cost, logit_p), backend="python", optimizer=None)(test_logit_p)
    assert np.all(np.isfinite(g))
