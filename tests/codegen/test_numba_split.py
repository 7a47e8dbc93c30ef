"""Very long kernels are split into several jitted parts (codegen/numba/split.py).

The thresholds are lowered here so ordinary graphs (an MLP training step with in-place
updates, indexing, a tape) go through the splitter, and every result must equal the
python backend; a check that fails inside a part still names the user's line.
"""
from __future__ import annotations

import sys

import numpy as np
import pytest

import symgraph as sg
from symgraph.codegen.numba import lower, split


@pytest.fixture
def tiny_parts(monkeypatch):
    monkeypatch.setattr(lower, "SPLIT_LINES", 20)
    monkeypatch.setattr(split, "PART_LINES", 15)


def mlp_step(backend):
    rng = np.random.default_rng(0)
    params = [sg.shared(rng.normal(size=(6, 5)) * 0.3, name="W1"), sg.shared(np.zeros(5), name="b1"),
              sg.shared(rng.normal(size=(5, 3)) * 0.3, name="W2"), sg.shared(np.zeros(3), name="b2")]
    W1, b1, W2, b2 = params
    X, labels = sg.matrix("X"), sg.vector("labels", "int32")
    hidden = sg.relu(X @ W1 + b1)
    logp = sg.log_softmax(hidden @ W2 + b2, axis=1)
    loss = -sg.mean(logp[sg.arange(labels.shape[0]), labels])
    grads = sg.grad(loss, params)
    step = sg.function([X, labels], [loss, hidden], updates=[(p, p - 0.1 * g) for p, g in zip(params, grads)],
                       backend=backend, cache=False)
    return step, params


def test_split_training_step_matches_python(tiny_parts):
    step, params = mlp_step("numba")
    reference, reference_params = mlp_step("python")
    assert step.source.count("def part") >= 3
    rng = np.random.default_rng(1)
    for _ in range(3):
        X = rng.normal(size=(8, 6))
        labels = rng.integers(0, 3, size=8).astype(np.int32)
        got, want = step(X, labels), reference(X, labels)
        np.testing.assert_allclose(got[0], want[0], rtol=1e-12)
        np.testing.assert_allclose(got[1], want[1], rtol=1e-12)
    for p, r in zip(params, reference_params):
        np.testing.assert_allclose(p.get_value(), r.get_value(), rtol=1e-12, atol=1e-15)


def test_failing_check_inside_a_part_names_the_user_line_and_changes_nothing(tiny_parts):
    step, params = mlp_step("numba")
    before = [p.get_value() for p in params]
    with pytest.raises(IndexError, match=r"built at .*test_numba_split\.py"):
        step(np.ones((4, 6)), np.array([0, 1, 2, 7], dtype=np.int32))   # label 7 is out of range
    for p, value in zip(params, before):
        np.testing.assert_array_equal(p.get_value(), value)


def test_split_long_vector_chain_with_indexing(tiny_parts):
    x = sg.vector("x")
    y = x
    for i in range(60):
        y = sg.sin(y) * 0.9 + y[i % 3] * 0.01 if i % 2 else y + 0.001 * (i % 7)
    cost = sg.sum(y)
    outputs = [cost, sg.grad(cost, x)]
    f = sg.function([x], outputs, cache=False)
    reference = sg.function([x], outputs, backend="python")
    assert "def part" in f.source
    values = np.linspace(-1, 1, 5)
    for got, want in zip(f(values), reference(values)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)


def test_names_read_before_written_become_arguments():
    lines = ["    a = x + 1", "    for i in range(3):", "        a += i", "    b = a * 2", "    c = b + a",
             "    return c"]
    parts, body = split.split_body(lines, ["x"], "PRANGE_ONLY")
    namespace = {"nb": type(sys)("nb"), "KernelCompiler": None}
    namespace["nb"].njit = lambda **options: (lambda function: function)
    source = "\n".join(parts) + "\ndef kernel(x):\n" + "\n".join(body) + "\n"
    exec(source, namespace)   # noqa: S102 - the test's own generated source
    assert namespace["kernel"](1) == (2 + 3) * 2 + 5


def test_a_name_reassigned_only_in_a_branch_is_passed_into_its_part(monkeypatch):
    """A part that may skip the branch must return the value from before it, not an unbound name."""
    import numba as nb
    monkeypatch.setattr(split, "PART_LINES", 1)
    body = ["    x = a + 1", "    if a > 0:", "        x = 5", "    return x"]
    parts, calls = split.split_body(body, ["a"], "False")
    assert len(parts) == 2 and "def part1(a, x):" in parts[1]
    from symgraph.codegen.numba.pipeline import KernelCompiler
    namespace = {"nb": nb, "KernelCompiler": KernelCompiler}
    parts = [part.replace("cache=True", "cache=False") for part in parts]    # exec'd source has no file
    # (the parts have no CPython wrapper: only a jitted kernel calls them)
    exec("\n".join(parts) + "\n@nb.njit\ndef kernel(a):\n" + "\n".join(calls), namespace)  # noqa: S102
    assert namespace["kernel"](-3) == -2 and namespace["kernel"](2) == 5
