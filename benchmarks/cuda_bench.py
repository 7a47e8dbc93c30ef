"""Benchmarks of backend="cuda" on a real NVIDIA GPU, printed as a Markdown table.

Run ``python benchmarks/cuda_bench.py`` on a machine with a GPU (``--quick`` for small sizes;
``--simulator`` runs the same code tiny under Numba's CUDA simulator, only to check that it works).
(W1) a 10-op fused elementwise expression on 10M floats: effective bandwidth in GB/s (bytes of the
two inputs and the output over the kernel time, device arrays in and out) against a hand-written
numba.cuda kernel, and the same call from host arrays (transfers included). (W3) one SGD step of a
784-512-256-10 ReLU MLP (float32, batch 128) with parameters resident on the device, against the
NumPy step on the CPU and, when installed, PyTorch on the same GPU.
"""
from __future__ import annotations

import argparse
import importlib.util
import math
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

if "--simulator" in sys.argv:
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"

import symgraph as sg  # noqa: E402
from numba import cuda  # noqa: E402  (after NUMBA_ENABLE_CUDASIM is decided)

ROWS = []


def best_time(fn, sync, repeat=5, number=None):
    """Best seconds per call over ``repeat`` rounds; ``sync`` waits for the GPU to finish."""
    fn()
    sync()
    if number is None:
        start = time.perf_counter()
        fn()
        sync()
        number = max(1, min(200, int(0.2 / max(time.perf_counter() - start, 1e-6))))
    best = math.inf
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        sync()
        best = min(best, (time.perf_counter() - start) / number)
    return best


def record(workload, variant, seconds, extra=""):
    ROWS.append((workload, variant, f"{seconds * 1e3:.3f} ms", extra))


# ---------------------------------------------------------------- W1: fused elementwise

def expression(lib, x, y):  # 10 elementwise ops
    return lib.tanh(x) * lib.exp(-(y * y)) + lib.sqrt(lib.abs(x - y)) / (1.0 + x * x)


def _hand_written(out, x, y):
    for i in range(cuda.grid(1), x.shape[0], cuda.gridsize(1)):
        a, b = x[i], y[i]
        out[i] = math.tanh(a) * math.exp(-(b * b)) + math.sqrt(abs(a - b)) / (1.0 + a * a)


