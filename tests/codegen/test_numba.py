"""The numba backend against the python reference: every op of the catalogue, gradients, Hessians, float32.

Numba compiles are slow, so rows are checked many at a time: all rows of the
catalogue (and, separately, their gradients) go into one compiled function per
dtype, and each output is compared with the python backend on its own so a
failure names its row. The disk cache points into a temporary directory.
"""
from __future__ import annotations

import os
import threading

import numpy as np
import pytest

import symgraph as sg
from symgraph.codegen.numba import LOWERINGS, lowering_for
from symgraph.codegen.numba.lower import _ensure_lowerings_loaded
from symgraph.graph import toposort
from symgraph.ops.base import OP_REGISTRY
from tests.ops.catalogue import CATALOGUE, FAMILIES, sample_inputs, symbolic_inputs


FULL = os.environ.get("SYMGRAPH_FULL_NUMBA_TESTS", "") not in ("", "0")


def test_every_registered_op_has_a_numba_lowering():
    _ensure_lowerings_loaded()
    missing = []
    for name, cls in sorted(OP_REGISTRY.items()):
        if LOWERINGS.find(cls) is None and not LOWERINGS.reason_unsupported(cls):   # (OpFromGraph: inlined)
            missing.append(name)
    assert not missing, f"ops without a numba lowering: {missing}"


def test_lowering_dispatch_is_one_table():
    from symgraph.ops.elemwise import Elemwise, Exp
    assert lowering_for(Elemwise(Exp())) is LOWERINGS[Elemwise]


# ---------------------------------------------------------------- the catalogue, many rows per compile

def _rows(dtype, family=None, per_family=None):
    rows = [row for row in CATALOGUE if dtype in row.dtypes and (family is None or row.family == family)]
    if per_family is not None:  # the first rows of each family: every op, fewer compiles
        counts, chosen = {}, []
        for row in rows:
            counts[row.family] = counts.get(row.family, 0) + 1
            if counts[row.family] <= per_family:
                chosen.append(row)
        rows = chosen
    return rows


def _build_batch(rows, dtype, with_grads):
    """(inputs, outputs, values, labels) for ``rows`` (gradients of a weighted sum with ``with_grads``)."""
    rng = np.random.default_rng(1234)
    inputs, outputs, values, labels = [], [], [], []
    for row in rows:
        xs = symbolic_inputs(row, dtype)
        sample = sample_inputs(row, rng, dtype)
        out = row.build(*xs)
        if with_grads:
            if not row.differentiable:
                continue
            weights = sg.constant(rng.uniform(0.5, 1.5, size=np.shape(row.ref(*sample))).astype(out.dtype))
            cost = sg.sum(out * weights)
            wrt = [xs[i] for i in row.grad_wrt]
            produced = list(sg.grad(cost, wrt))
            names = [f"{row.id}: d/d in{i}" for i in row.grad_wrt]
        else:
            produced, names = [out], [row.id]
        inputs += xs
        values += sample
        outputs += produced
        labels += names
    return inputs, outputs, values, labels


# Rows per compiled function: Numba's compile time grows faster than the kernel's length, so the 103 rows
# covering the catalogue compile in 54 s as functions of 8 rows against 86 s as one function.
CHUNK = 8


def _compare_batch(rows, dtype, with_grads, optimizer):
    """``rows`` in compiled functions of ``CHUNK`` rows; each output compared with the python backend."""
    failures = []
    for start in range(0, len(rows), CHUNK):
        failures += _compare_chunk(rows[start:start + CHUNK], dtype, with_grads, optimizer)
    assert not failures, "\n".join(failures)


def _compare_chunk(rows, dtype, with_grads, optimizer):
    """One compiled function for ``rows``: the failures of its outputs against the python backend."""
    inputs, outputs, values, labels = _build_batch(rows, dtype, with_grads)
    if not outputs:
        return []
    reference = sg.function(inputs, outputs, backend="python", optimizer=optimizer)(*values)
    got = sg.function(inputs, outputs, backend="numba", optimizer=optimizer)(*values)
    tol = {"rtol": 2e-4, "atol": 2e-5} if dtype == "float32" else {"rtol": 1e-9, "atol": 1e-10}
    failures = []
    for label, g, want in zip(labels, got, reference):
        g, want = np.asarray(g), np.asarray(want)
        if g.dtype != want.dtype or g.shape != want.shape:
            failures.append(f"{label}: got {g.dtype}{g.shape}, python backend {want.dtype}{want.shape}")
            continue
        try:
            np.testing.assert_allclose(g, want, **tol)
        except AssertionError as exc:
            failures.append(f"{label}: {str(exc).strip().splitlines()[-1]}")
    return failures


