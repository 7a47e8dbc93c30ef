"""SymPy: the user-facing conversion (to_sympy, latex) and the simplification stage for fused nodes."""
import numpy as np
import pytest
import sympy

import symgraph as sg
from symgraph.graph import toposort
from symgraph.ops.fused import Fused
from symgraph.rewrite import optimize_graph
from symgraph.rewrite.sympy_simplify import to_sympy

from .helpers import compare


def test_to_sympy_names_symbols_after_inputs():
    x, y = sg.scalar("x"), sg.scalar("y")
    X, Y = sympy.symbols("x y")
    assert sympy.simplify(to_sympy(sg.exp(x) * y + x ** 2 - y / x) - (sympy.exp(X) * Y + X ** 2 - Y / X)) == 0
    assert sg.to_sympy(x * y) == X * Y


def test_to_sympy_of_a_gradient_is_the_derivative():
    x = sg.scalar("x")
    f = sg.tanh(x) * sg.sigmoid(x) + sg.log1p(x * x)
    g = sg.grad(f, x)
    X = sympy.Symbol("x")
    reference = sympy.diff(to_sympy(f), X)
    assert sympy.simplify(to_sympy(g) - reference) == 0
    # also after optimization (through the fused node)
    optimized = sg.optimize(g)
    assert any(isinstance(n.op, Fused) for n in toposort([optimized])) or optimized.owner is not None
    value = {X: 0.37}
    assert float(to_sympy(optimized).subs(value)) == pytest.approx(float(reference.subs(value)))


def test_latex_prints_a_formula():
    x = sg.scalar("x")
    text = sg.latex(sg.grad(sg.exp(x) * x, x))
    assert "e^{x}" in text


def test_to_sympy_rejects_non_elementwise_expressions():
    x = sg.vector("x")
    with pytest.raises(TypeError, match="to_sympy"):
        to_sympy(sg.sum(x))


WITH_SYMPY = {"mode": "fast_run", "include": ["sympy"]}


def instruction_count(outputs):
    return sum(len(n.op.instructions) for n in toposort(outputs) if isinstance(n.op, Fused))


def test_simplification_makes_fused_expressions_cheaper_and_keeps_values():
    x = sg.vector("x")
    out = (x + 1.0) * (x + 1.0) - x * x - 2.0 * x + sg.sin(x) * sg.sin(x) + sg.cos(x) * sg.cos(x)
    with_sympy, log = optimize_graph([out], mode=WITH_SYMPY)
    without, default_log = optimize_graph([out])
    assert log.fired("sympy_simplify") and not default_log.fired("sympy_simplify")   # opt-in
    assert instruction_count(with_sympy) < instruction_count(without)
    compare([x], out, [np.linspace(-3, 3, 7)], optimizer=WITH_SYMPY)


def test_simplification_is_cached_by_structure_and_idempotent():
    x, y = sg.vector("x"), sg.vector("y")
    first, _ = optimize_graph([x * (x + 1.0) - x], mode=WITH_SYMPY)
    second, log = optimize_graph([y * (y + 1.0) - y], mode=WITH_SYMPY)
    assert log.fired("sympy_simplify")
    again, log = optimize_graph(second, mode=WITH_SYMPY)
    assert not log.fired("sympy_simplify")
    assert instruction_count(again) == instruction_count(second) < instruction_count(sg.optimize([y * (y + 1.0) - y]))


def test_simplification_never_changes_nan_behaviour():
    # x / x simplifies to 1 in SymPy, but is NaN at 0 here: the check at sample points refuses it.
    x = sg.vector("x")
    out = sg.exp(x) / sg.exp(x) + x / x
    f = sg.function([x], out, backend="python", optimizer=WITH_SYMPY)
    assert np.isnan(f(np.array([0.0]))[0])
    compare([x], out, [np.array([0.5, -2.0])], optimizer=WITH_SYMPY)


@pytest.mark.parametrize("backend", ["python", "numba"])
def test_pythagorean_identity_simplifies_to_one(backend):
    """The first thing a user tries: sin(x)**2 + cos(x)**2 becomes the constant 1 (broadcast to x)."""
    x = sg.vector("x")
    out = sg.sin(x) ** 2 + sg.cos(x) ** 2
    optimized, log = optimize_graph([out], mode=WITH_SYMPY)
    assert log.fired("sympy_simplify")
    (node,) = [n for n in toposort(optimized) if isinstance(n.op, Fused)]
    assert [s.name for s, _, _ in node.op.instructions] == ["identity"]
    f = sg.function([x], out, backend=backend, optimizer=WITH_SYMPY)
    np.testing.assert_array_equal(f(np.array([0.3, 2.0, -5.0, 0.0])), np.ones(4))
    assert f(np.zeros((0,))).shape == (0,)


def test_trigonometric_identities_inside_larger_expressions():
    x, y = sg.vector("x"), sg.vector("y")
    out = sg.exp(x) * (sg.sin(y) * sg.sin(y) + sg.cos(y) * sg.cos(y)) + x
    optimized, log = optimize_graph([out], mode=WITH_SYMPY)
    assert log.fired("sympy_simplify")
    names = [s.name for n in toposort(optimized) if isinstance(n.op, Fused) for s, _, _ in n.op.instructions]
    assert "sin" not in names and "cos" not in names
    compare([x, y], out, [np.linspace(-2, 2, 5), np.linspace(-3, 3, 5)], optimizer=WITH_SYMPY)


def test_sympy_stage_stays_fast_on_a_large_graph():
    """Hundreds of distinct trigonometric fused nodes: the stage stops at its time budget (and each
    expression's cascade at its own), however many nodes there are."""
    from symgraph.rewrite import sympy_simplify
    x = sg.vector("x")
    terms = []
    for k in range(300):
        a, b = float(k + 2), float(k + 3)     # distinct constants: no structural cache hits
        inner = sg.sin(x * a) * sg.cos(x + b) + sg.tan(x - a) * sg.sin(x * b) ** 2
        terms.append(sg.max(inner * sg.cos(inner + a) - sg.sin(inner * b)))   # a reduction ends each fused node
    out = terms[0]
    for t in terms[1:]:
        out = out + t
    fused = [n for n in toposort(sg.optimize([out])) if isinstance(n.op, Fused)]
    assert sum(sympy_simplify._eligible(n) for n in fused) >= 250   # the stage has work for all of them
    _, log = optimize_graph([out], mode=WITH_SYMPY)
    (stage,) = [s for s in log.stages if s.name == "sympy"]
    assert stage.seconds < sympy_simplify.TIME_BUDGET + 2 * sympy_simplify.EXPRESSION_BUDGET + 1.0
