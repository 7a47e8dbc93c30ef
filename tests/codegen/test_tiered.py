"""Tiered execution (``sg.function(..., backend="numba", wait=False)``, codegen/numba/tiered.py): the first
calls run on the python backend while a background process compiles the kernel into the disk cache, then the
kernel serves the calls. Each call runs on one tier with its updates; a failing call changes nothing on either
tier; a background compile that dies leaves the function on the python tier, saying so; two processes that
start the same function at once both switch to the kernel.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import symgraph as sg

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    """An empty kernel cache: every kernel below must be compiled."""
    monkeypatch.setenv("SYMGRAPH_CACHE_DIR", str(tmp_path / "kernels"))
    return tmp_path / "kernels"


def _training_step(wait, backend="numba", salt=0.0):
    """A step with updates (an MLP-like layer trained by SGD); ``salt`` makes a graph of its own."""
    x, y = sg.matrix("x"), sg.vector("y")
    w = sg.shared(np.linspace(-0.5, 0.5, 3), name="w")
    b = sg.shared(np.array(0.1), name="b")
    loss = sg.mean((sg.tanh(x @ w + b) - y) ** 2) + salt       # (a constant in the source: a kernel of its own)
    gw, gb = sg.grad(loss, [w, b])
    options = {"wait": wait} if backend == "numba" else {}
    step = sg.function([x, y], loss, updates=[(w, w - 0.5 * gw), (b, b - 0.5 * gb)], backend=backend, **options)
    return step, w, b


def _batch(seed):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((8, 3)), rng.standard_normal(8)


def test_the_first_calls_run_on_the_python_tier_then_on_the_kernel(fresh_cache):
    step, w, b = _training_step(wait=False)
    reference, rw, rb = _training_step(wait=True, backend="python")
    kernel, kw, kb = _training_step(wait=True)
    assert step.cache_info.tier == "python" and step.cache_info.status in ("compiling", "compiled")
    assert "def kernel(" in step.source                 # the generated module is there at once
    for seed in range(2):                               # python tier: the python backend's bits
        assert step(*_batch(seed)) == reference(*_batch(seed))
        np.testing.assert_array_equal(w.get_value(), rw.get_value())
        np.testing.assert_array_equal(b.get_value(), rb.get_value())
    assert step.wait(timeout=300)
    kw.set_value(w.get_value()), kb.set_value(b.get_value())
    for seed in range(2, 5):                            # the kernel: the numba backend's results
        assert step(*_batch(seed)) == kernel(*_batch(seed))
        np.testing.assert_array_equal(w.get_value(), kw.get_value())
        np.testing.assert_array_equal(b.get_value(), kb.get_value())
    info = step.cache_info
    assert info.tier == "kernel" and info.status in ("loaded", "memory") and step._entry is not None
    # the kernel is in the disk cache now: a new function of the same graph starts on it
    again, _, _ = _training_step(wait=False)
    assert again.cache_info.tier == "kernel" and again.cache_info.hit


def test_a_failing_call_changes_nothing_on_either_tier(fresh_cache):
    step, w, b = _training_step(wait=False, salt=1.0)
    before = w.get_value().copy(), float(b.get_value())
    bad = np.ones((8, 4)), np.ones(8)                   # x @ w: 4 columns against 3 weights
    for tier in ("python", "kernel"):
        if tier == "kernel":
            assert step.wait(timeout=300)
            step(*_batch(0))                            # switches
            before = w.get_value().copy(), float(b.get_value())
        with pytest.raises(ValueError):
            step(*bad)
        assert step.cache_info.tier == tier
        np.testing.assert_array_equal(w.get_value(), before[0])
        assert float(b.get_value()) == before[1]


def test_a_background_compile_that_dies_leaves_the_python_tier_working(fresh_cache):
    step, w, b = _training_step(wait=False, salt=2.0)
    reference, rw, rb = _training_step(wait=True, backend="python", salt=2.0)
    step._executor._process.kill()
    step._executor._process.wait(timeout=60)
    assert step.cache_info.status == "failed"          # said before any call
    assert not step.wait(timeout=60)
    for seed in range(3):
        assert step(*_batch(seed)) == reference(*_batch(seed))
        np.testing.assert_array_equal(w.get_value(), rw.get_value())
    info = step.cache_info
    assert info.tier == "python" and info.status == "failed"
    assert "exited with code" in info.reason and "stays on the python tier" in info.reason
    assert "python tier" in str(info)


def test_without_the_disk_cache_or_with_a_profile_the_kernel_is_compiled_at_once(fresh_cache):
    x = sg.vector("x")
    for options in ({"cache": False}, {"profile": True}):
        f = sg.function([x], sg.exp(x) * 3.0 + 1.0, wait=False, **options)
        assert f.cache_info.tier == "kernel"
        np.testing.assert_allclose(f(np.arange(3.0)), np.exp(np.arange(3.0)) * 3 + 1, rtol=1e-15)
    with pytest.raises(TypeError, match="unexpected keyword argument 'wiat'.*did you mean 'wait'"):
        sg.function([x], x, wiat=False)


SCRIPT = r'''
import json, sys, numpy as np, symgraph as sg
x = sg.vector("x")
w = sg.shared(np.array([0.5, -0.25]), name="w")
f = sg.function([x], sg.sum(sg.tanh(x * w) * 7.0 + 0.125), updates=[(w, w * 0.5)], wait=False)
first = (f(np.array([1.0, 2.0])), f.cache_info.tier)
assert f.wait(timeout=300), f.cache_info
second = (f(np.array([1.0, 2.0])), f.cache_info.tier)
print("TIERS" + json.dumps([float(first[0]), first[1], float(second[0]), second[1], w.get_value().tolist()]))
'''


def test_two_processes_starting_the_same_function_at_once_both_switch(fresh_cache):
    env = dict(os.environ, PYTHONPATH=ROOT, SYMGRAPH_CACHE_DIR=str(fresh_cache))
    processes = [subprocess.Popen([sys.executable, "-c", SCRIPT], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, env=env) for _ in range(2)]
    results = []
    for process in processes:
        out, err = process.communicate(timeout=600)
        assert process.returncode == 0, err
        results.append(json.loads(out.split("TIERS", 1)[1]))
    for first, first_tier, second, second_tier, w in results:
        assert first_tier == "python" and second_tier == "kernel"
        assert first == pytest.approx(np.sum(np.tanh([0.5, -0.5]) * 7 + 0.125), rel=1e-15)
        assert second == pytest.approx(np.sum(np.tanh([0.25, -0.25]) * 7 + 0.125), rel=1e-14)
        assert w == [0.125, -0.0625]
    entries = [name for name in os.listdir(fresh_cache) if os.path.isdir(fresh_cache / name)
               and os.path.exists(fresh_cache / name / "manifest.json")]
    assert len(entries) == 1