def _covering_rows(dtype, differentiable=False, scalar_ops=True):
    """The fewest catalogue rows (in order) that together use every op (and scalar op) the catalogue uses."""
    seen, chosen = set(), []
    for row in _rows(dtype):
        if differentiable and not row.differentiable:
            continue
        out = row.build(*symbolic_inputs(row, dtype))
        kinds = {(type(node.op).__name__, str(getattr(node.op, "scalar_op", "")) if scalar_ops else "")
                 for node in toposort([out])}
        if not kinds <= seen:
            seen |= kinds
            chosen.append(row)
    return chosen


@pytest.mark.skipif(not FULL, reason="every row of the catalogue: set SYMGRAPH_FULL_NUMBA_TESTS=1 (~10 min)")
@pytest.mark.parametrize("family", FAMILIES)
def test_every_catalogue_row_matches_python_backend(family):
    """Every row of a family (float64), unoptimized so each op's own lowering runs, in one function."""
    _compare_batch(_rows("float64", family), "float64", with_grads=False, optimizer=None)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_every_catalogue_op_matches_python_backend(dtype):
    """Rows covering every op of the catalogue, unoptimized (each op's own lowering), in one function."""
    _compare_batch(_covering_rows(dtype, scalar_ops=dtype == "float64"), dtype, with_grads=False, optimizer=None)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_catalogue_gradients_match_python_backend(dtype):
    """Gradients of rows covering every differentiable op, optimized (fused loops), in one function."""
    _compare_batch(_covering_rows(dtype, differentiable=True, scalar_ops=False), dtype, with_grads=True,
                   optimizer="fast_run")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_hessian_matches_python_backend(dtype):
    rng = np.random.default_rng(5)
    A = sg.matrix("A", dtype)
    w = sg.vector("w", dtype)
    cost = sg.sum(sg.tanh(A @ w) ** 2) + sg.logsumexp(w)
    outputs = [cost, sg.grad(cost, w), sg.hessian(cost, w)]
    values = [rng.normal(size=(6, 5)).astype(dtype), rng.normal(size=5).astype(dtype)]
    want = sg.function([A, w], outputs, backend="python")(*values)
    got = sg.function([A, w], outputs, backend="numba")(*values)
    for g, r in zip(got, want):
        assert g.dtype == np.dtype(dtype)
        np.testing.assert_allclose(g, r, **({"rtol": 1e-4, "atol": 1e-5} if dtype == "float32" else {"rtol": 1e-10}))


# ---------------------------------------------------------------- seeded random graphs

def _random_graph(rng, x, y, steps=8):
    """A random straight-line program over x (a matrix) and y (a vector), broadcasting included."""
    values = [x, y, x * 0.5]
    unary = [sg.tanh, sg.sigmoid, sg.exp, sg.softplus, sg.sin, lambda v: v * v, sg.relu, sg.abs]
    binary = [lambda a, b: a + b, lambda a, b: a * b, lambda a, b: a - b, sg.maximum,
              lambda a, b: a / (1.5 + b * b)]
    for _ in range(steps):
        choice = rng.integers(4)
        a = values[rng.integers(len(values))]
        if choice == 0:
            v = unary[rng.integers(len(unary))](sg.tanh(a))
        elif choice == 1:
            b = values[rng.integers(len(values))]
            v = binary[rng.integers(len(binary))](a, b)
        elif choice == 2 and a.ndim == 2:
            v = sg.sum(a, axis=int(rng.integers(2)), keepdims=True)  # (3, 1) or (1, 4): broadcasts with x
        else:
            v = (sg.tanh(x * a) @ sg.tanh(y))[:, None] if a.ndim == 2 else sg.softmax(a)
        values.append(v)
    return sg.sum(values[-1]) + sg.sum(values[-2]) + sg.sum(values[-3])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_seeded_random_graphs_match_python_backend(dtype):
    """Two random graphs, their gradients and a Hessian-vector product, in one compiled function.

    (Second-derivative graphs compile slowly in Numba: this test takes about a minute per dtype.)"""
    rng = np.random.default_rng(2024)
    inputs, outputs, values = [], [], []
    for g in range(2):
        x, y = sg.matrix(f"x{g}", dtype), sg.vector(f"y{g}", dtype)
        cost = _random_graph(rng, x, y, steps=5)
        gx, gy = sg.grad(cost, [x, y], disconnected="zero")
        hvp = sg.grad(sg.sum(gy * sg.tanh(y)) + sg.sum(y * y), y)
        inputs += [x, y]
        outputs += [cost, gx, gy, hvp]
        values += [rng.uniform(-1, 1, size=(3, 4)).astype(dtype), rng.uniform(-1, 1, size=4).astype(dtype)]
    want = sg.function(inputs, outputs, backend="python")(*values)
    got = sg.function(inputs, outputs, backend="numba")(*values)
    tol = {"rtol": 5e-4, "atol": 5e-5} if dtype == "float32" else {"rtol": 1e-9, "atol": 1e-11}
    for k, (a, b) in enumerate(zip(got, want)):
        assert a.dtype == b.dtype == np.dtype(dtype), f"output {k}"
        np.testing.assert_allclose(a, b, err_msg=f"output {k} (graph {k // 4})", **tol)


