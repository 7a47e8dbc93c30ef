"""Property tests on random well-typed graphs: no backend, rewrite or derivative gives a silent wrong answer.

Every random graph is also evaluated by a NumPy mirror of the same program
(``graph_strategies.NumpyLib``), so each property has an independent oracle:
the python backend matches NumPy; the optimized graph matches the unoptimized
one; every compiled backend matches the python backend (several graphs share one
compiled function to keep Numba compile time down); ``grad`` matches central
finite differences; and second derivatives match finite differences of the
compiled first derivatives. ``SYMGRAPH_SOAK=1`` multiplies the example counts.
"""
from __future__ import annotations

import numpy as np
import pytest
pytest.importorskip("hypothesis", reason="hypothesis comes with the test extra: pip install -e '.[test]'")
from hypothesis import given
from hypothesis import strategies as st

import symgraph as sg

from .graph_strategies import SOAK, examples, random_graphs
from .helpers import (CASES_CHECKED, assert_close, available_backends, backend_options, central_differences,
                      compiled_backends)


def weighted_cost(graph, outputs, lib_sum, seed_offset=100):
    """sum_k sum(outputs[k] * W_k) with fixed random weights, so every output element matters."""
    rng = np.random.default_rng(graph.seed + seed_offset)
    total = 0.0
    for out in outputs:
        weights = rng.uniform(0.5, 1.5, size=np.shape(out))
        total = total + lib_sum(out * weights)
    return total


def symbolic_cost(graph, outputs):
    """The symbolic twin of ``weighted_cost`` (same weights, drawn in the same order)."""
    rng = np.random.default_rng(graph.seed + 100)
    total = None
    for out in outputs:
        # The NumPy oracle knows every concrete shape; the symbolic type may not.
        weights = sg.constant(rng.uniform(0.5, 1.5, size=graph.expected_shapes[id(out)]))
        term = sg.sum(out * weights)
        total = term if total is None else total + term
    return total


def build_with_shapes(graph, prefix="x"):
    """Symbolic inputs and outputs, with the outputs' concrete shapes recorded for the cost weights."""
    inputs, outputs = graph.build(prefix)
    expected = graph.expected(graph.input_values())
    graph.expected_shapes = {id(o): e.shape for o, e in zip(outputs, expected)}
    return inputs, outputs


def numpy_cost(graph, values):
    outputs = graph.expected(values)
    return float(weighted_cost(graph, outputs, np.sum))


# ---------------------------------------------------------------- values

@examples(120)
@given(random_graphs())
def test_python_backend_matches_numpy(graph):
    inputs, outputs = graph.build()
    f = sg.function(inputs, outputs, backend="python")
    values = graph.input_values()
    for k, (got, want) in enumerate(zip(f(*values), graph.expected(values))):
        assert_close(got, want, rtol=1e-9, atol=1e-12, what=f"output {k} of {graph}")
    CASES_CHECKED["python == numpy"] += 1


@examples(60)
@given(random_graphs())
def test_optimized_equals_unoptimized(graph):
    inputs, outputs = build_with_shapes(graph)
    cost = symbolic_cost(graph, outputs)
    grads = sg.grad(cost, inputs, disconnected="zero")
    everything = outputs + list(grads)
    plain = sg.function(inputs, everything, backend="python", optimizer=None)
    optimized = sg.function(inputs, everything, backend="python")
    values = graph.input_values()
    for k, (got, want) in enumerate(zip(optimized(*values), plain(*values))):
        scale = 1e-9 * (1 + np.max(np.abs(want), initial=0))
        assert_close(got, want, rtol=1e-7, atol=scale, what=f"optimized output {k} of {graph}")
    CASES_CHECKED["optimized == unoptimized (with grads)"] += 1


@pytest.mark.parametrize("backend", compiled_backends() or ["numba"])
@examples(3)
@given(st.lists(random_graphs(max_steps=5), min_size=3, max_size=3))
def test_compiled_backends_agree_with_python(backend, graphs):
    """Three random graphs and their gradients in one compiled function, against the python backend."""
    if backend not in available_backends():
        pytest.fail(f"backend {backend!r} does not work here (see the reliability summary)")
    if backend == "cuda" and not SOAK:
        graphs = graphs[:2]  # the CUDA simulator interprets every thread in Python
    all_inputs, all_outputs, values = [], [], []
    for g, graph in enumerate(graphs):
        inputs, outputs = build_with_shapes(graph, prefix=f"g{g}_x")
        cost = symbolic_cost(graph, outputs)
        all_inputs += inputs
        all_outputs += outputs + list(sg.grad(cost, inputs, disconnected="zero"))
        values += graph.input_values()
    reference = sg.function(all_inputs, all_outputs, backend="python")(*values)
    compiled = sg.function(all_inputs, all_outputs, backend=backend, **backend_options(backend))(*values)
    for k, (got, want) in enumerate(zip(compiled, reference)):
        scale = 1e-9 * (1 + np.max(np.abs(want), initial=0))
        assert_close(got, want, rtol=1e-7, atol=scale, what=f"{backend} output {k} of {graphs}")
    CASES_CHECKED[f"{backend} == python (graphs, with grads)"] += len(graphs)


def test_numba_and_python_backends_are_available():
    """The random-graph properties must run on at least the reference and the default backend."""
    assert {"python", "numba"} <= set(available_backends()), available_backends()


# ---------------------------------------------------------------- derivatives

@examples(60)
@given(random_graphs(smooth=True, max_steps=6))
def test_grad_matches_finite_differences(graph):
    inputs, outputs = build_with_shapes(graph)
    grads = sg.grad(symbolic_cost(graph, outputs), inputs, disconnected="zero")
    values = graph.input_values()
    got = sg.function(inputs, list(grads), backend="python")(*values)
    want = central_differences(lambda v: numpy_cost(graph, v), values)
    scale = 1 + abs(numpy_cost(graph, values))
    for k, (g, fd) in enumerate(zip(got, want)):
        assert_close(g, fd, rtol=1e-5, atol=1e-6 * scale, what=f"d cost / d x{k} of {graph}")
    CASES_CHECKED["grad == finite differences"] += 1


@examples(30)
@given(random_graphs(smooth=True, max_steps=5))
def test_second_derivatives_match_differences_of_first(graph):
    """grad of <grad(cost), V> equals the finite differences of the compiled grad, contracted with V."""
    inputs, outputs = build_with_shapes(graph)
    grads = sg.grad(symbolic_cost(graph, outputs), inputs, disconnected="zero")
    rng = np.random.default_rng(graph.seed + 7)
    directions = [rng.uniform(-1, 1, size=shape) for shape in graph.input_shapes]
    contracted = None
    for g, v in zip(grads, directions):
        term = sg.sum(g * sg.constant(v))
        contracted = term if contracted is None else contracted + term
    second = sg.grad(contracted, inputs, disconnected="zero")
    values = graph.input_values()
    got = sg.function(inputs, list(second), backend="python")(*values)

    first = sg.function(inputs, list(grads), backend="python")

    def contracted_first(vals):
        return sum(float(np.sum(g * v)) for g, v in zip(first(*vals), directions))

    want = central_differences(contracted_first, values, eps=1e-5)
    scale = 1 + max(np.max(np.abs(w), initial=0) for w in want)
    for k, (h, fd) in enumerate(zip(got, want)):
        assert_close(h, fd, rtol=1e-4, atol=1e-5 * scale, what=f"second derivative wrt x{k} of {graph}")
    CASES_CHECKED["second derivative == finite differences of grad"] += 1
