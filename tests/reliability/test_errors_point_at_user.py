"""Every error names the op or variable at fault and the user's file:line where it was built.

Build-time errors (shape/type mismatches), derivative errors, errors while
optimizing (an op failing during constant folding), while compiling (an op a
backend cannot lower) and runtime failures inside a compiled function (a reshape
or product that cannot work for the shapes given) are all checked, on every
available backend. "Points at the user" means the message holds this test
file's path and the line number of the statement that built the node, never
only a line inside symgraph.
"""
from __future__ import annotations

import sys

import numpy as np
import pytest

import symgraph as sg
from symgraph.graph import Node
from symgraph.ops.base import Op
from symgraph.types import TensorType

from .helpers import available_backends

BACKENDS = available_backends()


def here() -> int:
    """The caller's current line number."""
    return sys._getframe(1).f_lineno


def assert_points_at(exc, line, *names):
    message = str(exc)
    assert f"{__file__}:{line}" in message, f"no '{__file__}:{line}' in: {message}"
    for name in names:
        assert name in message, f"{name!r} not named in: {message}"
    assert "symgraph/" not in message.split(f"{__file__}:{line}")[0][-80:], message


def raised_by(error_types, build):
    """The exception ``build()`` raises, and the line of the one-line lambda ``build``."""
    with pytest.raises(error_types) as info:
        build()
    return info.value, build.__code__.co_firstlineno


# ---------------------------------------------------------------- while building

a, b = sg.matrix("a", shape=(2, 3)), sg.matrix("b", shape=(4, 5))

# case -> (the faulty statement, the op names one of which the message must give)
BUILD_ERRORS = {
    "broadcast": (lambda: a + b, ("add",)),
    "matmul": (lambda: a @ b, ("dot", "matmul")),
    "reshape": (lambda: a.reshape((4, 2)), ("reshape",)),
    "index": (lambda: a[5], ("subtensor", "index")),
    "concatenate": (lambda: sg.concatenate([a, b], axis=0), ("concatenate", "join")),
    "reduce axis": (lambda: sg.sum(a, axis=3), ("sum",)),
    "transpose axes": (lambda: sg.transpose(a, (0, 0)), ("transpose",)),
}


@pytest.mark.parametrize("case", sorted(BUILD_ERRORS))
def test_build_errors_name_the_op_and_the_user_line(case):
    build, op_names = BUILD_ERRORS[case]
    exc, line = raised_by((TypeError, ValueError, IndexError), build)
    assert_points_at(exc, line)
    assert any(name in str(exc) for name in op_names), str(exc)


def test_non_scalar_cost_names_the_cost_and_its_line():
    x = sg.vector("x")
    cost = x * 2; line = here()  # noqa: E702 - the node and its line on one line
    with pytest.raises((TypeError, ValueError)) as info:
        sg.grad(cost, x)
    assert_points_at(info.value, line, "mul")


def test_disconnected_grad_names_the_input_and_the_cost_line():
    x, y = sg.vector("x"), sg.vector("y")
    cost = sg.sum(x); line = here()  # noqa: E702
    with pytest.raises(ValueError) as info:
        sg.grad(cost, y)
    assert_points_at(info.value, line, "'y'")


def test_update_of_wrong_rank_names_the_shared_variable():
    w = sg.shared(np.zeros(3), name="w")
    with pytest.raises(TypeError) as info:
        sg.function([], [], updates=[(w, sg.matrix("m").sum(axis=0).sum())], backend="python")
    assert "'w'" in str(info.value)


# ---------------------------------------------------------------- while calling (runtime shape failures)

@pytest.mark.parametrize("backend", BACKENDS)
def test_runtime_reshape_failure_points_at_the_reshape(backend):
    x = sg.vector("x")
    r = x.reshape((2, -1)); line = here()  # noqa: E702
    f = sg.function([x], r * 2.0, backend=backend)
    np.testing.assert_array_equal(f(np.arange(4.0)), np.arange(4.0).reshape(2, 2) * 2)
    with pytest.raises(ValueError) as info:
        f(np.arange(5.0))
    assert_points_at(info.value, line, "reshape")


@pytest.mark.parametrize("backend", BACKENDS)
def test_runtime_matmul_mismatch_points_at_the_product(backend):
    m, v = sg.matrix("m"), sg.vector("v")
    product = m @ v; line = here()  # noqa: E702
    f = sg.function([m, v], sg.tanh(product), backend=backend)
    with pytest.raises(ValueError) as info:
        f(np.ones((2, 3)), np.ones(4))
    assert_points_at(info.value, line)
    assert "dot" in str(info.value) or "matmul" in str(info.value), str(info.value)


@pytest.mark.parametrize("backend", BACKENDS)
def test_runtime_broadcast_mismatch_points_at_the_sum(backend):
    x, y = sg.vector("x"), sg.vector("y")
    total = x + y; line = here()  # noqa: E702
    f = sg.function([x, y], sg.exp(total) * 3.0, backend=backend)
    with pytest.raises(ValueError) as info:
        f(np.ones(3), np.ones(4))
    assert_points_at(info.value, line)
    assert "add" in str(info.value) or "+" in str(info.value), str(info.value)  # a fused op shows "i0 + i1"


@pytest.mark.parametrize("backend", BACKENDS)
def test_runtime_index_out_of_range_points_at_the_index(backend):
    x = sg.vector("x")
    item = x[4]; line = here()  # noqa: E702
    f = sg.function([x], item + 1.0, backend=backend)
    assert f(np.arange(5.0)) == 5.0
    with pytest.raises((IndexError, ValueError)) as info:
        f(np.arange(3.0))
    assert_points_at(info.value, line)


# ---------------------------------------------------------------- while optimizing and compiling

class Explode(Op):
    """A user-defined op whose NumPy implementation always fails (``when`` says how)."""
    __props__ = ("when",)
    name = "explode"

    def __init__(self, when="always"):
        self.when = when

    def make_node(self, x):
        return Node(self, [x], [TensorType(x.dtype, x.type.shape)])

    def perform(self, node, inputs):
        raise ValueError(f"explode cannot handle an array of shape {inputs[0].shape}")

    def grad(self, inputs, outputs, output_grads):
        return [output_grads[0]]


@pytest.mark.parametrize("backend", BACKENDS)
def test_failure_on_constant_input_points_at_the_op(backend):
    """Constant folding may run the op while optimizing; either way the error names it and its line."""
    exploded = Explode()(sg.constant(np.ones(3))); line = here()  # noqa: E702
    x = sg.vector("x")
    with pytest.raises((ValueError, TypeError, NotImplementedError)) as info:
        f = sg.function([x], x + exploded, backend=backend)
        f(np.ones(3))
    assert_points_at(info.value, line, "explode")


@pytest.mark.parametrize("backend", BACKENDS)
def test_op_without_lowering_compiles_or_names_the_op(backend):
    """A user op unknown to a backend either runs (a fallback) or is refused naming the op and its line."""
    class Twice(Op):
        name = "twice_user_op"

        def make_node(self, x):
            return Node(self, [x], [TensorType(x.dtype, x.type.shape)])

        def perform(self, node, inputs):
            return [inputs[0] * 2]

    x = sg.vector("x")
    y = Twice()(x); line = here()  # noqa: E702
    try:
        f = sg.function([x], y + 1.0, backend=backend)
    except (TypeError, ValueError, NotImplementedError) as exc:
        assert_points_at(exc, line, "twice_user_op")
        return
    np.testing.assert_allclose(f(np.arange(3.0)), np.arange(3.0) * 2 + 1)
