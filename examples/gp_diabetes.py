"""A Gaussian process fits its hyperparameters on scikit-learn's diabetes data: disease progression
against body-mass index (442 patients, shipped with scikit-learn, no download).

The negative log marginal likelihood of a GP with an RBF kernel plus noise,

    nll(theta) = 1/2 y^T K^-1 y + 1/2 log det K + n/2 log 2 pi,   K = s exp(-|x - x'|^2 / (2 l^2)) + v I,

is one symbolic graph through ``sg.linalg.cholesky`` and ``sg.linalg.cho_solve``; its gradient and its
Hessian with respect to theta = (log l, log s, log v) are ``sg.grad`` and ``sg.hessian`` of it, compiled
with it. Newton's method with a backtracking line search (on the exact Hessian, damped when it is not
positive definite) finds the hyperparameters; then a second compiled function computes the posterior mean
and variance on a grid (``sg.linalg.solve_triangular``). Writes a plot of the data, the posterior mean and
its 95% band.

    python examples/gp_diabetes.py [--out examples/output/gp_diabetes.png] [--quiet]
"""
import argparse
from pathlib import Path

import numpy as np
from sklearn.datasets import load_diabetes

import symgraph as sg

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--iterations", type=int, default=30, help="at most this many Newton steps")
parser.add_argument("--out", type=Path, default=Path(__file__).parent / "output" / "gp_diabetes.png")
parser.add_argument("--quiet", action="store_true", help="no per-step lines")
args = parser.parse_args()

# ---- data: body-mass index (standardised) against disease progression (standardised)
data = load_diabetes()
x_raw, y_raw = data.data[:, 2], data.target.astype(np.float64)
x_value = ((x_raw - x_raw.mean()) / x_raw.std())[:, None]
y_value = (y_raw - y_raw.mean()) / y_raw.std()
n = len(y_value)
print(f"diabetes: {n} patients, body-mass index -> disease progression (both standardised)")

# ---- the model, symbolically
X, y, theta = sg.matrix("X"), sg.vector("y"), sg.vector("theta", shape=(3,))
lengthscale, signal, noise = sg.exp(theta[0]), sg.exp(theta[1]), sg.exp(theta[2])


def rbf(A, B):
    """The RBF kernel matrix between the rows of A and B."""
    distances = sg.expand_dims(sg.sum(A * A, axis=1), 1) + sg.expand_dims(sg.sum(B * B, axis=1), 0) - 2.0 * (A @ B.T)
    return signal * sg.exp(-0.5 * distances / lengthscale ** 2)


K = rbf(X, X) + noise * sg.eye(X.shape[0])
L = sg.linalg.cholesky(K)
alpha = sg.linalg.cho_solve((L, True), y)
size = sg.cast(X.shape[0], "float64")
nll = 0.5 * sg.dot(y, alpha) + sg.sum(sg.log(sg.diag(L))) + 0.5 * size * np.log(2 * np.pi)
objective = sg.function([X, y, theta], [nll, sg.grad(nll, theta), sg.hessian(nll, theta)])

grid = sg.matrix("grid")
K_cross = rbf(X, grid)
v = sg.linalg.solve_triangular(L, K_cross, lower=True)
mean = K_cross.T @ alpha
variance = signal - sg.sum(v * v, axis=0)
posterior = sg.function([X, y, theta, grid], [mean, variance])

# ---- Newton's method on the exact Hessian, with a backtracking line search
t = np.array([0.0, 0.0, np.log(0.5)])          # l = 1, s = 1, v = 0.5
value, gradient, hessian = objective(x_value, y_value, t)
print(f"initial_nll = {value:.6f}")
for step in range(args.iterations):
    eigenvalues = np.linalg.eigvalsh(hessian)
    shift = max(0.0, 1e-6 - eigenvalues.min())          # damped when the Hessian is not positive definite
    direction = -np.linalg.solve(hessian + shift * np.eye(3), gradient)
    direction *= min(1.0, 2.0 / np.abs(direction).max())   # at most a factor e**2 per hyperparameter and step
    rate = 1.0
    while True:
        candidate = t + rate * direction
        try:
            new_value, new_gradient, new_hessian = objective(x_value, y_value, candidate)
        except np.linalg.LinAlgError:                       # K not positive definite in floating point
            new_value = np.inf
        if new_value <= value + 1e-4 * rate * gradient @ direction or rate < 1e-8:
            break
        rate *= 0.5
    t, value, gradient, hessian = candidate, new_value, new_gradient, new_hessian
    if not args.quiet:
        print(f"step {step + 1:2d}: nll {value:.8f}, |gradient| {np.abs(gradient).max():.2e}, step size {rate:g}")
    if np.abs(gradient).max() < 1e-8:
        break
print(f"newton_steps = {step + 1}")
print(f"fitted_nll = {value:.8f}")
print(f"gradient_norm = {np.abs(gradient).max():.3e}")
print(f"min_hessian_eigenvalue = {np.linalg.eigvalsh(hessian).min():.6f}")
for name, number in zip(("lengthscale", "signal_variance", "noise_variance"), np.exp(t)):
    print(f"{name} = {number:.8f}")

# ---- the posterior on a grid, and a plot
xs = np.linspace(x_value.min() - 0.5, x_value.max() + 0.5, 200)[:, None]
mu, var = posterior(x_value, y_value, t, xs)
sd = np.sqrt(np.maximum(var, 0.0) + np.exp(t[2]))        # the band of a new observation: noise included
inside = np.abs(y_value - np.interp(x_value[:, 0], xs[:, 0], mu)) <= 1.96 * np.interp(x_value[:, 0], xs[:, 0], sd)
print(f"coverage = {inside.mean():.4f}")

import matplotlib                                        # noqa: E402
matplotlib.use("Agg")
import matplotlib.pyplot as plt                          # noqa: E402

fig, ax = plt.subplots(figsize=(8, 5))
ax.scatter(x_value[:, 0], y_value, s=8, color="0.4", label="patients")
ax.plot(xs[:, 0], mu, color="C0", label="posterior mean")
ax.fill_between(xs[:, 0], mu - 1.96 * sd, mu + 1.96 * sd, color="C0", alpha=0.2, label="95% band (new patient)")
ax.set_xlabel("body-mass index (standardised)")
ax.set_ylabel("disease progression after one year (standardised)")
ax.set_title(f"GP fit by Newton's method on sg.hessian: l={np.exp(t[0]):.2f}, s={np.exp(t[1]):.2f}, "
             f"v={np.exp(t[2]):.2f}")
ax.legend(loc="upper left")
args.out.parent.mkdir(parents=True, exist_ok=True)
fig.tight_layout()
fig.savefig(args.out, dpi=100)
print(f"wrote {args.out}")
