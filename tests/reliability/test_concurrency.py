"""Compiled functions are safe under threads, and processes sharing a cache directory do not corrupt it.

Several threads call one compiled function at once (each checks its own
answer); threads calling a function with updates never lose an update; two
threads compiling at once both get working functions; and two processes
compiling the same graph into one ``SYMGRAPH_CACHE_DIR`` at once both succeed,
after which a third process loads the kernel from that cache intact.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import symgraph as sg

from .helpers import available_backends, backend_options

BACKENDS = available_backends()
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
N_THREADS = 8


def run_in_threads(task, n_threads=N_THREADS):
    """Run ``task(thread_index)`` in ``n_threads`` threads released together; re-raise the first error."""
    barrier = threading.Barrier(n_threads)

    def start(i):
        barrier.wait()
        return task(i)

    with ThreadPoolExecutor(n_threads) as pool:
        return [future.result() for future in [pool.submit(start, i) for i in range(n_threads)]]


def threaded_backends():
    # The cuda backend serialises kernel launches under Numba's simulator (which cannot run two at
    # once), so every backend takes part.
    return list(BACKENDS)


@pytest.mark.parametrize("backend", threaded_backends())
def test_one_function_called_from_many_threads(backend):
    m, v = sg.matrix("m"), sg.vector("v")
    f = sg.function([m, v], [sg.tanh(m @ v) + 1.0, sg.sum(sg.exp(m), axis=0) * v],
                    backend=backend, **backend_options(backend))
    calls = 10 if backend == "cuda" else 200

    def task(i):
        rng = np.random.default_rng(i)
        for _ in range(calls):
            rows = int(rng.integers(1, 6))
            mv, vv = rng.normal(size=(rows, 3)), rng.normal(size=3)
            got = f(mv, vv)
            np.testing.assert_allclose(got[0], np.tanh(mv @ vv) + 1.0, rtol=1e-10, atol=1e-14)
            np.testing.assert_allclose(got[1], np.exp(mv).sum(0) * vv, rtol=1e-10, atol=1e-14)
        return calls

    assert sum(run_in_threads(task)) == N_THREADS * calls


@pytest.mark.parametrize("backend", BACKENDS)
def test_updates_from_many_threads_are_never_lost(backend):
    count = sg.shared(np.float64(0.0), name="count")
    total = sg.shared(np.zeros(2), name="total")
    x = sg.vector("x", shape=(2,))
    f = sg.function([x], count, updates=[(count, count + 1.0), (total, total + x)],
                    backend=backend, **backend_options(backend))
    calls = 10 if backend == "cuda" else 100

    def task(i):
        seen = [float(f(np.array([1.0, float(i)]))) for _ in range(calls)]
        assert seen == sorted(seen)       # each thread sees the counter move forward
        return seen

    seen = [c for thread in run_in_threads(task) for c in thread]
    assert sorted(seen) == [float(k) for k in range(N_THREADS * calls)]   # every call saw its own count
    assert count.get_value() == N_THREADS * calls
    np.testing.assert_array_equal(total.get_value(), [N_THREADS * calls, calls * sum(range(N_THREADS))])


@pytest.mark.parametrize("backend", BACKENDS)
def test_compiling_from_several_threads_at_once(backend):
    """Four threads compile at the same time (two of them the same graph); every function then works."""
    scales = [2.0, 2.0, 3.0, 5.0]             # threads 0 and 1 build identical graphs

    def task(i):
        x = sg.vector("x")
        return sg.function([x], sg.sigmoid(x * scales[i]) + sg.sum(x), backend=backend,
                           **backend_options(backend))

    values = np.linspace(-1, 1, 5)
    for scale, f in zip(scales, run_in_threads(task, n_threads=4)):
        np.testing.assert_allclose(f(values), 1 / (1 + np.exp(-values * scale)) + values.sum(), rtol=1e-12)


COMPILE_IN_PROCESS = """
import json, sys
import numpy as np
import symgraph as sg
x, m = sg.vector("x"), sg.matrix("m")
f = sg.function([x, m], [sg.tanh(m @ x) * 2.0 + sg.sum(x * x)], backend="numba")
xv, mv = np.linspace(-1, 1, 4), np.arange(12.0).reshape(3, 4) / 10
(got,) = f(xv, mv)
ok = bool(np.allclose(got, np.tanh(mv @ xv) * 2.0 + np.sum(xv * xv), rtol=1e-12))
info = f.cache_info
print("RESULT " + json.dumps({"ok": ok, "status": getattr(info, "status", None), "info": str(info)}))
"""


def test_two_processes_sharing_the_cache_directory(tmp_path):
    if "numba" not in BACKENDS:
        pytest.fail("the numba backend does not work here")
    env = dict(os.environ, SYMGRAPH_CACHE_DIR=str(tmp_path / "cache"),
               PYTHONPATH=REPO_ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))

    def launch():
        return subprocess.Popen([sys.executable, "-c", COMPILE_IN_PROCESS], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env, cwd=str(tmp_path))

    def result(process):
        out, err = process.communicate(timeout=500)
        assert process.returncode == 0, err[-3000:]
        return json.loads([ln for ln in out.splitlines() if ln.startswith("RESULT ")][-1].split(" ", 1)[1])

    first, second = launch(), launch()      # at the same time, same cache directory
    together = [result(first), result(second)]
    assert all(r["ok"] for r in together), together
    third = result(launch())
    assert third["ok"], third
    assert third["status"] == "loaded", f"the third process did not load the cached kernel: {third}"


def two_thread_race(functions, calls):
    """Call ``functions[i]`` ``calls`` times in thread ``i``, all threads released together."""
    def task(i):
        for _ in range(calls):
            functions[i]()
        return calls
    return run_in_threads(task, n_threads=len(functions))


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_functions_updating_one_shared_variable_lose_no_update(backend):
    """Two different functions add to the same counter from two threads: every increment lands.

    With one lock per function (the old code) the two read-compute-commit sequences interleave and
    the count ends at 5,000-9,000 instead of 10,000.
    """
    count = sg.shared(np.float64(0.0), name="count")
    vec = sg.shared(np.zeros(3), name="vec")
    add_one = sg.function([], [], updates=[(count, count + 1.0), (vec, vec + 1.0)], backend=backend,
                          **backend_options(backend))
    add_two = sg.function([], count * 0.0, updates=[(count, count + 2.0), (vec, vec + 2.0)],
                          backend=backend, **backend_options(backend))
    calls = 60 if backend == "cuda" else 5000
    two_thread_race([add_one, add_two], calls)
    assert count.get_value() == 3.0 * calls
    np.testing.assert_array_equal(vec.get_value(), np.full(3, 3.0 * calls))


@pytest.mark.parametrize("backend", BACKENDS)
def test_updates_in_opposite_orders_do_not_deadlock(backend):
    """f updates (a, b) and g updates (b, a), each from the other: both finish and nothing is lost."""
    a, b = sg.shared(np.float64(0.0), name="a"), sg.shared(np.float64(0.0), name="b")
    f = sg.function([], [], updates=[(a, a + b * 0.0 + 1.0), (b, b + 1.0)], backend=backend,
                    **backend_options(backend))
    g = sg.function([], [], updates=[(b, b + a * 0.0 + 10.0), (a, a + 10.0)], backend=backend,
                    **backend_options(backend))
    calls = 40 if backend == "cuda" else 2000
    with ThreadPoolExecutor(2) as pool:
        done = [pool.submit(two_thread_race, [f, g], calls)]
        done[0].result(timeout=300)                 # a deadlock fails here instead of hanging
    assert a.get_value() == b.get_value() == 11.0 * calls


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_reader_never_sees_a_half_committed_state(backend):
    """While one thread moves (a, b) in step, another reads a - b: always the same number."""
    a, b = sg.shared(np.zeros(4), name="a"), sg.shared(np.zeros(4), name="b")
    step = sg.function([], [], updates=[(a, a + 1.0), (b, b + 1.0)], backend=backend,
                       **backend_options(backend))
    read = sg.function([], sg.max(abs(a - b)), backend=backend, **backend_options(backend))
    calls = 40 if backend == "cuda" else 3000
    gaps = []

    def task(i):
        for _ in range(calls):
            if i == 0:
                step()
            else:
                gaps.append(float(read()))
        return calls

    run_in_threads(task, n_threads=2)
    assert len(gaps) == calls and max(gaps) == 0.0
    np.testing.assert_array_equal(a.get_value(), np.full(4, float(calls)))
