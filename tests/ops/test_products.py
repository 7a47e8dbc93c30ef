"""matmul and dot on random rank combinations (batch axes broadcasting included) against NumPy,
with gradients compared to the NumPy formulas gA = gY Bᵀ, gB = Aᵀ gY summed over broadcast axes."""
import numpy as np
import pytest
pytest.importorskip("hypothesis", reason="hypothesis comes with the test extra: pip install -e '.[test]'")
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symgraph as sg

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def matmul_shapes(draw):
    m, k, n = draw(st.integers(1, 3)), draw(st.integers(0, 3)), draw(st.integers(1, 3))
    batch = draw(st.lists(st.integers(1, 3), max_size=2))
    a_batch = [draw(st.sampled_from([b, 1])) for b in batch][draw(st.integers(0, len(batch))):]
    b_batch = [draw(st.sampled_from([b, 1])) for b in batch][draw(st.integers(0, len(batch))):]
    a_shape = (k,) if draw(st.booleans()) and not a_batch else tuple(a_batch) + (m, k)
    b_shape = (k,) if draw(st.booleans()) and not b_batch else tuple(b_batch) + (k, n)
    return a_shape, b_shape


def _numeric_grads(a, b, gy):
    """Gradients of sum(matmul(a, b) * gy) by the chain rule on NumPy arrays (1-d operands promoted)."""
    if a.ndim == 1 and b.ndim == 1:
        return gy * b, gy * a
    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    g2 = gy
    if a.ndim == 1:
        g2 = np.expand_dims(g2, -2)
    if b.ndim == 1:
        g2 = np.expand_dims(g2, -1)
    ga = g2 @ np.swapaxes(b2, -1, -2)
    gb = np.swapaxes(a2, -1, -2) @ g2
    return _sum_to(ga, a2.shape).reshape(a.shape), _sum_to(gb, b2.shape).reshape(b.shape)


def _sum_to(g, shape):
    lead = g.ndim - len(shape)
    g = g.sum(axis=tuple(range(lead))) if lead else g
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    return g.sum(axis=axes, keepdims=True) if axes else g


@SETTINGS
@given(matmul_shapes(), st.booleans())
def test_matmul_matches_numpy(shapes, static):
    a_shape, b_shape = shapes
    rng = np.random.default_rng(0)
    a_val, b_val = rng.standard_normal(a_shape), rng.standard_normal(b_shape)
    expected = np.matmul(a_val, b_val)
    a = sg.tensor("a", "float64", a_shape if static else (None,) * len(a_shape))
    b = sg.tensor("b", "float64", b_shape if static else (None,) * len(b_shape))
    y = a @ b
    assert y.type.accepts_shape(expected.shape)
    gy = rng.standard_normal(expected.shape)
    weights = sg.tensor("w", "float64", (None,) * y.ndim)
    grads = sg.grad(sg.sum(y * weights), [a, b])
    f = sg.function([a, b, weights], [y] + grads, backend="python", optimizer=None)
    value, ga, gb = f(a_val, b_val, gy)
    np.testing.assert_allclose(value, expected, rtol=1e-10, atol=1e-12)
    expected_ga, expected_gb = _numeric_grads(a_val, b_val, gy)
    np.testing.assert_allclose(ga, expected_ga, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(gb, expected_gb, rtol=1e-10, atol=1e-12)


@SETTINGS
@given(st.integers(0, 3), st.integers(0, 3), st.integers(1, 3))
def test_dot_matches_numpy_for_every_rank(a_ndim, b_ndim, k):
    rng = np.random.default_rng(1)
    a_shape = tuple(rng.integers(1, 3, size=max(a_ndim - 1, 0))) + ((k,) if a_ndim else ())
    if b_ndim >= 2:
        b_shape = tuple(rng.integers(1, 3, size=b_ndim - 2)) + (k, 2)
    else:
        b_shape = (k,) if b_ndim == 1 else ()
    a_val, b_val = rng.standard_normal(a_shape), rng.standard_normal(b_shape)
    a = sg.tensor("a", "float64", (None,) * len(a_shape))
    b = sg.tensor("b", "float64", (None,) * len(b_shape))
    value = sg.function([a, b], sg.dot(a, b), backend="python", optimizer=None)(a_val, b_val)
    np.testing.assert_allclose(value, np.dot(a_val, b_val), rtol=1e-10, atol=1e-12)


def test_gradient_of_a_matrix_shared_by_a_batch_is_one_product_over_all_rows():
    """d/dB of sum(A @ B * W) for a 3-d A and a 2-d B: one Dot of the flattened rows (no batch of products
    summed), equal to NumPy's einsum on every backend, also with empty axes."""
    from symgraph.ops.linalg import BatchedMatmul, Dot
    a, b, w = sg.tensor("a", "float64", (None, None, None)), sg.matrix("b"), sg.tensor("w", "float64", (None,) * 3)
    gb = sg.grad(sg.sum((a @ b) * w), b)
    ops = [type(node.op) for node in sg.graph.toposort([gb])]
    assert ops.count(Dot) == 1 and ops.count(BatchedMatmul) == 1       # (the forward product: its shape)
    rng = np.random.default_rng(3)
    for a_shape, n in [((4, 3, 5), 2), ((2, 1, 3), 4), ((3, 2, 0), 2), ((0, 2, 3), 2)]:
        A, B = rng.standard_normal(a_shape), rng.standard_normal((a_shape[-1], n))
        W = rng.standard_normal(a_shape[:-1] + (n,))
        want = np.einsum("tij,tik->jk", A, W)
        for backend in ("python", "numba"):
            got = sg.function([a, b, w], gb, backend=backend)(A, B, W)
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
            assert got.shape == B.shape
