"""W1 on a Dask cluster: symgraph.dask.map_blocks against Dask's own NumPy-backed evaluation.

W1 is benchmarks/run.py's 10-op elementwise expression,
``tanh(x) * exp(-(y * y)) + sqrt(abs(x - y)) / (1 + x * x)``, here on two 200M-element float64 Dask
arrays chunked in 10M-element blocks, on a LocalCluster of 2 worker processes with one thread each
(one core per task: Numba's threads are set to 1 in each block task, NumPy's ufuncs are single-threaded).
The inputs are generated and persisted on the workers first (the block i of x and of y on the same worker:
the rows of one (2, n) array); each timed run evaluates the expression
into blocks kept on the workers (``client.persist`` and ``wait``), so nothing travels to this process.
Both variants run in the same session, alternating, best of ``--repeat``.

    python benchmarks/dask_w1.py [--n 200e6] [--chunk 10e6] [--workers 2] [--repeat 3]
"""
import argparse
import os
import sys
import time

import numpy as np

import dask.array as da
from distributed import Client, LocalCluster, wait

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import symgraph as sg  # noqa: E402
import symgraph.dask  # noqa: E402


def expression(lib, x, y):  # W1's 10 elementwise ops (benchmarks/run.py)
    return lib.tanh(x) * lib.exp(-(y * y)) + lib.sqrt(lib.abs(x - y)) / (1.0 + x * x)


def timed(client, array):
    start = time.perf_counter()
    result = client.persist(array)
    wait(result)
    seconds = time.perf_counter() - start
    client.cancel(result)      # freed before the next run, which computes the same keys again
    del result
    time.sleep(1.0)
    return seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=float, default=200e6)
    parser.add_argument("--chunk", type=float, default=10e6)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    n, chunk = int(args.n), int(args.chunk)

    sx, sy = sg.vector("x"), sg.vector("y")
    f = sg.function([sx, sy], expression(sg, sx, sy), name="w1")
    with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None,
                      env={"NUMBA_NUM_THREADS": "1"}) as cluster, Client(cluster) as client:
        # x and y as the two rows of one array, so the blocks of x and y that meet are on the same worker
        # (apart, most tasks would first copy a block from the other worker: both variants would time that).
        both = client.persist(da.random.default_rng(0).normal(size=(2, n), chunks=(2, chunk)))
        wait(both)
        x, y = both[0], both[1]
        # Correctness on one block, and the compile on every worker before timing.
        small_x, small_y = x[:chunk].compute(), y[:chunk].compute()
        np.testing.assert_allclose(symgraph.dask.map_blocks(f, x[:chunk], y[:chunk]).compute(),
                                   expression(np, small_x, small_y), rtol=1e-9, atol=1e-15)
        variants = {"Dask + NumPy (da.tanh, da.exp, ...)": lambda: expression(da, x, y),
                    "symgraph.dask.map_blocks (numba kernel)": lambda: symgraph.dask.map_blocks(f, x, y)}
        timed(client, variants["symgraph.dask.map_blocks (numba kernel)"]())      # warm-up: compile per worker
        timed(client, variants["Dask + NumPy (da.tanh, da.exp, ...)"]())
        best = {name: float("inf") for name in variants}
        for _ in range(args.repeat):
            for name, make in variants.items():
                best[name] = min(best[name], timed(client, make()))
    base = best["Dask + NumPy (da.tanh, da.exp, ...)"]
    gigabytes = 3 * n * 8 / 1e9          # read x and y, write the result
    print(f"W1 on {n / 1e6:g}M float64 elements in {n // chunk} blocks of {chunk / 1e6:g}M, "
          f"{args.workers} workers x 1 thread, best of {args.repeat}")
    print("| variant | time | GB/s (read x, y, write out) | M elements/s per worker | ratio to Dask + NumPy |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, seconds in best.items():
        print(f"| {name} | {seconds:.2f} s | {gigabytes / seconds:.2f} | {n / seconds / 1e6 / args.workers:.0f} "
              f"| {seconds / base:.2f} |")


if __name__ == "__main__":
    main()
