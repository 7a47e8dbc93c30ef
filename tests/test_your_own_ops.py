"""Your own ops and graph surgery: ``sg.OpFromGraph`` (inlined or not, nested, with shared state, with a
gradient override), a user's ``sg.Op`` subclass on every backend, ``sg.clone_replace`` and
``sg.vectorize_graph``."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import symgraph as sg
from symgraph.graph import Node
from symgraph.types import TensorType

BACKENDS = ["python", "numba", "cuda"]


class Cube(sg.Op):
    """x ** 3, defined outside symgraph (no lowering anywhere)."""
    name = "cube"

    def make_node(self, x):
        return Node(self, [x], [TensorType(x.dtype, x.type.shape)])

    def perform(self, node, inputs):
        return [inputs[0] ** 3]

    def grad(self, inputs, outputs, output_grads):
        return [output_grads[0] * 3.0 * inputs[0] ** 2]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_user_op_runs_on_every_backend_with_its_gradient(backend):
    x = sg.vector("x")
    cost = sg.sum(sg.exp(Cube()(x)) * 2.0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        f = sg.function([x], [cost, sg.grad(cost, x)], backend=backend)
    values = np.array([0.5, -1.0, 0.2])
    value, gradient = f(values)
    np.testing.assert_allclose(value, np.sum(np.exp(values ** 3) * 2.0), rtol=1e-13)
    np.testing.assert_allclose(gradient, 2.0 * np.exp(values ** 3) * 3 * values ** 2, rtol=1e-13)
    if backend != "python":
        assert any("Cube" in str(w.message) for w in caught) or not caught   # warned once per class, per process
    if backend == "numba":      # compiled, the node called back from the kernel (an object-mode block)
        assert "cbk.call(" in f.source and "with nb.objmode(" in f.source


def test_a_user_op_failing_inside_a_numba_kernel_names_itself_and_changes_no_state():
    class Picky(Cube):
        def perform(self, node, inputs):
            if np.any(inputs[0] > 100):
                raise ValueError("picky: too large")
            return [np.asarray(inputs[0] ** 3)]
    x = sg.vector("x")
    w = sg.shared(np.zeros(2), name="w")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f = sg.function([x], sg.sum(Picky()(x)), updates=[(w, w + 1.0)], backend="numba")
    assert f([1.0, 2.0]) == 9.0 and w.get_value().tolist() == [1.0, 1.0]
    with pytest.raises(ValueError, match="picky: too large"):
        f([200.0, 1.0])
    assert w.get_value().tolist() == [1.0, 1.0]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("optimizer", ["fast_run", None])
def test_op_from_graph_is_one_node_with_its_graphs_meaning(backend, optimizer):
    a, b = sg.vector("a"), sg.vector("b")
    w = sg.shared(np.array([10.0, 20.0]), name="w")
    pair = sg.OpFromGraph([a, b], [a * b + w, sg.exp(a)], name="pair")
    opaque = sg.OpFromGraph([a, b], a - b, inline=False)
    nested = sg.OpFromGraph([a], opaque(a, a * 0.5) + 1.0)
    y = sg.vector("y")
    u, v = pair(y, y * 2.0)
    assert u.owner.op is pair and len(u.owner.outputs) == 2
    cost = sg.sum(u * v) + sg.sum(nested(y))
    f = sg.function([y], [u, v, cost, sg.grad(cost, y)], backend=backend, optimizer=optimizer)
    yv = np.array([1.0, 2.0])
    got_u, got_v, got_cost, got_grad = f(yv)
    np.testing.assert_allclose(got_u, 2 * yv ** 2 + [10.0, 20.0])
    np.testing.assert_allclose(got_v, np.exp(yv))
    np.testing.assert_allclose(got_cost, np.sum((2 * yv ** 2 + [10, 20]) * np.exp(yv)) + np.sum(yv * 0.5 + 1))
    expected = 4 * yv * np.exp(yv) + (2 * yv ** 2 + [10, 20]) * np.exp(yv) + 0.5
    np.testing.assert_allclose(got_grad, expected, rtol=1e-12)


def test_op_from_graph_gradient_override_is_used_and_differentiates_again():
    x = sg.vector("x")
    clipped = sg.OpFromGraph([x], x * 1.0, grad=lambda inputs, grads: [sg.clip(grads[0], -1.0, 1.0) * inputs[0]])
    y = sg.vector("y")
    g = sg.grad(sg.sum(clipped(y) * 5.0), y)
    np.testing.assert_allclose(sg.function([y], g, backend="numba")([2.0, -3.0]), [2.0, -3.0])
    second = sg.grad(sg.sum(g), y)         # d/dy (clip(5) * y) = 1
    np.testing.assert_allclose(sg.function([y], second, backend="python")([2.0, -3.0]), [1.0, 1.0])


def test_op_from_graph_refuses_bad_use():
    a = sg.vector("a")
    with pytest.raises(TypeError, match="no owner"):
        sg.OpFromGraph([a * 2], a)
    with pytest.raises(ValueError, match="not among its inputs"):
        sg.OpFromGraph([a], a + sg.vector("b"))
    op = sg.OpFromGraph([a], a * 2)
    with pytest.raises(TypeError, match="does not match"):
        op(sg.matrix("m"))


def test_clone_replace_copies_and_keeps_the_original():
    x, y = sg.vector("x"), sg.vector("y")
    hidden = sg.tanh(x)
    z = hidden * 3.0 + x
    w = sg.clone_replace(z, {hidden: y})
    np.testing.assert_allclose(sg.function([x, y], w, backend="python")([1.0], [2.0]), [7.0])
    np.testing.assert_allclose(sg.function([x], z, backend="python")([0.0]), [0.0])     # unchanged
    with pytest.raises(TypeError, match="does not match"):
        sg.clone_replace(z, {x: sg.matrix("m")})


def test_vectorize_graph_batches_any_number_of_leading_axes():
    x = sg.vector("x")
    W = sg.shared(np.arange(6.0).reshape(3, 2), name="W")
    y = sg.softmax(sg.dot(x, W)) * sg.cumsum(x)[-1] + sg.argmax(x)
    X = sg.tensor("X", shape=(None, None, None))
    Y = sg.vectorize_graph(y, {x: X})
    values = np.random.default_rng(0).standard_normal((2, 4, 3))
    got = sg.function([X], Y, backend="numba")(values)
    single = sg.function([x], y, backend="python")
    expected = np.array([[single(v) for v in row] for row in values])
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert got.shape == (2, 4, 2)
