"""The singular value decomposition (symgraph/ops/svd.py) and the matrix norms built on it: values against
NumPy on every backend (the vectors through quantities their signs do not change), derivatives against
finite differences and closed forms, second derivatives, and the errors."""
import numpy as np
import pytest

import symgraph as sg
from tests.finite_differences import numeric_grad as _numeric_grad

BACKENDS = ["python", "numba", "cuda"]
SHAPES = [(4, 3), (3, 5), (3, 3), (2, 4, 3), (2, 1, 3, 2), (0, 3), (3, 0), (1, 1)]


def _check_decomposition(a, u, s, vh, full, dtype):
    tol = 2e-5 if dtype == "float32" else 1e-12
    m, n = a.shape[-2:]
    k = min(m, n)
    assert s.dtype == u.dtype == vh.dtype == dtype
    assert u.shape == a.shape[:-2] + (m, m if full else k) and vh.shape == a.shape[:-2] + (n if full else k, n)
    np.testing.assert_allclose(s, np.linalg.svd(a.astype("float64"), compute_uv=False), rtol=tol, atol=tol * 10)
    assert np.all(np.diff(s, axis=-1) <= 0)
    np.testing.assert_allclose((u[..., :k] * s[..., None, :]) @ vh[..., :k, :], a, atol=tol * 10)
    np.testing.assert_allclose(np.swapaxes(u, -1, -2) @ u, np.broadcast_to(np.eye(u.shape[-1]), u.shape[:-2] +
                               (u.shape[-1],) * 2), atol=tol * 10)
    np.testing.assert_allclose(vh @ np.swapaxes(vh, -1, -2), np.broadcast_to(np.eye(vh.shape[-2]), vh.shape[:-2] +
                               (vh.shape[-2],) * 2), atol=tol * 10)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_svd_decomposes_every_shape_on_every_backend(backend, full, dtype):
    rng = np.random.default_rng(3)
    for shape in SHAPES:
        A = sg.tensor("A", dtype, (None,) * len(shape))
        a = (3 * rng.standard_normal(shape)).astype(dtype)
        u, s, vh = sg.function([A], list(sg.linalg.svd(A, full_matrices=full)), backend=backend)(a)
        _check_decomposition(a, u, s, vh, full, dtype)
        values = sg.function([A], sg.linalg.svdvals(A), backend=backend)(a)
        np.testing.assert_allclose(values, s, rtol=1e-5 if dtype == "float32" else 1e-12, atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_rank_deficient_and_integer_matrices(backend):
    a = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 0.0, 1.0], [0.0, 0.0, 0.0]])   # rank 2
    A = sg.matrix("A")
    u, s, vh = sg.function([A], list(sg.linalg.svd(A, full_matrices=True)), backend=backend)(a)
    _check_decomposition(a, u, s, vh, True, "float64")
    assert abs(s[2]) < 1e-12
    N = sg.tensor("N", "int64", (None, None))
    n = np.array([[1, -2], [3, 4], [0, 5]])
    values = sg.function([N], sg.linalg.svdvals(N), backend=backend)(n)
    assert values.dtype == "float64"
    np.testing.assert_allclose(values, np.linalg.svd(n, compute_uv=False), rtol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_inf_or_nan_is_a_linalg_error_naming_the_op(backend):
    A = sg.matrix("A")
    f = sg.function([A], sg.norm(A, 2), backend=backend)
    for bad in (np.nan, np.inf):
        with pytest.raises(np.linalg.LinAlgError, match=r"svd.*inf or NaN.*test_svd.py"):
            f(np.array([[1.0, bad], [0.0, 1.0]]))


def test_bad_inputs_are_errors_when_the_graph_is_built():
    with pytest.raises(TypeError, match="svd: expected a real array with at least 2 axes.*'v'"):
        sg.linalg.svd(sg.vector("v"))
    with pytest.raises(TypeError, match="svd"):
        sg.linalg.svdvals(sg.tensor("z", "complex128", (None, None)))
    with pytest.raises(ValueError, match="invalid order"):
        sg.norm(sg.matrix("A"), ord=3)


@pytest.mark.parametrize("ord", [2, -2, "nuc"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_matrix_norms_from_singular_values_match_numpy(ord, backend):
    rng = np.random.default_rng(4)
    X = sg.tensor("X", "float64", (None, None, None))
    x = rng.standard_normal((3, 2, 4))
    for axis, keepdims in [((0, 2), False), ((2, 0), True), ((1, 2), False)]:
        got = sg.function([X], sg.norm(X, ord, axis=axis, keepdims=keepdims), backend=backend)(x)
        np.testing.assert_allclose(got, np.linalg.norm(x, ord, axis=axis, keepdims=keepdims), rtol=1e-12)
    M = sg.matrix("M", dtype="float32")
    m = rng.standard_normal((3, 5)).astype("float32")
    got = sg.function([M], sg.norm(M, ord), backend=backend)(m)
    assert got.dtype == "float32"
    np.testing.assert_allclose(got, np.linalg.norm(m, ord), rtol=2e-6)


def test_norm_gradients_are_the_closed_forms():
    """d||A||_* = U Vᵀ, d||A||_2 = u₁ v₁ᵀ, d σ_min = u_k v_kᵀ."""
    rng = np.random.default_rng(5)
    A = sg.matrix("A")
    a = rng.standard_normal((4, 3))
    u, s, vh = np.linalg.svd(a, full_matrices=False)
    grads = sg.function([A], [sg.grad(sg.norm(A, o), A) for o in ("nuc", 2, -2)], backend="python")(a)
    np.testing.assert_allclose(grads[0], u @ vh, atol=1e-12)
    np.testing.assert_allclose(grads[1], np.outer(u[:, 0], vh[0]), atol=1e-12)
    np.testing.assert_allclose(grads[2], np.outer(u[:, -1], vh[-1]), atol=1e-12)


def test_singular_value_gradient_holds_for_repeated_and_zero_values():
    """Only s used: U diag(g) Vᵀ, finite for the identity (all values equal) and a singular matrix."""
    A = sg.matrix("A")
    g = sg.function([A], sg.grad(sg.sum(sg.linalg.svdvals(A)), A), backend="python")
    np.testing.assert_allclose(g(np.eye(3)), np.eye(3), atol=1e-12)
    assert np.all(np.isfinite(g(np.array([[1.0, 2.0], [2.0, 4.0]]))))


@pytest.mark.parametrize("shape", [(4, 3), (3, 5), (3, 3), (2, 3, 2)])
def test_vector_gradients_match_finite_differences(shape):
    rng = np.random.default_rng(6)
    A = sg.tensor("A", "float64", (None,) * len(shape))
    a = rng.standard_normal(shape)
    u, s, vh = sg.linalg.svd(A)
    # sign-invariant: each column of u times the matching row of vh
    cost = sg.sum(sg.matmul(u * sg.constant(rng.standard_normal(shape[-2:-1] + (min(shape[-2:]),))), vh) ** 2) \
        + sg.sum(s ** 3)
    f = sg.function([A], cost, backend="python")
    g = sg.function([A], sg.grad(cost, A), backend="python")(a)
    np.testing.assert_allclose(g, _numeric_grad(f, a), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("ord", [2, -2, "nuc"])
def test_norm_hessians_match_finite_differences_of_the_gradient(ord):
    rng = np.random.default_rng(7)
    X = sg.matrix("X")
    x = rng.standard_normal((3, 4))
    grad = sg.function([X], sg.grad(sg.norm(X, ord), X), backend="python")
    hessian = sg.function([X], sg.hessian(sg.norm(X, ord), X), backend="numba")(x)
    numeric = np.stack([_numeric_grad(lambda v: grad(v)[i], x) for i in np.ndindex(x.shape)]).reshape(x.shape * 2)
    np.testing.assert_allclose(hessian, numeric, atol=1e-7)


@pytest.mark.parametrize("backend", ["numba", "cuda"])
def test_gradients_of_the_decomposition_match_the_python_backend(backend):
    rng = np.random.default_rng(8)
    A = sg.tensor("A", "float64", (None, None, None))
    a = rng.standard_normal((2, 3, 4))
    u, s, vh = sg.linalg.svd(A)
    cost = sg.sum(sg.abs(u) * 1.5) + sg.sum(sg.abs(vh) * sg.arange(4.0)) + sg.norm(A[0], "nuc")
    want = sg.function([A], sg.grad(cost, A), backend="python")(a)
    np.testing.assert_allclose(sg.function([A], sg.grad(cost, A), backend=backend)(a), want, atol=1e-10)


def test_vectorize_graph_and_jacobian_batch_the_decomposition():
    A = sg.matrix("A")
    B = sg.tensor("B", "float64", (None, None, None))
    u, s, vh = sg.linalg.svd(A)
    outputs = sg.vectorize_graph([s, sg.norm(A, "nuc"), sg.matmul(u * s, vh)], {A: B})
    b = np.random.default_rng(9).standard_normal((5, 3, 4))
    values, nuclear, rebuilt = sg.function([B], outputs, backend="numba")(b)
    np.testing.assert_allclose(values, np.linalg.svd(b, compute_uv=False), rtol=1e-12)
    np.testing.assert_allclose(nuclear, np.linalg.norm(b, "nuc", axis=(1, 2)), rtol=1e-12)
    np.testing.assert_allclose(rebuilt, b, atol=1e-12)
    jacobian = sg.function([A], sg.jacobian(sg.linalg.svdvals(A), A), backend="python")(b[0])
    uu, _, vvh = np.linalg.svd(b[0], full_matrices=False)
    np.testing.assert_allclose(jacobian, np.einsum("ik,kj->kij", uu, vvh), atol=1e-12)
