"""Loading cached kernels is safe under every Numba cache setting, and every cache file stays in the symgraph
cache directory.

- With ``NUMBA_CACHE_DIR`` set, the second process used to die with SIGSEGV loading a kernel whose linked
  helpers were not registered (its machine code lived outside its entry).
- An entry whose ``links.pickle`` lists fewer helpers than its machine code calls (its manifest rewritten
  to match) used to crash every later process.
- The runtime library's Numba cache used to be written into the installed package.
- Input names never reach the cache key, and every miss reason ``cache_info`` gives is what happened.
"""
from __future__ import annotations

import gc
import glob
import json
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

import symgraph as sg

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGE = os.path.join(ROOT, "codegen", "numba")

# A product (BLAS helper), a reduction (runtime helper), an elementwise loop and a gradient: every kind of
# linked helper a kernel calls by address.
SCRIPT = r'''
import json, numpy as np, symgraph as sg
x = sg.vector("x")
w = sg.matrix("w")
y = sg.tanh(w @ x) * 2.0 + sg.softplus(x).sum()
f = sg.function([x, w], [y, sg.grad(sg.sum(y), x)])
value, gradient = f(np.linspace(-1, 1, 4), np.arange(12.0).reshape(3, 4) / 10)
print("INFO" + json.dumps({"status": f.cache_info.status, "reason": f.cache_info.reason,
                           "path": f.cache_info.path, "value": value.tolist(), "gradient": gradient.tolist()}))
'''


def expected():
    a, m = np.linspace(-1, 1, 4), np.arange(12.0).reshape(3, 4) / 10
    t = np.tanh(m @ a)
    value = t * 2.0 + np.log1p(np.exp(a)).sum()
    gradient = m.T @ (2 * (1 - t * t)) + 3 / (1 + np.exp(-a))   # the scalar softplus sum enters 3 rows
    return value, gradient


def run(cache, **environment):
    env = dict(os.environ, PYTHONPATH=ROOT, SYMGRAPH_CACHE_DIR=str(cache), **environment)
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, f"rc {done.returncode}\n{done.stdout}\n{done.stderr}"
    info = json.loads(done.stdout.split("INFO", 1)[1])
    value, gradient = expected()
    np.testing.assert_allclose(info["value"], value, rtol=1e-12)
    np.testing.assert_allclose(info["gradient"], gradient, rtol=1e-12)
    return info


def numba_files(folder):
    return sorted(glob.glob(os.path.join(str(folder), "**", "*.nb[ic]"), recursive=True))


def test_numba_cache_dir_set_second_process_loads_safely(tmp_path):
    numba_dir, cache = tmp_path / "numba", tmp_path / "symgraph"
    numba_dir.mkdir()
    first = run(cache, NUMBA_CACHE_DIR=str(numba_dir))
    second = run(cache, NUMBA_CACHE_DIR=str(numba_dir))
    third = run(cache, NUMBA_CACHE_DIR=str(numba_dir))
    assert first["status"] == "compiled" and second["status"] == "loaded" and third["status"] == "loaded"
    # The kernel's machine code lives in its entry, covered by its manifest, whatever Numba is told.
    assert numba_files(numba_dir) == []
    assert numba_files(second["path"])


def test_cache_written_without_numba_cache_dir_loads_with_it(tmp_path):
    cache = tmp_path / "symgraph"
    assert run(cache)["status"] == "compiled"
    numba_dir = tmp_path / "numba"
    numba_dir.mkdir()
    assert run(cache, NUMBA_CACHE_DIR=str(numba_dir))["status"] == "loaded"


def test_links_shorter_than_the_machine_code_needs_are_recompiled(tmp_path):
    from symgraph.codegen.numba import cache as cache_module
    cache = tmp_path / "symgraph"
    entry = run(cache)["path"]
    links = os.path.join(entry, "links.pickle")
    with open(links, "rb") as stream:
        records = pickle.load(stream)
    assert len(records) >= 2
    for dropped in range(len(records)):
        cache_module.atomic_write(links, pickle.dumps(records[:dropped] + records[dropped + 1:], protocol=4))
        cache_module._write_manifest(entry)       # a self-consistent entry from another writer
        info = run(cache)
        assert info["status"] == "compiled"
        assert info["reason"].startswith("damaged entry (its machine code calls 1 helper")
    assert run(cache)["status"] == "loaded"


