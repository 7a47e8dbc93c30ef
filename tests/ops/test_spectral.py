"""The spectral part of sg.linalg (symgraph/ops/spectral.py): eigh, eigvalsh, qr, pinv and matrix_power. Values
against NumPy on the python and numba backends (eigenvectors and QR factors through quantities their signs do
not change), the two backends against each other, first and second derivatives against finite differences,
the errors, and the cuda backend's refusal."""
import doctest

import numpy as np
import pytest

import symgraph as sg
from symgraph.ops import spectral
from symgraph.ops.spectral import eigh, eigvalsh, matrix_power, pinv, qr
from tests.finite_differences import numeric_grad

FUNCTIONS = (eigh, eigvalsh, qr, pinv, matrix_power)


def _factor(name):
    """``name`` from symgraph/ops/factor.py (being written separately), or None while it is not there."""
    try:
        from symgraph.ops import factor
    except ImportError:
        return None
    return getattr(factor, name, None)


def _mT(x):
    return np.swapaxes(x, -1, -2)


def _sym(X):
    """The symmetric part: eigh reads only the lower triangle, so finite differences go through this."""
    return (X + sg.swapaxes(X, -1, -2)) / 2


def _tensor(name, ndim, dtype="float64"):
    return sg.tensor(name, dtype, (None,) * ndim)


# ---------------------------------------------------------------- values

def _outputs(S, N, T, W, Z):
    """Every op on a stack of square matrices ``S``, an integer matrix ``N``, a stack of tall ``T``, a wide
    ``W`` and a (3, 3) ``Z`` of static shape."""
    w, v = eigh(S)
    q, r = qr(T)
    wq, wr = qr(W)
    zw, zv = eigh(Z)
    return [w, v, eigvalsh(S), q, r, pinv(T), wq, wr, pinv(W), eigvalsh(N), pinv(N), zw, zv]


def _check_eigh(a, w, v, tol):
    want = np.linalg.eigvalsh(a.astype("float64"))
    np.testing.assert_allclose(w, want, rtol=tol, atol=tol * 10)
    assert np.all(np.diff(w, axis=-1) > 0)
    low = np.tril(a) + _mT(np.tril(a, -1))                       # the symmetric matrix eigh reads
    np.testing.assert_allclose((v * w[..., None, :]) @ _mT(v), low, atol=tol * 50)
    eye = np.broadcast_to(np.eye(a.shape[-1]), a.shape)
    np.testing.assert_allclose(_mT(v) @ v, eye, atol=tol * 10)
    _, v_np = np.linalg.eigh(a.astype("float64"))
    np.testing.assert_allclose(np.abs(np.sum(v * v_np, axis=-2)), 1, atol=tol * 100)