# ---------------------------------------------------------------- float32 discipline, source, parallel loops

def test_float32_graph_stays_float32_end_to_end():
    x = sg.vector("x", "float32")
    y = sg.maximum(x, 0.0) * 2.5 + sg.exp(-x) / 3.0 + sg.sigmoid(x) - sg.softplus(x) + sg.relu(x)
    f = sg.function([x], [y, sg.sum(y), sg.logsumexp(x), sg.softmax(x)])
    assert "float64" not in f.source.replace("float64(", "").replace("nb.float64", ""), f.source
    xs = np.linspace(-3, 3, 7).astype("float32")
    got = f(xs)
    want = sg.function([x], [y, sg.sum(y), sg.logsumexp(x), sg.softmax(x)], backend="python")(xs)
    for a, b in zip(got, want):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_source_is_one_readable_jitted_function():
    x = sg.vector("x")
    f = sg.function([x], sg.exp(x) * 2 + 1)
    assert f.source.count("@nb.njit") == 1
    assert "def kernel(" in f.source
    compile(f.source, "<generated>", "exec")  # plain Python


def test_large_arrays_run_the_parallel_loop_and_agree():
    x, y = sg.vector("x"), sg.vector("y")
    expression = sg.tanh(x) * sg.exp(-y * y) + sg.sqrt(sg.abs(x - y)) / (1 + x * x)
    f = sg.function([x, y], expression)
    assert "prange" in f.source
    rng = np.random.default_rng(0)
    for n in (10, 200_000):
        a, b = rng.normal(size=n), rng.normal(size=n)
        want = np.tanh(a) * np.exp(-b * b) + np.sqrt(np.abs(a - b)) / (1 + a * a)
        np.testing.assert_allclose(f(a, b), want, rtol=1e-10, atol=1e-15)
    # broadcasting (a length-1 input) takes the nested loop
    np.testing.assert_allclose(f(np.array([0.5]), b[:5]),
                               np.tanh(0.5) * np.exp(-b[:5] ** 2) + np.sqrt(np.abs(0.5 - b[:5])) / 1.25)


@pytest.mark.parametrize("shape", [(500, 500), (40, 50, 60)])
def test_parallel_loops_over_several_axes_write_their_outputs(shape):
    """A heavy elementwise node of two or more axes with at least PARALLEL_MIN_SIZE elements runs a prange
    loop over flat views of its arrays: its result, returned and read by a later node (the sum), is the
    NumPy one (Numba's parfor passes once dropped the loop's writes: W8's gradient read uninitialised memory)."""
    x, y = sg.tensor("x", "float64", (None,) * len(shape)), sg.tensor("y", "float64", (None,) * len(shape))
    heavy = -(x * y * 0.5 / (1 + y * y) * x)
    f = sg.function([x, y], [heavy, sg.sum(heavy), sg.sum(heavy * heavy)])
    assert "prange" in f.source
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=shape), rng.normal(size=shape)
    want = -(a * b * 0.5 / (1 + b * b) * a)
    got, total, squares = f(a, b)
    np.testing.assert_allclose(got, want, rtol=1e-14)
    np.testing.assert_allclose(total, want.sum(), rtol=1e-9)
    np.testing.assert_allclose(squares, (want * want).sum(), rtol=1e-9)
    g = sg.function([x, y], sg.sum(heavy))          # the loop's result only read by the sum
    np.testing.assert_allclose(g(a, b), want.sum(), rtol=1e-9)


