"""The reliability suite's backend list: decided without compiling at collection, and an expected
backend that does not work fails the tests instead of silently shrinking them."""
import os
import subprocess
import sys
from pathlib import Path

import symgraph as sg

from . import helpers

ROOT = Path(__file__).resolve().parents[2]


def test_expected_backends_are_numba_always_and_cuda_under_the_simulator(monkeypatch):
    monkeypatch.delenv("SYMGRAPH_REAL_GPU", raising=False)
    monkeypatch.setenv("NUMBA_ENABLE_CUDASIM", "1")
    assert helpers.available_backends() == ("python", "numba", "cuda")
    monkeypatch.setenv("NUMBA_ENABLE_CUDASIM", "0")
    assert helpers.available_backends() == ("python", "numba")


def test_a_broken_expected_backend_is_reported_not_dropped(monkeypatch):
    real_function = sg.function

    def broken(*args, backend=None, **kwargs):
        if backend == "numba":
            raise ImportError("numba cannot load (simulated)")
        return real_function(*args, backend=backend, **kwargs)

    monkeypatch.setattr(sg, "function", broken)
    monkeypatch.setattr(helpers, "backend_problem", helpers.backend_problem.__wrapped__)
    monkeypatch.setattr(helpers, "BACKEND_PROBLEMS", {})
    failures = helpers.expected_backend_failures()
    assert list(failures) == ["numba"] and "numba cannot load" in failures["numba"]
    assert "numba" in helpers.available_backends()   # still listed: its tests fail, they are not skipped


def test_collection_compiles_nothing():
    """Importing every reliability test module (what collection does) calls sg.function zero times."""
    script = (
        "import sys, importlib, pkgutil, symgraph as sg\n"
        "calls = []\n"
        "real = sg.function\n"
        "sg.function = lambda *a, **k: calls.append(1) or real(*a, **k)\n"
        "import tests.reliability as package\n"
        "for info in pkgutil.iter_modules(package.__path__):\n"
        "    if info.name.startswith('test_'):\n"
        "        importlib.import_module('tests.reliability.' + info.name)\n"
        "from tests.reliability.helpers import backend_problem\n"
        "print(len(calls), backend_problem.cache_info().currsize)\n")
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["0", "0"], result.stdout