def _check_qr(a, q, r, tol):
    m, n = a.shape[-2:]
    k = min(m, n)
    assert q.shape == a.shape[:-2] + (m, k) and r.shape == a.shape[:-2] + (k, n)
    np.testing.assert_allclose(q @ r, a, atol=tol * 10)
    np.testing.assert_allclose(_mT(q) @ q, np.broadcast_to(np.eye(k), q.shape[:-2] + (k, k)), atol=tol * 10)
    assert np.all(np.tril(r, -1) == 0)
    np.testing.assert_allclose(np.abs(r), np.abs(np.linalg.qr(a.astype("float64"))[1]), atol=tol * 10)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_values_match_numpy_and_the_backends_match_each_other(dtype):
    rng = np.random.default_rng(0)
    tol = 2e-5 if dtype == "float32" else 1e-12
    S, T, Z = _tensor("S", 4, dtype), _tensor("T", 3, dtype), sg.tensor("Z", dtype, (3, 3))
    W, N = _tensor("W", 2, dtype), _tensor("N", 2, "int64")
    outputs = _outputs(S, N, T, W, Z)
    assert outputs[-2].type.shape == (3,) and outputs[-1].type.shape == (3, 3)
    s = rng.standard_normal((2, 3, 4, 4)).astype(dtype)           # not symmetric: the lower triangle is read
    t, w_ = rng.standard_normal((2, 5, 3)).astype(dtype), rng.standard_normal((3, 5)).astype(dtype)
    n = np.array([[2, -1, 0], [-1, 3, 4], [7, 4, 1]])
    z = rng.standard_normal((3, 3)).astype(dtype)
    results = {}
    for backend in ("python", "numba"):
        got = sg.function([S, N, T, W, Z], outputs, backend=backend)(s, n, t, w_, z)
        w, v, values, q, r, pt, wq, wr, pw, nvalues, pn, zw, zv = got
        assert all(x.dtype == dtype for x in got[:9] + got[11:]) and nvalues.dtype == pn.dtype == "float64"
        _check_eigh(s, w, v, tol)
        _check_eigh(z, zw, zv, tol)
        np.testing.assert_allclose(values, w, rtol=tol, atol=tol)
        np.testing.assert_allclose(nvalues, np.linalg.eigvalsh(n), rtol=1e-12)
        _check_qr(t, q, r, tol)
        _check_qr(w_, wq, wr, tol)
        for a, p in ((t, pt), (w_, pw), (n, pn)):
            np.testing.assert_allclose(p, np.linalg.pinv(a), rtol=tol * 10, atol=tol * 10)
        results[backend] = got
        # empty matrices: no values, empty factors (NumPy's shapes)
        empty = sg.function([S, N, T, W, Z], outputs, backend=backend)(
            s[:, :, :0, :0], n[:0, :0], t[:, :, :0], w_[:0], z)
        assert [e.shape for e in empty[:9]] == [(2, 3, 0), (2, 3, 0, 0), (2, 3, 0), (2, 5, 0), (2, 0, 0),
                                                 (2, 0, 5), (0, 0), (0, 5), (5, 0)]
    # numba calls the LAPACK routines NumPy calls (through SciPy's LAPACK build, NumPy through its own): in
    # float64 they agreed bit for bit where checked, in float32 to rounding, with some vectors' signs flipped;
    # so the vectors and factors compare through quantities their signs do not change
    python, numba = results["python"], results["numba"]
    for i in (0, 2, 5, 8, 9, 10, 11):                  # values and pseudo-inverses
        np.testing.assert_allclose(numba[i], python[i], rtol=tol * 10, atol=tol * 10)
    for i in (1, 12):                                  # eigenvectors: |v · v'| = 1 column by column
        np.testing.assert_allclose(np.abs(np.sum(numba[i] * python[i], axis=-2)), 1, atol=tol * 100)
    for i in (3, 4, 6, 7):                             # Q and R up to the signs of Q's columns / R's rows
        np.testing.assert_allclose(np.abs(numba[i]), np.abs(python[i]), atol=tol * 10)


def test_eigh_reads_only_the_lower_triangle_on_both_backends():
    A = sg.matrix("A")
    a = np.array([[2.0, 100.0], [1.0, 2.0]])
    for backend in ("python", "numba"):
        np.testing.assert_allclose(sg.function([A], eigvalsh(A), backend=backend)(a), [1.0, 3.0], rtol=1e-14)


def test_pinv_of_rank_deficient_and_zero_matrices():
    A = _tensor("A", 3)
    a = np.stack([np.outer([1.0, 2.0, 3.0, 0.5], [1.0, -1.0, 2.0]),          # rank 1, tall
                  np.zeros((4, 3)),
                  np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 0.0, 1.0], [0.0, 0.0, 0.0]])])   # rank 2
    want = np.linalg.pinv(a)
    assert np.abs(want[0]).max() > 0.01
    for backend in ("python", "numba"):
        got = sg.function([A], [pinv(A), pinv(sg.swapaxes(A, 1, 2))], backend=backend)(a)
        np.testing.assert_allclose(got[0], want, atol=1e-13)
        np.testing.assert_allclose(got[1], _mT(want), atol=1e-13)
        np.testing.assert_allclose(a @ got[0] @ a, a, atol=1e-12)


# ---------------------------------------------------------------- matrix_power