def test_kernels_calling_blas_start_parallel_loops_only_on_much_larger_arrays():
    """OpenBLAS's threads spin after a product: a prange loop started then fights them for the cores, so a
    kernel with a BLAS call runs its elementwise loops in parallel from PARALLEL_MIN_SIZE_WITH_BLAS
    elements, one without from PARALLEL_MIN_SIZE."""
    from symgraph.codegen.numba.kernel import PARALLEL_MIN_SIZE, PARALLEL_MIN_SIZE_WITH_BLAS
    a, b = sg.matrix("a"), sg.matrix("b")
    heavy = lambda m: -(m * m * 0.5 / (1 + m * m) * m)          # noqa: E731
    plain = sg.function([a], heavy(a))
    with_blas = sg.function([a, b], heavy(sg.dot(a, b)))
    assert f">= {PARALLEL_MIN_SIZE}:" in plain.source and f">= {PARALLEL_MIN_SIZE_WITH_BLAS}:" not in plain.source
    assert f">= {PARALLEL_MIN_SIZE_WITH_BLAS}:" in with_blas.source
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(300, 40)), rng.normal(size=(40, 300))
    p = x @ y
    np.testing.assert_allclose(with_blas(x, y), -(p * p * 0.5 / (1 + p * p) * p), rtol=1e-12)


def test_non_contiguous_and_other_dtype_inputs_are_accepted():
    x = sg.matrix("x")
    f = sg.function([x], sg.sum(x * 2, axis=0))
    a = np.arange(12.0).reshape(3, 4)
    np.testing.assert_allclose(f(a.T), (a.T * 2).sum(axis=0))
    np.testing.assert_allclose(f(a.astype("int32")), (a * 2).sum(axis=0))
    np.testing.assert_allclose(f([[1, 2], [3, 4]]), [8.0, 12.0])


def test_concurrent_calls_from_threads_are_correct():
    x = sg.vector("x")
    f = sg.function([x], sg.tanh(x) * 3 + x)
    errors = []

    def work(seed):
        rng = np.random.default_rng(seed)
        for _ in range(200):
            a = rng.normal(size=int(rng.integers(1, 50)))
            if not np.allclose(f(a), np.tanh(a) * 3 + a):
                errors.append(seed)

    threads = [threading.Thread(target=work, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_a_broadcast_read_only_for_its_shape_is_never_made_but_still_checked():
    """``sum_to_shape``'s ``like`` is read for its lengths only: the kernel binds the lengths of a
    ``broadcast_to`` that only such readers take and skips the view (less code to compile), yet a negative
    length still raises as the python backend does."""
    from symgraph.ops.reduce import SumToShape
    from symgraph.ops.shape import broadcast_to
    g, n, m = sg.matrix("g"), sg.scalar("n", dtype="int64"), sg.scalar("m", dtype="int64")
    like = broadcast_to(sg.constant(0.0), (n, m))
    summed = SumToShape()(g, like)
    f = sg.function([g, n, m], [summed, like.shape[0] * 2], cache=False)
    reference = sg.function([g, n, m], [summed, like.shape[0] * 2], backend="python")
    assert "rt.broadcast_to(" not in f.source and "rt.shape_size(" in f.source
    values = np.arange(12.0).reshape(3, 4)
    for lengths in [(3, 4), (1, 4), (3, 1), (1, 1)]:
        for got, want in zip(f(values, *lengths), reference(values, *lengths)):
            np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match="broadcast_to: cannot broadcast shape"):
        reference(values, -1, 4)
    with pytest.raises(ValueError, match="broadcast_to: a requested length is negative"):
        f(values, -1, 4)
    kept = sg.function([g, n, m], [summed, like], cache=False)      # read as a value too: made
    assert "rt.broadcast_to(" in kept.source
    np.testing.assert_array_equal(kept(values, 1, 4)[1], np.zeros((1, 4)))
