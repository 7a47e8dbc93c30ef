"""Shape equalities required by matrix products: ShapeFacts, the SumToShape nodes they remove from
gradient graphs, and the fused loops that lose their broadcasting fallback in the numba backend."""
import time

import numpy as np
import pytest

import symgraph as sg
from symgraph.graph import toposort
from symgraph.ops.base import op_name
from symgraph.rewrite import optimize, shapes
from symgraph.rewrite.shapes import ShapeFacts, program_facts

from .helpers import compare


def mlp(n_in=5, hidden=(6, 4), n_out=3, bias_lengths=None):
    """A small MLP training graph like benchmarks/run.py's: loss and the gradients of every parameter."""
    rng = np.random.default_rng(0)
    sizes = (n_in,) + tuple(hidden) + (n_out,)
    bias_lengths = bias_lengths or sizes[1:]
    params, values = [], []
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        w = rng.normal(size=(a, b)) * 0.5
        bias = rng.normal(size=(bias_lengths[k],)) * 0.1
        params += [sg.shared(w, name=f"W{k + 1}"), sg.shared(bias, name=f"b{k + 1}")]
        values += [w, bias]
    X, Y = sg.matrix("X"), sg.matrix("Y")
    h = X
    for k in range(0, len(params) - 2, 2):
        h = sg.relu(h @ params[k] + params[k + 1])
    logits = h @ params[-2] + params[-1]
    loss = -sg.mean(sg.sum(Y * sg.log_softmax(logits, axis=1), axis=1))
    return X, Y, params, values, loss, sg.grad(loss, params)


def numpy_mlp(values, x, y):
    """Loss and gradients by hand (NumPy broadcasting semantics, including length-1 biases)."""
    weights, biases = values[0::2], values[1::2]
    pre, acts = [], [x]
    for w, b in zip(weights[:-1], biases[:-1]):
        pre.append(acts[-1] @ w + b)
        acts.append(np.maximum(pre[-1], 0))
    logits = acts[-1] @ weights[-1] + biases[-1]
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    prod = y * log_p
    loss = -np.mean(prod.sum(axis=1))
    g_prod = np.broadcast_to(-1.0 / prod.shape[0], prod.shape)
    g_logp = _sum_to(g_prod * y, log_p.shape)
    g_logits = g_logp - np.exp(log_p) * g_logp.sum(axis=1, keepdims=True)
    grads = []
    g = g_logits
    for k in range(len(weights) - 1, -1, -1):
        g_dot = _sum_to(g, (acts[k].shape[0], weights[k].shape[1]))
        grads = [acts[k].T @ g_dot, _sum_to(g, biases[k].shape)] + grads
        if k:
            g = (g_dot @ weights[k].T) * (pre[k - 1] > 0)
            g = _sum_to(g, pre[k - 1].shape)
    return loss, grads


def _sum_to(g, shape):
    lead = g.ndim - len(shape)
    g = g.sum(axis=tuple(range(lead))) if lead else g
    axes = tuple(a for a, n in enumerate(shape) if n == 1 and g.shape[a] != 1)
    return g.sum(axis=axes, keepdims=True) if axes else g


def count_sum_to_shape(outputs):
    return sum(1 for node in toposort(outputs) if op_name(node.op) == "sum_to_shape")


# ---------------------------------------------------------------- the union-find

def test_facts_union_broadcast_and_canonical_member():
    facts = ShapeFacts()
    x, b, w = sg.vector("x"), sg.vector("b"), sg.vector("w")
    x0, b0, w0 = frozenset({(x, 0)}), frozenset({(b, 0)}), frozenset({(w, 0)})
    assert facts.union(x0 | b0, w0)
    assert not facts.union(w0, x0 | b0)            # already known
    assert facts.canon(x0 | b0) == w0              # the smaller set represents the class
    assert facts.canon(x0 | b0 | w0) == w0         # broadcast of equal lengths is that length
    assert facts.canon(x0) == x0                   # x alone may still be 1
    assert facts.union(w0, 7) and facts.canon(x0 | b0) == 7   # a static length wins
    assert not facts.union(7, 8)                   # contradictory static lengths teach nothing
    assert shapes.broadcast_dims([(x0 | b0,), (w0,)], 1, facts) == (7,)


def test_products_and_joins_give_equalities():
    a, b, c = sg.matrix("a"), sg.matrix("b"), sg.matrix("c")
    product = a @ b
    joined = sg.concatenate([a, c], axis=0)
    facts = program_facts([product, joined])
    da, db, dc = facts.dims(a), facts.dims(b), facts.dims(c)
    assert facts.same(da[1], db[0]) and facts.same(da[1], dc[1])
    assert not facts.same(da[0], dc[0])
    assert facts.dims(product) == (da[0], db[1])
    c @ b  # a product the function does not compute teaches nothing
    facts = program_facts([joined])
    assert not facts.same(facts.dims(c)[1], facts.dims(b)[0])


# ---------------------------------------------------------------- rewrites

