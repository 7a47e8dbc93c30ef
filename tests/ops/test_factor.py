"""The solve family of sg.linalg (symgraph/ops/factor.py): inv, solve, solve_triangular, cholesky, cho_solve,
det and slogdet. Values against NumPy/SciPy on every backend (and numba and cuda against python with tight
tolerances), stacks and broadcast batch axes, dtypes, derivatives against finite differences (first and
second order), the errors on every backend. cuda runs under Numba's simulator unless SYMGRAPH_REAL_GPU=1."""
import doctest
import os
import subprocess
import sys

import numpy as np
import pytest
import scipy.linalg

import symgraph as sg
from symgraph.ops import factor as la    # the same functions as sg.linalg's (checked below)
from tests.finite_differences import numeric_grad

N, K = 4, 3
TOL = {"float64": 1e-10, "float32": 2e-4}        # against NumPy/SciPy (well-conditioned matrices)
TIGHT = {"float64": 1e-12, "float32": 2e-5}      # numba against python


def _general(rng, shape):
    """Well-conditioned general matrices: a random matrix plus n on the diagonal."""
    n = shape[-1]
    return rng.standard_normal(shape) + n * np.eye(n)


def _spd(rng, shape):
    """Symmetric positive definite: X Xᵀ + n I."""
    x = rng.standard_normal(shape)
    return x @ np.swapaxes(x, -1, -2) + shape[-1] * np.eye(shape[-1])


def _per_matrix(function, *arrays):
    """``function`` applied to each matrix of broadcast stacks (a reference for SciPy's unbatched functions)."""
    batch = np.broadcast_shapes(*[a.shape[:-2] for a in arrays])
    arrays = [np.broadcast_to(a, batch + a.shape[-2:]) for a in arrays]
    return np.stack([function(*[a[i] for a in arrays]) for i in np.ndindex(batch)]).reshape(
        batch + function(*[a[(0,) * len(batch)] for a in arrays]).shape)


