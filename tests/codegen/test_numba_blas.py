"""The BLAS intrinsics of the numba backend and SGD-style updates accumulated in place by gemm (beta=1).

``gemm`` is checked against NumPy for every layout (C, F, strided, broadcast, 1-d
operands) in float32 and float64; in-place updates against the python backend over
several steps, including the cases that must fall back to the ordinary path (the
product reads the shared variable it writes, broadcasting shapes) and calls that
raise, which must leave every shared variable unchanged.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import numba as nb
import numpy as np
import pytest

import symgraph as sg
from symgraph.codegen.numba import blas
from symgraph.codegen.numba.blas import gemm, overlaps

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@nb.njit
def call_gemm(alpha, a, b, beta, out):
    return gemm(alpha, a, b, beta, out)


@nb.njit
def call_overlaps(x, y):
    return overlaps(x, y)


def layouts(matrix):
    """The same values as C, F, transposed-view, row-strided, column-strided and negative-stride arrays."""
    rows, cols = matrix.shape
    wide = np.zeros((rows * 2, cols * 3), matrix.dtype)
    wide[::2, ::3] = matrix
    padded = np.zeros((rows * 2, cols + 2), matrix.dtype)    # rows apart by more than a row: a leading dimension
    padded[::2, :cols] = matrix
    reversed_rows = matrix[::-1].copy()[::-1]
    return {"C": matrix.copy(), "F": np.asfortranarray(matrix), "T": matrix.T.copy().T,
            "rows": padded[::2, :cols], "strided": wide[::2, ::3], "negative": reversed_rows}


BLAS_READY = {"C", "F", "T", "rows"}


@pytest.fixture(params=["numpy cblas", "numba_xxgemm"])
def call_gemm_bound(request):
    """``call_gemm`` compiled afresh with the gemm symbol bound to NumPy's CBLAS (through the adapter) or to
    Numba's numba_xxgemm (SciPy's BLAS); machine code resolves the symbol when it is loaded."""
    use_numpy = request.param == "numpy cblas"
    if use_numpy and blas.numpy_cblas() is None:
        pytest.skip("NumPy's CBLAS symbols are not exported by this NumPy build")
    name = blas.bind_gemm(use_numpy=use_numpy)
    assert name.startswith("NumPy") == use_numpy
    try:
        yield nb.njit(call_gemm.py_func)
    finally:
        blas.bind_gemm()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gemm_matches_numpy_for_every_layout(dtype, call_gemm_bound):
    call_gemm = call_gemm_bound
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(5, 3)).astype(dtype), rng.normal(size=(3, 4)).astype(dtype)
    tol = 1e-5 if dtype == "float32" else 1e-12
    for a_name, x in layouts(a).items():
        for b_name, y in layouts(b).items():
            out = rng.normal(size=(5, 4)).astype(dtype)
            before = out.copy()
            status = call_gemm(2.0, x, y, 0.5, out)
            if a_name in BLAS_READY and b_name in BLAS_READY:
                assert status == 0, (a_name, b_name)
                np.testing.assert_allclose(out, 2 * (a.astype("float64") @ b) + 0.5 * before, rtol=tol, atol=tol)
            else:   # nothing is written; the caller copies the operand and calls again
                assert status & (1 if a_name not in BLAS_READY else 2), (a_name, b_name)
                np.testing.assert_array_equal(out, before)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gemm_vectors_empty_and_guards(dtype, call_gemm_bound):
    call_gemm = call_gemm_bound
    rng = np.random.default_rng(1)
    m = rng.normal(size=(5, 3)).astype(dtype)
    v = rng.normal(size=9).astype(dtype)[::3]      # a strided vector is a column with a leading dimension
    w = rng.normal(size=5).astype(dtype)
    out = np.zeros(5, dtype)
    assert call_gemm(1.0, m, v, 0.0, out) == 0
    np.testing.assert_allclose(out, m @ v, rtol=1e-5)
    out = np.zeros(3, dtype)
    assert call_gemm(1.0, w, m, 0.0, out) == 0
    np.testing.assert_allclose(out, w @ m, rtol=1e-5)
    out = np.zeros(1, dtype)
    assert call_gemm(1.0, w, w, 0.0, out) == 0
    np.testing.assert_allclose(out[0], w @ w, rtol=1e-5)
    ones = np.ones((5, 4), dtype)       # k == 0: out = beta * out
    assert call_gemm(1.0, np.zeros((5, 0), dtype), np.zeros((0, 4), dtype), 0.5, ones) == 0
    np.testing.assert_array_equal(ones, 0.5)
    assert call_gemm(1.0, m, m, 0.0, np.zeros((5, 3), dtype)) == 8          # inner lengths differ
    broadcast = np.broadcast_to(w[:1], (3, 4))
    assert call_gemm(1.0, m, broadcast, 0.0, np.zeros((5, 4), dtype)) == 2


def test_lp64_cblas_adapter_matches_numpy_and_refuses_lengths_it_cannot_take():
    """The adapter for a 32-bit-integer CBLAS, exercised on SciPy's bundled OpenBLAS when it exports one."""
    import ctypes
    import glob
    import llvmlite.binding as llvm
    import scipy
    paths = glob.glob(os.path.join(os.path.dirname(scipy.__file__) + ".libs", "libscipy_openblas*.so"))
    try:
        library = ctypes.CDLL(paths[0])
        single, double = library.scipy_cblas_sgemm, library.scipy_cblas_dgemm
    except (IndexError, OSError, AttributeError):
        pytest.skip("no LP64 CBLAS (SciPy's bundled OpenBLAS) to test the 32-bit adapter on")
    addresses = [ctypes.cast(f, ctypes.c_void_p).value for f in (single, double)]
    address = blas._cblas_adapter(*addresses, 32)
    try:
        llvm.add_symbol(blas.GEMM_SYMBOL, address)
        call = nb.njit(call_gemm.py_func)
        rng = np.random.default_rng(3)
        for dtype in ("float32", "float64"):
            a, b = rng.normal(size=(5, 3)).astype(dtype), rng.normal(size=(3, 4)).astype(dtype)
            for x in (a, np.asfortranarray(a)):
                out = np.zeros((5, 4), dtype)
                assert call(1.0, x, b.T.copy().T, 0.0, out) == 0
                np.testing.assert_allclose(out, a @ b, rtol=1e-5)
        pointer, length = ctypes.c_void_p, ctypes.c_int64
        refuse = ctypes.CFUNCTYPE(ctypes.c_int32, *[ctypes.c_char] * 3, *[length] * 3,      # (numba_xxgemm's)
                                  pointer, pointer, length, pointer, length, pointer, pointer, length)(address)
        assert refuse(b"s", b"n", b"n", 2**31, 1, 1, None, None, 2**31, None, 1, None, None, 2**31) == 1
    finally:
        blas.bind_gemm()