def test_runtime_cache_files_stay_out_of_the_package(tmp_path):
    before = numba_files(PACKAGE)
    cache = tmp_path / "symgraph"
    run(cache)
    assert numba_files(PACKAGE) == before
    runtime = numba_files(cache / "runtime")
    assert any("blas.gemm" in path for path in runtime) and any("runtime." in path for path in runtime)


def test_runtime_cache_falls_back_when_the_cache_directory_cannot_be_written(tmp_path):
    before = numba_files(PACKAGE)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    env = dict(os.environ, PYTHONPATH=ROOT, SYMGRAPH_CACHE_DIR=str(blocker / "cache"))
    done = subprocess.run([sys.executable, "-W", "always", "-c", SCRIPT], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "cannot use the kernel cache directory" in done.stderr
    assert numba_files(PACKAGE) == before


def test_locators_come_before_numbas_own():
    from numba.core.caching import CacheImpl, UserProvidedCacheLocator
    from symgraph.codegen.numba.locator import EntryCacheLocator, RuntimeCacheLocator
    order = CacheImpl._locator_classes
    assert order.index(RuntimeCacheLocator) < order.index(UserProvidedCacheLocator)
    assert order.index(EntryCacheLocator) < order.index(UserProvidedCacheLocator)


# ---------------------------------------------------------------- names and miss reasons, in this process

def _compile(expression, dtype="float64", name="x"):
    """``expression(module, x)`` compiled with ``module=sg``, checked against ``module=np``; its cache_info."""
    x = sg.vector(name, dtype=dtype)
    f = sg.function([x], expression(sg, x))
    value = np.arange(3, dtype=dtype)
    np.testing.assert_allclose(f(value), expression(np, value), rtol=1e-6)
    return f.cache_info


def _forget():
    gc.collect()     # the in-process reuse map holds kernels only while some function uses them


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMGRAPH_CACHE_DIR", str(tmp_path))
    return tmp_path


def test_names_are_not_part_of_the_key(fresh_cache):
    x = sg.vector("x")
    f = sg.function([x], sg.exp(x) * 3, name="first")
    y = sg.vector("a name nobody else uses")
    g = sg.function([y], sg.exp(y) * 3, name="second")
    assert g.cache_info.status == "memory" and g.cache_info.key == f.cache_info.key
    del f, g
    _forget()
    info = _compile(_exp_times(3), name="renamed")
    assert info.status == "loaded"


def _exp_times(c):
    return lambda module, v: module.exp(v) * c


def test_every_miss_reason_is_what_happened(fresh_cache, monkeypatch):
    from symgraph.codegen.numba import cache as cache_module
    _forget()
    first = _compile(_exp_times(3))
    assert (first.status, first.reason) == ("compiled", "new graph")
    _forget()
    assert _compile(_exp_times(3)).status == "loaded"
    _forget()
    other_dtype = _compile(_exp_times(3), dtype="float32")
    assert (other_dtype.status, other_dtype.reason) == ("compiled", "changed dtypes")
    _forget()
    other_constant = _compile(_exp_times(4))
    assert other_constant.status == "compiled" and other_constant.reason.startswith("changed constants")
    _forget()
    other_graph = _compile(lambda module, v: module.sin(v) * 3)
    assert other_graph.reason == "new graph"
    _forget()
    import shutil
    shutil.rmtree(first.path)
    missing = _compile(_exp_times(3))
    assert (missing.status, missing.reason) == ("compiled", "entry missing (deleted or never written)")
    _forget()
    with open(os.path.join(first.path, "kernel.py"), "a") as stream:
        stream.write("# edited\n")
    corrupted = _compile(_exp_times(3))
    assert (corrupted.status, corrupted.reason) == ("compiled", "corrupted or half-written entry")
    _forget()
    real = cache_module.versions()
    monkeypatch.setattr(cache_module, "versions", lambda: dict(real, numba="0.0.0"))
    changed = _compile(_exp_times(3))
    assert (changed.status, changed.reason) == ("compiled", "changed versions")


def test_runtime_cache_directory_can_be_kept_apart(tmp_path):
    cache, runtime = tmp_path / "symgraph", tmp_path / "runtime"
    before = numba_files(PACKAGE)
    run(cache, SYMGRAPH_RUNTIME_CACHE_DIR=str(runtime))
    assert numba_files(cache / "runtime") == [] and numba_files(runtime)
    assert numba_files(PACKAGE) == before
