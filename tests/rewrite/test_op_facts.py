"""The facts rewrites rely on (never negative, never zero, costly) are declared by the ops themselves, so a
new op states them once, in its class, and every rewrite sees them."""
from __future__ import annotations

import numpy as np

import symgraph as sg
from symgraph.ops.elemwise import Elemwise, ScalarOp
from symgraph.rewrite.patterns import is_nonnegative, is_nonzero


class _Cosh(ScalarOp):      # an op the rewrites have never heard of, by name
    name = "test_cosh"
    positive = nonnegative = transcendental = True
    impl = staticmethod(np.cosh)


def test_declared_facts_reach_the_rewrites():
    x = sg.vector("x")
    assert is_nonnegative(sg.exp(x)) and is_nonzero(sg.exp(x))
    assert is_nonnegative(sg.relu(x)) and not is_nonzero(sg.relu(x))
    assert is_nonnegative(sg.softmax(x)) and is_nonzero(sg.softmax(x))
    assert not is_nonnegative(sg.sin(x)) and not is_nonzero(sg.tanh(x))
    cosh = Elemwise(_Cosh())(x)
    assert is_nonnegative(cosh) and is_nonzero(cosh)


def test_a_declared_positive_op_enables_the_exact_cancellation():
    # (a / s) * s -> a needs s provably nonzero: the op's declaration is enough.
    a, x = sg.vector("a"), sg.vector("x")
    s = Elemwise(_Cosh())(x)
    f = sg.function([a, x], (a / s) * s, backend="python")
    # cosh(800) overflows to inf: (a / inf) * inf would be NaN; the cancellation gives a exactly.
    np.testing.assert_allclose(f(np.array([1.0, 2.0]), np.array([0.5, 800.0])), [1.0, 2.0])