def test_matrix_power_values_and_dtypes():
    rng = np.random.default_rng(1)
    A, B, N = sg.matrix("A"), _tensor("B", 3), sg.tensor("N", "int64", (None, None))
    a, b = rng.standard_normal((3, 3)), rng.standard_normal((2, 4, 4))
    k = np.array([[1, 2], [3, 4]])
    powers = (0, 1, 2, 3, 5, 6)
    outputs = [matrix_power(A, p) for p in powers] + [matrix_power(B, 5), matrix_power(N, 5), matrix_power(N, 0)]
    got = sg.function([A, B, N], outputs, backend="python")(a, b, k)
    for p, value in zip(powers, got):
        np.testing.assert_allclose(value, np.linalg.matrix_power(a, p), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got[-3], np.linalg.matrix_power(b, 5), rtol=1e-12)
    assert got[-2].dtype == got[-1].dtype == "int64"
    np.testing.assert_array_equal(got[-2], np.linalg.matrix_power(k, 5))
    np.testing.assert_array_equal(got[-1], np.eye(2, dtype="int64"))
    inv = _factor("inv")
    if inv is None:
        with pytest.raises(ImportError):
            matrix_power(A, -2)
    else:
        value = sg.function([A], matrix_power(A, -2), backend="python")(a)
        np.testing.assert_allclose(value, np.linalg.matrix_power(a, -2), rtol=1e-10)


@pytest.mark.skipif(_factor("inv") is None, reason="symgraph/ops/factor.py has no inv yet")
def test_negative_matrix_power_and_its_gradient():
    A = sg.matrix("A")
    a = np.random.default_rng(2).standard_normal((3, 3)) + 3 * np.eye(3)
    np.testing.assert_allclose(sg.function([A], matrix_power(A, -3), backend="numba")(a),
                               np.linalg.matrix_power(a, -3), rtol=1e-10)
    sg.verify_grad(lambda X: sg.sum(matrix_power(X, -2) * np.arange(9.0).reshape(3, 3)), [a])


def test_matrix_power_gradient_matches_finite_differences():
    rng = np.random.default_rng(3)
    A = sg.matrix("A")
    a, c = rng.standard_normal((3, 3)) / 2, rng.standard_normal((3, 3))
    for p in (1, 2, 3, 5):
        cost = sg.sum(matrix_power(A, p) * c)
        f = sg.function([A], cost, backend="python")
        g = sg.function([A], sg.grad(cost, A), backend="python")(a)
        np.testing.assert_allclose(g, numeric_grad(f, a), rtol=1e-6, atol=1e-8)


# ---------------------------------------------------------------- first derivatives

def _check_grad(cost_of, x, backend="python", rtol=1e-6, atol=1e-7, static=False):
    X = sg.tensor("X", "float64", x.shape if static else (None,) * x.ndim)
    cost = cost_of(X)
    f = sg.function([X], cost, backend="python")
    g = sg.function([X], sg.grad(cost, X), backend=backend)(x)
    numeric = numeric_grad(f, x)
    assert np.abs(numeric).max() > 1e-3
    np.testing.assert_allclose(g, numeric, rtol=rtol, atol=atol)


def _eigh_cost(X, rng, n, symmetrize=True):
    """Sign-invariant: the eigenvalues, and ``V diag(c) Vᵀ`` (each eigenvector times itself) against ``B``."""
    w, v = eigh(_sym(X) if symmetrize else X)
    c, b = sg.constant(rng.standard_normal(n)), sg.constant(rng.standard_normal((n, n)))
    return sg.sum(w ** 3) + sg.sum(sg.matmul(v * c, sg.swapaxes(v, -1, -2)) * b)


@pytest.mark.parametrize("shape", [(4, 4), (2, 3, 3)])
def test_eigh_gradient_matches_finite_differences(shape):
    rng = np.random.default_rng(4)
    x = rng.standard_normal(shape)
    _check_grad(lambda X: _eigh_cost(X, np.random.default_rng(5), shape[-1]), x)
    # straight at a symmetric matrix, the gradient is the symmetrised one: that of the cost of sym(X)
    s = x + _mT(x)
    X = _tensor("X", len(shape))
    direct = sg.function([X], sg.grad(_eigh_cost(X, np.random.default_rng(5), shape[-1], False), X),
                         backend="python")(s)
    through_sym = sg.function([X], _eigh_cost(X, np.random.default_rng(5), shape[-1]), backend="python")
    np.testing.assert_allclose(direct, numeric_grad(through_sym, s), rtol=1e-6, atol=1e-7)


