"""The linear-algebra rewrites (symgraph/rewrite/linalg.py): what they replace (node counts) and that the
values stay NumPy's (to rounding), on the python and numba backends."""
import numpy as np
import pytest

import symgraph as sg

RNG = np.random.default_rng(0)
M = RNG.normal(size=(5, 5))
SPD = M @ M.T + 5 * np.eye(5)
B = RNG.normal(size=5)


def op_counts(f):
    counts = {}
    for node in f.graph.nodes:
        name = type(node.op).__name__
        counts[name] = counts.get(name, 0) + 1
    return counts


@pytest.mark.parametrize("backend", ["python", "numba"])
def test_inverse_times_vector_becomes_a_solve(backend):
    A, b = sg.matrix("A"), sg.vector("b")
    f = sg.function([A, b], [sg.linalg.inv(A) @ b, sg.linalg.inv(A) @ sg.outer(b, b)], backend=backend,
                    rewrite_log=True)
    assert f.rewrite_log.fired("inv_product_to_solve")
    counts = op_counts(f)
    assert counts.get("MatrixInverse", 0) == 0 and counts["Solve"] == 2
    x, X = f(M, B)
    np.testing.assert_allclose(x, np.linalg.solve(M, B), rtol=1e-12)
    np.testing.assert_allclose(X, np.linalg.solve(M, np.outer(B, B)), rtol=1e-11, atol=1e-13)
    unoptimized = sg.function([A, b], sg.linalg.inv(A) @ b, backend=backend, optimizer=None)
    assert "MatrixInverse" in op_counts(unoptimized)


@pytest.mark.parametrize("backend", ["python", "numba"])
def test_log_of_a_determinant_is_the_log_determinant(backend):
    A = sg.matrix("A")
    f = sg.function([A], [sg.log(sg.linalg.det(A)), sg.log(sg.abs(sg.linalg.det(A)))], backend=backend,
                    rewrite_log=True)
    assert f.rewrite_log.fired("log_det_to_slogdet")
    assert "Det" not in op_counts(f) and op_counts(f)["SlogDet"] == 1
    big = 40.0 * np.eye(300) + 0.1 * np.ones((300, 300))       # det overflows float64; its log does not
    with np.errstate(all="ignore"):
        assert not np.isfinite(np.log(np.linalg.det(big)))
    value, absolute = f(big)
    np.testing.assert_allclose([value, absolute], np.linalg.slogdet(big)[1], rtol=1e-13)
    flipped = np.diag([-1.0, 2.0, 3.0])                          # det < 0: log gives NaN, log|det| does not
    value, absolute = f(flipped)
    assert np.isnan(value) and absolute == pytest.approx(np.log(6.0))
    value, absolute = f(np.zeros((2, 2)))
    assert value == -np.inf and absolute == -np.inf


@pytest.mark.parametrize("backend", ["python", "numba"])
def test_a_positive_definite_solve_and_its_log_determinant_share_one_cholesky(backend):
    A, b = sg.matrix("A"), sg.vector("b")
    x = sg.linalg.solve(A, b, assume_a="pos")
    sign, logdet = sg.linalg.slogdet(A)
    f = sg.function([A, b], [x, sign, logdet, 0.5 * sg.dot(b, x) + 0.5 * logdet], backend=backend,
                    rewrite_log=True)
    assert f.rewrite_log.fired("solve_through_cholesky") and f.rewrite_log.fired("determinant_from_cholesky")
    counts = op_counts(f)
    assert counts["Cholesky"] == 1 and "Solve" not in counts and "SlogDet" not in counts
    x_value, s, l, nll = f(SPD, B)
    np.testing.assert_allclose(x_value, np.linalg.solve(SPD, B), rtol=1e-12)
    assert s == 1.0 and l == pytest.approx(np.linalg.slogdet(SPD)[1], rel=1e-13)
    assert nll == pytest.approx(0.5 * B @ np.linalg.solve(SPD, B) + 0.5 * np.linalg.slogdet(SPD)[1], rel=1e-12)


@pytest.mark.parametrize("backend", ["python", "numba"])
def test_solves_and_determinants_of_a_cholesky_factor_use_it(backend):
    A, b = sg.matrix("A"), sg.vector("b")
    L = sg.linalg.cholesky(A)
    outputs = [sg.linalg.solve(L @ L.T, b), sg.linalg.slogdet(L)[1], sg.linalg.det(L)]
    f = sg.function([A, b], outputs, backend=backend)
    counts = op_counts(f)
    assert counts["Cholesky"] == 1 and "Solve" not in counts and "SlogDet" not in counts and "Det" not in counts
    x, logdet, det = f(SPD, B)
    np.testing.assert_allclose(x, np.linalg.solve(SPD, B), rtol=1e-12)
    assert logdet == pytest.approx(0.5 * np.linalg.slogdet(SPD)[1], rel=1e-13)
    assert det == pytest.approx(np.sqrt(np.linalg.det(SPD)), rel=1e-12)


def test_the_rewrites_can_be_switched_off_and_keep_errors():
    A, b = sg.matrix("A"), sg.vector("b")
    off = sg.function([A, b], sg.linalg.inv(A) @ b, backend="python", optimizer={"exclude": ["linalg"]})
    assert "MatrixInverse" in op_counts(off)
    on = sg.function([A, b], sg.linalg.solve(A, b, assume_a="pos"), backend="python")
    with pytest.raises(np.linalg.LinAlgError, match="cholesky"):
        on(-SPD, B)                                   # indefinite: still an error, from the factor it made


