"""Gradient graphs keep no work done only for a shape (issue 14, item 21): shape_of reads the operands' lengths,
sum_to_shape reads an ancestor's shape, exp(log_softmax) is softmax, and (opt-in, "fast_math") products
sharing an operand are factored, so the update-only logistic step makes two BLAS calls."""
import numpy as np
import pytest
from scipy import special

import symgraph as sg
from symgraph.graph import toposort
from symgraph.ops.base import op_name
from symgraph.ops.elemwise import add_n
from symgraph.ops.fused import Fused
from symgraph.rewrite import optimize_graph

from .helpers import compare


def operations(outputs):
    """Every operation left: op names of the nodes and of the instructions inside fused nodes."""
    names = []
    for node in toposort(list(outputs)):
        if isinstance(node.op, Fused):
            names += [op.name for op, _, _ in node.op.instructions]
        else:
            names.append(op_name(node.op))
    return names


def logistic_step():
    """The README tour's logistic regression, as an update-only step."""
    w = sg.shared(np.zeros(3), name="w")
    X, t = sg.matrix("X"), sg.vector("t")
    loss = (sg.softplus(X @ w) - t * (X @ w)).mean()
    return w, X, t, w - 0.5 * sg.grad(loss, w)


@pytest.mark.parametrize("include, products", [([], 3), (["fast_math"], 2)])
def test_update_only_logistic_step_computes_no_loss(include, products):
    w, X, t, new_w = logistic_step()
    (optimized,), log = optimize_graph([new_w], mode={"include": include})
    names = operations([optimized])
    assert "softplus" not in names and "log1p" not in names
    assert names.count("dot") == products
    assert log.fired("shape_of_broadcast") and log.fired("sum_to_shape_like_ancestor")
    assert log.fired("factor_common_product") == bool(include)


@pytest.mark.parametrize("backend", ["python", "numba"])
def test_update_only_logistic_step_values(backend):
    rng = np.random.default_rng(0)
    data, labels = rng.normal(size=(20, 3)), (rng.random(20) < 0.5).astype(float)
    expected = np.zeros(3)
    for _ in range(3):
        expected = expected - 0.5 * data.T @ (special.expit(data @ expected) - labels) / len(data)
    for include in ([], ["fast_math"]):
        w, X, t, new_w = logistic_step()
        step = sg.function([X, t], [], updates=[(w, new_w)], backend=backend, optimizer={"include": include})
        for _ in range(3):
            step(data, labels)
        np.testing.assert_allclose(w.get_value(), expected, rtol=1e-12)
    # a length-1 t broadcasts against X's rows: the gradient still sums over them
    w, X, t, new_w = logistic_step()
    sg.function([X, t], [], updates=[(w, new_w)], backend=backend)(data, labels[:1])
    np.testing.assert_allclose(w.get_value(), -0.5 * data.T @ np.full(len(data), 0.5 - labels[0]) / len(data), rtol=1e-12)


def test_inspect_graph_example_gradient_computes_no_log_softmax():
    X, W, targets = sg.matrix("X"), sg.matrix("W"), sg.matrix("targets")
    loss = -(targets * sg.log(sg.softmax(X @ W, axis=1))).sum(axis=1).mean()
    grad_W = sg.grad(loss, W)
    (optimized,), log = optimize_graph([grad_W])
    names = operations([optimized])
    assert "log_softmax" not in names and "log" not in names
    assert names.count("softmax") == 1 and names.count("dot") == 2
    assert log.fired("exp_of_log_softmax")
    rng = np.random.default_rng(0)
    xv, wv = rng.normal(size=(5, 4)), rng.normal(size=(4, 3))
    tv = np.eye(3)[rng.integers(0, 3, size=5)]
    got = sg.function([X, W, targets], grad_W, backend="python")(xv, wv, tv)
    np.testing.assert_allclose(got, xv.T @ (special.softmax(xv @ wv, axis=1) - tv) / 5, rtol=1e-12)


