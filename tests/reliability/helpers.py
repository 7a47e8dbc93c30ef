"""Shared helpers for the reliability tests: which backends run here, finite differences, case counting.

``available_backends()`` is the list of backends expected here, decided without compiling
anything (so ``pytest --collect-only`` runs no compiled code): python and numba always, cuda
where Numba's simulator is on (as tests/conftest.py sets it) or a real GPU run is asked for
(``SYMGRAPH_REAL_GPU=1``). An expected backend that does not work is a failure, not a smaller
suite: the reliability conftest probes each one once, when the first test runs
(``expected_backend_failures``), and fails every test with the reason. ``CASES_CHECKED`` counts
the random cases each property checked; the reliability conftest prints the totals (the soak figure).
"""
from __future__ import annotations

import functools
import os
from collections import Counter

import numpy as np

import symgraph as sg

ALL_BACKENDS = ("python", "numba", "cuda")
CASES_CHECKED: Counter = Counter()
BACKEND_PROBLEMS: dict = {}


def available_backends() -> tuple:
    """The backends expected to work here (no code is compiled to decide it)."""
    backends = ["python", "numba"]
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1" or os.environ.get("SYMGRAPH_REAL_GPU") == "1":
        backends.append("cuda")
    return tuple(backends)


@functools.lru_cache(maxsize=None)
def backend_problem(backend) -> str | None:
    """Why ``backend`` cannot compile and correctly run ``x * 2`` here, or None when it can."""
    try:
        x = sg.vector("x")
        f = sg.function([x], x * 2, backend=backend)
        if not np.array_equal(np.asarray(f(np.arange(3.0))), np.arange(3.0) * 2):
            raise AssertionError("wrong result for x * 2")
    except Exception as exc:  # noqa: BLE001 - reported, and fails the tests (expected_backend_failures)
        BACKEND_PROBLEMS[backend] = f"{type(exc).__name__}: {exc}"
        return BACKEND_PROBLEMS[backend]
    return None


def expected_backend_failures() -> dict:
    """{backend: reason} for each expected backend that does not work (compiles one tiny function each)."""
    problems = {backend: backend_problem(backend) for backend in available_backends()}
    return {backend: problem for backend, problem in problems.items() if problem is not None}


def backend_options(backend) -> dict:
    """Options for ``sg.function`` in tests with small inputs.

    Numba's parallel (prange) loops only run on inputs of 65,536 elements or more, so with the
    small arrays of these tests the executed code is the same serial loop either way; turning
    ``parallel`` off only removes Numba's parfor compile time (about 3x on these graphs).
    """
    return {"parallel": False} if backend == "numba" else {}


def compiled_backends() -> tuple:
    """The available backends other than the python reference."""
    return tuple(b for b in available_backends() if b != "python")


def central_differences(fn, values, eps=1e-6):
    """d fn(values) / d values[k] for each input array, by central differences (float64)."""
    values = [np.array(v, dtype=np.float64) for v in values]
    grads = []
    for k, v in enumerate(values):
        g = np.zeros_like(v)
        for index in np.ndindex(v.shape):
            original = v[index]
            v[index] = original + eps
            up = fn(values)
            v[index] = original - eps
            down = fn(values)
            v[index] = original
            g[index] = (up - down) / (2 * eps)
        grads.append(g)
    return grads


def assert_close(actual, expected, rtol, atol, what):
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape}, expected {expected.shape}"
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, err_msg=what)