def test_overlaps():
    x = np.zeros((4, 4))
    assert call_overlaps(x, x.T) and call_overlaps(x[:2], x[1:]) and call_overlaps(x[::-1], x[:1])
    assert not call_overlaps(x[:2], x[2:]) and not call_overlaps(x[:0], x) and not call_overlaps(x, np.zeros(3))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dot_lowering_handles_transposes_vectors_and_broadcast_views(dtype):
    rng = np.random.default_rng(2)
    A, B, v = sg.matrix("A", dtype), sg.matrix("B", dtype), sg.vector("v", dtype)
    outputs = [A @ B, A.T @ A, A @ B.T.T, A @ v, v @ B, sg.dot(v, v),
               sg.dot(A, sg.broadcast_to(v[:1], (4, 2)))]
    f = sg.function([A, B, v], outputs)
    g = sg.function([A, B, v], outputs, backend="python")
    a, b, x = (rng.normal(size=s).astype(dtype) for s in ((3, 4), (4, 3), (4,)))
    got, want = f(a, b, x), g(a, b, x)
    for r, w in zip(got, want):
        np.testing.assert_allclose(r, w, rtol=1e-5)
    assert "np.dot" not in f.source and re.search(r"rt\.gemm(_copying)?_checked\(", f.source)


# ---------------------------------------------------------------- in-place updates