def test_the_determinant_of_a_factored_matrix_reads_the_factor():
    A = sg.matrix("A")
    L = sg.linalg.cholesky(A)
    f = sg.function([A], [sg.linalg.det(L @ L.T), sg.sum(L)], backend="python", rewrite_log=True)
    assert "Det" not in op_counts(f) and op_counts(f)["Cholesky"] == 1
    assert f(SPD)[0] == pytest.approx(np.linalg.det(SPD), rel=1e-12)


@pytest.mark.parametrize("backend", ["python", "numba"])
def test_the_inverse_in_a_log_determinants_gradient_reuses_the_cholesky_factor(backend):
    X, b = sg.matrix("X"), sg.vector("b")
    K = sg.matmul(X, X.T) + 5.0 * sg.eye(5)
    nll = 0.5 * sg.dot(b, sg.linalg.solve(K, b, assume_a="pos")) + 0.5 * sg.linalg.slogdet(K)[1]
    f = sg.function([X, b], [nll, sg.grad(nll, X)], backend=backend, rewrite_log=True)
    assert f.rewrite_log.fired("inverse_through_cholesky")
    counts = op_counts(f)
    assert counts["Cholesky"] == 1 and "MatrixInverse" not in counts and "SlogDet" not in counts
    value, gradient = f(M, B)
    k = M @ M.T + 5 * np.eye(5)
    alpha = np.linalg.solve(k, B)
    assert value == pytest.approx(0.5 * B @ alpha + 0.5 * np.linalg.slogdet(k)[1], rel=1e-12)
    # d/dX of 0.5 bᵀK⁻¹b + 0.5 log det K, K = X Xᵀ + 5 I: (K⁻¹ - α αᵀ) X
    np.testing.assert_allclose(gradient, (np.linalg.inv(k) - np.outer(alpha, alpha)) @ M, rtol=1e-10, atol=1e-13)
    plain = sg.function([X, b], sg.grad(nll, X), backend=backend, optimizer={"exclude": ["inverse_through_cholesky"]})
    assert "MatrixInverse" in op_counts(plain)


def _products(f):
    return [n for n in f.graph.nodes if type(n.op).__name__ == "Dot"]


def test_the_jacobian_seed_is_applied_symbolically_in_a_hessian():
    """W5's Hessian of sum(tanh(A @ w)**2) + logsumexp(w) batched over the identity: the identity's product
    with A.T is A.T itself (dot_jacobian_seed), leaving the one n^3 product the hand formula has too; the
    values are the hand formula's on every backend."""
    rng = np.random.default_rng(2)
    n = 7
    A_value, w_value = rng.normal(size=(n, n)) / np.sqrt(n), rng.normal(size=n)
    A, w = sg.matrix("A"), sg.vector("w")
    H = sg.hessian(sg.sum(sg.tanh(A @ w) ** 2) + sg.logsumexp(w), w)
    t = np.tanh(A_value @ w_value)
    s = np.exp(w_value - w_value.max())
    s /= s.sum()
    expected = A_value.T @ (2 * (1 - t * t) * (1 - 3 * t * t) * A_value.T).T + np.diag(s) - np.outer(s, s)
    for backend in ("python", "numba"):
        f = sg.function([A, w], H, backend=backend)
        np.testing.assert_allclose(f(A_value, w_value), expected, rtol=1e-12, atol=1e-14)
        matrix_products = [p for p in _products(f) if p.outputs[0].ndim == 2]
        assert len(matrix_products) == 1
        assert not any(getattr(i.owner.op, "identity_seed", False) for p in _products(f) for i in p.inputs
                       if i.owner is not None)
    # excluded by name: the product with the identity is computed (same finite values)
    kept = sg.function([A, w], H, backend="python", optimizer={"mode": "fast_run", "exclude": ["dot_jacobian_seed"]})
    assert len([p for p in _products(kept) if p.outputs[0].ndim == 2]) == 2
    np.testing.assert_allclose(kept(A_value, w_value), expected, rtol=1e-12, atol=1e-14)


def test_a_users_identity_product_keeps_its_ieee_result():
    """A one_hot(arange(n), n) the user wrote is an ordinary matrix: I @ M stays a product, so an inf in M
    spreads NaN over its column as NumPy's product does (only sg.jacobian's own seed is applied symbolically)."""
    M = sg.matrix("M")
    n = sg.shape(M)[0]
    identity = sg.one_hot(sg.arange(n), n)
    value = np.array([[1.0, -0.0], [np.inf, 2.0]])
    for backend in ("python", "numba"):
        f = sg.function([M], [sg.dot(identity, M), sg.dot(M, identity)], backend=backend)
        with np.errstate(invalid="ignore"):
            left, right = f(value)
            np.testing.assert_array_equal(left, np.eye(2) @ value)
            np.testing.assert_array_equal(right, value @ np.eye(2))
        assert len(_products(f)) == 2


def test_arange_and_one_hot_lengths_are_known_to_the_shape_rewrites():
    """arange(0, n, 1) has n elements and one_hot(i, n) a last axis of n, for a length n read from a shape or a
    constant >= 0; a possibly negative or float stop, or another start or step, proves nothing."""
    from symgraph.ops.shape import shape_of
    from symgraph.rewrite.shapes import dims
    x = sg.matrix("x")
    n = shape_of(x, 1)
    assert dims(sg.arange(n))[0] == dims(x)[1]
    assert dims(sg.one_hot(sg.arange(n), n)) == (dims(x)[1], dims(x)[1])
    assert dims(sg.arange(5)) == (5,) and dims(sg.one_hot(sg.arange(3), 4)) == (3, 4)
    k = sg.scalar("k", "int64")
    for unproven in (sg.arange(k), sg.arange(1, n), sg.arange(0, n, 2), sg.arange(-3)):
        assert not isinstance(dims(unproven)[0], frozenset) or dims(unproven)[0] != dims(x)[1]
    assert dims(sg.arange(-3))[0] == 0          # the static length NumPy gives: empty
