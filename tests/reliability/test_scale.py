"""Large graphs: 100,000 nodes build, differentiate, optimize and compile without recursion errors,
and the cost of each stage grows close to linearly with the size of the graph.

The graphs come from ``benchmarks/scale.py`` (a deep elementwise chain with wide
indexed layers), so the figures it reports and what is tested here are the same
workload. The quick tests compare CPU time and allocated memory at n and 4n nodes
(linear growth gives a ratio near 4, quadratic 16); the 100,000-node runs (python
backend on the benchmark graph, numba on a scalar chain) take about a minute each
and are marked slow.
"""
from __future__ import annotations

import gc
import importlib.util
import os
import sys
import time
import tracemalloc

import numpy as np
import pytest

import symgraph as sg
from symgraph.graph import count_nodes

from .helpers import available_backends

_SPEC = importlib.util.spec_from_file_location(
    "benchmarks_scale", os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks", "scale.py"))
scale = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(scale)


def cpu_seconds(fn):
    start = time.process_time()
    result = fn()
    return time.process_time() - start, result


def stage_times(n_nodes):
    """CPU seconds of each stage, with the cyclic GC paused so the figures reflect symgraph's own work."""
    gc.collect()
    gc.disable()
    try:
        return _stage_times(n_nodes)
    finally:
        gc.enable()


def _stage_times(n_nodes):
    seconds = {}
    seconds["build"], (x, cost) = cpu_seconds(lambda: scale.build_graph(n_nodes))
    seconds["grad"], gradient = cpu_seconds(lambda: sg.grad(cost, x))
    seconds["optimize"], optimized = cpu_seconds(lambda: sg.optimize([cost, gradient]))
    seconds["compile"], f = cpu_seconds(lambda: sg.function([x], optimized, backend="python", optimizer=None))
    return seconds, (x, cost, gradient, f)


def test_deep_graphs_need_no_recursion_and_give_the_right_value():
    n = 3000
    assert n > 2 * sys.getrecursionlimit()
    _, (x, cost, gradient, f) = stage_times(n)
    values = np.linspace(-1, 1, 5)
    value, grad_value = f(values)
    np.testing.assert_allclose(value, scale.expected_value(n, values), rtol=1e-10)
    # The gradient of the chain agrees with central differences of the NumPy twin.
    eps = 1e-6
    for k in (0, 2, 4):
        up, down = values.copy(), values.copy()
        up[k] += eps
        down[k] -= eps
        fd = (scale.expected_value(n, up) - scale.expected_value(n, down)) / (2 * eps)
        np.testing.assert_allclose(grad_value[k], fd, rtol=1e-5, atol=1e-8)


def test_stage_times_grow_close_to_linearly():
    small, large = 1500, 6000
    stage_times(300)                        # warm caches (imports, rewrite tables)
    runs_small = [stage_times(small)[0] for _ in range(2)]
    runs_large = [stage_times(large)[0] for _ in range(2)]
    t_small = {stage: min(run[stage] for run in runs_small) for stage in runs_small[0]}
    t_large = {stage: min(run[stage] for run in runs_large) for stage in runs_large[0]}
    ratios = {stage: t_large[stage] / max(t_small[stage], 1e-2) for stage in t_small}
    # 4x the nodes: linear is ~4, quadratic ~16; the margin absorbs timer noise on a loaded machine.
    assert all(r < 9 for r in ratios.values()), f"time ratios for 4x nodes: {ratios} ({t_small} -> {t_large})"


def test_memory_of_building_and_differentiating_grows_close_to_linearly():
    def allocated(n):
        tracemalloc.start()
        try:
            x, cost = scale.build_graph(n)
            gradient = sg.grad(cost, x)
            return tracemalloc.get_traced_memory()[1], count_nodes([cost, gradient])
        finally:
            tracemalloc.stop()
    small, _ = allocated(2000)
    large, nodes = allocated(8000)
    assert large / small < 6, f"peak memory {small} -> {large} bytes for 4x the nodes"
    assert large / nodes < 20_000, f"{large / nodes:.0f} bytes per node"


@pytest.mark.slow
def test_100k_node_graph_builds_differentiates_optimizes_and_compiles():
    n = 100_000
    seconds, (x, cost, gradient, f) = stage_times(n)
    assert count_nodes([cost]) >= n
    values = np.linspace(-1, 1, 5)
    value, grad_value = f(values)
    np.testing.assert_allclose(value, scale.expected_value(n, values), rtol=1e-10)
    assert np.all(np.isfinite(grad_value))
    print(f"100,000-node stages (CPU seconds): {seconds}")


@pytest.mark.slow
def test_100k_node_scalar_chain_compiles_on_numba():
    """A long all-scalar program (the numba backend runs it on its tape interpreter) at 100,000 nodes."""
    if "numba" not in available_backends():
        pytest.fail("the numba backend does not work here")
    x = sg.scalar("x")
    y = x
    steps = 66_667                          # two nodes every other step: about 100,000 nodes
    for i in range(steps):
        y = sg.sin(y) * 0.9 if i % 2 else y + 0.001 * (i % 7)
    assert count_nodes([y]) >= 100_000
    f = sg.function([x], [y, sg.grad(y, x)], backend="numba")
    expected = 0.3
    for i in range(steps):
        expected = np.sin(expected) * 0.9 if i % 2 else expected + 0.001 * (i % 7)
    value, gradient = f(0.3)
    np.testing.assert_allclose(value, expected, rtol=1e-9)
    assert np.isfinite(gradient)
