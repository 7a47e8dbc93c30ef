"""sg.einsum against sg.matmul (and NumPy) on a batched matrix product, 'bij,bjk->bik'.

Issue 16 asks for einsum's matrix-product contractions to take the BLAS path of ``@`` (within 10% of
``sg.matmul``). Prints a table of the best of several timed calls per row; run on a quiet machine.

    python benchmarks/einsum.py [--batch 64] [--size 128] [--repeats 20]
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import symgraph as sg


def best_time(call, repeats):
    call()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    a = rng.standard_normal((args.batch, args.size, args.size))
    b = rng.standard_normal((args.batch, args.size, args.size))
    A, B = sg.tensor("A", shape=(None,) * 3), sg.tensor("B", shape=(None,) * 3)
    with_einsum = sg.function([A, B], sg.einsum("bij,bjk->bik", A, B), backend="numba")
    with_matmul = sg.function([A, B], sg.matmul(A, B), backend="numba")
    np.testing.assert_allclose(with_einsum(a, b), a @ b, rtol=1e-10)
    rows = [("sg.einsum('bij,bjk->bik')", lambda: with_einsum(a, b)),
            ("sg.matmul", lambda: with_matmul(a, b)),
            ("np.einsum (optimize=True)", lambda: np.einsum("bij,bjk->bik", a, b, optimize=True)),
            ("np.matmul", lambda: a @ b)]
    times = {name: best_time(call, args.repeats) for name, call in rows}
    reference = times["sg.matmul"]
    print(f"batched matrix product, float64, ({args.batch}, {args.size}, {args.size}) @ same")
    print(f"{'':28s} {'ms':>9s} {'/ sg.matmul':>12s}")
    for name, _ in rows:
        print(f"{name:28s} {times[name] * 1e3:9.3f} {times[name] / reference:12.2f}")


if __name__ == "__main__":
    main()