def test_canonical_lengths_never_name_a_later_variable():
    # d = alloc(0, (3, a.shape[1]))[1:] + ...; d @ a.T makes d.1 == a.1. Folding shape_of(a, 1)
    # into shape_of(d, 1) would make d depend on itself: a's length must stay a's.
    from symgraph.ops.shape import alloc
    a = sg.matrix("a")
    d = (alloc(0.0, (3, a.shape[1])) + a[0])[1:, :]
    facts = program_facts([d @ a.T])
    assert facts.dims(a)[1] == frozenset({(a, 1)}) and facts.same(facts.dims(d)[1], facts.dims(a)[1])
    f = sg.function([a], d @ a.T, backend="python")
    av = np.arange(8.0).reshape(2, 4)
    np.testing.assert_allclose(f(av), ((np.zeros((3, 4)) + av[0]) @ av.T)[1:])



def test_mlp_gradient_loses_only_provable_sum_to_shape(monkeypatch):
    X, Y, params, _, loss, grads = mlp()
    optimized = optimize([loss] + grads)
    kept = [node for node in toposort(optimized) if op_name(node.op) == "sum_to_shape"]
    # needed: one per bias (sum over the batch axis), Y * log_softmax (Y may be (1, n)), and
    # each product's gradient against a bias that may broadcast its columns
    bias_sums = [n for n in kept if n.inputs[1].ndim == 1]
    assert len(bias_sums) == 3
    facts = program_facts(optimized)
    for node in kept:
        assert facts.dims(node.inputs[0]) != facts.dims(node.inputs[1])
    monkeypatch.setattr(shapes, "facts_from_nodes", lambda nodes, max_rounds=3: ShapeFacts())
    without = optimize([loss] + grads)
    # the relu gradients of both hidden layers no longer sum to the pre-activation's shape
    assert count_sum_to_shape(without) - len(kept) == 2


def test_only_products_the_function_computes_remove_sum_to_shape():
    a, b, w = sg.matrix("a"), sg.matrix("b"), sg.matrix("w")
    g = sg.grad(sg.sum(a * sg.exp(b)), b)           # sum_to_shape(a * exp(b), like=b)
    a @ w, b @ w, a.T @ b                            # built, but not asked for
    assert count_sum_to_shape([optimize(g)]) == 1
    f = sg.function([a, b], g, backend="python")
    rng = np.random.default_rng(4)
    av, bv = rng.normal(size=(3, 4)), rng.normal(size=(3, 1))
    np.testing.assert_allclose(f(av, bv), (av * np.exp(bv)).sum(axis=1, keepdims=True), rtol=1e-12)
    # computed: a.1 == w.0 == b.1 and a.0 == b.0, so the sum does nothing
    outputs = [g, a @ w, b @ w, a.T @ b]
    assert count_sum_to_shape(optimize(outputs)) == 0
    f = sg.function([a, b, w], outputs, backend="python")
    bv = rng.normal(size=(3, 4))
    np.testing.assert_allclose(f(av, bv, rng.normal(size=(4, 2)))[0], av * np.exp(bv), rtol=1e-12)


@pytest.mark.parametrize("backend", ["python", "numba"])
def test_mlp_values_with_length_one_bias_and_broadcast_targets(backend):
    # b1 of length 1 broadcast against the (4, 6) product; Y of shape (1, 3) against (4, 3) logits
    X, Y, params, values, loss, grads = mlp(bias_lengths=(1, 4, 3))
    f = sg.function([X, Y], [loss] + grads, backend=backend)
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(4, 5)), np.array([[0.2, 0.5, 0.3]])
    got = f(x, y)
    loss_np, grads_np = numpy_mlp(values, x, y)
    np.testing.assert_allclose(got[0], loss_np, rtol=1e-10)
    for g, expected, value in zip(got[1:], grads_np, values):
        assert g.shape == value.shape
        np.testing.assert_allclose(g, expected, rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------- generated loops

def _block(source, header):
    """The generated lines of the node whose comment starts with ``header``."""
    lines = source.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith(header))
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("    # ")), len(lines))
    return "\n".join(lines[start:end])


def proven_elementwise():
    # a @ w and b @ w make a.1 == b.1; a.T @ b makes a.0 == b.0: a * b + 1 needs no broadcasting
    a, b, w = sg.matrix("a"), sg.matrix("b"), sg.matrix("w")
    return [a, b, w], [sg.exp(a) * b + 1.0, a @ w, b @ w, a.T @ b]


def test_fused_loop_is_flat_only_when_lengths_are_proven():
    inputs, outputs = proven_elementwise()
    f = sg.function(inputs, outputs, backend="numba")
    block = _block(f.source, "# fused{")
    assert block.count("for i in range") == 1 and "for i0" not in block and "else:" not in block
    rng = np.random.default_rng(2)
    a, b, w = rng.normal(size=(3, 4)), rng.normal(size=(3, 4)), rng.normal(size=(4, 2))
    got = f(a, b, w)
    for value, expected in zip(got, [np.exp(a) * b + 1.0, a @ w, b @ w, a.T @ b]):
        np.testing.assert_allclose(value, expected, rtol=1e-12)
    with pytest.raises(ValueError):
        f(a, rng.normal(size=(3, 1)), w)       # NumPy would broadcast a * b; the products cannot
    with pytest.raises(ValueError):
        f(a, rng.normal(size=(1, 4)), w)


