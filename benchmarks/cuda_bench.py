"""Benchmarks of backend="cuda" on a real NVIDIA GPU, printed as a Markdown table.

Run ``python benchmarks/cuda_bench.py`` on a machine with a GPU (``--quick`` for small sizes;
``--simulator`` runs the same code tiny under Numba's CUDA simulator, only to check that it works).
(W1) a 10-op fused elementwise expression on 10M floats: effective bandwidth in GB/s (bytes of the
two inputs and the output over the time per call, device arrays in and out) against a hand-written
numba.cuda kernel and the GPU's measured copy bandwidth (a device-to-device copy, bytes read plus
bytes written), and the same call from host arrays (transfers included). (W3) one SGD step of a
784-512-256-10 ReLU MLP (float32, batch 128) with parameters resident on the device, against the
NumPy step on the CPU and, when installed, PyTorch eager and JAX on the same GPU. (W9) one SGD step of the
LeNet-style CNN of benchmarks/run.py (float32, batch 64) against PyTorch eager (cuDNN) and JAX jit.
Each workload runs on its own: one that fails prints its traceback and the others still run.
"""
from __future__ import annotations

import argparse
import importlib.util
import math
import os
import sys
import time
import traceback

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

if "--simulator" in sys.argv:
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")   # JAX rows share the GPU

import symgraph as sg  # noqa: E402
from numba import cuda  # noqa: E402  (after NUMBA_ENABLE_CUDASIM is decided)

ROWS = []
PROFILE = "--profile" in sys.argv


def profile(label, fn, sync, calls=200):
    """With --profile: where the host time of ``calls`` calls goes (cProfile, top functions by own time)."""
    if not PROFILE:
        return
    import cProfile
    import pstats
    fn()
    sync()
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(calls):
        fn()
    sync()
    profiler.disable()
    print(f"\n--- profile of {calls} calls: {label}", flush=True)
    pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(22)


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


def launches_per_call(fn):
    """How many kernels one call of ``fn`` launches (counted at the kernels' launch configuration, after a
    first call has built them all)."""
    from symgraph.codegen.cuda import runtime
    fn()
    count = [0]
    originals = {cls: cls.__getitem__ for cls in {type(k) for k in runtime._kernel_cache.values()}}

    def counting(real):
        def configure(self, configuration):
            count[0] += 1
            return real(self, configuration)
        return configure
    for cls, real in originals.items():
        cls.__getitem__ = counting(real)
    try:
        fn()
    finally:
        for cls, real in originals.items():
            cls.__getitem__ = real
    return count[0]


def record(workload, variant, seconds, extra=""):
    ROWS.append((workload, variant, f"{seconds * 1e3:.3f} ms", extra))
    print("  ".join(ROWS[-1]), flush=True)


def jax_gpu():
    """JAX when it is installed and sees a GPU, else None."""
    if not importlib.util.find_spec("jax"):
        return None
    try:
        import jax
        return jax if any(d.platform == "gpu" for d in jax.devices()) else None
    except Exception:  # noqa: BLE001 - a JAX without a GPU plugin only loses its rows
        return None


# ---------------------------------------------------------------- the GPU's copy bandwidth

def copy_bandwidth(n_bytes, sync):
    """Device-to-device copy: bytes read plus bytes written per second (the ceiling for W1)."""
    src = cuda.to_device(np.random.default_rng(2).integers(0, 255, size=n_bytes, dtype=np.uint8))
    dst = cuda.device_array(n_bytes, np.uint8)
    seconds = best_time(lambda: dst.copy_to_device(src), sync)
    record(f"device-to-device copy, {n_bytes / 1e9:g} GB", "cuMemcpyDtoD (the bandwidth ceiling)", seconds,
           f"{2 * n_bytes / seconds / 1e9:.1f} GB/s")
    return 2 * n_bytes / seconds


# ---------------------------------------------------------------- W1: fused elementwise

