"""``sg.einsum`` against ``np.einsum`` for random subscripts (Hypothesis), with gradients against finite
differences, every backend on fixed cases, and matrix-product contractions running as one ``matmul``."""
from __future__ import annotations

import numpy as np
import pytest
pytest.importorskip("hypothesis", reason="hypothesis comes with the test extra: pip install -e '.[test]'")
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symgraph as sg
from symgraph.graph import toposort
from symgraph.rewrite import optimize_graph

SIZES = {"a": 2, "b": 3, "c": 1, "d": 4, "e": 2}


@st.composite
def einsum_problems(draw):
    n_operands = draw(st.integers(1, 3))
    terms = [draw(st.lists(st.sampled_from(sorted(SIZES)), min_size=0, max_size=3)) for _ in range(n_operands)]
    used = sorted(set("".join("".join(t) for t in terms)))
    if draw(st.booleans()):
        output = draw(st.permutations(used).map(lambda p: list(p)[:draw(st.integers(0, len(used)))]))
        subscripts = ",".join("".join(t) for t in terms) + "->" + "".join(output)
    else:
        subscripts = ",".join("".join(t) for t in terms)
    seed = draw(st.integers(0, 2 ** 16))
    return subscripts, [tuple(SIZES[c] for c in t) for t in terms], seed


def _inputs(shapes, seed):
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(shape) for shape in shapes]
    variables = [sg.tensor(f"x{k}", shape=(None,) * len(shape)) for k, shape in enumerate(shapes)]
    return arrays, variables


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(einsum_problems())
def test_random_subscripts_match_numpy_with_gradients(problem):
    subscripts, shapes, seed = problem
    arrays, variables = _inputs(shapes, seed)
    out = sg.einsum(subscripts, *variables)
    want = np.einsum(subscripts, *arrays)
    weights = np.random.default_rng(seed + 1).standard_normal(np.shape(want))
    cost = sg.sum(out * weights)
    grads = sg.grad(cost, variables)
    f = sg.function(variables, [out] + list(grads), backend="python")
    got, *got_grads = f(*arrays)
    assert np.shape(got) == np.shape(want)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)

    def total(*xs):
        return float(np.sum(np.einsum(subscripts, *xs) * weights))
    eps = 1e-6
    for k, g in enumerate(got_grads):
        numeric = np.zeros_like(arrays[k])
        for index in np.ndindex(arrays[k].shape):
            up = [a.copy() for a in arrays]
            down = [a.copy() for a in arrays]
            up[k][index] += eps
            down[k][index] -= eps
            numeric[index] = (total(*up) - total(*down)) / (2 * eps)
        np.testing.assert_allclose(g, numeric, rtol=1e-6, atol=1e-7)


CASES = ["bij,bjk->bik", "ii->i", "ij,jk,kl->il", "...ij,...jk", "a...,a...->...", "iij->j", "i,j->ij",
         "ijk,jil->kl"]
SHAPES = {"bij,bjk->bik": [(2, 3, 4), (2, 4, 5)], "ii->i": [(3, 3)], "ij,jk,kl->il": [(2, 3), (3, 4), (4, 5)],
          "...ij,...jk": [(2, 3, 4), (4, 5)], "a...,a...->...": [(2, 3), (2, 3)], "iij->j": [(2, 2, 3)],
          "i,j->ij": [(2,), (3,)], "ijk,jil->kl": [(2, 3, 4), (3, 2, 5)]}


@pytest.mark.parametrize("backend", ["numba", "cuda"])
def test_every_backend_matches_numpy(backend):
    rng = np.random.default_rng(3)
    variables, outputs, arrays, wanted = [], [], [], []
    for case in CASES:
        xs = [sg.tensor(f"{case}{k}", shape=(None,) * len(s)) for k, s in enumerate(SHAPES[case])]
        values = [rng.standard_normal(s) for s in SHAPES[case]]
        variables += xs
        arrays += values
        outputs.append(sg.einsum(case, *xs))
        wanted.append(np.einsum(case, *values))
    for got, want in zip(sg.function(variables, outputs, backend=backend)(*arrays), wanted):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_matrix_product_contractions_are_one_product():
    A, B = sg.tensor("A", shape=(None,) * 3), sg.tensor("B", shape=(None,) * 3)
    (optimized,), _ = optimize_graph([sg.einsum("bij,bjk->bik", A, B)])
    assert [type(n.op).__name__ for n in toposort([optimized])] == ["BatchedMatmul"] or \
        [str(n.op) for n in toposort([optimized])] == ["matmul"]
    a, b = sg.matrix("a"), sg.matrix("b")
    (optimized,), _ = optimize_graph([sg.einsum("ij,jk->ik", a, b)])
    assert [str(n.op) for n in toposort([optimized])] == ["dot"]


def test_bad_subscripts_are_value_errors():
    x = sg.matrix("x")
    with pytest.raises(ValueError, match="names 3 axes"):
        sg.einsum("ijk", x)
    with pytest.raises(ValueError, match="appear in no operand"):
        sg.einsum("ij->k", x)
    with pytest.raises(ValueError, match="2 operand"):
        sg.einsum("ij,jk", x)
    with pytest.raises(ValueError, match="repeats over axes"):
        sg.einsum("ii", sg.tensor("y", shape=(2, 3)))
