"""Smoke tests of examples/: each script runs as a user would run it, and what it prints is checked
against numbers computed here independently (NumPy, SymPy, SciPy), never against copied output."""
import ast
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sympy

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
# The first compile of each function by the numba backend takes seconds; leave room on a busy machine.
TIMEOUT = 600


def run_example(name, *args):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.setdefault("MPLBACKEND", "Agg")
    result = subprocess.run([sys.executable, str(EXAMPLES / name), *map(str, args)], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 0, f"{name} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"


def values(text):
    """Lines 'name = number' as a dict (later lines win)."""
    return {m.group(1): float(m.group(2))
            for m in re.finditer(rf"^(\S+)\s*= ({NUMBER})\s*$", text, flags=re.M)}


def sections(text):
    return {part.split("\n", 1)[0].strip(): part for part in text.split("\n== ")[1:]}


def close(a, b, rtol=1e-8):
    return math.isclose(a, b, rel_tol=rtol, abs_tol=1e-12)


# ---------------------------------------------------------------- calculus.py

def check_formula(section, name, symbols, point, expected):
    """The printed derivative formula, parsed by SymPy, evaluated at ``point``, equals ``expected``."""
    match = re.search(rf"^{re.escape(name)} = (.+?)\s+\(SymPy's diff agrees: True\)$", section, flags=re.M)
    assert match, f"no formula for {name} in:\n{section}"
    formula = sympy.sympify(match.group(1), locals={s: sympy.Symbol(s) for s in symbols})
    value = float(formula.subs({sympy.Symbol(s): v for s, v in point.items()}))
    assert close(value, expected, 1e-9), (name, value, expected)


def test_calculus():
    out = run_example("calculus.py")
    assert "agrees: False" not in out
    assert out.count("agrees: True") == 2 + 1 + 3 + 5
    parts = sections(out)
    assert len(parts) == 4

    quiz = next(p for t, p in parts.items() if t.startswith("quiz"))
    x, z = 2.0, 3.0
    got = values(quiz)
    assert close(got["y"], math.exp(x * z) + x * z / math.log(x) + math.sin(math.log(x)) / (x * z))
    X, Z = sympy.symbols("x z")
    y = sympy.exp(X * Z) + X * Z / sympy.log(X) + sympy.sin(sympy.log(X)) / (X * Z)
    for name, symbol in (("dy/dx", X), ("dy/dz", Z)):
        expected = float(sympy.diff(y, symbol).subs({X: x, Z: z}))
        assert close(got[name], expected), name
        check_formula(quiz, name, "xz", {"x": x, "z": z}, expected)

    chain = next(p for t, p in parts.items() if t.startswith("chain"))
    got, x = values(chain), 0.5
    assert close(got["J"], math.cos(math.sin(x ** 2) + 3 * x ** 2))
    expected = -math.sin(math.sin(x ** 2) + 3 * x ** 2) * (2 * x * math.cos(x ** 2) + 6 * x)
    assert close(got["dJ/dx"], expected)
    check_formula(chain, "dJ/dx", "x", {"x": x}, expected)

    circuit = next(p for t, p in parts.items() if t.startswith("circuit"))
    got, (x, y, z) = values(circuit), (-2.0, 5.0, -4.0)
    assert (got["f"], got["df/dx"], got["df/dy"], got["df/dz"]) == ((x + y) * z, z, z, x + y)

    neuron = next(p for t, p in parts.items() if t.startswith("sigmoid"))
    got = values(neuron)
    w, inputs = np.array([2.0, -3.0, -3.0]), np.array([-1.0, -2.0, 1.0])
    f = 1 / (1 + np.exp(-w @ inputs))
    local = f * (1 - f)
    assert close(got["f"], f)
    for i in range(3):
        assert close(got[f"df/dw{i}"], local * inputs[i])
    for i in range(2):
        assert close(got[f"df/dx{i}"], local * w[i])


# ---------------------------------------------------------------- fig_6_10.py

def test_fig_6_10(tmp_path):
    picture = tmp_path / "fig.png"
    out = run_example("fig_6_10.py", "--out", picture)
    got, w = values(out), 0.7
    assert close(got["z"], math.sin(math.sin(w)))
    assert close(got["dz/dw"], math.cos(math.sin(w)) * math.cos(w))
    W = sympy.Symbol("w")
    assert close(got["d2z/dw2"], float(sympy.diff(sympy.sin(sympy.sin(W)), W, 2).subs(W, w)))
    counts = re.search(r"forward graph: (\d+) nodes; with the gradient: (\d+) nodes", out)
    assert int(counts.group(1)) == 2 and int(counts.group(2)) > 2
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------- two_layer_sgd.py

def listed(text, name):
    match = re.search(rf"^{re.escape(name)} = (\[.*\])$", text, flags=re.M)
    assert match, f"{name} not printed"
    return np.array(ast.literal_eval(match.group(1)))


def test_two_layer_sgd():
    out = run_example("two_layer_sgd.py")
    W1, b1 = np.array([[0.15, 0.20], [0.25, 0.30]]), np.array([0.35, 0.35])
    W2, b2 = np.array([[0.40, 0.45], [0.50, 0.55]]), np.array([0.60, 0.60])
    x, t, lr = np.array([0.05, 0.10]), np.array([0.01, 0.99]), 0.7
    sigmoid = lambda a: 1 / (1 + np.exp(-a))  # noqa: E731
    h = sigmoid(W1 @ x + b1)
    o = sigmoid(W2 @ h + b2)
    loss = 0.5 * np.sum((t - o) ** 2)
    delta_o = (o - t) * o * (1 - o)                 # backpropagation by hand
    delta_h = (W2.T @ delta_o) * h * (1 - h)
    grads = {"W1": np.outer(delta_h, x), "b1": delta_h, "W2": np.outer(delta_o, h), "b2": delta_o}
    before, after = out.split("one SGD step")
    np.testing.assert_allclose(listed(before, "hidden"), h, atol=1e-8)
    np.testing.assert_allclose(listed(before, "output"), o, atol=1e-8)
    assert close(values(before)["loss"], loss, 1e-9)
    for name, g in grads.items():
        np.testing.assert_allclose(listed(before, f"dE/d{name}"), g, atol=1e-8)
    for name, p in {"W1": W1, "b1": b1, "W2": W2, "b2": b2}.items():
        np.testing.assert_allclose(listed(after, name), p - lr * grads[name], atol=1e-8)
    loss_after = float(re.search(rf"loss after the step = ({NUMBER})", after).group(1))
    assert loss_after < loss


# ---------------------------------------------------------------- xor.py

def test_xor():
    out = run_example("xor.py")
    book, trained = out.split("training from random weights")
    W, c, w, b = np.ones((2, 2)), np.array([0.0, -1.0]), np.array([1.0, -2.0]), 0.0
    printed = [float(v) for v in re.findall(rf"f\(x\) = ({NUMBER})", book)]
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
    np.testing.assert_allclose(printed, np.maximum(0, X @ W + c) @ w + b)
    np.testing.assert_allclose(printed, [0, 1, 1, 0])
    final = np.array(ast.literal_eval(re.search(r"XOR solved: f\(X\) = (\[.*\])", trained).group(1)))
    assert np.max(np.abs(final - [0, 1, 1, 0])) < 0.05


# ---------------------------------------------------------------- digits_mlp.py

def digits_run(tmp_path, *args):
    curve = tmp_path / "curve.png"
    out = run_example("digits_mlp.py", "--quiet", "--out", curve, *args)
    accuracy = float(re.search(rf"test accuracy: ({NUMBER})", out).group(1))
    assert re.search(rf"compiled the training step and the accuracy in {NUMBER} s", out)
    assert re.search(rf"{NUMBER} ms per step", out)
    assert curve.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and curve.stat().st_size > 10_000
    return accuracy


def test_digits_mlp_few_epochs(tmp_path):
    assert digits_run(tmp_path, "--epochs", 4) >= 0.90


@pytest.mark.slow
def test_digits_mlp_full_run_reaches_97_percent(tmp_path):
    assert digits_run(tmp_path) >= 0.97


# ---------------------------------------------------------------- cnn_digits.py

def numpy_cnn_logits(weights, x):
    """The CNN of cnn_digits.py in float64 NumPy, written as loops over the 3x3 taps: (n, 64) -> (n, 10)."""
    def conv3x3_same(images, kernels, bias):             # (n, c, 8, 8), (o, c, 3, 3) -> (n, o, 8, 8)
        padded = np.pad(images, ((0, 0), (0, 0), (1, 1), (1, 1)))
        n, _, h, w = images.shape
        out = np.zeros((n, kernels.shape[0], h, w))
        for i in range(3):
            for j in range(3):
                out += np.einsum("nchw,oc->nohw", padded[:, :, i:i + h, j:j + w], kernels[:, :, i, j])
        return out + bias[None, :, None, None]

    def relu_pool(a):                                   # ReLU, then the maximum of each 2x2 block
        n, c, h, w = a.shape
        return np.maximum(a, 0).reshape(n, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))

    w = {k: v.astype(np.float64) for k, v in weights.items()}
    h = relu_pool(conv3x3_same(x.reshape(-1, 1, 8, 8), w["K1"], w["k1"]))
    h = relu_pool(conv3x3_same(h, w["K2"], w["k2"]))
    return h.reshape(len(x), -1) @ w["W"] + w["b"]


