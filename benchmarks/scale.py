"""How building, differentiating, optimizing and compiling grow with graph size (up to 100,000 nodes).

Run ``python benchmarks/scale.py`` (``--sizes 12500 25000 50000 100000``, ``--backend``
python or numba, ``--no-memory`` to skip the tracemalloc pass, ``--out FILE`` to also
write the Markdown table). Each size builds a fresh graph of about that many nodes:
a deep chain of elementwise ops on a vector (``y = sin(y) * 0.9`` / ``y + c``) mixed
with a wide layer of indexed terms, so both depth (no recursion allowed) and
fan-in are exercised. For every stage it prints seconds, microseconds per node
and, in a second pass under ``tracemalloc``, the peak memory the stage allocated;
close-to-linear growth shows as a flat "per node" column. ``tests/reliability/
test_scale.py`` checks the same stages at 100,000 nodes.
"""
from __future__ import annotations

import argparse
import gc
import os
import platform
import sys
import time
import tracemalloc

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import symgraph as sg  # noqa: E402
from symgraph.graph import count_nodes  # noqa: E402


def build_graph(n_nodes, width=8):
    """(x, cost) with about ``n_nodes`` nodes: a deep elementwise chain plus a wide indexed layer every so often."""
    x = sg.vector("x")
    y = x
    built = 0
    step = 0
    while built < n_nodes - 2:
        if step % 500 == 499:
            # A wide layer: `width` indexed terms summed into one scalar that feeds back into the chain.
            terms = [y[k % 5] * float(k + 1) for k in range(width)]
            total = terms[0]
            for term in terms[1:]:
                total = total + term
            y = y + sg.tanh(total) * 0.001
            built += 3 * width + 1
        elif step % 2:
            y = sg.sin(y) * 0.9
            built += 2
        else:
            y = y + 0.001 * (step % 7)
            built += 1
        step += 1
    return x, sg.sum(y)


def expected_value(n_nodes, values, width=8):
    """The same computation in NumPy, for checking a compiled result."""
    y = np.array(values, dtype=float)
    built = step = 0
    while built < n_nodes - 2:
        if step % 500 == 499:
            total = sum(y[k % 5] * float(k + 1) for k in range(width))
            y = y + np.tanh(total) * 0.001
            built += 3 * width + 1
        elif step % 2:
            y = np.sin(y) * 0.9
            built += 2
        else:
            y = y + 0.001 * (step % 7)
            built += 1
        step += 1
    return y.sum()


def run_stages(n_nodes, backend):
    """{stage: seconds} for build, grad, optimize, compile and call, and the node counts."""
    seconds, counts = {}, {}
    start = time.perf_counter()
    x, cost = build_graph(n_nodes)
    seconds["build"] = time.perf_counter() - start
    counts["forward nodes"] = count_nodes([cost])

    start = time.perf_counter()
    gradient = sg.grad(cost, x)
    seconds["grad"] = time.perf_counter() - start
    counts["with grad"] = count_nodes([cost, gradient])

    start = time.perf_counter()
    optimized = sg.optimize([cost, gradient])
    seconds["optimize"] = time.perf_counter() - start
    counts["optimized"] = count_nodes(optimized)

    # The optimized outputs keep the same leaves, so they compile as they are (no second optimizer run).
    start = time.perf_counter()
    f = sg.function([x], optimized, backend=backend, optimizer=None)
    seconds["compile"] = time.perf_counter() - start

    values = np.linspace(-1, 1, 5)
    start = time.perf_counter()
    value, _ = f(values)
    seconds["call"] = time.perf_counter() - start
    error = abs(float(value) - expected_value(n_nodes, values))
    assert error <= 1e-8 * (1 + abs(float(value))), f"wrong value at {n_nodes} nodes: error {error}"
    return seconds, counts


def peak_memory(n_nodes, backend):
    """{stage: peak MiB allocated during the stage} under tracemalloc (slower; a separate pass)."""
    peaks = {}
    tracemalloc.start()
    try:
        def measure(stage, fn):
            tracemalloc.reset_peak()
            before = tracemalloc.get_traced_memory()[0]
            result = fn()
            peaks[stage] = (tracemalloc.get_traced_memory()[1] - before) / 2**20
            return result
        x, cost = measure("build", lambda: build_graph(n_nodes))
        gradient = measure("grad", lambda: sg.grad(cost, x))
        optimized = measure("optimize", lambda: sg.optimize([cost, gradient]))
        measure("compile", lambda: sg.function([x], optimized, backend=backend, optimizer=None))
    finally:
        tracemalloc.stop()
    return peaks


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[12500, 25000, 50000, 100000])
    parser.add_argument("--backend", default="python")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--out", help="also write the Markdown table to this file")
    args = parser.parse_args(argv)
    sys.setrecursionlimit(1000)                 # the default: nothing may rely on a raised limit

    machine = (f"{os.cpu_count()} CPUs, Python {platform.python_version()}, NumPy {np.__version__}, "
               f"load average {os.getloadavg()[0]:.1f} at start")
    lines = [f"Scale (backend {args.backend}; seconds, and microseconds per requested node in brackets; {machine})",
             "",
             "| nodes | forward / with grad / optimized | build | grad | optimize | compile | call |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    memory_lines = ["", "Peak memory allocated per stage (MiB, tracemalloc; KiB per node in brackets)", "",
                    "| nodes | build | grad | optimize | compile |", "| --- | --- | --- | --- | --- |"]
    for n in args.sizes:
        gc.collect()
        seconds, counts = run_stages(n, args.backend)
        cells = [f"{seconds[k]:.2f} ({1e6 * seconds[k] / n:.0f})" for k in
                 ("build", "grad", "optimize", "compile", "call")]
        row = f"| {n} | {counts['forward nodes']} / {counts['with grad']} / {counts['optimized']} | " + \
              " | ".join(cells) + " |"
        lines.append(row)
        print(row, flush=True)
        if not args.no_memory:
            gc.collect()
            peaks = peak_memory(n, args.backend)
            row = f"| {n} | " + " | ".join(f"{peaks[k]:.1f} ({1024 * peaks[k] / n:.2f})" for k in
                                           ("build", "grad", "optimize", "compile")) + " |"
            memory_lines.append(row)
            print(row, flush=True)
    text = "\n".join(lines + (memory_lines if not args.no_memory else [])) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w") as stream:
            stream.write(text)


if __name__ == "__main__":
    main()
