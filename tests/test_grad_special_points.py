"""Derivatives at the points where a naive chain rule gives 0 * inf = NaN and JAX, autograd and
PyTensor give numbers: d/dy 0 ** y, d/dx x ** 0.0 at 0 (and its second derivative, autograd #116),
every derivative of std over one element, and prod at zeros. Each graph is checked on every backend
(cuda runs under Numba's simulator)."""
import numpy as np
import pytest

import symgraph as sg

BACKENDS = ["python", "numba", "cuda"]


def pow_derivatives():
    x, y = sg.scalar("x"), sg.scalar("y")
    e = x ** y
    gx, gy = sg.grad(e, [x, y])
    outputs = [e, gx, sg.grad(gx, x), gy, sg.grad(gy, y), sg.grad(gy, x)]
    return [x, y], outputs


# (x, y) -> [x**y, d/dx, d2/dx2, d/dy, d2/dy2, d2/dxdy] (JAX's values; nan where JAX's is nan too)
POW_POINTS = [
    ((0.0, 0.0), [1.0, 0.0, 0.0, 0.0, 0.0, 0.0]),
    ((0.0, 2.0), [0.0, 0.0, 2.0, 0.0, 0.0, 0.0]),
    ((0.0, 1.0), [0.0, 1.0, 0.0, 0.0, 0.0, 0.0]),
    ((0.0, 3.0), [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]),
    ((1.5, 0.0), [1.0, 0.0, 0.0, np.log(1.5), np.log(1.5) ** 2, 1 / 1.5]),
    ((2.0, 3.0), [8.0, 12.0, 12.0, 8 * np.log(2), 8 * np.log(2) ** 2, 4 + 12 * np.log(2)]),
]


@pytest.mark.parametrize("backend", BACKENDS)
def test_pow_derivatives_at_zero(backend):
    inputs, outputs = pow_derivatives()
    f = sg.function(inputs, outputs, backend=backend)
    for point, expected in POW_POINTS:
        np.testing.assert_allclose([float(v) for v in f(*point)], expected, rtol=1e-12, atol=0,
                                   err_msg=f"{backend} at {point}")


@pytest.mark.parametrize("backend", BACKENDS)
def test_derivatives_of_x_pow_constant_zero(backend):
    """autograd #116: d/dx x ** 0.0 at x = 0 and its second derivative are 0."""
    x = sg.vector("x")
    g = sg.grad(sg.sum(x ** 0.0), x)
    h = sg.grad(sg.sum(g), x)
    f = sg.function([x], [g, h], backend=backend)
    for value in f(np.array([0.0, 2.0, -1.0])):
        np.testing.assert_array_equal(value, [0.0, 0.0, 0.0])


@pytest.mark.parametrize("backend", BACKENDS)
def test_std_derivatives_over_one_element_are_zero(backend):
    v = sg.vector("v")
    s = sg.std(v)
    g = sg.grad(s, v)
    h = sg.hessian(s, v)
    third = sg.grad(sg.sum(sg.grad(sg.sum(g * g), v)), v)
    f = sg.function([v], [s, g, h, third], backend=backend)
    for value in f(np.array([2.0])):
        np.testing.assert_array_equal(value, np.zeros_like(value))
    # elsewhere the ordinary values: std of [1, 3] is |x1 - x2| / 2
    s2, g2, h2, _ = f(np.array([1.0, 3.0]))
    np.testing.assert_allclose(s2, 1.0)
    np.testing.assert_allclose(g2, [-0.5, 0.5])
    np.testing.assert_allclose(h2, np.zeros((2, 2)), atol=1e-12)


def test_std_keeps_numpy_values():
    x = sg.matrix("x")
    f = sg.function([x], [sg.std(x), sg.std(x, axis=0), sg.std(x, axis=1, keepdims=True)], backend="python")
    data = np.array([[1.0, 2.0, 4.0], [1.0, 1.0, 1.0]])
    for got, expected in zip(f(data), [data.std(), data.std(axis=0), data.std(axis=1, keepdims=True)]):
        np.testing.assert_allclose(got, expected, rtol=1e-15)
        assert got.shape == expected.shape


def prod_hessian(v):
    """The exact Hessian of prod(v): entry (i, k) is the product of all elements but i and k."""
    n = len(v)
    return np.array([[0.0 if i == k else np.prod([v[j] for j in range(n) if j not in (i, k)])
                      for k in range(n)] for i in range(n)])


PROD_POINTS = [[0.0, 2.0, 3.0], [0.0, 0.0, 3.0], [0.0, 0.0, 0.0], [1.5, -2.0, 3.0], [2.0, 0.0, 5.0, 7.0],
               [-0.0, 4.0]]


@pytest.mark.parametrize("backend", BACKENDS)
def test_prod_derivatives_at_zeros(backend):
    """JAX's values: the gradient of prod at [0, 2, 3] is [6, 0, 0], with two zeros all 0; the Hessian
    is the product of all elements but two, at zeros too."""
    x = sg.vector("x")
    p = sg.prod(x)
    f = sg.function([x], [sg.grad(p, x), sg.hessian(p, x)], backend=backend)
    for point in PROD_POINTS:
        g, h = f(np.array(point))
        expected = [np.prod(point[:i] + point[i + 1:]) for i in range(len(point))]
        np.testing.assert_allclose(g, expected, rtol=1e-14, err_msg=f"{backend} {point}")
        np.testing.assert_allclose(h, prod_hessian(point), rtol=1e-14, err_msg=f"{backend} {point}")
    np.testing.assert_array_equal(f(np.array([0.0, 2.0, 3.0]))[0], [6.0, 0.0, 0.0])
    np.testing.assert_array_equal(f(np.array([0.0, 0.0, 3.0]))[0], [0.0, 0.0, 0.0])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("axis, keepdims", [(0, False), (1, True), ((0, 1), False), (1, False)])
def test_prod_gradient_along_axes_matches_finite_differences(backend, axis, keepdims):
    m = sg.matrix("m")
    weights = np.arange(1.0, 4.0) if axis == 0 else np.arange(1.0, 3.0)
    p = sg.prod(m, axis=axis, keepdims=keepdims)
    cost = sg.sum(p * p) if axis == (0, 1) else sg.sum(sg.reshape(p, (-1,)) * weights)
    g = sg.grad(cost, m)
    second = sg.grad(sg.sum(g * g), m)
    f = sg.function([m], [cost, g, second], backend=backend)
    reference = sg.function([m], [cost, g], backend="python", optimizer=None)
    data = np.array([[0.0, 2.0, -1.5], [1.25, 0.0, 0.0]])   # one zero in a row, two in another
    for point in (data, np.array([[0.7, -1.2, 2.0], [1.1, 0.9, -0.4]])):
        _, gradient, curvature = f(point)
        eps = 1e-6
        numeric = np.zeros_like(point)
        for index in np.ndindex(point.shape):
            step = np.zeros_like(point)
            step[index] = eps
            numeric[index] = (reference(point + step)[0] - reference(point - step)[0]) / (2 * eps)
        np.testing.assert_allclose(gradient, numeric, rtol=1e-6, atol=1e-8)
        # the second derivative: d/dm sum(g * g) by finite differences of the reference gradient
        numeric2 = np.zeros_like(point)
        for index in np.ndindex(point.shape):
            step = np.zeros_like(point)
            step[index] = eps
            plus, minus = reference(point + step)[1], reference(point - step)[1]
            numeric2[index] = (np.sum(plus * plus) - np.sum(minus * minus)) / (2 * eps)
        np.testing.assert_allclose(curvature, numeric2, rtol=1e-5, atol=1e-6)