def cnn_digits_run(tmp_path, *args):
    """Runs cnn_digits.py; returns the printed (CNN, MLP) test accuracies, the CNN's test accuracy recomputed
    here with NumPy from its saved weights, and the weights."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    picture, saved = tmp_path / "cnn.png", tmp_path / "cnn.npz"
    out = run_example("cnn_digits.py", "--quiet", "--out", picture, "--save", saved, *args)
    assert re.search(rf"CNN: compiled the training step and the accuracy in {NUMBER} s", out)
    assert re.search(rf"CNN: trained \d+ epochs, \d+ steps: {NUMBER} ms per step", out)
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and picture.stat().st_size > 10_000
    printed = {name: float(re.search(rf"^{name} test accuracy: ({NUMBER}) \(\d+/360\)$", out, flags=re.M).group(1))
               for name in ("CNN", "MLP")}
    digits = load_digits()
    _, x_test, _, y_test = train_test_split(digits.data / 16.0, digits.target, test_size=0.2,
                                            stratify=digits.target, random_state=0)
    weights = dict(np.load(saved))
    assert weights["K1"].shape == (16, 1, 3, 3) and weights["K2"].shape == (32, 16, 3, 3)
    recomputed = float(np.mean(np.argmax(numpy_cnn_logits(weights, x_test), axis=1) == y_test))
    return printed["CNN"], printed["MLP"], recomputed, weights


def test_cnn_digits_few_epochs(tmp_path, monkeypatch):
    # The python backend (NumPy, no JIT): a few seconds, where the numba backend first compiles the
    # convolutions' kernels for longer than this whole run (the full run below uses the default backend).
    monkeypatch.setenv("SYMGRAPH_BACKEND", "python")
    cnn, mlp, recomputed, weights = cnn_digits_run(tmp_path, "--epochs", 5)
    assert abs(recomputed - cnn) <= 1.5 / 360          # the printed accuracy is the saved network's
    assert cnn >= 0.95 and mlp >= 0.9
    assert all(np.isfinite(v).all() for v in weights.values())


@pytest.mark.slow
def test_cnn_digits_full_run_beats_the_mlp(tmp_path):
    cnn, mlp, recomputed, _ = cnn_digits_run(tmp_path)
    assert abs(recomputed - cnn) <= 1.5 / 360
    assert cnn >= 0.985 and cnn > mlp


# ---------------------------------------------------------------- newton.py

def test_newton():
    from scipy.optimize import minimize
    from sklearn.datasets import load_breast_cancer

    out = run_example("newton.py")
    data = load_breast_cancer()
    features = (data.data - data.data.mean(axis=0)) / data.data.std(axis=0)
    X = np.hstack([features, np.ones((len(features), 1))])
    y = data.target.astype(float)
    lam = float(re.search(rf"L2 regularisation ({NUMBER})", out).group(1))

    def loss_and_gradient(w):
        s = X @ w
        p = 1 / (1 + np.exp(-s))
        return (np.mean(np.logaddexp(0, s) - y * s) + 0.5 * lam * w @ w,
                X.T @ (p - y) / len(y) + lam * w)

    reference = minimize(loss_and_gradient, np.zeros(X.shape[1]), jac=True, method="L-BFGS-B",
                         options={"gtol": 1e-12, "ftol": 1e-15, "maxiter": 10000})
    match = re.search(rf"newton converged in (\d+) iterations: loss ({NUMBER})", out)
    iterations, newton_loss = int(match.group(1)), float(match.group(2))
    assert iterations <= 12
    assert abs(newton_loss - reference.fun) < 1e-9
    last_gradient = float(re.findall(rf"newton iteration \d+: loss {NUMBER}\s+\|gradient\| ({NUMBER})", out)[-1])
    assert last_gradient < 1e-9
    gd_loss = float(re.search(rf"gradient descent step 100: loss ({NUMBER})", out).group(1))
    assert gd_loss - newton_loss > 1e-4           # a hundred gradient steps are far behind Newton's handful


# ---------------------------------------------------------------- inspect_graph.py

def test_inspect_graph(tmp_path):
    out = run_example("inspect_graph.py", "--out-dir", tmp_path)
    before = int(re.search(r"nodes before optimisation: (\d+)", out).group(1))
    after = int(re.search(r"nodes after optimisation: (\d+)", out).group(1))
    assert after < before
    assert "rewrites, in order:" in out and "log_softmax" in out
    differences = [float(v) for v in re.findall(rf"max \|optimized - .*?\|.*?: ({NUMBER})", out)]
    assert len(differences) == 2 and max(differences) < 1e-12
    assert "optimized finite True" in out
    for name in ("gradient_before.svg", "gradient_after.svg"):
        svg = (tmp_path / name).read_text()
        assert "<svg" in svg and "softmax" in svg
    page = (tmp_path / "gradient_viewer.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "log_softmax" in page and "as built" in page


# ---------------------------------------------------------------- rnn_sine.py

def test_rnn_sine(tmp_path):
    """The default training; the continuation the compiled scans printed is recomputed here with a NumPy loop
    from the saved weights, and it must beat predicting zero."""
    saved = tmp_path / "rnn.npz"
    out = run_example("rnn_sine.py", "--quiet", "--save", saved, "--out", tmp_path / "rnn.png")
    got = values(out)
    assert got["final_training_loss"] < 4 * got["noise_floor"]
    data = np.load(saved)
    W, U, b, V, c = (data[k].astype(np.float64) for k in ("W", "U", "b", "V", "c"))
    h = np.zeros((1, W.shape[0]))
    for x in data["seen"]:
        h = np.tanh(h @ W + x * U + b)
    x = h @ V + c
    guess = [x[0, 0]]
    for _ in range(len(data["guess"]) - 1):
        h = np.tanh(h @ W + x @ U + b)
        x = h @ V + c
        guess.append(x[0, 0])
    np.testing.assert_allclose(data["guess"], guess, atol=2e-4)
    mse = float(np.mean((np.array(guess[:40]) - data["truth"][:40]) ** 2))
    assert math.isclose(got["continuation_mse_first_40"], mse, rel_tol=1e-3, abs_tol=1e-5)
    assert mse < 0.5 * got["zero_prediction_mse_first_40"]
    assert (tmp_path / "rnn.png").stat().st_size > 10_000


# ---------------------------------------------------------------- vae_digits.py

def test_vae_digits(tmp_path):
    """A short training; the printed KL and reconstruction terms of the test ELBO are recomputed here with
    NumPy from the saved weights (the KL exactly, the reconstruction by Monte Carlo over many draws)."""
    from scipy.special import entr, expit
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    saved, picture = tmp_path / "vae.npz", tmp_path / "vae.png"
    out = run_example("vae_digits.py", "--epochs", 3, "--quiet", "--save", saved, "--out", picture)
    got = values(out)
    names = ("initial_nelbo", "train_nelbo", "test_nelbo", "test_reconstruction", "test_kl",
             "test_reconstruction_floor", "eval_draws")
    assert all(math.isfinite(got[name]) for name in names), got
    # the two terms add up to the total (each printed to 4 decimals)
    assert abs(got["test_reconstruction"] + got["test_kl"] - got["test_nelbo"]) < 3e-4
    # training helped, on the training and the test images
    assert got["test_nelbo"] < got["initial_nelbo"] - 2
    assert got["train_nelbo"] < got["initial_nelbo"] - 2

    digits = load_digits()
    _, x = train_test_split(digits.data / 16.0, test_size=0.2, stratify=digits.target, random_state=0)
    floor = float((entr(x) + entr(1 - x)).sum(axis=1).mean())
    assert math.isclose(got["test_reconstruction_floor"], floor, rel_tol=1e-5)
    assert got["test_reconstruction"] > floor + 1 and got["test_kl"] > 0.1

    w = {k: v.astype(np.float64) for k, v in np.load(saved).items()}
    h = np.tanh(x @ w["W_enc"] + w["b_enc"])
    mu, logvar = h @ w["W_mu"] + w["b_mu"], h @ w["W_logvar"] + w["b_logvar"]
    kl = float(np.mean(-0.5 * np.sum(1 + logvar - mu ** 2 - np.exp(logvar), axis=1)))
    assert math.isclose(got["test_kl"], kl, rel_tol=1e-3, abs_tol=2e-4), (got["test_kl"], kl)

    rng = np.random.default_rng(1)
    per_draw = []
    for _ in range(400):
        z = mu + np.exp(0.5 * logvar) * rng.standard_normal(mu.shape)
        logits = np.tanh(z @ w["W_dec"] + w["b_dec"]) @ w["W_out"] + w["b_out"]
        per_draw.append(np.mean(np.sum(np.logaddexp(0, logits) - x * logits, axis=1)))
    expected, spread = float(np.mean(per_draw)), float(np.std(per_draw))
    tolerance = 5 * spread / math.sqrt(got["eval_draws"]) + 5 * spread / math.sqrt(len(per_draw)) + 1e-3
    assert abs(got["test_reconstruction"] - expected) < tolerance, (got["test_reconstruction"], expected, tolerance)

    samples = w["samples"]
    assert samples.shape == (100, 64) and ((samples > 0) & (samples < 1)).all()
    assert np.std(samples, axis=0).mean() > 0.02             # different codes, different digits
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and picture.stat().st_size > 10_000


# ---------------------------------------------------------------- gp_diabetes.py

def test_gp_diabetes(tmp_path):
    from sklearn.datasets import load_diabetes
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

    out = run_example("gp_diabetes.py", "--quiet", "--out", tmp_path / "gp.png")
    v = values(out)
    data = load_diabetes()
    x = (data.data[:, 2] - data.data[:, 2].mean()) / data.data[:, 2].std()
    y = (data.target - data.target.mean()) / data.target.std()

    def nll(t):
        lengthscale, signal, noise = np.exp(t)
        K = signal * np.exp(-0.5 * (x[:, None] - x[None, :]) ** 2 / lengthscale ** 2) + noise * np.eye(len(x))
        L = np.linalg.cholesky(K)
        alpha = np.linalg.solve(K, y)
        return 0.5 * y @ alpha + np.log(np.diag(L)).sum() + 0.5 * len(x) * np.log(2 * np.pi)

    t = np.log([v["lengthscale"], v["signal_variance"], v["noise_variance"]])
    assert nll(t) == pytest.approx(v["fitted_nll"], abs=1e-5)
    assert nll([0.0, 0.0, np.log(0.5)]) == pytest.approx(v["initial_nll"], abs=1e-5)
    steps = 1e-4 * np.eye(3)
    numeric_gradient = [(nll(t + e) - nll(t - e)) / 2e-4 for e in steps]
    assert np.abs(numeric_gradient).max() < 1e-4 and v["gradient_norm"] < 1e-6
    # scikit-learn's own maximisation of the same likelihood (its optimizer, its gradient) lands there too
    kernel = ConstantKernel(1.0) * RBF(1.0) + WhiteKernel(0.5)
    reference = GaussianProcessRegressor(kernel, optimizer="fmin_l_bfgs_b", n_restarts_optimizer=2,
                                         random_state=0).fit(x[:, None], y)
    assert -reference.log_marginal_likelihood_value_ >= v["fitted_nll"] - 1e-4
    assert -reference.log_marginal_likelihood_value_ == pytest.approx(v["fitted_nll"], abs=1e-3)
    assert 0.9 < v["coverage"] <= 1.0 and (tmp_path / "gp.png").stat().st_size > 10_000


# ---------------------------------------------------------------- dask_training.py

def test_dask_training_on_a_local_cluster():
    # Two worker processes, the shards read from files on the workers; then the same steps on one machine.
    out = run_example("dask_training.py", "--quiet", "--epochs", 2, "--from-files")
    assert re.search(r"cluster: 2 workers", out) and re.search(r"trained 2 epochs, 44 steps on 2 workers", out)
    assert float(re.search(rf"test accuracy: ({NUMBER})", out).group(1)) >= 0.85
    assert float(re.search(rf"from the same steps on one machine: ({NUMBER})", out).group(1)) < 1e-4