def test_unproven_lengths_keep_dynamic_broadcasting():
    """Without a proof the operands go through broadcast_copy, here as the flat loop's broadcast_flat
    (themselves, or a copy when a length is 1)."""
    a, b = sg.matrix("a"), sg.matrix("b")
    f = sg.function([a, b], sg.exp(a) * b + 1.0, backend="numba")
    block = _block(f.source, "# fused{")
    assert block.count("rt.broadcast_flat(") == 2
    rng = np.random.default_rng(3)
    for a_shape, b_shape in [((3, 4), (1, 4)), ((3, 4), (3, 1)), ((1, 4), (3, 4)), ((3, 4), (3, 4))]:
        a_value, b_value = rng.normal(size=a_shape), rng.normal(size=b_shape)
        np.testing.assert_allclose(f(a_value, b_value), np.exp(a_value) * b_value + 1.0, rtol=1e-12)


def test_mlp_step_relu_gradients_use_flat_loops():
    X, Y, params, values, loss, grads = mlp()
    f = sg.function([X, Y], [loss] + grads, backend="numba")
    blocks = f.source.split("    # ")
    # (scalar blocks such as broadcast_length's where(n == 1, m, n) have no loop to check)
    where_blocks = [b for b in blocks if b.startswith("fused{where") and "[?" in b.split("\n")[0]]
    assert len(where_blocks) == 2
    for block in where_blocks:
        assert "for i0" not in block and "for i in range" in block


# ---------------------------------------------------------------- scale

def test_100k_node_chain_of_products_optimizes_without_recursion():
    x, w, b = sg.vector("x"), sg.matrix("w"), sg.vector("b")
    y = x
    for _ in range(33_334):                  # three nodes a step: about 100,000 nodes
        y = sg.tanh(y @ w + b)
    start = time.process_time()
    facts = program_facts([y])
    assert facts.same(facts.dims(y)[0], facts.dims(x)[0])
    optimized = optimize(y)
    assert optimized.ndim == 1
    assert time.process_time() - start < 120


# ---------------------------------------------------------------- indexing (issue 14, item 21)

@pytest.mark.parametrize("index, axes", [
    (lambda x, y: x[1:], [None, ("x", 1)]),
    (lambda x, y: x[:, 0], [("x", 0)]),
    (lambda x, y: x[::1, :], [("x", 0), ("x", 1)]),
    (lambda x, y: x[:, y], [("x", 0), ("y", 0)]),
    (lambda x, y: x[y, :], [("y", 0), ("x", 1)]),
    (lambda x, y: x[:, None][y], [("y", 0), 1, ("x", 1)]),
    (lambda x, y: x[y, np.array([[0], [1]])], ["both", "both"]),
])
def test_lengths_of_indexed_values(index, axes):
    """A full slice keeps the length, an integer drops the axis, index arrays give their (broadcast) lengths."""
    x, y = sg.matrix("x"), sg.vector("y", dtype="int64")
    described = shapes.dims(index(x, y))
    for d, expected in zip(described, axes):
        if expected is None:
            assert len(d) == 1 and next(iter(d))[0] not in (x, y)          # a new length
        elif expected == 1:
            assert d == 1
        elif expected == "both":
            assert d == 2 or (y, 0) in d                                  # broadcast of (2, 1) and y
        else:
            assert d == frozenset({({"x": x, "y": y}[expected[0]], expected[1])})
    xv, yv = np.arange(12.0).reshape(3, 4), np.array([2, 0])
    compare([x, y], index(x, y), [xv, yv])
    compare([x, y], index(x, y).shape[0] + 0, [xv, yv])


def test_a_fused_node_with_many_outputs_is_described_in_linear_time(monkeypatch):
    """The lengths of an elementwise node's outputs are the broadcast of its inputs, computed once for all of
    them: a fused node with n outputs and ~n inputs took n broadcasts over n inputs (10,000 outputs of
    ``x * i + i``: 55 s of a numba compile, issue 21 item 4)."""
    x = sg.vector("x")
    f = sg.function([x], [x * i + i for i in range(60)], backend="python")
    (fused,) = [node for node in f.graph.nodes if op_name(node.op) == "fused"]
    assert len(fused.outputs) == 60
    calls = []
    original = shapes.broadcast_dims
    monkeypatch.setattr(shapes, "broadcast_dims", lambda *args, **kw: calls.append(1) or original(*args, **kw))
    cache, facts = {}, ShapeFacts()
    described = [shapes.describe(out, cache, facts) for out in fused.outputs]
    assert len(calls) == 1
    assert set(described) == {shapes.describe(x, cache, facts)}       # one length, x's, for every output