def mlp_step(backend, seed=3, lr=0.05):
    rng = np.random.default_rng(seed)
    W1 = sg.shared(rng.normal(size=(6, 5)).astype("float32"), name="W1")
    b1 = sg.shared(np.zeros(5, "float32"), name="b1")
    W2 = sg.shared(rng.normal(size=(5, 3)).astype("float32"), name="W2")
    X, Y = sg.matrix("X", "float32"), sg.matrix("Y", "float32")
    h = sg.relu(X @ W1 + b1)
    loss = sg.mean((h @ W2 - Y) ** 2)
    params = [W1, b1, W2]
    grads = sg.grad(loss, params)
    step = sg.function([X, Y], loss, updates=[(p, p - lr * g) for p, g in zip(params, grads)], backend=backend)
    return step, params


def test_inplace_updates_match_python_backend_over_steps():
    fast, fast_params = mlp_step("numba")
    slow, slow_params = mlp_step("python")
    assert fast.source.count("# in place:") == 2        # W1 and W2 (b1 has no product)
    rng = np.random.default_rng(4)
    storage = fast_params[0].get_value(borrow=True)
    for _ in range(4):
        X, Y = rng.normal(size=(7, 6)).astype("float32"), rng.normal(size=(7, 3)).astype("float32")
        np.testing.assert_allclose(fast(X, Y), slow(X, Y), rtol=1e-5)
        for p, q in zip(fast_params, slow_params):
            np.testing.assert_allclose(p.get_value(), q.get_value(), rtol=1e-5, atol=1e-6)
    assert fast_params[0].get_value(borrow=True) is storage      # written in place, same array


def test_failing_call_leaves_shared_values_unchanged():
    step, params = mlp_step("numba")
    before = [p.get_value() for p in params]
    rng = np.random.default_rng(5)
    X = rng.normal(size=(7, 6)).astype("float32")
    with pytest.raises(ValueError):                 # Y's rows do not broadcast: detected after the products
        step(X, rng.normal(size=(4, 3)).astype("float32"))
    with pytest.raises(ValueError):                 # X's columns do not fit W1
        step(rng.normal(size=(7, 5)).astype("float32"), rng.normal(size=(7, 3)).astype("float32"))
    for p, b in zip(params, before):
        np.testing.assert_array_equal(p.get_value(), b)


def test_check_after_the_products_fails_before_any_write():
    rng = np.random.default_rng(6)
    W = sg.shared(rng.normal(size=(4, 3)), name="W")
    V = sg.shared(rng.normal(size=(4, 3)), name="V")
    A, G, Z = sg.matrix("A"), sg.matrix("G"), sg.matrix("Z")
    # The output Z + A @ W fails its shape check only after W's and V's products are computed.
    f = sg.function([A, G, Z], [W, Z + A @ W], updates=[(W, W - 0.1 * (A.T @ G)), (V, V + 2.0 * (A.T @ sg.tanh(G)))])
    assert f.source.count("# in place:") == 2
    before = [W.get_value(), V.get_value()]
    a, g = rng.normal(size=(5, 4)), rng.normal(size=(5, 3))
    with pytest.raises(ValueError):
        f(a, g, rng.normal(size=(2, 3)))
    np.testing.assert_array_equal(W.get_value(), before[0])
    np.testing.assert_array_equal(V.get_value(), before[1])
    old, result = f(a, g, np.zeros((5, 3)))
    np.testing.assert_array_equal(old, before[0])            # the output W is the value before the update
    np.testing.assert_allclose(result, a @ before[0])
    np.testing.assert_allclose(W.get_value(), before[0] - 0.1 * (a.T @ g), rtol=1e-12)
    np.testing.assert_allclose(V.get_value(), before[1] + 2.0 * (a.T @ np.tanh(g)), rtol=1e-12)


