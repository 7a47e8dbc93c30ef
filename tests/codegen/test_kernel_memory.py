"""Kernels' temporaries reuse freed memory between calls (codegen/numba/memory.py).

A kernel whose temporaries are megabytes, called repeatedly in a fresh process, must not fault its pages in
again on every call; with ``SYMGRAPH_KEEP_FREED_MEMORY=0`` (glibc's defaults) it does, which shows the test
can fail.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SCRIPT = r"""
import json, resource, numpy as np
import symgraph as sg
from symgraph.codegen.numba.memory import keep_freed_memory
x = sg.matrix("x")
# the product (600 x 600 float64, 2.9 MB) and its exp are temporaries of the kernel
f = sg.function([x], sg.sum(sg.exp(sg.dot(x, x.T)) * 0.5), backend="numba")
value = np.random.default_rng(0).normal(size=(600, 8)) * 0.1
for _ in range(3):
    f(value)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    f(value)
faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 20
print("RESULT" + json.dumps({"faults": faults, "kept": keep_freed_memory()}))
"""


def run(env_extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    env.update(env_extra, PYTHONPATH=ROOT)
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.split("RESULT", 1)[1])


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc thresholds")
def test_kernel_temporaries_are_not_faulted_in_on_every_call():
    kept = run({})
    assert kept["kept"] is True
    assert kept["faults"] < 100, kept              # a 2.9 MB temporary is ~700 pages
    default = run({"SYMGRAPH_KEEP_FREED_MEMORY": "0"})
    assert default["kept"] is False
    assert default["faults"] > 500, default


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc thresholds")
def test_a_user_configured_malloc_is_left_alone():
    configured = run({"MALLOC_TRIM_THRESHOLD_": "131072"})
    assert configured["kept"] is False