def test_eigenvalue_gradients_with_and_without_the_vectors():
    """Only w used (eigvalsh, or eigh's w): ``V diag(gw) Vᵀ``; ``trace(V diag(f(w)) Vᵀ B)`` uses both."""
    rng = np.random.default_rng(6)
    b = sg.constant(rng.standard_normal((2, 4, 4)))
    x = rng.standard_normal((2, 4, 4))
    _check_grad(lambda X: sg.sum(sg.exp(eigvalsh(_sym(X))) * sg.arange(4.0)), x)
    _check_grad(lambda X: sg.sum(eigh(_sym(X))[0] ** 2 * sg.arange(4.0)), x)

    def trace_cost(X):
        w, v = eigh(_sym(X))
        return sg.sum(sg.matmul(sg.matmul(v * sg.tanh(w)[..., None, :], sg.swapaxes(v, -1, -2)), b)
                      * np.eye(4))
    _check_grad(trace_cost, x)
    # the closed form: d(sum w²)/dA = 2A, and for repeated eigenvalues (the identity) the values' gradient holds
    A = sg.matrix("A")
    g = sg.function([A], [sg.grad(sg.sum(eigvalsh(A) ** 2), A), sg.grad(sg.sum(eigh(A)[0] * sg.arange(4.0)), A)],
                    backend="python")
    s = x[0] + x[0].T
    np.testing.assert_allclose(g(s)[0], 2 * s, atol=1e-12)
    at_identity = g(np.eye(4))[1]           # V diag(0, 1, 2, 3) Vᵀ for some orthonormal V
    assert np.all(np.isfinite(at_identity))
    np.testing.assert_allclose(np.linalg.eigvalsh(at_identity), [0.0, 1.0, 2.0, 3.0], atol=1e-12)


def _qr_cost(X, rng, m, n):
    """Sign-invariant: ``Q diag(c) R``, ``Q Qᵀ`` and ``R²``."""
    q, r = qr(X)
    k = min(m, n)
    c, b = sg.constant(rng.standard_normal(k)), sg.constant(rng.standard_normal((m, n)))
    d = sg.constant(rng.standard_normal((m, m)))
    return (sg.sum(sg.matmul(q * c, r) * b) + sg.sum(sg.matmul(q, sg.swapaxes(q, -1, -2)) * d)
            + sg.sum(r ** 2 * sg.arange(float(n))))


def _stand_in_solve(r, b, lower=False):
    """``R⁻¹ B`` for an invertible upper-triangular ``R`` (pinv-based): the QR derivative's formula is checked
    with it while symgraph/ops/factor.py's solve_triangular is not there."""
    assert not lower
    return sg.matmul(pinv(r), b)


@pytest.fixture(params=["stand-in", "factor"])
def triangular_solve(request, monkeypatch):
    if request.param == "stand-in":
        monkeypatch.setattr(spectral, "_solve_triangular", lambda: _stand_in_solve)
    elif _factor("solve_triangular") is None:
        pytest.skip("symgraph/ops/factor.py has no solve_triangular yet")
    return request.param


@pytest.mark.parametrize("shape, static", [((5, 3), True), ((5, 3), False), ((3, 3), True), ((3, 5), False),
                                           ((3, 5), True), ((2, 4, 2), False), ((2, 2, 4), False)])
def test_qr_gradient_matches_finite_differences(shape, static, triangular_solve):
    m, n = shape[-2:]
    x = np.random.default_rng(7).standard_normal(shape)
    _check_grad(lambda X: _qr_cost(X, np.random.default_rng(8), m, n), x, static=static)


def test_qr_gradient_without_the_triangular_solve_is_a_clear_error(monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "symgraph.ops.factor", None)     # the import fails
    A = sg.matrix("A")
    with pytest.raises(NotImplementedError, match="derivative of qr needs solve_triangular"):
        sg.grad(sg.sum(qr(A)[1]), A)


