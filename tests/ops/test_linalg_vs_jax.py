"""sg.linalg's first and second derivatives against JAX's (float64), on the python and numba backends.

JAX is not a test dependency: these run where it is installed (``pip install -e ".[bench]"``) and are skipped
elsewhere; tests/ops/test_factor.py and test_spectral.py check the same derivatives against finite
differences everywhere.
"""
import numpy as np
import pytest

import symgraph as sg

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy

N = 4
RNG = np.random.default_rng(11)
W = RNG.standard_normal((N, N))
B = RNG.standard_normal((N, 2))


def _spd_sg(x):
    return sg.matmul(x, x.T) + N * sg.eye(N)


def _spd_jax(x):
    return x @ x.T + N * jnp.eye(N)


# name: (symgraph cost of a matrix X, the same cost in JAX)
CASES = {
    "inv": (lambda x: sg.sum(sg.linalg.inv(x + N * sg.eye(N)) * W),
            lambda x: jnp.sum(jnp.linalg.inv(x + N * jnp.eye(N)) * W)),
    "solve": (lambda x: sg.sum(sg.linalg.solve(x + N * sg.eye(N), B) ** 2),
              lambda x: jnp.sum(jnp.linalg.solve(x + N * jnp.eye(N), B) ** 2)),
    "solve_pos": (lambda x: sg.sum(sg.linalg.solve(_spd_sg(x), B, assume_a="pos") ** 2),
                  lambda x: jnp.sum(jax.scipy.linalg.solve(_spd_jax(x), B, assume_a="pos") ** 2)),
    "solve_triangular": (lambda x: sg.sum(sg.linalg.solve_triangular(x + N * sg.eye(N), B, lower=True) ** 2),
                         lambda x: jnp.sum(jax.scipy.linalg.solve_triangular(x + N * jnp.eye(N), B,
                                                                             lower=True) ** 2)),
    "cholesky": (lambda x: sg.sum(sg.linalg.cholesky(_spd_sg(x)) * W),
                 lambda x: jnp.sum(jnp.linalg.cholesky(_spd_jax(x)) * W)),
    "cho_solve": (lambda x: sg.sum(sg.linalg.cho_solve((sg.linalg.cholesky(_spd_sg(x)), True), B) * B),
                  lambda x: jnp.sum(jax.scipy.linalg.cho_solve((jnp.linalg.cholesky(_spd_jax(x)), True), B) * B)),
    "det": (lambda x: sg.linalg.det(x + N * sg.eye(N)), lambda x: jnp.linalg.det(x + N * jnp.eye(N))),
    "slogdet": (lambda x: sg.linalg.slogdet(x + N * sg.eye(N))[1],
                lambda x: jnp.linalg.slogdet(x + N * jnp.eye(N))[1]),
    "eigvalsh": (lambda x: sg.sum(sg.linalg.eigvalsh(_spd_sg(x)) * np.arange(1.0, N + 1)),
                 lambda x: jnp.sum(jnp.linalg.eigvalsh(_spd_jax(x)) * jnp.arange(1.0, N + 1))),
    # eigenvectors enter through a sign-invariant quantity: the squared components
    "eigh_vectors": (lambda x: sg.sum(sg.linalg.eigh(_spd_sg(x))[1] ** 2 * W),
                     lambda x: jnp.sum(jnp.linalg.eigh(_spd_jax(x))[1] ** 2 * W)),
    "svdvals": (lambda x: sg.sum(sg.linalg.svdvals(x) * np.arange(1.0, N + 1)),
                lambda x: jnp.sum(jnp.linalg.svd(x, compute_uv=False) * jnp.arange(1.0, N + 1))),
    "svd_vectors": (lambda x: sg.sum(sg.linalg.svd(x)[0] ** 2 * W),
                    lambda x: jnp.sum(jnp.linalg.svd(x)[0] ** 2 * W)),
    "qr": (lambda x: sg.sum(sg.abs(sg.linalg.qr(x)[1]) * W), lambda x: jnp.sum(jnp.abs(jnp.linalg.qr(x)[1]) * W)),
    "pinv": (lambda x: sg.sum(sg.linalg.pinv(x[:, :3]) * W[:3]),
             lambda x: jnp.sum(jnp.linalg.pinv(x[:, :3]) * W[:3])),
    "matrix_power": (lambda x: sg.sum(sg.linalg.matrix_power(x, 3) * W),
                     lambda x: jnp.sum(jnp.linalg.matrix_power(x, 3) * W)),
}


@pytest.mark.parametrize("backend", ["python", "numba"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_gradient_and_hessian_match_jax(case, backend):
    ours, theirs = CASES[case]
    x0 = np.random.default_rng(5).standard_normal((N, N))
    X = sg.matrix("X")
    cost = ours(X)
    gradient = sg.grad(cost, X)
    # the Hessian along one direction: the gradient of <gradient, V>
    V = np.random.default_rng(6).standard_normal((N, N))
    hessian_v = sg.grad(sg.sum(gradient * V), X)
    f = sg.function([X], [cost, gradient, hessian_v], backend=backend)
    value, g, hv = f(x0)
    want_value = theirs(x0)
    want_g = jax.grad(theirs)(x0)
    want_hv = jax.jvp(jax.grad(theirs), (x0,), (V,))[1]
    np.testing.assert_allclose(value, want_value, rtol=1e-10)
    np.testing.assert_allclose(g, want_g, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(hv, want_hv, rtol=1e-7, atol=1e-9)


def test_gaussian_process_hessian_in_the_hyperparameters_matches_jax_hessian():
    rng = np.random.default_rng(8)
    x = np.sort(rng.uniform(0, 5, 30))
    y = np.sin(x) + 0.1 * rng.standard_normal(30)
    d2 = (x[:, None] - x[None, :]) ** 2

    def nll_sg(theta):
        K = sg.exp(theta[0]) * sg.exp(-0.5 * d2 * sg.exp(-2 * theta[1])) + sg.exp(theta[2]) * sg.eye(30)
        L = sg.linalg.cholesky(K)
        alpha = sg.linalg.cho_solve((L, True), y)
        return 0.5 * sg.sum(y * alpha) + sg.sum(sg.log(sg.diag(L)))

    def nll_jax(theta):
        K = jnp.exp(theta[0]) * jnp.exp(-0.5 * d2 * jnp.exp(-2 * theta[1])) + jnp.exp(theta[2]) * jnp.eye(30)
        L = jnp.linalg.cholesky(K)
        alpha = jax.scipy.linalg.cho_solve((L, True), y)
        return 0.5 * jnp.sum(y * alpha) + jnp.sum(jnp.log(jnp.diag(L)))

    theta = sg.vector("theta")
    cost = nll_sg(theta)
    f = sg.function([theta], [cost, sg.grad(cost, theta), sg.hessian(cost, theta)], backend="numba")
    t0 = np.array([0.3, -0.2, -2.0])
    value, g, h = f(t0)
    np.testing.assert_allclose(value, nll_jax(t0), rtol=1e-10)
    np.testing.assert_allclose(g, jax.grad(nll_jax)(t0), rtol=1e-8)
    np.testing.assert_allclose(h, jax.hessian(nll_jax)(t0), rtol=1e-7)
