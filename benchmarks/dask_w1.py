"""W1 on a Dask cluster: the 10-op elementwise expression of benchmarks/run.py (``w1_elementwise``)
on a 200M-element float64 Dask array (chunks of 10M), through ``symgraph.dask.map_blocks`` (one
fused compiled kernel per block) against the same expression written with dask.array's NumPy
functions (one task per op per block).

    python benchmarks/dask_w1.py [--n 200_000_000] [--chunk 10_000_000] [--workers 2] [--repeat 3]

The inputs are generated and persisted on the workers first (not timed); each timing computes the
expression and sums it on the cluster (so the 1.6 GB result is not shipped to the driver).
Prints one Markdown table.
"""
import argparse
import time

import dask.array as da
import numpy as np
from distributed import Client, LocalCluster, wait

import symgraph as sg
import symgraph.dask


def expression(lib, x, y):  # 10 elementwise ops, as W1 of benchmarks/run.py
    return lib.tanh(x) * lib.exp(-(y * y)) + lib.sqrt(lib.abs(x - y)) / (1.0 + x * x)


def best_of(repeat, run):
    times, value = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        value = run()
        times.append(time.perf_counter() - start)
    return min(times), value


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000_000)
    parser.add_argument("--chunk", type=int, default=10_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=":0")
    client = Client(cluster)
    try:
        rs = da.random.RandomState(0)
        x = rs.normal(size=args.n, chunks=args.chunk)
        y = rs.normal(size=args.n, chunks=args.chunk)
        x, y = client.persist([x, y])
        wait([x, y])

        sx, sy = sg.vector("x"), sg.vector("y")
        f = sg.function([sx, sy], expression(sg, sx, sy), name="w1")

        def with_symgraph():
            return float(sg.dask.map_blocks(f, x, y).sum().compute())

        def with_dask_numpy():
            return float(expression(np, x, y).sum().compute())

        first_start = time.perf_counter()
        first = with_symgraph()              # includes each worker's compile (or disk-cache load)
        first_seconds = time.perf_counter() - first_start
        symgraph_seconds, a = best_of(args.repeat, with_symgraph)
        numpy_seconds, b = best_of(args.repeat, with_dask_numpy)
        assert np.isclose(a, b, rtol=1e-9) and np.isclose(first, a, rtol=1e-12), (a, b, first)

        blocks = -(-args.n // args.chunk)
        print(f"W1 on Dask: {args.n:,} float64 elements in {blocks} chunks of {args.chunk:,}, "
              f"{args.workers} worker processes x 1 thread (best of {args.repeat}; inputs persisted on the workers)")
        print()
        print("| variant | seconds | M elements/s | vs dask.array |")
        print("| --- | ---: | ---: | ---: |")
        for name, seconds in [("symgraph.dask.map_blocks (fused numba kernel per block)", symgraph_seconds),
                              ("dask.array NumPy functions (10 ops)", numpy_seconds)]:
            print(f"| {name} | {seconds:.3f} | {args.n / seconds / 1e6:,.0f} | {numpy_seconds / seconds:.2f}x |")
        print(f"| symgraph first call (each worker compiles or loads from the disk cache) | {first_seconds:.3f} "
              f"| | |")
    finally:
        client.close()
        cluster.close()


if __name__ == "__main__":
    main()