def expression(lib, x, y):  # 10 elementwise ops
    return lib.tanh(x) * lib.exp(-(y * y)) + lib.sqrt(lib.abs(x - y)) / (1.0 + x * x)


def _hand_written(out, x, y):
    for i in range(cuda.grid(1), x.shape[0], cuda.gridsize(1)):
        a, b = x[i], y[i]
        out[i] = math.tanh(a) * math.exp(-(b * b)) + math.sqrt(abs(a - b)) / (1.0 + a * a)


def w1_elementwise(n, dtype, sync, ceiling):
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

    def bandwidth(seconds):
        share = f", {moved / seconds / ceiling:.0%} of the copy bandwidth" if ceiling else ""
        return f"{moved / seconds / 1e9:.1f} GB/s{share}"
    out = cuda.device_array(n, dtype)
    blocks = min(8192, -(-n // 256))
    seconds = best_time(lambda: hand_written[blocks, 256](out, dx, dy), sync)
    record(label, "hand-written numba.cuda kernel (baseline)", seconds, bandwidth(seconds))
    seconds = best_time(lambda: on_device(dx, dy), sync)
    record(label, "symgraph cuda, device arrays in and out", seconds, bandwidth(seconds))
    profile(label, lambda: on_device(dx, dy), sync)
    jax = jax_gpu()
    if jax is not None:
        import jax.numpy as jnp
        jitted = jax.jit(lambda a, b: expression(jnp, a, b))
        jx, jy = jax.device_put(x), jax.device_put(y)
        seconds = best_time(lambda: jitted(jx, jy).block_until_ready(), lambda: None)
        record(label, "JAX jit on the same GPU", seconds, bandwidth(seconds))
    if n <= 20_000_000:
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
    record(label, "symgraph cuda, batch already on the device", best_time(lambda: step(dX, dY), sync),
           f"{launches_per_call(lambda: step(dX, dY))} kernel launches per call")
    profile(label, lambda: step(dX, dY), sync, calls=50)
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
    jax = jax_gpu()
    if jax is not None:
        import jax.numpy as jnp

        def jax_loss(p, a, b):
            h = jax.nn.relu(a @ p[0] + p[1])
            h = jax.nn.relu(h @ p[2] + p[3])
            return -jnp.mean(jnp.sum(b * jax.nn.log_softmax(h @ p[4] + p[5], axis=1), axis=1))

        @jax.jit
        def jax_step(p, a, b):
            loss, g = jax.value_and_grad(jax_loss)(p, a, b)
            return loss, [w - 0.01 * d for w, d in zip(p, g)]
        state = {"p": [jax.device_put(p) for p in mlp_parameters()]}
        jX, jY = jax.device_put(X), jax.device_put(Y)

        def run_jax_step():
            loss, state["p"] = jax_step(state["p"], jX, jY)
            loss.block_until_ready()
        record(label, "JAX jit on the same GPU", best_time(run_jax_step, lambda: None))


# ---------------------------------------------------------------- W9: LeNet-style CNN training step

def w9_lenet(batch, sync):
    """The W9 step of benchmarks/run.py (conv 5x5 - ReLU - max pool - conv 5x5 - ReLU - max pool - 3 dense
    layers, float32) with backend="cuda", parameters resident on the device, against PyTorch eager and JAX jit
    on the same GPU; checked against the NumPy step first."""
    from run import W9_SIDE, build_lenet_step, numpy_lenet_step, torch_lenet_loss, w9_data
    params, X, Y = w9_data(batch)
    label = f"W9 LeNet-style CNN SGD step, {W9_SIDE}x{W9_SIDE}x1, float32, batch {batch}"
    start = time.perf_counter()
    step, forward, shared = build_lenet_step(params, backend="cuda")
    reference = [p.copy() for p in params]
    np.testing.assert_allclose(step(X, Y), numpy_lenet_step(reference, X, Y), rtol=1e-3)
    record(label, "symgraph cuda: build + grad + compile + first call", time.perf_counter() - start)
    for p, r in zip(shared, reference):
        np.testing.assert_allclose(p.get_value(), r, rtol=1e-3, atol=1e-4)
    dX, dY = cuda.to_device(X), cuda.to_device(Y)
    record(label, "symgraph cuda step, batch already on the device", best_time(lambda: step(dX, dY), sync))
    record(label, "symgraph cuda forward only", best_time(lambda: forward(dX, dY), sync))
    profile(label, lambda: step(dX, dY), sync, calls=20)
    if importlib.util.find_spec("torch"):
        import torch
        if torch.cuda.is_available():
            tp = [torch.tensor(p, device="cuda", requires_grad=True) for p in params]
            tX, tY = torch.tensor(X, device="cuda"), torch.tensor(Y, device="cuda")

            def torch_step():
                out = torch_lenet_loss(tp, tX, tY)
                for p, g in zip(tp, torch.autograd.grad(out, tp)):
                    p.data -= 0.01 * g
            record(label, "PyTorch eager (cuDNN) on the same GPU", best_time(torch_step, torch.cuda.synchronize))
    jax = jax_gpu()
    if jax is not None:
        from run import jax_lenet_loss
        jax_loss = jax_lenet_loss()

        @jax.jit
        def jax_step(p, a, b):
            loss, g = jax.value_and_grad(jax_loss)(p, a, b)
            return loss, [w - 0.01 * d for w, d in zip(p, g)]
        state = {"p": [jax.device_put(p) for p in params]}
        jX, jY = jax.device_put(X), jax.device_put(Y)

        def run_jax_step():
            loss, state["p"] = jax_step(state["p"], jX, jY)
            loss.block_until_ready()
        record(label, "JAX jit on the same GPU", best_time(run_jax_step, lambda: None))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument("--simulator", action="store_true", help="tiny sizes under Numba's CUDA simulator")
    parser.add_argument("--profile", action="store_true", help="also print where the host time of a call goes")
    args = parser.parse_args()
    from symgraph.codegen.cuda.runtime import require_cuda
    require_cuda()   # a clear message when there is no GPU
    sync = cuda.synchronize
    if args.simulator:
        n, sizes, batch = 64, (8, 6, 5, 3), 4
    elif args.quick:
        n, sizes, batch = 1_000_000, (784, 512, 256, 10), 128
    else:
        n, sizes, batch = 10_000_000, (784, 512, 256, 10), 128
    device = "CUDA simulator" if args.simulator else cuda.get_current_device().name
    device = device if isinstance(device, str) else device.decode()
    print(f"device: {device}", flush=True)
    failed = []

    def attempt(name, run, *run_args):
        try:
            return run(*run_args)
        except Exception:  # noqa: BLE001 - report it, run the other workloads
            failed.append(name)
            traceback.print_exc()
            return None
    ceiling = None if args.simulator else attempt("copy", copy_bandwidth, 8 * n * 4, sync)
    for dtype in ("float32", "float64"):
        attempt(f"W1 {dtype}", w1_elementwise, n, dtype, sync, ceiling)
    if not args.simulator and not args.quick:
        attempt("W1 float32 100M", w1_elementwise, 10 * n, "float32", sync, ceiling)
    attempt("W3", w3_mlp, sizes, batch, sync)
    if not args.simulator and not args.quick:
        attempt("W3 batch 1024", w3_mlp, sizes, 8 * batch, sync)   # 8x the arithmetic, the same launches
    if not args.simulator:      # one step of 28x28 images takes minutes under the simulator
        attempt("W9", w9_lenet, 64, sync)
    print(f"\ndevice: {device}\n")
    print("| workload | variant | time | effective bandwidth |")
    print("| --- | --- | --- | --- |")
    for row in ROWS:
        print("| " + " | ".join(row) + " |")
    if failed:
        sys.exit("failed: " + ", ".join(failed))


if __name__ == "__main__":
    main()