def test_product_reading_its_own_target_falls_back():
    rng = np.random.default_rng(7)
    start, g = rng.normal(size=(4, 4)), rng.normal(size=(4, 4))
    results = []
    for backend in ("numba", "python"):
        W = sg.shared(start, name="W")
        U = sg.shared(start + 1, name="U")
        G = sg.matrix("G")
        # W's product reads W itself; U's reads W, which W's gemm would be writing.
        f = sg.function([G], [], updates=[(W, W - 0.5 * (W.T @ G)), (U, U - 0.5 * (W @ G))], backend=backend)
        assert backend == "python" or f.source.count("# in place:") == 2
        for _ in range(2):
            f(g)
        results.append((W.get_value(), U.get_value()))
    for got, want in zip(*results):
        np.testing.assert_allclose(got, want, rtol=1e-12)


def test_two_shared_variables_on_one_array_fall_back():
    rng = np.random.default_rng(8)
    array = rng.normal(size=(3, 3))
    W, V = sg.shared(array.copy(), name="W"), sg.shared(np.zeros((3, 3)), name="V")
    V.set_value(W.get_value(borrow=True), borrow=True)     # both hold the same array
    G = sg.matrix("G")
    f = sg.function([G], [], updates=[(W, W - 1.0 * (G @ G)), (V, V + 1.0 * (G.T @ G))])
    g = rng.normal(size=(3, 3))
    f(g)
    np.testing.assert_allclose(W.get_value(), array - g @ g, rtol=1e-12)
    np.testing.assert_allclose(V.get_value(), array + g.T @ g, rtol=1e-12)


def test_broadcasting_product_takes_the_ordinary_path():
    rng = np.random.default_rng(9)
    start = rng.normal(size=(4, 3))
    W = sg.shared(start, name="W")
    A, G = sg.matrix("A"), sg.matrix("G")
    f = sg.function([A, G], [], updates=[(W, W - 0.1 * (A.T @ G))])
    assert "# in place:" in f.source
    a, g = rng.normal(size=(2, 1)), rng.normal(size=(2, 3))   # the product is (1, 3): broadcast over W's rows
    f(a, g)
    np.testing.assert_allclose(W.get_value(), start - 0.1 * (a.T @ g), rtol=1e-12)


def test_vector_update_in_place():
    rng = np.random.default_rng(10)
    start = rng.normal(size=4).astype("float32")
    b = sg.shared(start, name="b")
    A, v = sg.matrix("A", "float32"), sg.vector("v", "float32")
    f = sg.function([A, v], [], updates=[(b, b + 0.25 * (A @ v))])
    assert "# in place:" in f.source
    a, x = rng.normal(size=(4, 3)).astype("float32"), rng.normal(size=3).astype("float32")
    f(a, x)
    np.testing.assert_allclose(b.get_value(), start + 0.25 * (a @ x), rtol=1e-5)


def test_w3_step_source_uses_inplace_gemm():
    sys.path.insert(0, ROOT)
    from benchmarks.run import build_mlp_step
    step, _ = build_mlp_step()
    assert step.source.count("# in place:") == 3 and "np.dot" not in step.source
    assert step.source.rstrip().splitlines()[-1].strip().startswith("return")
    # each target is tested against X.T (an input: it may be a shared variable's memory) and the other two
    # targets, not against the gradients summed back to shape (kernel-made memory: Value.internal)
    assert step.source.count("rt.overlaps(") == 9


def test_gradients_summed_back_to_shape_are_returned_as_separate_arrays():
    """A sum_to_shape whose input already has the target shape hands that input back: two gradients that are
    the same buffer inside the kernel still reach the caller as two arrays (copies), as NumPy's would."""
    x, y, b = sg.matrix("x"), sg.matrix("y"), sg.vector("b")
    cost = sg.sum((x + y + b) ** 2)
    f = sg.function([x, y, b], sg.grad(cost, [x, y, b]))
    xv, yv, bv = np.ones((2, 3)), np.arange(6.0).reshape(2, 3), np.array([0.5, -1.0, 2.0])
    gx, gy, gb = f(xv, yv, bv)
    want = 2 * (xv + yv + bv)
    np.testing.assert_array_equal(gx, want)
    np.testing.assert_array_equal(gy, want)
    np.testing.assert_array_equal(gb, want.sum(axis=0))
    assert not np.shares_memory(gx, gy)


