"""Optimizer speed: the fast_run pipeline on large graphs (run: python benchmarks/optimizer.py).

Cases: a 10,000-node random graph mixing elementwise ops, reductions and matrix products;
a 2,000-step scalar chain with its gradient (build + grad + optimize); the gradient of a
wide elementwise cost. Prints node counts before/after and seconds per stage.
"""
from __future__ import annotations

import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import symgraph as sg  # noqa: E402
from symgraph.graph import count_nodes  # noqa: E402
from symgraph.rewrite import optimize_graph  # noqa: E402


def random_graph(n_nodes, seed=0):
    """About ``n_nodes`` nodes over three inputs: elementwise ops, sums over axes, matrix products."""
    rng = np.random.default_rng(seed)
    x, y, w = sg.matrix("x"), sg.vector("y"), sg.matrix("w")
    pool = [x, x * 2.0, sg.exp(x), x + y]
    # bounded functions keep 10,000 steps finite (so the values check is meaningful)
    unary = [lambda v: sg.exp(-v * v), sg.tanh, sg.sin, sg.sigmoid, lambda v: -v, lambda v: v * 1.0,
             lambda v: v + 0.0]
    binary = [lambda a, b: sg.tanh(a + b), lambda a, b: a * b, lambda a, b: a - b, lambda a, b: a / (b * b + 1.0)]
    for _ in range(int(n_nodes * 0.9)):  # about 1.1 nodes per step once the final sum is added
        kind = rng.random()
        a = pool[int(rng.integers(max(0, len(pool) - 50), len(pool)))]
        if kind < 0.45:
            pool.append(unary[int(rng.integers(len(unary)))](a))
        elif kind < 0.9:
            b = pool[int(rng.integers(max(0, len(pool) - 50), len(pool)))]
            pool.append(binary[int(rng.integers(len(binary)))](a, b))
        elif kind < 0.95:
            pool.append(sg.tanh(a + sg.sum(a, axis=1, keepdims=True)))
        else:
            pool.append(sg.tanh(sg.dot(a, w)))
    total = pool[0]
    for v in pool[-1500:]:
        total = total + v
    return [x, y, w], sg.sum(total)


def scalar_chain(n_steps):
    x = sg.scalar("x")
    v = x
    for i in range(n_steps):
        v = sg.sin(v) * 0.5 + v * (1.0 + 1e-3 * (i % 7))
    return x, v


def timed(label, fn):
    """Wall-clock and CPU seconds (CPU time is the fairer number on a busy machine)."""
    start, cpu = time.perf_counter(), time.process_time()
    result = fn()
    seconds = time.perf_counter() - start
    print(f"{label:<48} {seconds:8.3f} s wall  {time.process_time() - cpu:8.3f} s cpu")
    return result, seconds


def main():
    print("== 10,000-node random graph")
    (inputs, cost), _ = timed("build", lambda: random_graph(10_000))
    print(f"nodes before: {count_nodes([cost])}")
    (outputs, log), seconds = timed("optimize (fast_run)", lambda: optimize_graph([cost]))
    print(f"nodes after:  {count_nodes(outputs)}")
    for stage in log.stages:
        print(f"    {stage}")
    timed("optimize (fast_compile)", lambda: optimize_graph([cost], mode="fast_compile"))
    timed("optimize (fast_run + sympy stage)",
          lambda: optimize_graph([cost], mode={"mode": "fast_run", "include": ["sympy"]}))
    rng = np.random.default_rng(0)
    values = [rng.normal(size=(3, 4)) * 0.1, rng.normal(size=4) * 0.1, rng.normal(size=(4, 4)) * 0.1]
    plain = sg.function(inputs, cost, backend="python", optimizer=None)(*values)
    fast = sg.function(inputs, cost, backend="python")(*values)
    print(f"optimized == unoptimized: {np.allclose(fast, plain, rtol=1e-9)} ({fast!r} vs {plain!r})")

    print("== 2,000-step scalar chain + gradient")
    start = time.perf_counter()
    x, v = scalar_chain(2000)
    g = sg.grad(v, x)
    build = time.perf_counter() - start
    print(f"{'build + grad':<48} {build:8.3f} s   ({count_nodes([v, g])} nodes)")
    (outputs, log), _ = timed("optimize", lambda: optimize_graph([v, g]))
    print(f"nodes after:  {count_nodes(outputs)}")
    f, _ = timed("sg.function (python backend, includes optimize)",
                 lambda: sg.function([x], [v, g], backend="python"))
    plain = sg.function([x], [v, g], backend="python", optimizer=None)
    print(f"optimized == unoptimized: {all(np.allclose(a, b) for a, b in zip(f(0.3), plain(0.3)))}")

    print("== gradient of a wide elementwise cost")
    xs = sg.vector("x")
    cost = sg.sum(sg.exp(xs) * sg.tanh(xs) + sg.log1p(xs * xs) - sg.sigmoid(xs) / (1.0 + xs * xs))
    gx = sg.grad(cost, xs)
    (outputs, log), _ = timed("optimize", lambda: optimize_graph([cost, gx]))
    print(f"nodes: {count_nodes([cost, gx])} -> {count_nodes(outputs)}")
    (outputs, log), _ = timed("optimize (+ sympy stage, first use imports SymPy)",
                              lambda: optimize_graph([cost, gx], mode={"mode": "fast_run", "include": ["sympy"]}))


if __name__ == "__main__":
    main()