@pytest.mark.parametrize("backend", ["python", "numba"])
def test_shape_of_a_broadcast_reads_the_operands(backend):
    a, b = sg.vector("a"), sg.vector("b")
    length = (sg.sin(a) * b).shape[0]
    (optimized,), log = optimize_graph([length])
    assert log.fired("shape_of_broadcast")
    assert not {"sin", "mul"} & set(operations([optimized]))
    f = sg.function([a, b], length, backend=backend)
    for n, m in [(5, 5), (1, 4), (4, 1), (1, 1)]:
        assert f(np.ones(n), np.ones(m)) == max(n, m)
    with pytest.raises(ValueError):   # lengths that do not broadcast: the unoptimized graph's error
        sg.function([a, b], length, backend="python", optimizer=None)(np.ones(2), np.ones(3))


def test_sum_to_shape_reads_the_shape_of_an_ancestor():
    from symgraph.ops.reduce import SumToShape
    x, g = sg.matrix("x"), sg.matrix("g")
    out = SumToShape()(g, sg.exp(sg.tanh(x)))
    (optimized,), log = optimize_graph([out])
    assert log.fired("sum_to_shape_like_ancestor")
    assert not {"exp", "tanh"} & set(operations([optimized]))
    gv = np.arange(6.0).reshape(2, 3)
    compare([x, g], out, [np.zeros((1, 3)), gv])
    compare([x, g], out, [np.zeros((2, 3)), gv])


@pytest.mark.parametrize("build", [
    lambda A, b, c, B: A @ b + A @ c,
    lambda A, b, c, B: A.T @ b - A.T @ c,
    lambda A, b, c, B: B @ A - B @ A.T,
    lambda A, b, c, B: sg.grad(sg.sum(sg.tanh(A @ b)) + sg.sum(sg.sin(A @ b)), b),   # A.T @ g1 + A.T @ g2
    lambda A, b, c, B: add_n(A @ b, B, A @ c),
])
def test_products_sharing_an_operand_are_factored_only_with_fast_math(build):
    A, b, c, B = sg.matrix("A"), sg.matrix("b"), sg.matrix("c"), sg.matrix("B")
    out = build(A, b, c, B)
    plain, _ = optimize_graph([out])
    fast, log = optimize_graph([out], mode={"include": ["fast_math"]})
    assert operations(fast).count("dot") == operations(plain).count("dot") - 1
    assert log.fired("factor_common_product") or log.fired("factor_common_product_n")
    rng = np.random.default_rng(1)
    values = [rng.normal(size=(3, 3)) for _ in range(4)]
    compare([A, b, c, B], out, values, rtol=1e-12, optimizer={"include": ["fast_math"]})


def test_products_of_operands_of_different_shapes_are_not_factored():
    A, b, c = sg.matrix("A"), sg.vector("b"), sg.matrix("c")
    out = A @ b + A @ c           # (n,) + (n, k): b + c would broadcast b along the other axis
    fast, log = optimize_graph([out], mode={"include": ["fast_math"]})
    assert not log.fired("factor_common_product")
    rng = np.random.default_rng(2)
    compare([A, b, c], out, [rng.normal(size=(3, 3)), rng.normal(size=3), rng.normal(size=(3, 3))],
            optimizer={"include": ["fast_math"]})


@pytest.mark.parametrize("backend", ["python", "numba"])
def test_update_only_softmax_regression_step_computes_no_log_softmax(backend):
    """-mean(log(softmax(X @ W)[arange(n), y])): the step needs softmax only (the mean's count is read
    from the index arrays' lengths, not from the indexed log-probabilities)."""
    rng = np.random.default_rng(4)
    W = sg.shared(rng.normal(size=(3, 4)), name="W")
    X, y = sg.matrix("X"), sg.vector("y", dtype="int64")
    loss = -sg.log(sg.softmax(X @ W)[sg.arange(X.shape[0]), y]).mean()
    new_W = W - 0.1 * sg.grad(loss, W)
    (optimized,), _ = optimize_graph([new_W])
    names = operations([optimized])
    assert "log_softmax" not in names and "log" not in names
    assert names.count("softmax") == 1 and names.count("dot") == 2
    xv, yv = rng.normal(size=(6, 3)) * 500, rng.integers(0, 4, size=6)
    w0 = W.get_value()
    sg.function([X, y], [], updates=[(W, new_W)], backend=backend)(xv, yv)
    residual = special.softmax(xv @ w0, axis=1) - np.eye(4)[yv]
    np.testing.assert_allclose(W.get_value(), w0 - 0.1 * xv.T @ residual / 6, rtol=1e-12, atol=1e-12)