@pytest.mark.parametrize("shape", [(5, 3), (3, 5), (3, 3), (2, 3, 4)])
def test_pinv_gradient_matches_finite_differences(shape):
    rng = np.random.default_rng(9)
    c = sg.constant(rng.standard_normal(shape[-2:][::-1]))
    _check_grad(lambda X: sg.sum(pinv(X) * c) + sg.sum(pinv(X) ** 2), rng.standard_normal(shape))


def test_pinv_gradient_at_constant_rank_and_verify_grad():
    """A rank-1 4x3 matrix moved along rank-1 directions (the rank stays 1): Golub-Pereyra's derivative."""
    rng = np.random.default_rng(10)
    u0, v0 = rng.standard_normal(4), rng.standard_normal(3)
    U, V = sg.vector("U"), sg.vector("V")
    c = rng.standard_normal((3, 4))
    cost = sg.sum(pinv(sg.outer(U, V)) * c)
    f = sg.function([U, V], cost, backend="python")
    gu, gv = sg.function([U, V], sg.grad(cost, [U, V]), backend="python")(u0, v0)
    np.testing.assert_allclose(gu, numeric_grad(lambda u: f(u, v0), u0), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(gv, numeric_grad(lambda v: f(u0, v), v0), rtol=1e-6, atol=1e-8)
    sg.verify_grad(lambda X: sg.sum(pinv(X) ** 2), [rng.standard_normal((3, 4))])


def test_float32_gradients_stay_float32():
    X = sg.matrix("X", dtype="float32")
    w, v = eigh(_sym(X))
    cost = sg.sum(w ** 2) + sg.sum(v ** 2 * 0.5) + sg.sum(pinv(X)) + sg.sum(eigvalsh(X))
    g = sg.grad(cost, X)
    assert g.dtype == "float32"
    x = np.random.default_rng(11).standard_normal((3, 3)).astype("float32")
    assert sg.function([X], g, backend="python")(x).dtype == "float32"


def test_gradients_on_numba_match_the_python_backend(monkeypatch):
    if _factor("solve_triangular") is None:
        monkeypatch.setattr(spectral, "_solve_triangular", lambda: _stand_in_solve)
    rng = np.random.default_rng(12)
    S, T = sg.matrix("S"), sg.matrix("T")
    s, t = rng.standard_normal((4, 4)), rng.standard_normal((5, 3))
    cost = _eigh_cost(S, np.random.default_rng(13), 4) + _qr_cost(T, np.random.default_rng(14), 5, 3) \
        + sg.sum(pinv(T) * rng.standard_normal((3, 5)))
    grads = sg.grad(cost, [S, T])
    want = sg.function([S, T], grads, backend="python")(s, t)
    got = sg.function([S, T], grads, backend="numba")(s, t)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-10)
    assert np.abs(want[0]).max() > 0.1 and np.abs(want[1]).max() > 0.1


# ---------------------------------------------------------------- second derivatives

def _check_hessian(cost_of, x, backend="python", atol=1e-6, static=False):
    X = sg.tensor("X", "float64", x.shape if static else (None,) * x.ndim)
    cost = cost_of(X)
    grad = sg.function([X], sg.grad(cost, X), backend="python")
    hessian = sg.function([X], sg.hessian(cost, X), backend=backend)(x)
    numeric = np.stack([numeric_grad(lambda y: grad(y)[i], x) for i in np.ndindex(x.shape)]).reshape(x.shape * 2)
    assert np.abs(numeric).max() > 1e-2
    np.testing.assert_allclose(hessian, numeric, atol=atol)


def test_hessian_of_the_largest_eigenvalue_matches_finite_differences():
    x = np.random.default_rng(15).standard_normal((3, 3))
    _check_hessian(lambda X: eigvalsh(_sym(X))[-1], x, backend="numba")
    _check_hessian(lambda X: sg.sum(eigh(_sym(X))[0] ** 3), x)


