"""Gradient graphs (add_n sums, reused forward nodes, second derivatives, a training step) compiled by the
other backends agree with the python reference backend. Marked slow: each compiles JIT code."""
import numpy as np
import pytest

import symgraph as sg

pytestmark = pytest.mark.slow

BACKENDS = ["numba", "cuda"]


def _network(backend):
    rng = np.random.default_rng(11)
    w1 = sg.shared(rng.standard_normal((4, 5)) * 0.5, name="w1")
    b1 = sg.shared(np.zeros(5), name="b1")
    x, t = sg.matrix("x"), sg.vector("t")
    h = sg.sigmoid(x @ w1 + b1)
    loss = sg.mean((sg.sum(h * h, axis=1) - t) ** 2)
    g_w1, g_b1 = sg.grad(loss, [w1, b1])
    curvature = sg.grad(sg.sum(sg.grad(loss, b1) ** 2), b1)  # a second derivative through the network
    step = sg.function([x, t], [loss, g_w1, g_b1, curvature], backend=backend,
                       updates=[(w1, w1 - 0.1 * g_w1), (b1, b1 - 0.1 * g_b1)])
    return step, (w1, b1)


@pytest.mark.parametrize("backend", BACKENDS)
def test_training_step_and_second_derivative_match_the_python_backend(backend):
    rng = np.random.default_rng(12)
    x0, t0 = rng.standard_normal((6, 4)), rng.standard_normal(6)
    reference, ref_params = _network("python")
    candidate, params = _network(backend)
    for _ in range(2):
        expected = reference(x0, t0)
        got = candidate(x0, t0)
        for g, e in zip(got, expected):
            np.testing.assert_allclose(np.asarray(g), e, rtol=1e-10, atol=1e-12)
    for p, q in zip(params, ref_params):
        np.testing.assert_allclose(p.get_value(), q.get_value(), rtol=1e-10)


@pytest.mark.parametrize("backend", BACKENDS)
def test_many_consumer_sum_and_dense_hessian_match_the_python_backend(backend):
    x = sg.vector("x")
    cost = sg.sum(sg.sin(x) * sg.cos(x) * sg.exp(x) * x)
    outputs = [sg.grad(cost, x), sg.hessian(cost, x)]
    x0 = np.linspace(-1, 1, 5)
    expected = sg.function([x], outputs, backend="python")(x0)
    got = sg.function([x], outputs, backend=backend)(x0)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(np.asarray(g), e, rtol=1e-10, atol=1e-12)