CACHE_SCRIPT = r'''
import json, numpy as np, symgraph as sg
W = sg.shared(np.arange(6.0).reshape(3, 2), name="W")
A, G = sg.matrix("A"), sg.matrix("G")
f = sg.function([A, G], A @ W, updates=[(W, W - 0.5 * (A.T @ G))])
a, g = np.eye(3)[:2], np.ones((2, 2))
out = f(a, g)
print("INFO" + json.dumps({"status": f.cache_info.status, "out": out.tolist(), "W": W.get_value().tolist()}))
'''


def test_kernel_using_the_intrinsics_loads_from_disk_in_a_new_process(tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT, SYMGRAPH_CACHE_DIR=str(tmp_path))
    infos = []
    for _ in range(2):
        done = subprocess.run([sys.executable, "-c", CACHE_SCRIPT], capture_output=True, text=True, env=env,
                              timeout=300)
        assert done.returncode == 0, done.stderr
        infos.append(json.loads(done.stdout.split("INFO", 1)[1]))
    assert [i["status"] for i in infos] == ["compiled", "loaded"]
    W = np.arange(6.0).reshape(3, 2)
    a, g = np.eye(3)[:2], np.ones((2, 2))
    for info in infos:
        np.testing.assert_allclose(info["out"], a @ W)
        np.testing.assert_allclose(info["W"], W - 0.5 * (a.T @ g))


def test_inplace_option_off_gives_a_fresh_array():
    rng = np.random.default_rng(11)
    start = rng.normal(size=(3, 2))
    W = sg.shared(start, name="W")
    A, G = sg.matrix("A"), sg.matrix("G")
    f = sg.function([A, G], [], updates=[(W, W - 0.5 * (A.T @ G))], inplace=False)
    assert "# in place:" not in f.source
    storage = W.get_value(borrow=True)
    a, g = rng.normal(size=(4, 3)), rng.normal(size=(4, 2))
    f(a, g)
    assert W.get_value(borrow=True) is not storage
    np.testing.assert_array_equal(storage, start)
    np.testing.assert_allclose(W.get_value(), start - 0.5 * (a.T @ g), rtol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_matmul_rows_is_one_gemm_for_contiguous_batches_and_one_per_matrix_otherwise(dtype):
    rng = np.random.default_rng(4)
    b = rng.standard_normal((5, 3)).astype(dtype)
    tol = {"rtol": 1e-5} if dtype == "float32" else {"rtol": 1e-12}
    one, zero = np.dtype(dtype).type(1), np.dtype(dtype).type(0)
    for a in [rng.standard_normal((4, 2, 5)).astype(dtype),                         # C-contiguous: one gemm
              rng.standard_normal((2, 4, 5)).astype(dtype).transpose(1, 0, 2),      # strided: per matrix
              rng.standard_normal((2, 3, 2, 5)).astype(dtype)[:, ::2]]:
        out = np.full(a.shape[:-1] + (3,), 7, dtype)
        assert blas.matmul_rows(one, a, b, zero, out) == 0
        np.testing.assert_allclose(out, a @ b, **tol)
        # an output whose matrices are not one block (their rows BLAS can still address): per matrix
        shape = a.shape[:-1] + (3,)
        split_out = np.full(shape[1:2] + shape[:1] + shape[2:], 7, dtype).swapaxes(0, 1)
        assert not split_out.flags.c_contiguous
        assert blas.matmul_rows(one, a, b, zero, split_out) == 0
        np.testing.assert_allclose(split_out, a @ b, **tol)