def w1_elementwise(n, dtype, sync):
    hand_written = cuda.jit(_hand_written)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=n).astype(dtype), rng.normal(size=n).astype(dtype)
    dx, dy = cuda.to_device(x), cuda.to_device(y)
    sx, sy = sg.vector("x", dtype), sg.vector("y", dtype)
    on_device = sg.function([sx, sy], expression(sg, sx, sy), backend="cuda", return_device_arrays=True)
    from_host = sg.function([sx, sy], expression(sg, sx, sy), backend="cuda")
    tolerance = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(on_device(dx, dy).copy_to_host(), expression(np, x, y), rtol=tolerance,
                               atol=tolerance)
    moved = 3 * n * np.dtype(dtype).itemsize
    label = f"W1 10-op elementwise, {n / 1e6:g}M {dtype}"
    out = cuda.device_array(n, dtype)
    blocks = min(8192, -(-n // 256))
    seconds = best_time(lambda: hand_written[blocks, 256](out, dx, dy), sync)
    record(label, "hand-written numba.cuda kernel (baseline)", seconds, f"{moved / seconds / 1e9:.1f} GB/s")
    seconds = best_time(lambda: on_device(dx, dy), sync)
    record(label, "symgraph cuda, device arrays in and out", seconds, f"{moved / seconds / 1e9:.1f} GB/s")
    seconds = best_time(lambda: from_host(x, y), sync)
    record(label, "symgraph cuda, host arrays (with transfers)", seconds, f"{moved / seconds / 1e9:.1f} GB/s")
    seconds = best_time(lambda: expression(np, x, y), lambda: None)
    record(label, "NumPy on the CPU", seconds, f"{moved / seconds / 1e9:.1f} GB/s")


# ---------------------------------------------------------------- W3: MLP training step

def w3_mlp(sizes, batch, sync):
    from run import mlp_parameters, numpy_mlp_step   # the CPU reference shared with benchmarks/run.py
    import run
    run.SIZES = sizes
    rng = np.random.default_rng(1)
    X = rng.normal(size=(batch, sizes[0])).astype("float32")
    Y = np.eye(sizes[-1], dtype="float32")[rng.integers(0, sizes[-1], size=batch)]
    params = [sg.shared(p, name=name) for p, name in zip(mlp_parameters(), ["W1", "b1", "W2", "b2", "W3", "b3"])]
    sX, sY = sg.matrix("X", "float32"), sg.matrix("Y", "float32")
    W1, b1, W2, b2, W3, b3 = params
    h1 = sg.relu(sX @ W1 + b1)
    h2 = sg.relu(h1 @ W2 + b2)
    loss = -sg.mean(sg.sum(sY * sg.log_softmax(h2 @ W3 + b3, axis=1), axis=1))
    grads = sg.grad(loss, params)
    step = sg.function([sX, sY], loss, updates=[(p, p - 0.01 * g) for p, g in zip(params, grads)], backend="cuda")
    reference = mlp_parameters()
    np.testing.assert_allclose(step(X, Y), numpy_mlp_step(reference, X, Y), rtol=1e-4)
    for p, r in zip(params, reference):
        np.testing.assert_allclose(p.get_value(), r, rtol=1e-3, atol=1e-5)
    dX, dY = cuda.to_device(X), cuda.to_device(Y)
    label = f"W3 MLP step {'-'.join(map(str, sizes))}, float32, batch {batch}"
    record(label, "symgraph cuda, batch already on the device", best_time(lambda: step(dX, dY), sync))
    record(label, "symgraph cuda, batch from host arrays", best_time(lambda: step(X, Y), sync))
    record(label, "hand-written NumPy step on the CPU", best_time(lambda: numpy_mlp_step(reference, X, Y),
                                                                  lambda: None))
    if importlib.util.find_spec("torch"):
        import torch
        if torch.cuda.is_available():
            tp = [torch.tensor(p, device="cuda", requires_grad=True) for p in mlp_parameters()]
            tX, tY = torch.tensor(X, device="cuda"), torch.tensor(Y, device="cuda")

            def torch_step():
                a = torch.relu(tX @ tp[0] + tp[1])
                b = torch.relu(a @ tp[2] + tp[3])
                out = -(tY * torch.log_softmax(b @ tp[4] + tp[5], dim=1)).sum(1).mean()
                for p, g in zip(tp, torch.autograd.grad(out, tp)):
                    p.data -= 0.01 * g
            record(label, "PyTorch eager on the same GPU", best_time(torch_step, torch.cuda.synchronize))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument("--simulator", action="store_true", help="tiny sizes under Numba's CUDA simulator")
    args = parser.parse_args()
    from codegen.cuda.runtime import require_cuda
    require_cuda()   # a clear message when there is no GPU
    sync = cuda.synchronize
    if args.simulator:
        n, sizes, batch = 64, (8, 6, 5, 3), 4
    elif args.quick:
        n, sizes, batch = 1_000_000, (784, 512, 256, 10), 128
    else:
        n, sizes, batch = 10_000_000, (784, 512, 256, 10), 128
    device = "CUDA simulator" if args.simulator else cuda.get_current_device().name
    for dtype in ("float32", "float64"):
        w1_elementwise(n, dtype, sync)
    w3_mlp(sizes, batch, sync)
    print(f"device: {device if isinstance(device, str) else device.decode()}\n")
    print("| workload | variant | time | effective bandwidth |")
    print("| --- | --- | --- | --- |")
    for row in ROWS:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
