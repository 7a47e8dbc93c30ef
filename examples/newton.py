"""Second-order optimisation: Newton's method on logistic regression, with the Hessian from sg.hessian.

The breast-cancer data set that ships with scikit-learn (569 cases, 30 features,
standardised, plus an intercept), an L2-regularised logistic loss. One compiled
function returns the loss, its gradient and its Hessian (the gradient graph
differentiated again) and Newton's step w <- w - H^-1 g, solved inside the graph
(``sg.linalg.solve`` with ``assume_a="pos"``: the Hessian of this loss is positive
definite, so the solve goes through its Cholesky factor). It converges in about ten
iterations, where a thousand steps of gradient descent with a safe step size are still far off.

    python examples/newton.py
"""
import numpy as np
from sklearn.datasets import load_breast_cancer

import symgraph as sg

data = load_breast_cancer()
features = (data.data - data.data.mean(axis=0)) / data.data.std(axis=0)
design = np.hstack([features, np.ones((len(features), 1))])     # the last weight is the intercept
targets = data.target.astype(np.float64)
n_cases, n_weights = design.shape
REGULARISATION = 0.001

X, y = sg.matrix("X"), sg.vector("y")
w = sg.vector("w")       # any length: the Hessian takes its size from w at call time
scores = X @ w
# -log-likelihood of Bernoulli(sigmoid(score)), written stably: softplus(s) - y s.
loss = (sg.softplus(scores) - y * scores).mean() + 0.5 * REGULARISATION * (w * w).sum()
gradient = sg.grad(loss, w)
hessian = sg.hessian(loss, w)
newton_step = w - sg.linalg.solve(hessian, gradient, assume_a="pos")
loss_gradient_hessian = sg.function([X, y, w], [loss, gradient, hessian, newton_step])
loss_gradient = sg.function([X, y, w], [loss, gradient])
print(f"logistic regression on {n_cases} cases, {n_weights} weights (intercept included), "
      f"L2 regularisation {REGULARISATION}")

print("\nNewton's method: w <- w - H^-1 g")
weights = np.zeros(n_weights)
for iteration in range(1, 21):
    value, g, H, weights = loss_gradient_hessian(design, targets, weights)
    gradient_norm = float(np.linalg.norm(loss_gradient(design, targets, weights)[1]))
    print(f"newton iteration {iteration}: loss {float(loss_gradient(design, targets, weights)[0]):.12f}  "
          f"|gradient| {gradient_norm:.3e}")
    if gradient_norm < 1e-10:
        break
newton_loss, newton_iterations = float(loss_gradient(design, targets, weights)[0]), iteration
accuracy = np.mean((design @ weights > 0) == (targets > 0.5))
print(f"newton converged in {newton_iterations} iterations: loss {newton_loss:.12f}, "
      f"training accuracy {accuracy:.4f}")
eigenvalues = np.linalg.eigvalsh(H)
print(f"Hessian at the solution: symmetric {np.allclose(H, H.T)}, eigenvalues in "
      f"[{eigenvalues.min():.4g}, {eigenvalues.max():.4g}]")

# The Hessian is largest at w = 0 (sigmoid' <= 1/4 peaks there): its top eigenvalue L bounds the
# curvature everywhere, so 1/L is the classic safe step for gradient descent.
curvature_bound = np.linalg.eigvalsh(loss_gradient_hessian(design, targets, np.zeros(n_weights))[2]).max()
print(f"\ngradient descent: w <- w - g / L, L = {curvature_bound:.4g} (the largest curvature, at w = 0)")
step_size = 1.0 / curvature_bound
weights = np.zeros(n_weights)
checkpoints = {10, 100, 1000}
for step in range(1, max(checkpoints) + 1):
    value, g = loss_gradient(design, targets, weights)
    weights = weights - step_size * g
    if step in checkpoints:
        value, g = loss_gradient(design, targets, weights)
        print(f"gradient descent step {step}: loss {float(value):.12f}  gap to Newton's "
              f"{float(value) - newton_loss:.3e}  |gradient| {np.linalg.norm(g):.3e}")
