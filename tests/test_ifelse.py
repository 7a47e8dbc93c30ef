"""``sg.ifelse``: only the chosen branch runs (a branch that would raise does not when not taken), values
and gradients through both branches, several values, nesting, and every backend."""
import numpy as np
import pytest

import symgraph as sg
from symgraph.graph import Node
from symgraph.types import TensorType

BACKENDS = ["python", "numba", "cuda"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_branch_not_taken_does_not_run(backend):
    x = sg.vector("x")
    i = sg.scalar("i", dtype="int64")
    y = sg.ifelse(i < 3, sg.exp(x[i]) * 2.0, sg.sum(x[i - 10:]) + 100.0)
    f = sg.function([x, i], y, backend=backend)
    np.testing.assert_allclose(f([1.0, 2.0, 3.0], 1), 2 * np.exp(2.0))
    np.testing.assert_allclose(f([1.0, 2.0, 3.0], 7), 106.0)     # x[7] would raise; it is not computed
    np.testing.assert_allclose(f([1.0, 2.0, 3.0], 12), 103.0)


class CountingSquare(sg.Op):
    """x**2 that counts how often its perform runs (to see which branch ran)."""
    name = "counting_square"
    calls = 0

    def make_node(self, x):
        return Node(self, [x], [TensorType(x.dtype, x.type.shape)])

    def perform(self, node, inputs):
        CountingSquare.calls += 1
        return [inputs[0] ** 2]

    def grad(self, inputs, outputs, output_grads):
        return [2 * inputs[0] * output_grads[0]]


def test_only_the_chosen_branch_is_computed():
    c = sg.scalar("c", dtype="bool")
    x = sg.vector("x")
    y = sg.ifelse(c, CountingSquare()(x) + 1.0, CountingSquare()(CountingSquare()(x)))
    f = sg.function([c, x], y, backend="python")
    CountingSquare.calls = 0
    np.testing.assert_array_equal(f(True, [2.0]), [5.0])
    assert CountingSquare.calls == 1
    np.testing.assert_array_equal(f(False, [2.0]), [16.0])
    assert CountingSquare.calls == 3


@pytest.mark.parametrize("backend", BACKENDS)
def test_gradients_flow_to_the_chosen_branch(backend):
    a, b = sg.vector("a"), sg.vector("b")
    c = sg.scalar("c", dtype="bool")
    y = sg.ifelse(c, sg.sum(a ** 2), sg.sum(sg.sin(b) * a))
    f = sg.function([c, a, b], sg.grad(y, [a, b]), backend=backend)
    av, bv = np.array([1.0, -2.0]), np.array([0.5, 0.25])
    ga, gb = f(True, av, bv)
    np.testing.assert_allclose(ga, 2 * av)
    np.testing.assert_allclose(gb, [0.0, 0.0])
    ga, gb = f(False, av, bv)
    np.testing.assert_allclose(ga, np.sin(bv))
    np.testing.assert_allclose(gb, np.cos(bv) * av)


@pytest.mark.parametrize("backend", BACKENDS)
def test_several_values_nesting_and_shapes_that_differ(backend):
    x = sg.vector("x")
    n = sg.scalar("n", dtype="int64")
    first, second = sg.ifelse(n > 0, [x[:n], sg.sum(x)], [x * 10.0, sg.constant(-1.0)])
    inner = sg.ifelse(n > 5, sg.constant(5.0), sg.ifelse(n > 1, sg.max(x), sg.constant(0.0)))
    f = sg.function([x, n], [first, second, inner], backend=backend)
    got = f([1.0, 2.0, 3.0], 2)
    np.testing.assert_array_equal(got[0], [1.0, 2.0])
    assert got[1] == 6.0 and got[2] == 3.0
    got = f([1.0, 2.0, 3.0], 0)
    np.testing.assert_array_equal(got[0], [10.0, 20.0, 30.0])
    assert got[1] == -1.0 and got[2] == 0.0
    assert f([1.0, 2.0, 3.0], 9)[2] == 5.0


@pytest.mark.parametrize("backend", BACKENDS)
def test_ifelse_in_a_scan_step(backend):
    x = sg.vector("x")
    ys, _ = sg.scan(lambda v, acc: sg.ifelse(v > 0, acc + v, acc * 0.5), sequences=x, outputs_info=sg.constant(1.0))
    got = sg.function([x], [ys, sg.grad(ys[-1], x)], backend=backend)([2.0, -1.0, 3.0])
    np.testing.assert_allclose(got[0], [3.0, 1.5, 4.5])
    np.testing.assert_allclose(got[1], [0.5, 0.0, 1.0])


def test_type_errors_name_the_branches():
    x = sg.vector("x")
    with pytest.raises(TypeError, match="ifelse: value 0 of the two branches must have one type"):
        sg.ifelse(x[0] > 0, x, sg.matrix("m"))
    with pytest.raises(TypeError, match="the condition must be 0-d"):
        sg.ifelse(x > 0, x, x)
    with pytest.raises(ValueError, match="2 then-values but 1 else-values"):
        sg.ifelse(x[0] > 0, [x, x], [x])