def test_hessians_through_eigenvectors_pinv_and_qr(monkeypatch):
    if _factor("solve_triangular") is None:
        monkeypatch.setattr(spectral, "_solve_triangular", lambda: _stand_in_solve)
    rng = np.random.default_rng(16)
    x = rng.standard_normal((3, 3))
    _check_hessian(lambda X: _eigh_cost(X, np.random.default_rng(17), 3), x)
    c = rng.standard_normal((2, 3))
    _check_hessian(lambda X: sg.sum(pinv(X) * c), rng.standard_normal((3, 2)))
    # static shape: sg.hessian then builds one backward pass per row (vectorize.py has no batching rule for
    # solve_triangular yet)
    _check_hessian(lambda X: _qr_cost(X, np.random.default_rng(18), 3, 2), rng.standard_normal((3, 2)), static=True)


# ---------------------------------------------------------------- errors

@pytest.mark.parametrize("backend", ["python", "numba"])
def test_inf_nan_and_non_square_matrices_are_linalg_errors_naming_the_op(backend):
    A, B, C, D = (sg.matrix(name) for name in "ABCD")
    w, v = eigh(A)
    f = sg.function([A, B, C, D], [w, eigvalsh(B), qr(C)[1], pinv(D)], backend=backend)
    good = np.eye(2)
    for position, name in enumerate(("eigh", "eigvalsh", "qr", "pinv")):
        for bad in (np.nan, np.inf, -np.inf):
            inputs = [good] * 4
            inputs[position] = np.array([[1.0, 0.0], [bad, 1.0]])
            with pytest.raises(np.linalg.LinAlgError, match=rf"^{name}: .*inf or NaN.*test_spectral.py"):
                f(*inputs)
    for position, name in enumerate(("eigh", "eigvalsh")):
        inputs = [good] * 4
        inputs[position] = np.ones((2, 3))
        with pytest.raises(np.linalg.LinAlgError, match=rf"^{name}: last 2 dimensions .*square.*test_spectral.py"):
            f(*inputs)
    np.testing.assert_allclose(f(good, good, good, good)[3], good)


def test_bad_inputs_are_errors_when_the_graph_is_built():
    wide = sg.tensor("M", "float64", (2, 3))
    for function in (eigh, eigvalsh, matrix_power):
        args = (wide, 2) if function is matrix_power else (wide,)
        with pytest.raises(ValueError, match=rf"{function.__name__}: expected square matrices.*'M'.*test_spectral"):
            function(*args)
    for function in FUNCTIONS:
        args = (2,) if function is matrix_power else ()
        with pytest.raises(TypeError, match=rf"{function.__name__}: expected a real array with at least 2 axes"):
            function(sg.vector("v"), *args)
        with pytest.raises(TypeError, match=function.__name__):
            function(sg.tensor("z", "complex128", (None, None)), *args)
    with pytest.raises(TypeError, match="matrix_power: the exponent must be an integer"):
        matrix_power(sg.matrix("A"), 2.0)


def test_cuda_refuses_the_spectral_ops_when_the_function_is_built():
    from symgraph.codegen.cuda.lower import load_lowerings
    from symgraph.codegen.cuda.table import LOWERINGS
    load_lowerings()
    for op_class in (spectral.Eigh, spectral.Eigvalsh, spectral.QR, spectral.Pinv):
        assert 'backend="numba"' in LOWERINGS.reason_unsupported(op_class)
    A = sg.matrix("A")
    with pytest.raises(NotImplementedError,
                       match=r"backend='cuda' has no lowering for pinv \(built at .*test_spectral.py.*; "
                             r"eigh \(built at .*; qr .*use backend='numba'"):
        sg.function([A], [sg.sum(pinv(A)) + sg.sum(eigh(A)[0]), qr(A)[0]], backend="cuda")


# ---------------------------------------------------------------- documentation

def test_the_docstring_examples_run():
    for function in FUNCTIONS:          # the examples call them as sg.linalg.*
        assert getattr(sg.linalg, function.__name__) is function
    finder = doctest.DocTestFinder(recurse=False)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    examples = 0
    for function in FUNCTIONS:
        doc = function.__doc__
        assert all(section in doc for section in ("Parameters\n", "Returns\n", "Examples\n"))
        for test in finder.find(function, function.__name__, globs={"sg": sg, "np": np}):
            runner.run(test)
            examples += len(test.examples)
    assert runner.failures == 0 and examples >= 10