def _value_case(dtype):
    """(inputs, {name: (output, reference)}, arrays) exercising every op, stacks and broadcasting."""
    rng = np.random.default_rng(0)
    stack = lambda name: sg.tensor(name, dtype, (None,) * 3)   # noqa: E731
    A, A1, S, B = stack("A"), stack("A1"), stack("S"), stack("B")
    M, C = sg.matrix("M", dtype), sg.matrix("C", dtype)
    v = sg.vector("v", dtype)
    a, a1, s = _general(rng, (2, N, N)), _general(rng, (1, N, N)), _spd(rng, (2, N, N))
    m, b = _general(rng, (N, N)), rng.standard_normal((2, N, K))
    c, vv = rng.standard_normal((N, K)), rng.standard_normal(N)
    arrays = [x.astype(dtype) for x in (a, a1, s, b, m, c, vv)]
    a, a1, s, b, m, c, vv = [x.astype("float64") for x in arrays]     # references from the rounded values
    L = np.linalg.cholesky(s)
    st = scipy.linalg.solve_triangular
    sym = np.triu(a) + np.swapaxes(np.triu(a, 1), -1, -2)            # what assume_a="sym" reads (upper)
    flip_value = np.array([[1.0], [-1.0], [1.0], [1.0]])               # one row negated: det(a) < 0 here
    flip = sg.constant(flip_value.astype(dtype))
    outputs = {
        "inv": (la.inv(A), np.linalg.inv(a)),
        "inv_matrix": (la.inv(M), np.linalg.inv(m)),
        "solve_matrices": (la.solve(A, B), np.linalg.solve(a, b)),
        "solve_vector_batched_a": (la.solve(A, v), np.linalg.solve(a, vv)),
        "solve_matrix_batched_b": (la.solve(M, B), np.linalg.solve(m, b)),
        "solve_broadcast_batch": (la.solve(A1, B), np.linalg.solve(a1, b)),
        "solve_2d": (la.solve(M, C), scipy.linalg.solve(m, c)),
        "solve_1d": (la.solve(M, v), scipy.linalg.solve(m, vv)),
        "solve_sym": (la.solve(A, B, assume_a="sym"), np.linalg.solve(sym, b)),
        "solve_pos": (la.solve(S, B, assume_a="pos"), np.linalg.solve(s, b)),
        "solve_pos_lower": (la.solve(S + sg.triu(A, 1), v, assume_a="pos", lower=True),   # reads S's lower
                            np.linalg.solve(s, vv)),
        "solve_pos_scipy": (la.solve(M @ M.T + N * sg.eye(N, dtype=dtype), C, assume_a="pos"),
                            scipy.linalg.solve(m @ m.T + N * np.eye(N), c, assume_a="pos")),
        "tri_lower": (la.solve_triangular(A, B, lower=True), _per_matrix(lambda x, y: st(x, y, lower=True), a, b)),
        "tri_upper_trans": (la.solve_triangular(A, B, trans=1), _per_matrix(lambda x, y: st(x, y, trans=1), a, b)),
        "tri_unit_T": (la.solve_triangular(A1, B, trans="T", lower=True, unit_diagonal=True),
                       _per_matrix(lambda x, y: st(x, y, trans=1, lower=True, unit_diagonal=True), a1, b)),
        "tri_vector": (la.solve_triangular(M, v, trans="C", unit_diagonal=True),
                       st(m, vv, trans=2, unit_diagonal=True)),
        "cholesky": (la.cholesky(S), L),
        "cholesky_upper": (la.cholesky(S, lower=False), np.swapaxes(L, -1, -2)),
        "cholesky_scipy_upper": (la.cholesky(M @ M.T + N * sg.eye(N, dtype=dtype), lower=False),
                                 scipy.linalg.cholesky(m @ m.T + N * np.eye(N))),
        "cholesky_reads_lower": (la.cholesky(S + sg.triu(A, 1)), L),
        "cho_solve": (la.cho_solve((la.cholesky(S), True), B),
                      _per_matrix(lambda x, y: scipy.linalg.cho_solve((x, True), y), L, b)),
        "cho_solve_upper_vector": (la.cho_solve((la.cholesky(S, lower=False), False), v), np.linalg.solve(s, vv)),
        "det": (la.det(A), np.linalg.det(a)),
        "det_matrix": (la.det(M), np.linalg.det(m)),
        "slogdet_sign": (la.slogdet(A * flip)[0], np.linalg.slogdet(a * flip_value)[0]),
        "slogdet_log": (la.slogdet(A * flip)[1], np.linalg.slogdet(a * flip_value)[1]),
    }
    assert np.all(outputs["slogdet_sign"][1] == -1)     # the data reach the negative branch of the sign
    return [A, A1, S, B, M, C, v], outputs, arrays


@pytest.fixture(scope="module")
def python_values():
    """The python backend's outputs of the value case, per dtype (the numba test compares against them)."""
    results = {}
    for dtype in ("float64", "float32"):
        inputs, outputs, arrays = _value_case(dtype)
        f = sg.function(inputs, [o for o, _ in outputs.values()], backend="python")
        results[dtype] = dict(zip(outputs, f(*arrays)))
    return results


# float32 on numba: one output per helper and kind of operand (each output costs kernel compile time)
FLOAT32_NUMBA = ("inv", "solve_matrices", "solve_vector_batched_a", "solve_pos", "tri_unit_T", "tri_vector",
                 "cholesky_upper", "cho_solve", "det", "slogdet_log")


