"""The whole pipeline: every catalogue op and seeded random graphs keep their values and gradients,
optimizing is idempotent, derivative graphs stay linear in size, and large graphs optimize fast."""
import time

import numpy as np
import pytest
pytest.importorskip("hypothesis", reason="hypothesis comes with the test extra: pip install -e '.[test]'")
from hypothesis import given

import symgraph as sg
from symgraph.graph import count_nodes, toposort
from symgraph.ops.fused import Fused
from symgraph.rewrite import optimize_graph
from tests.ops.catalogue import CATALOGUE, ids, sample_inputs, symbolic_inputs
from tests.reliability.graph_strategies import examples, random_graphs

from .helpers import op_names


def signature(outputs):
    """Structure of a graph up to node identity: op and input positions, in topological order."""
    order = toposort(outputs)
    position = {node: i for i, node in enumerate(order)}
    result = []
    for node in order:
        result.append((node.op, tuple(("node", position[v.owner], v.index) if v.owner is not None else ("leaf", id(v))
                                      for v in node.inputs)))
    return result


def assert_close(actual, expected, rtol=1e-9, atol=1e-11):
    for a, e in zip(actual, expected):
        a, e = np.asarray(a), np.asarray(e)
        assert a.dtype == e.dtype and a.shape == e.shape
        if a.dtype.kind in "fc":
            np.testing.assert_allclose(a, e, rtol=rtol, atol=atol, equal_nan=True)
        else:
            np.testing.assert_array_equal(a, e)


def optimized_and_plain(inputs, outputs, values):
    plain = sg.function(inputs, outputs, backend="python", optimizer=None)(*values)
    optimized = sg.function(inputs, outputs, backend="python")(*values)
    return optimized, plain


@pytest.mark.parametrize("row", CATALOGUE, ids=ids)
def test_every_catalogue_op_keeps_values_and_gradients(row):
    rng = np.random.default_rng(0)
    inputs = symbolic_inputs(row)
    values = sample_inputs(row, rng)
    out = row.build(*inputs)
    outputs = [out]
    if row.differentiable:
        weights = sg.constant(rng.normal(size=np.shape(row.ref(*values))))
        cost = sg.sum(sg.cast(out, "float64") * weights)
        outputs += list(sg.grad(cost, [inputs[i] for i in row.grad_wrt]))
    optimized, plain = optimized_and_plain(inputs, outputs, values)
    assert_close(optimized, plain)
    once, _ = optimize_graph(outputs)
    twice, _ = optimize_graph(once)
    assert signature(twice) == signature(once), "optimizing twice changed the graph"
    if row.family == "elemwise":
        with_sympy = sg.function(inputs, outputs, backend="python",
                                 optimizer={"mode": "fast_run", "include": ["sympy"]})(*values)
        assert_close(with_sympy, plain)


@given(random_graphs(smooth=True, max_steps=8))
@examples(25)
def test_random_graphs_keep_values_and_gradients(graph):
    inputs, outputs = graph.build()
    values = graph.input_values()
    cost = sg.constant(0.0)
    for out in outputs:
        cost = cost + sg.sum(sg.tanh(out) * 0.5)
    grads = sg.grad(cost, inputs, disconnected="zero")
    everything = list(outputs) + list(grads)
    optimized, plain = optimized_and_plain(inputs, everything, values)
    assert_close(optimized, plain, rtol=1e-7, atol=1e-9)
    once, _ = optimize_graph(everything)
    twice, _ = optimize_graph(once)
    assert signature(twice) == signature(once)


def test_exp_plus_exp_holds_one_exp():
    x = sg.vector("x")
    (out,), _ = optimize_graph([sg.exp(x) + sg.exp(x)])
    exps = [n for n in toposort([out]) if n.op.__class__.__name__ == "Elemwise" and n.op.name == "exp"]
    instructions = [i for n in toposort([out]) if isinstance(n.op, Fused) for i in n.op.instructions]
    assert len(exps) + sum(op.name == "exp" for op, _, _ in instructions) == 1


def chain(n, shape=(None,)):
    x = sg.vector("x", shape=shape)
    v = x
    for _ in range(n):
        v = sg.tanh(v) * 0.5 + sg.sin(v)
    return x, sg.sum(v)


def scalar_operations(outputs):
    """Operations left after optimization: each fused instruction counts, as does every other node."""
    return sum(len(n.op.instructions) if isinstance(n.op, Fused) else 1 for n in toposort(outputs))


@pytest.mark.parametrize("derivative", ["grad", "hessian_vector", "hessian"])
def test_derivative_graphs_grow_linearly(derivative):
    sizes = []
    for n in (4, 8, 16):
        x, cost = chain(n, shape=(3,) if derivative == "hessian" else (None,))
        if derivative == "grad":
            outputs = [sg.grad(cost, x)]
        elif derivative == "hessian":
            outputs = [sg.hessian(cost, x)]
        else:
            y = sg.vector("y")
            outputs = [sg.grad(sg.sum(sg.grad(cost, x) * y), x)]
        optimized, _ = optimize_graph(outputs)
        sizes.append(scalar_operations(optimized))
    first, second = sizes[1] - sizes[0], sizes[2] - sizes[1]
    assert 0 < second <= 2.2 * first, sizes          # linear: doubling n at most doubles the increment


def test_optimized_gradient_is_visibly_smaller():
    x, cost = chain(10)
    g = sg.grad(cost, x)
    optimized, log = optimize_graph([g])
    assert count_nodes(optimized) * 4 < count_nodes([g])
    assert log.nodes_before == count_nodes([g])


def test_dense_hessian_values_after_optimization():
    x = sg.vector("x")
    cost = sg.sum(sg.exp(x) * sg.sin(x))
    h = sg.hessian(cost, x)
    xv = np.array([0.3, -0.2])
    f = sg.function([x], h, backend="python")
    expected = np.diag(2 * np.exp(xv) * np.cos(xv))
    np.testing.assert_allclose(f(xv), expected, rtol=1e-10, atol=1e-12)


def test_large_graph_optimizes_in_seconds():
    x, y = sg.matrix("x"), sg.vector("y")
    rng = np.random.default_rng(0)
    pool = [x, x + y, sg.exp(x)]
    unary = [sg.exp, sg.tanh, sg.sin, lambda v: -v, lambda v: v * 1.0, lambda v: v + 0.0]
    binary = [lambda a, b: a + b, lambda a, b: a * b, lambda a, b: a - b]
    for _ in range(2500):
        a = pool[int(rng.integers(max(0, len(pool) - 30), len(pool)))]
        b = pool[int(rng.integers(max(0, len(pool) - 30), len(pool)))]
        if rng.random() < 0.5:
            pool.append(unary[int(rng.integers(len(unary)))](a))
        elif rng.random() < 0.95:
            pool.append(binary[int(rng.integers(len(binary)))](a, b))
        else:
            pool.append(a + sg.sum(a, axis=1, keepdims=True))
    total = pool[0]
    for v in pool[-400:]:
        total = total + v
    cost = sg.sum(total)
    assert count_nodes([cost]) > 2000
    start = time.perf_counter()
    optimized, _ = optimize_graph([cost])
    assert time.perf_counter() - start < 10.0
    xv, yv = rng.normal(size=(2, 3)) * 0.1, rng.normal(size=3) * 0.1
    plain = sg.function([x, y], cost, backend="python", optimizer=None)(xv, yv)
    fast = sg.function([x, y], cost, backend="python")(xv, yv)
    np.testing.assert_allclose(fast, plain, rtol=1e-9)
