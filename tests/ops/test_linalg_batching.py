"""Batching rules of the linear-algebra ops (symgraph/vectorize.py): jacobians and hessians through them
with lengths known only at call time, on the python and numba backends."""
import numpy as np
import pytest

import symgraph as sg

RNG = np.random.default_rng(3)
M = RNG.normal(size=(4, 4)) + 4 * np.eye(4)
SPD = M @ M.T
B = RNG.normal(size=4)


@pytest.mark.parametrize("backend", ["python", "numba"])
def test_jacobians_through_solves_factors_and_determinants(backend):
    A, b = sg.matrix("A"), sg.vector("b")
    L = sg.linalg.cholesky(A)
    outputs = [sg.jacobian(sg.linalg.solve(A, b), b),
               sg.jacobian(sg.linalg.solve_triangular(L, b, lower=True), b),
               sg.jacobian(sg.linalg.inv(A) @ b, b),
               sg.jacobian(sg.linalg.solve(A, b * b), b)]
    f = sg.function([A, b], outputs, backend=backend, optimizer={"exclude": ["linalg"]})
    J_solve, J_tri, J_inv, J_square = f(SPD, B)
    inverse = np.linalg.inv(SPD)
    np.testing.assert_allclose(J_solve, inverse, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(J_tri, np.linalg.inv(np.linalg.cholesky(SPD)), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(J_inv, inverse, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(J_square, inverse * (2 * B)[None, :], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("backend", ["python", "numba"])
def test_hessian_of_a_log_determinant_and_eigenvalues_with_dynamic_lengths(backend):
    x = sg.vector("x")
    A = sg.outer(x, x) + 3.0 * sg.eye(x.shape[0])
    logdet = sg.linalg.slogdet(A)[1]
    spread = sg.sum(sg.linalg.eigvalsh(A) ** 2)
    f = sg.function([x], [sg.hessian(logdet, x), sg.hessian(spread, x)], backend=backend)
    xv = np.array([0.3, -0.5, 0.8])
    H_logdet, H_spread = f(xv)
    # log det(3 I + x x^T) = 3 log 3 ... + log(1 + |x|^2 / 3): its Hessian in closed form
    s = 1 + xv @ xv / 3
    expected = (2 / 3) * np.eye(3) / s - (4 / 9) * np.outer(xv, xv) / s ** 2
    np.testing.assert_allclose(H_logdet, expected, rtol=1e-9, atol=1e-12)
    # sum of squared eigenvalues = |A|_F^2 = |x|^4 + 6 |x|^2 + 27 (n = 3): Hessian 4|x|^2 I + 8 x x^T + 12 I
    r2 = xv @ xv
    np.testing.assert_allclose(H_spread, (4 * r2 + 12) * np.eye(3) + 8 * np.outer(xv, xv), rtol=1e-9, atol=1e-10)