@pytest.mark.parametrize("backend", ["python", "numba", "cuda"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_values_match_numpy_and_scipy_with_stacks_and_broadcasting(backend, dtype, python_values):
    inputs, outputs, arrays = _value_case(dtype)
    if backend != "python" and dtype == "float32":
        outputs = {name: outputs[name] for name in FLOAT32_NUMBA}
    f = sg.function(inputs, [o for o, _ in outputs.values()], backend=backend)
    got = dict(zip(outputs, f(*arrays)))
    for name, (_, reference) in outputs.items():
        assert got[name].dtype == dtype, name
        assert got[name].shape == np.shape(reference), name
        np.testing.assert_allclose(got[name], reference, rtol=TOL[dtype], atol=TOL[dtype], err_msg=name)
        if backend != "python":
            np.testing.assert_allclose(got[name], python_values[dtype][name], rtol=TIGHT[dtype],
                                       atol=TIGHT[dtype], err_msg=name)
    assert np.all(np.tril(got["cholesky_upper"], -1) == 0)
    if "cholesky" in got:
        assert np.all(np.triu(got["cholesky"], 1) == 0)


@pytest.mark.parametrize("backend", ["python", "numba", "cuda"])
def test_integer_inputs_compute_in_float64_and_empty_matrices_work(backend):
    Z, z = sg.tensor("Z", "int64", (None, None)), sg.tensor("z", "int32", (None,))
    X, x = sg.matrix("X"), sg.vector("x")
    y = sg.vector("y", "float32")
    f = sg.function([Z, z, X, x, y], [la.inv(Z), la.det(Z), la.solve(Z, z), la.solve(Z, y), la.cholesky(Z),
                                      la.solve_triangular(Z, z, lower=True), la.inv(X), la.solve(X, x),
                                      la.det(X), *la.slogdet(X), la.cholesky(X)], backend=backend)
    n = np.array([[2, 1], [1, 3]])
    out = f(n, np.array([1, 2], "int32"), np.zeros((0, 0)), np.zeros(0), np.array([1, 2], "float32"))
    assert all(o.dtype == "float64" for o in out)
    expected = [np.linalg.inv(n), np.linalg.det(n), np.linalg.solve(n, [1, 2]), np.linalg.solve(n, [1, 2]),
                np.linalg.cholesky(n), scipy.linalg.solve_triangular(n, [1, 2], lower=True)]
    for got, want in zip(out, expected):
        np.testing.assert_allclose(got, want, rtol=1e-12)
    assert [o.shape for o in out[6:]] == [(0, 0), (0,), (), (), (), (0, 0)]
    assert out[8] == 1 and out[9] == 1 and out[10] == 0      # NumPy's det, slogdet of a 0 x 0 matrix


# ---------------------------------------------------------------- derivatives

def _weights(shape, seed=1):
    return sg.constant(np.random.default_rng(seed).standard_normal(shape))


def _sym(x):
    """A symmetric positive definite function of a square ``x`` (cholesky's gradient is the symmetric one)."""
    n = x.type.shape[-1] if x.type.shape[-1] is not None else N
    return sg.matmul(x, sg.swapaxes(x, -1, -2)) + n * sg.eye(n, dtype=x.dtype)


GRAD_CASES = {
    "inv_batched": (lambda a: sg.sum(la.inv(a) * _weights((2, N, N))), lambda r: [_general(r, (2, N, N))]),
    "solve_matrices_batched": (lambda a, b: sg.sum(la.solve(a, b) * _weights((2, N, K))),
                               lambda r: [_general(r, (2, N, N)), r.standard_normal((2, N, K))]),
    "solve_vector_broadcast": (lambda a, b: sg.sum(la.solve(a, b) ** 2),
                               lambda r: [_general(r, (2, N, N)), r.standard_normal(N)]),
    "solve_batch_broadcast": (lambda a, b: sg.sum(la.solve(a, b) * _weights((3, N, K))),
                              lambda r: [_general(r, (1, N, N)), r.standard_normal((3, N, K))]),
    "solve_sym_reads_upper": (lambda a, b: sg.sum(la.solve(a, b, assume_a="sym") ** 2),
                              lambda r: [_general(r, (N, N)), r.standard_normal((N, K))]),
    "solve_pos_reads_lower": (lambda a, b: sg.sum(la.solve(a, b, assume_a="pos", lower=True) ** 2),
                              lambda r: [_spd(r, (2, N, N)) + np.triu(r.standard_normal((N, N)), 1),
                                         r.standard_normal(N)]),
    "tri_lower_batched": (lambda a, b: sg.sum(la.solve_triangular(a, b, lower=True) * _weights((2, N, K))),
                          lambda r: [_general(r, (2, N, N)), r.standard_normal((2, N, K))]),
    "tri_upper_trans_vector": (lambda a, b: sg.sum(la.solve_triangular(a, b, trans=1) ** 2),
                               lambda r: [_general(r, (2, N, N)), r.standard_normal(N)]),
    "tri_unit_lower_trans": (lambda a, b: sg.sum(la.solve_triangular(a, b, 1, True, True) ** 2),
                             lambda r: [_general(r, (N, N)), r.standard_normal((N, K))]),
    "tri_unit_upper_broadcast": (lambda a, b: sg.sum(la.solve_triangular(a, b, unit_diagonal=True) ** 2),
                                 lambda r: [_general(r, (1, N, N)), r.standard_normal((2, N, K))]),
    "cholesky_batched": (lambda x: sg.sum(la.cholesky(_sym(x)) * _weights((2, N, N))),
                         lambda r: [r.standard_normal((2, N, N))]),
    "cholesky_upper": (lambda x: sg.sum(la.cholesky(_sym(x), lower=False) * _weights((N, N))),
                       lambda r: [r.standard_normal((N, N))]),
    "cho_solve_lower": (lambda x, b: sg.sum(la.cho_solve((la.cholesky(_sym(x)), True), b) ** 2),
                        lambda r: [r.standard_normal((2, N, N)), r.standard_normal((2, N, K))]),
    "cho_solve_upper_factor_input": (lambda u, b: sg.sum(la.cho_solve((u, False), b) ** 2),
                                     lambda r: [_general(r, (N, N)), r.standard_normal(N)]),
    "det_batched": (lambda a: sg.sum(la.det(a) * _weights((2,))), lambda r: [_general(r, (2, N, N))]),
    "slogdet_batched": (lambda a: sg.sum(la.slogdet(a)[1] * _weights((2,))),
                        lambda r: [_general(r, (2, N, N)) - 2 * N * np.eye(N)]),
}


@pytest.mark.parametrize("case", sorted(GRAD_CASES))
def test_gradients_match_finite_differences(case):
    cost, point = GRAD_CASES[case]
    sg.verify_grad(cost, point(np.random.default_rng(2)), rtol=1e-6, n_directions=4)


def test_gradients_are_the_closed_forms():
    """Checks that do not go through finite differences: the symmetric cholesky gradient, the triangle
    masks of solve_triangular, the fold of assume_a='sym' and the sign of slogdet."""
    rng = np.random.default_rng(3)
    A, b = sg.matrix("A"), sg.vector("b")
    a, s, bb = _general(rng, (N, N)), _spd(rng, (N, N)), rng.standard_normal(N)
    w = rng.standard_normal((N, N))
    grads = sg.function([A, b], [sg.grad(sg.sum(la.cholesky(A) * w), A),
                                 sg.grad(sg.sum(la.solve_triangular(A, b, lower=True, unit_diagonal=True)), A),
                                 sg.grad(sg.sum(la.solve(A, b, assume_a="sym")), A),
                                 sg.grad(sg.sum(la.solve(A, b)), A),
                                 sg.grad(la.slogdet(A)[1], A),
                                 sg.grad(la.slogdet(A)[0] + 0 * sg.sum(A), A)], backend="python")
    g_chol, g_tri, g_sym, g_gen, g_logdet, g_sign = grads(s, bb)
    np.testing.assert_allclose(g_chol, g_chol.T, atol=1e-14)
    L = np.linalg.cholesky(s)
    phi = np.tril(L.T @ w) - 0.5 * np.diag(np.diag(L.T @ w))
    S = np.linalg.solve(L.T, phi) @ np.linalg.inv(L)
    np.testing.assert_allclose(g_chol, (S + S.T) / 2, rtol=1e-10, atol=1e-14)
    assert np.all(np.triu(g_tri) == 0) and np.any(g_tri != 0)
    x = np.linalg.solve(s, bb)
    G = -np.outer(np.linalg.solve(s.T, np.ones(N)), x)
    np.testing.assert_allclose(g_gen, G, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(g_sym, np.triu(G) + np.triu(G.T, 1), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(g_logdet, np.linalg.inv(s).T, rtol=1e-10)
    assert np.all(g_sign == 0)
    single = sg.matrix("F", "float32")
    g32 = sg.function([single], [sg.grad(sg.sum(la.inv(single)) + la.slogdet(single)[1], single),
                                 sg.grad(sg.sum(la.cholesky(_sym(single))), single)], backend="python")
    assert all(g.dtype == "float32" for g in g32(a.astype("float32")))


@pytest.mark.parametrize("backend", ["numba", "cuda"])
def test_compiled_gradients_equal_the_python_backend(backend):
    rng = np.random.default_rng(4)
    A, S, B = (sg.tensor(name, "float64", (None,) * 3) for name in "ASB")
    v = sg.vector("v")
    a, s, b, vv = _general(rng, (2, N, N)), rng.standard_normal((2, N, N)), rng.standard_normal((2, N, K)), \
        rng.standard_normal(N)
    spd = _sym(S)
    cost = (sg.sum(la.inv(A) * _weights((2, N, N))) + sg.sum(la.solve(A, B) ** 2) + sg.sum(la.solve(A, v) ** 2)
            + sg.sum(la.solve(spd, B, assume_a="pos") ** 2)
            + sg.sum(la.solve_triangular(A, B, trans=1, lower=True) ** 2)
            + sg.sum(la.cholesky(spd, lower=False) * _weights((2, N, N), 5))
            + sg.sum(la.det(A) * _weights((2,), 6)) + sg.sum(la.slogdet(spd)[1]))
    wrt = [A, S, B, v]
    want = sg.function(wrt, sg.grad(cost, wrt), backend="python")(a, s, b, vv)
    got = sg.function(wrt, sg.grad(cost, wrt), backend=backend)(a, s, b, vv)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-11, atol=1e-12)


def _gp_negative_log_likelihood(theta, X, y):
    """``0.5 yᵀ K⁻¹ y + 0.5 log det K`` for a squared-exponential kernel with length scale exp(theta[0]) and
    noise variance exp(theta[1]), through cholesky and cho_solve."""
    distances = (X[:, None] - X[None, :]) ** 2
    K = sg.exp(-0.5 * sg.constant(distances) * sg.exp(-2 * theta[0])) + sg.exp(theta[1]) * sg.eye(len(X))
    L = la.cholesky(K)
    alpha = la.cho_solve((L, True), y)
    return 0.5 * sg.sum(y * alpha) + sg.sum(sg.log(sg.diag(L)))


def test_gaussian_process_likelihood_hessian_matches_finite_differences_of_the_gradient():
    rng = np.random.default_rng(5)
    X = np.sort(rng.uniform(0, 5, 12))
    y = np.sin(X) + 0.1 * rng.standard_normal(12)
    theta = sg.vector("theta", shape=(2,))
    Y = sg.vector("y")
    nll = _gp_negative_log_likelihood(theta, X, Y)
    point = np.array([np.log(0.8), np.log(0.05)])
    value = sg.function([theta, Y], nll, backend="python")
    gradient = sg.function([theta, Y], sg.grad(nll, theta), backend="python")
    hessian = sg.function([theta, Y], sg.hessian(nll, theta), backend="python")(point, y)
    # the benchmark's path: value and gradient on numba (a Hessian kernel triples the compile time)
    got_value, got_grad = sg.function([theta, Y], [nll, sg.grad(nll, theta)], backend="numba")(point, y)
    d2 = (X[:, None] - X[None, :]) ** 2
    K = np.exp(-0.5 * d2 / 0.8 ** 2) + 0.05 * np.eye(12)
    np.testing.assert_allclose(got_value, 0.5 * y @ np.linalg.solve(K, y) + 0.5 * np.linalg.slogdet(K)[1],
                               rtol=1e-10)
    np.testing.assert_allclose(got_grad, numeric_grad(lambda t: value(t, y), point), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(got_grad, gradient(point, y), rtol=1e-11)
    numeric = np.stack([numeric_grad(lambda t: gradient(t, y)[i], point) for i in range(2)])
    np.testing.assert_allclose(hessian, numeric, rtol=1e-5, atol=1e-7)
    assert abs(hessian[0, 1]) > 1e-3 and np.allclose(hessian, hessian.T, rtol=1e-10)


def test_second_derivatives_of_every_op_match_finite_differences_of_the_gradient():
    rng = np.random.default_rng(6)
    x = sg.vector("x", shape=(N * N,))
    base = _general(rng, (N, N))
    stack = _general(rng, (2, N, N))
    A = sg.reshape(x, (N, N)) + base
    rhs = rng.standard_normal((N, K))
    cost = (sg.sum(la.inv(A) * _weights((N, N), 7)) + sg.sum(la.solve(A, rhs) ** 2)
            + sg.sum(la.solve(stack + A, sg.ones(N), assume_a="sym") ** 2)
            + sg.sum(la.solve_triangular(A, rhs, trans=1) ** 2) + sg.sum(la.solve_triangular(A, rhs[:, 0], lower=True))
            + 0.1 * la.det(A) + la.slogdet(A)[1]
            + sg.sum(la.cholesky(_sym(A)) * _weights((N, N), 8))
            + sg.sum(la.solve(_sym(A), rhs, assume_a="pos") ** 2))
    point = 0.3 * rng.standard_normal(N * N)
    gradient = sg.function([x], sg.grad(cost, x), backend="python")
    hessian = sg.function([x], sg.hessian(cost, x), backend="python")(point)
    numeric = np.stack([numeric_grad(lambda v: gradient(v)[i], point) for i in range(N * N)])
    np.testing.assert_allclose(hessian, numeric, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- errors

def _error_function(backend):
    """One function holding every op on its own input, so one compile serves every error case."""
    names = ["inv", "gen", "sym", "pos", "chol", "tri", "cho", "det", "slogdet"]
    mats = {name: sg.matrix(name) for name in names}
    b = sg.vector("b")
    outputs = [la.inv(mats["inv"]), la.solve(mats["gen"], b), la.solve(mats["sym"], b, assume_a="sym"),
               la.solve(mats["pos"], b, assume_a="pos"), la.cholesky(mats["chol"]),
               la.solve_triangular(mats["tri"], b, lower=True), la.cho_solve((mats["cho"], False), b),
               la.det(mats["det"]), *la.slogdet(mats["slogdet"])]
    f = sg.function([*mats.values(), b], outputs, backend=backend)
    good = {name: np.eye(N) + 0.1 * np.ones((N, N)) for name in names}

    def call(**bad):
        values = dict(good, **{k: np.asarray(v, dtype="float64") for k, v in bad.items() if k != "b"})
        return f(*[values[n] for n in names], bad.get("b", np.ones(N)))
    return call


SINGULAR = np.array([[1.0, 2.0, 0, 0], [2.0, 4.0, 0, 0], [0, 0, 1.0, 0], [0, 0, 0, 1.0]])
INDEFINITE = np.diag([1.0, -1.0, 2.0, 3.0])
ZERO_DIAGONAL = np.tril(np.ones((N, N))) - np.diag([0, 0, 1.0, 0])
ERRORS = [
    ("inv", SINGULAR, r"^inv: singular matrix"),
    ("gen", SINGULAR, r"^solve\{assume_a='gen'.*singular matrix"),
    ("sym", SINGULAR, r"^solve\{assume_a='sym'.*singular matrix"),
    # the default optimizer factors a positive definite solve as cholesky + cho_solve (rewrite/linalg.py)
    ("pos", INDEFINITE, r"^(solve\{assume_a='pos'|cholesky).*not positive definite"),
    ("chol", INDEFINITE, r"^cholesky\{lower=True\}: the matrix is not positive definite"),
    ("tri", ZERO_DIAGONAL, r"^solve_triangular\{lower=True.*a zero on the diagonal"),
    ("cho", ZERO_DIAGONAL.T, r"^solve_triangular\{lower=False.*a zero on the diagonal"),
]
NOT_FINITE = ["inv", "gen", "sym", "pos", "chol", "tri", "cho", "det", "slogdet"]
OP_NAMES = {"inv": "inv", "gen": "solve", "sym": "solve", "pos": "(solve|cholesky)", "chol": "cholesky",
            "tri": "solve_triangular", "cho": "solve_triangular", "det": "det", "slogdet": "slogdet"}


@pytest.mark.parametrize("backend", ["python", "numba", "cuda"])
def test_singular_indefinite_zero_diagonal_and_non_finite_inputs_are_linalg_errors(backend):
    call = _error_function(backend)
    results = call()                                   # well-conditioned everywhere: no error
    assert all(np.all(np.isfinite(r)) for r in results)
    for name, matrix, pattern in ERRORS:
        with pytest.raises(np.linalg.LinAlgError, match=pattern + r".*test_factor\.py") as caught:
            call(**{name: matrix})
        assert "test_factor.py" in str(caught.value), name
    for name in NOT_FINITE:
        for bad in (np.inf, np.nan):
            matrix = np.eye(N)
            matrix[(2, 1) if name in ("chol", "tri") else (1, 2)] = bad     # in the triangle each op reads
            with pytest.raises(np.linalg.LinAlgError, match=rf"^{OP_NAMES[name]}\b.*inf or NaN.*test_factor\.py"):
                call(**{name: matrix})
    # det/slogdet of a singular matrix are values, as NumPy; a triangular solve ignores the other triangle
    results = call(det=SINGULAR, slogdet=SINGULAR, tri=np.eye(N) + np.triu(np.full((N, N), np.nan), 1))
    assert results[7] == 0 and results[8] == 0 and results[9] == -np.inf
    np.testing.assert_array_equal(results[5], np.ones(N))


def test_without_the_linalg_rewrites_a_positive_definite_solve_names_itself():
    A, b = sg.matrix("A"), sg.vector("b")
    f = sg.function([A, b], la.solve(A, b, assume_a="pos"), backend="python", optimizer={"exclude": ["linalg"]})
    with pytest.raises(np.linalg.LinAlgError, match=r"^solve\{assume_a='pos'.*not positive definite.*test_factor"):
        f(INDEFINITE, np.ones(N))


@pytest.mark.parametrize("backend", ["python", "numba", "cuda"])
def test_shapes_known_only_at_call_time_are_checked_then(backend):
    A, B = sg.tensor("A", "float64", (None,) * 3), sg.tensor("B", "float64", (None,) * 3)
    f = sg.function([A, B], la.solve(A, B), backend=backend)
    with pytest.raises(ValueError, match=r"^solve.*square.*test_factor\.py"):
        f(np.ones((2, 3, 4)), np.ones((2, 3, 1)))
    with pytest.raises(ValueError, match=r"^solve.*does not fit.*test_factor\.py"):
        f(np.ones((2, 3, 3)) + np.eye(3), np.ones((2, 4, 1)))
    with pytest.raises(ValueError, match=r"^solve.*(batch|broadcast).*test_factor\.py"):
        f(np.ones((2, 3, 3)) + np.eye(3), np.ones((3, 3, 1)))


def test_bad_inputs_are_errors_when_the_graph_is_built():
    v = sg.vector("v")
    with pytest.raises(ValueError, match=r"solve: expected square matrices.*test_factor\.py"):
        la.solve(sg.tensor("R", shape=(3, 4)), v)
    with pytest.raises(ValueError, match=r"solve_triangular: b does not fit a.*test_factor\.py"):
        la.solve_triangular(sg.tensor("Q", shape=(3, 3)), sg.tensor("y", shape=(4,)))
    with pytest.raises(ValueError, match=r"solve \(batch axes\).*cannot be broadcast"):
        la.solve(sg.tensor("Q", shape=(2, 3, 3)), sg.tensor("y", shape=(4, 3, 1)))
    with pytest.raises(ValueError, match=r"^cholesky: expected a square matrix"):
        la.cholesky(v)
    for function in (la.inv, la.det, la.slogdet):
        with pytest.raises(ValueError, match="expected square"):
            function(sg.tensor("R", shape=(2, 3)))
    with pytest.raises(TypeError, match="inv: expected real"):
        la.inv(sg.tensor("Z", "complex128", (None, None)))
    with pytest.raises(ValueError, match="assume_a"):
        la.solve(sg.matrix("A"), v, assume_a="banded")
    with pytest.raises(ValueError, match="trans"):
        la.solve_triangular(sg.matrix("A"), v, trans=3)
    with pytest.raises(TypeError, match=r"cho_solve: expected \(c, lower\)"):
        la.cho_solve(sg.matrix("A"), v)


def test_cuda_kernels_share_a_matrix_among_threads_and_blocks_among_matrices():
    """Matrices larger than a block's threads and stacks longer than the grid (the simulator's 4 threads and
    2 blocks), with a pivot in every column, against NumPy; and a stack where only the third matrix is bad."""
    rng = np.random.default_rng(3)
    n = 11
    a = rng.standard_normal((3, n, n))
    a[:, 0, 0] = 1e-3                       # partial pivoting must swap
    s = _spd(rng, (3, n, n))
    b = rng.standard_normal((3, n, 2))
    A, S, B = (sg.tensor(name, "float64", (None,) * 3) for name in "ASB")
    outputs = [la.solve(A, B), la.inv(A), la.cholesky(S), la.solve_triangular(S, B, lower=True, trans=1),
               la.det(A), la.slogdet(A)[1]]
    f = sg.function([A, S, B], outputs, backend="cuda")
    got = f(a, s, b)
    want = [np.linalg.solve(a, b), np.linalg.inv(a), np.linalg.cholesky(s),
            _per_matrix(lambda x, y: scipy.linalg.solve_triangular(x, y, lower=True, trans=1), s, b),
            np.linalg.det(a), np.linalg.slogdet(a)[1]]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)
    bad = a.copy()
    bad[2] = 0.0
    with pytest.raises(np.linalg.LinAlgError, match=r"^solve\{.*singular matrix.*test_factor\.py"):
        f(bad, s, b)


# ---------------------------------------------------------------- the helpers' BLAS and LAPACK

def test_large_cho_solve_matches_scipy():
    """Near the size of the Gaussian process benchmark's cho_solve(L, I): one BLAS trsm per triangular solve;
    a transposed (Fortran-order) factor too."""
    rng = np.random.default_rng(7)
    n = 300
    K = _spd(rng, (n, n))
    L = np.linalg.cholesky(K)
    F, B = sg.matrix("F"), sg.matrix("B")
    f = sg.function([F, B], [la.cho_solve((F, True), B), la.cho_solve((sg.transpose(F), False), B[:, 0])],
                    backend="numba")
    x, x0 = f(L, np.eye(n))
    want = scipy.linalg.cho_solve((L, True), np.eye(n))
    np.testing.assert_allclose(x, want, rtol=1e-9, atol=1e-13)
    np.testing.assert_allclose(x0, want[:, 0], rtol=1e-9, atol=1e-13)


def test_the_helpers_run_on_scipys_lapack_when_numpy_exports_none():
    """With NumPy's BLAS/LAPACK symbols unavailable, trsm, potrf and getrf are SciPy's (32-bit integers: the
    pivots are widened). A fresh process: the symbols are resolved when the helpers' code is loaded."""
    code = """
import numpy as np
from symgraph.codegen.numba import lapack_factor as lf
assert lf.bind_lapack(use_numpy=False).startswith("SciPy's")
def strided(x, dtype):      # layout A, as the kernels pass operands: the helpers' cached signatures
    return np.repeat(x.astype(dtype), 2, axis=0)[::2]
rng = np.random.default_rng(0)
a = rng.standard_normal((6, 6))
b = rng.standard_normal((6, 3))
spd = a @ a.T + 6 * np.eye(6)
for dtype, tol in (("float64", 1e-10), ("float32", 1e-3)):
    for lower in (True, False):
        for trans in (False, True):
            out = np.empty((6, 3), dtype)
            assert lf.factor_solve_triangular(strided(a, dtype), strided(b, dtype), out, lower, trans, False) == 0
            t = np.tril(a) if lower else np.triu(a)
            np.testing.assert_allclose(out, np.linalg.solve(t.T if trans else t, b), rtol=tol, atol=tol)
    for kind, matrix in ((0, a), (2, spd)):
        out = np.empty((6, 3), dtype)
        assert lf.factor_solve(strided(matrix, dtype), strided(b, dtype), out, kind, False) == 0
        np.testing.assert_allclose(out, np.linalg.solve(matrix, b), rtol=tol, atol=tol)
    status, sign, logdet = lf.factor_slogdet(strided(a, dtype), np.zeros((), dtype)[()])
    assert status == 0 and sign == np.linalg.slogdet(a)[0] and abs(logdet - np.linalg.slogdet(a)[1]) < tol
    factor = np.empty((6, 6), dtype)
    assert lf.factor_cholesky(strided(spd, dtype), factor, lower) == 0
    np.testing.assert_allclose(factor, np.linalg.cholesky(spd, upper=not lower), rtol=tol, atol=tol)
print("ok")
"""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, timeout=300)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-3000:]


# ---------------------------------------------------------------- documentation

def test_sg_linalg_exports_the_functions_and_their_examples_run():
    names = ["inv", "solve", "solve_triangular", "cholesky", "cho_solve", "det", "slogdet"]
    finder = doctest.DocTestFinder(recurse=False)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    examples = 0
    for name in names:
        function = getattr(sg.linalg, name)
        assert function is getattr(la, name) and name in sg.linalg.__all__
        assert all(section in function.__doc__ for section in ("Parameters\n", "Returns\n", "Examples\n")), name
        for test in finder.find(function, name, globs={"sg": sg, "np": np}):
            runner.run(test)
            examples += len(test.examples)
    assert runner.failures == 0 and examples >= 2 * len(names)
