"""The worked examples of the backpropagation lectures, each checked against SymPy (or hand-written NumPy
backprop plus finite differences for the network), never against hard-coded numbers."""
import numpy as np
import pytest
import sympy

import symgraph as sg


def compile_(inputs, outputs, **kw):
    return sg.function(inputs, outputs, backend="python", optimizer=None, **kw)


def _sympy_values(expr, symbols, point, order=1):
    """First (and second) derivatives of a SymPy expression at ``point``, as floats."""
    subs = dict(zip(symbols, point))
    first = [float(sympy.diff(expr, s).subs(subs)) for s in symbols]
    if order == 1:
        return first
    second = [[float(sympy.diff(expr, a, b).subs(subs)) for b in symbols] for a in symbols]
    return first, second


def test_exp_log_sin_example_first_and_second_derivatives():
    """y = exp(xz) + xz/log(x) + sin(log(x))/(xz) at x=2, z=3."""
    xs, zs = sympy.symbols("x z")
    y_sym = sympy.exp(xs * zs) + xs * zs / sympy.log(xs) + sympy.sin(sympy.log(xs)) / (xs * zs)
    first, second = _sympy_values(y_sym, [xs, zs], [2, 3], order=2)

    x, z = sg.scalar("x"), sg.scalar("z")
    y = sg.exp(x * z) + x * z / sg.log(x) + sg.sin(sg.log(x)) / (x * z)
    gx, gz = sg.grad(y, [x, z])
    hessian = [sg.grad(gx, [x, z]), sg.grad(gz, [x, z])]
    f = compile_([x, z], [y, gx, gz] + hessian[0] + hessian[1])
    out = f(2.0, 3.0)
    np.testing.assert_allclose(out[0], float(y_sym.subs({xs: 2, zs: 3})), rtol=1e-12)
    np.testing.assert_allclose(out[1:3], first, rtol=1e-12)
    np.testing.assert_allclose(np.reshape(out[3:], (2, 2)), second, rtol=1e-11)


def test_cos_of_sin_of_square():
    """J = cos(sin(x^2) + 3x^2): first and second derivative at a few points."""
    xs = sympy.Symbol("x")
    j_sym = sympy.cos(sympy.sin(xs ** 2) + 3 * xs ** 2)
    x = sg.scalar("x")
    j = sg.cos(sg.sin(x ** 2) + 3 * x ** 2)
    dj = sg.grad(j, x)
    f = compile_([x], [dj, sg.grad(dj, x)])
    for point in (0.5, -1.3, 2.0):
        d1, d2 = f(point)
        np.testing.assert_allclose(d1, float(sympy.diff(j_sym, xs).subs(xs, point)), rtol=1e-11)
        np.testing.assert_allclose(d2, float(sympy.diff(j_sym, xs, 2).subs(xs, point)), rtol=1e-10)


def test_sum_times_product_circuit():
    """f = (x + y) z at (-2, 5, -4)."""
    xs, ys, zs = sympy.symbols("x y z")
    expected = _sympy_values((xs + ys) * zs, [xs, ys, zs], [-2, 5, -4])
    x, y, z = sg.scalar("x"), sg.scalar("y"), sg.scalar("z")
    grads = sg.grad((x + y) * z, [x, y, z])
    np.testing.assert_allclose(compile_([x, y, z], grads)(-2.0, 5.0, -4.0), expected)


def test_sigmoid_neuron():
    """f = sigmoid(w0 x0 + w1 x1 + w2) with w = (2, -3, -3), x = (-1, -2)."""
    w_sym = sympy.symbols("w0 w1 w2")
    x_sym = sympy.symbols("x0 x1")
    f_sym = 1 / (1 + sympy.exp(-(w_sym[0] * x_sym[0] + w_sym[1] * x_sym[1] + w_sym[2])))
    expected = _sympy_values(f_sym, list(w_sym) + list(x_sym), [2, -3, -3, -1, -2])

    w = [sg.scalar(f"w{i}") for i in range(3)]
    x = [sg.scalar(f"x{i}") for i in range(2)]
    f = sg.sigmoid(w[0] * x[0] + w[1] * x[1] + w[2])
    grads = sg.grad(f, w + x)
    np.testing.assert_allclose(compile_(w + x, grads)(2.0, -3.0, -3.0, -1.0, -2.0), expected, rtol=1e-12)

    # The same neuron with vectors: w . [x, 1].
    wv, xv = sg.vector("w"), sg.vector("x")
    fv = sg.sigmoid(sg.sum(wv[:2] * xv) + wv[2])
    gw, gx = sg.grad(fv, [wv, xv])
    out = compile_([wv, xv], [gw, gx])(np.array([2.0, -3.0, -3.0]), np.array([-1.0, -2.0]))
    np.testing.assert_allclose(np.concatenate(out), expected, rtol=1e-12)


def _numpy_network_step(x, t, w1, b1, w2, b2, lr):
    """Hand-written backprop of the one-hidden-layer sigmoid network (the lecture's equations)."""
    h = 1 / (1 + np.exp(-(x @ w1 + b1)))
    y = h @ w2 + b2
    loss = 0.5 * np.mean(np.sum((y - t) ** 2, axis=1))
    dy = (y - t) / len(x)
    dw2, db2 = h.T @ dy, dy.sum(axis=0)
    dh = dy @ w2.T
    dz = dh * h * (1 - h)
    dw1, db1 = x.T @ dz, dz.sum(axis=0)
    return loss, [w1 - lr * dw1, b1 - lr * db1, w2 - lr * dw2, b2 - lr * db2], [dw1, db1, dw2, db2]


def test_one_hidden_layer_network_sgd_step():
    rng = np.random.default_rng(3)
    n, d, hidden, k, lr = 6, 4, 5, 2, 0.1
    x0, t0 = rng.standard_normal((n, d)), rng.standard_normal((n, k))
    initial = [rng.standard_normal((d, hidden)) * 0.5, rng.standard_normal(hidden) * 0.1,
               rng.standard_normal((hidden, k)) * 0.5, rng.standard_normal(k) * 0.1]
    params = [sg.shared(p.copy(), name=name) for p, name in zip(initial, ["w1", "b1", "w2", "b2"])]
    w1, b1, w2, b2 = params
    x, t = sg.matrix("x"), sg.matrix("t")
    h = sg.sigmoid(x @ w1 + b1)
    y = h @ w2 + b2
    loss = 0.5 * sg.mean(sg.sum((y - t) ** 2, axis=1))
    grads = sg.grad(loss, params)
    step = compile_([x, t], [loss] + list(grads), updates=[(p, p - lr * g) for p, g in zip(params, grads)])

    expected_loss, expected_params, expected_grads = _numpy_network_step(x0, t0, *initial, lr)
    out = step(x0, t0)
    np.testing.assert_allclose(out[0], expected_loss, rtol=1e-12)
    for got, want in zip(out[1:], expected_grads):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-14)
    for p, want in zip(params, expected_params):
        np.testing.assert_allclose(p.get_value(), want, rtol=1e-12)

    # And the hand-written backprop itself agrees with finite differences of the loss.
    def numpy_loss(w1_):
        return _numpy_network_step(x0, t0, w1_, *initial[1:], lr)[0]
    eps, direction = 1e-6, rng.standard_normal(initial[0].shape)
    numeric = (numpy_loss(initial[0] + eps * direction) - numpy_loss(initial[0] - eps * direction)) / (2 * eps)
    assert numeric == pytest.approx(np.sum(expected_grads[0] * direction), rel=1e-6)

    # A second step continues from the updated values.
    second_loss = step(x0, t0)[0]
    assert second_loss < out[0]
