"""What peers' test suites lean on: Jacobians of n-d expressions and with respect to matrices (JAX's shape),
gradients of one-element costs that are not 0-d (autograd), gradients with respect to integer inputs taken
as real numbers (PyTensor's test_grad_int), known_grads on an integer variable, ``Variable.eval`` and the
array methods."""
from __future__ import annotations

import numpy as np
import pytest

import symgraph as sg


def test_jacobian_of_a_matrix_expression_with_respect_to_a_matrix():
    X, W = sg.matrix("X"), sg.matrix("W")
    J = sg.jacobian(sg.tanh(X @ W), W)
    Xv, Wv = np.random.default_rng(0).standard_normal((2, 3)), np.random.default_rng(1).standard_normal((3, 4))
    got = sg.function([X, W], J, backend="numba")(Xv, Wv)
    assert got.shape == (2, 4, 3, 4)
    # d tanh(XW)[i, j] / d W[k, l] = (1 - tanh^2)[i, j] X[i, k] [j == l]
    t = 1 - np.tanh(Xv @ Wv) ** 2
    expected = np.einsum("ij,ik,jl->ijkl", t, Xv, np.eye(4))
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)
    J0 = sg.jacobian(sg.sum(X * W[:2, :3]), W)        # 0-d expression: the gradient's shape
    assert sg.function([X, W], J0, backend="python")(Xv, Wv).shape == (3, 4)


def test_a_cost_of_one_element_need_not_be_0d():
    x = sg.vector("x")
    cost = sg.sum(x ** 2, keepdims=True)           # shape (1,)
    np.testing.assert_allclose(sg.function([x], sg.grad(cost, x), backend="python")([1.0, 2.0]), [2.0, 4.0])
    m = sg.matrix("m")
    with pytest.raises(TypeError, match="one element by its static shape"):
        sg.grad(sg.sum(m, axis=0), m)          # a length known only at call time: most likely a missing sum
    with pytest.raises(TypeError, match="0-d"):
        sg.grad(sg.tensor("t", shape=(2,)), m)


@pytest.mark.parametrize("backend", ["python", "numba"])
def test_gradient_with_respect_to_an_integer_input_is_the_real_gradient(backend):
    i = sg.vector("i", dtype="int64")
    cost = sg.sum(i * 2.5 + i ** 2)
    g = sg.grad(cost, i)
    assert g.dtype == "float64"
    np.testing.assert_allclose(sg.function([i], g, backend=backend)(np.array([1, 2])), [4.5, 6.5])
    x = sg.scalar("x", dtype="int32")
    given = sg.scalar("given")
    passed = sg.grad(None, x, known_grads={x: given})
    np.testing.assert_allclose(sg.function([given], passed, backend=backend)(3.5), 3.5)
    with pytest.raises(TypeError, match="neither a float nor an integer"):
        sg.grad(cost, sg.vector("b", dtype="bool"))


def test_eval_compiles_once_per_set_of_inputs():
    x, y = sg.vector("x"), sg.vector("y")
    z = (x * 2 + y).sum()
    np.testing.assert_allclose(z.eval({x: [1.0, 2.0], y: [0.5, 0.5]}), 7.0)
    np.testing.assert_allclose(z.eval({x: [0.0, 0.0], y: [1.0, 1.0]}), 2.0)
    assert len(z._evaluations) == 1
    np.testing.assert_allclose(sg.constant(3.0).eval(), 3.0)
    with pytest.raises(ValueError, match="not among the function's inputs"):
        z.eval({x: [1.0]})


def test_array_methods():
    X = sg.matrix("X")
    values = np.array([[0.0, 3.0, -1.0], [2.0, 2.0, 5.0]])
    outs = [X.argmax(), X.argmin(axis=1), X.flatten(), X.clip(0.0, 2.5), X.any(axis=0), X.all(), X.cumsum(axis=1),
            X.std(ddof=1), X.var(axis=0), X[:1].squeeze(0), X.cumprod(), X.argsort(axis=0)]
    want = [values.argmax(), values.argmin(axis=1), values.flatten(), values.clip(0.0, 2.5), values.any(axis=0),
            values.all(), values.cumsum(axis=1), values.std(ddof=1), values.var(axis=0), values[:1].squeeze(0),
            values.cumprod(), values.argsort(axis=0, kind="stable")]
    for got, expected in zip(sg.function([X], outs, backend="numba")(values), want):
        assert got.dtype == np.asarray(expected).dtype
        np.testing.assert_allclose(got, expected)


def test_a_variable_that_was_evaluated_still_pickles():
    import pickle
    x = sg.vector("x")
    y = (x * 2).sum()
    y.eval({x: [1.0, 2.0]})
    copy = pickle.loads(pickle.dumps(y))
    assert getattr(copy, "_evaluations", None) is None and copy.owner.op.name == "sum"
