"""The numba backend's runtime library (codegen/numba/runtime.py): each helper against NumPy, the lowerings
that call it against the python backend (contiguous inputs use the helper, other inputs the inline
fallback), the sum_to_shape alias path, and the kernel cache key following runtime.py's source.

Many cases share one compiled function per dtype to keep the number of Numba compiles small.
"""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest

import symgraph as sg
from symgraph.codegen.numba import cache
from symgraph.codegen.numba import runtime as rt
from symgraph.ops.reduce import Reduce, SumToShape
from symgraph.ops.shape import broadcast_to, dimshuffle

KINDS = ("sum", "prod", "max", "min", "any", "all")
AXES = [(0,), (1,), (2,), (0, 1), (1, 2), (0, 1, 2), (0, 2)]


def _sample(dtype, shape, rng):
    if dtype == "bool":
        return rng.random(shape) < 0.5
    if np.dtype(dtype).kind == "i":
        return rng.integers(-3, 4, size=shape).astype(dtype)
    return rng.uniform(0.5, 1.5, size=shape).astype(dtype)


def _tolerance(dtype):
    return {"rtol": 2e-4, "atol": 2e-5} if dtype == "float32" else {"rtol": 1e-9, "atol": 1e-12}


def _compare(inputs, outputs, values, labels):
    reference = sg.function(inputs, outputs, backend="python", optimizer=None)(*values)
    function = sg.function(inputs, outputs, backend="numba", optimizer=None)
    got = function(*values)
    for label, g, want in zip(labels, got, reference):
        g, want = np.asarray(g), np.asarray(want)
        assert (g.dtype, g.shape) == (want.dtype, want.shape), label
        tol = _tolerance(want.dtype.name) if want.dtype.kind == "f" else {"rtol": 0, "atol": 0}
        np.testing.assert_allclose(g, want, err_msg=label, **tol)
    return function, got


# ---------------------------------------------------------------- helpers called directly

@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "bool"])
def test_row_helpers_match_numpy(dtype):
    x = _sample(dtype, (5, 7), np.random.default_rng(0))
    for kind in KINDS:
        want = getattr(np, kind)(x, axis=1)
        accumulate = "float64" if dtype == "float32" and kind in ("sum", "prod") else want.dtype
        identity = {"sum": 0, "prod": 1, "any": False, "all": True}.get(kind)
        if identity is None:
            info = np.finfo(dtype) if np.dtype(dtype).kind == "f" else None
            identity = (-np.inf if kind == "max" else np.inf) if info else x.reshape(-1)[0]
        got = getattr(rt, f"{kind}_rows")(x, 5, 7, np.asarray(identity).astype(accumulate)[()],
                                           want.dtype.type(0), (5,))
        assert got.dtype == want.dtype, kind
        np.testing.assert_allclose(got, want, **_tolerance(dtype), err_msg=kind)


def test_float32_sum_accumulates_in_float64():
    x = np.random.default_rng(1).uniform(0, 1, size=(3, 100_000)).astype("float32")
    got = rt.sum_rows(x, 3, 100_000, np.float64(0), np.float32(0), (3,))
    exact = np.sum(x.astype("float64"), axis=1)
    # accumulating in float64 then rounding once: exactly the float32 nearest the float64 sum
    np.testing.assert_array_equal(got, exact.astype("float32"))


def test_middle_helper_and_nan_propagation():
    x = np.random.default_rng(2).uniform(size=(2, 3, 4))
    x[1, 2, 3] = np.nan
    for kind in ("max", "min", "sum"):
        want = getattr(np, kind)(x, axis=1)
        identity = {"sum": 0.0, "max": -np.inf, "min": np.inf}[kind]
        got = getattr(rt, f"{kind}_middle")(x, 2, 3, 4, identity, identity, (2, 4))
        np.testing.assert_allclose(got, want, rtol=1e-12, err_msg=kind)
    # float32 accumulates in float64 (the identity's dtype) and the result has like's dtype
    column = np.array([1e8] + [1.0] * 100 + [-1e8], dtype=np.float32).reshape(1, 102, 1)
    got = rt.sum_middle(column, 1, 102, 1, np.float64(0), np.float32(0), (1,))
    assert got.dtype == np.float32 and got[0] == 100


def test_softmax_helpers_match_numpy_with_infinite_rows():
    x = np.random.default_rng(3).normal(size=(4, 5, 2)) * 50
    x[0, :, 0] = -np.inf
    x[1, 2, 1] = np.inf
    x[2, :, 1] += 1000
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        shift = np.max(x, axis=1, keepdims=True)
        shift = np.where(np.isfinite(shift), shift, 0)
        exp = np.exp(x - shift)
        total = exp.sum(axis=1, keepdims=True)
        want_softmax = exp / total
        want_log = (x - shift) - np.log(total)
        want_lse = (np.log(total) + shift)[:, 0, :]
    np.testing.assert_allclose(rt.softmax(x, 4, 5, 2, 0.0), want_softmax, rtol=1e-12)
    np.testing.assert_allclose(rt.log_softmax(x, 4, 5, 2, 0.0), want_log, rtol=1e-12)
    np.testing.assert_allclose(rt.logsumexp(x, 4, 5, 2, 0.0, (4, 2)), want_lse, rtol=1e-12)


def test_sum_to_shape_helpers():
    g = np.arange(24.0).reshape(2, 3, 4)
    assert rt.sum_to_shape_3d(g, (2, 3, 4), 0.0, 7) is g                   # matching shapes: the input itself
    np.testing.assert_array_equal(rt.sum_to_shape_3d(g, (1, 3, 1), 0.0, 7), g.sum(axis=(0, 2), keepdims=True))
    np.testing.assert_array_equal(rt.sum_leading_to_shape_1d(g, 6, (4,), 0.0, 7), g.sum(axis=(0, 1)))
    np.testing.assert_array_equal(rt.sum_leading_to_shape_2d(g, 2, (1, 4), 0.0, 7), g.sum(axis=(0, 1))[None])
    m = np.arange(12, dtype="int32").reshape(3, 4)
    got = rt.sum_to_shape_2d(m, (3, 1), np.int32(0), 7)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, m.sum(axis=1, keepdims=True))


@pytest.mark.parametrize("call", [
    lambda g: rt.sum_to_shape_3d(g, (2, 2, 4), 0.0, 7),                      # 2 is neither 3 nor 1
    lambda g: rt.sum_to_shape_3d(g, (1, 3, 5), 0.0, 7),
    lambda g: rt.sum_to_shape_2d(g[0], (3, 2), 0.0, 7),
    lambda g: rt.sum_to_shape_1d(g[0, 0], (3,), 0.0, 7),
    lambda g: rt.sum_to_shape_4d(g[None], (1, 2, 1, 3), 0.0, 7),
    lambda g: rt.sum_leading_to_shape_1d(g, 6, (3,), 0.0, 7),
    lambda g: rt.sum_leading_to_shape_2d(g, 2, (2, 4), 0.0, 7),
    lambda g: rt.sum_leading_to_shape_3d(g[None], 1, (2, 2, 4), 0.0, 7),
])
def test_sum_to_shape_helpers_raise_their_check_for_a_length_that_is_neither(call):
    """The helpers check each target length (g's or 1) and raise the kernel's check number, as the kernel's own
    per-axis checks did."""
    g = np.arange(24.0).reshape(2, 3, 4)
    with pytest.raises(ValueError) as caught:
        call(g)
    assert caught.value.args == ("symgraph check", 7)


@pytest.mark.parametrize("shape", [(1, 3, 1, 1), (2, 1, 1, 1), (1, 1, 1, 1), (2, 3, 1, 1)])
def test_sum_to_shape_over_both_trailing_axes(shape):
    """A convolution's bias gradient (summed over the batch and both image axes): contiguous blocks summed with
    partial sums, float32 accumulated in float64 (a float32 sum of 1e8, ones and -1e8 loses the ones)."""
    g = np.ones((2, 3, 9, 41), dtype="float32")
    g[:, :, 0, 0], g[:, :, 8, 40] = 1e8, -1e8
    got = rt.sum_to_shape_4d(g, shape, 0.0, 0)
    assert got.dtype == np.float32 and got.shape == shape
    want = g.astype("float64").sum(axis=tuple(a for a in range(4) if shape[a] == 1), keepdims=True)
    np.testing.assert_array_equal(got, want.astype("float32"))
    x = np.random.default_rng(0).standard_normal((3, 4, 7, 5))
    np.testing.assert_allclose(rt.sum_to_shape_4d(x, (1, 4, 1, 1), 0.0, 0), x.sum(axis=(0, 2, 3), keepdims=True),
                               rtol=1e-13)
    integers = np.arange(3 * 4 * 7 * 5, dtype="int64").reshape(3, 4, 7, 5) * (2 ** 60)   # wraps, as NumPy's
    np.testing.assert_array_equal(rt.sum_to_shape_4d(integers, (1, 4, 1, 1), np.int64(0), 0),
                                  integers.sum(axis=(0, 2, 3), keepdims=True))


def test_allocation_and_view_helpers():
    v = np.arange(3, dtype="float32")
    view = rt.broadcast_to(v, (2, 3))
    np.testing.assert_array_equal(view, np.broadcast_to(v, (2, 3)))
    assert np.shares_memory(view, v)
    full = rt.full((2, 2), np.int16(7))
    assert full.dtype == np.int16 and (full == 7).all()
    zeros = rt.zeros((3,), np.float32(0))
    assert zeros.dtype == np.float32 and not zeros.any()
    assert rt.empty((2, 5), True).dtype == np.bool_
    copied = rt.copy(view)                                              # a writable copy of a read-only view
    copied[0, 0] = 10
    assert copied.flags.c_contiguous and v[0] == 0
    n = rt.arange_length_int(2, 11, 3)
    np.testing.assert_array_equal(rt.arange_fill(2, 5, n, np.int32(0)), np.arange(2, 11, 3, dtype="int32"))
    n = rt.arange_length_float(0.5, 2.0, 0.25)
    np.testing.assert_array_equal(rt.arange_fill(0.5, 0.75, n, np.float32(0)), np.arange(0.5, 2.0, 0.25, dtype="float32"))
    assert rt.arange_length_int(-1, 2 ** 63 - 1, 2 ** 62) == 2 and rt.arange_length_int(-2 ** 63, 2 ** 63 - 1, 1) == -1


def test_scan_row_stores_copy_every_layout_and_rank():
    """store_row/store_rows (a scan's rows): nested loops up to three axes, np.ndindex above, any strides."""
    rng = np.random.default_rng(8)
    for shape in [(5,), (3, 4), (2, 3, 4), (2, 1, 3, 2)]:           # (0-d rows: the kernel assigns them)
        buffer = np.zeros((4,) + shape, "float32")
        value = rng.normal(size=shape).astype("float32")
        rt.store_row(buffer, 2, value)
        np.testing.assert_array_equal(buffer[2], value)
        assert not buffer[[0, 1, 3]].any()
        rows = rng.normal(size=(2,) + shape).astype("float32")
        rt.store_rows(buffer, rows)
        np.testing.assert_array_equal(buffer[:2], rows)
        np.testing.assert_array_equal(buffer[2], value)
    buffer = np.zeros((3, 4, 5))
    transposed = np.arange(20.0).reshape(5, 4).T                        # not C-contiguous
    rt.store_row(buffer, 1, transposed)
    np.testing.assert_array_equal(buffer[1], transposed)
    rt.store_rows(buffer[:, ::2, :], np.ones((1, 2, 5)))                # a strided buffer
    np.testing.assert_array_equal(buffer[0], [[1] * 5, [0] * 5, [1] * 5, [0] * 5])


# ---------------------------------------------------------------- lowerings against the python backend

@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "bool"])
def test_reductions_use_helpers_and_match_python_backend(dtype):
    rng = np.random.default_rng(4)
    x = sg.tensor("x", dtype=dtype)
    outputs, labels = [], []
    # float64 runs every kind on every axis set; the other dtypes a few (each helper signature is a compile)
    kinds = KINDS if dtype == "float64" else ("sum", "max", "all") if dtype == "bool" else ("sum", "prod", "min")
    axes_sets = AXES if dtype == "float64" else [(1,), (1, 2), (0, 1, 2), (0, 2)]
    for kind in kinds:
        for axes in axes_sets:
            for keepdims in ((False, True) if kind == "sum" else (False,)):
                outputs.append(Reduce(kind, axes, keepdims)(x))
                labels.append(f"{kind}{axes}{' keepdims' if keepdims else ''}")
        # a transposed (non-contiguous) input takes the inline fallback
        outputs.append(Reduce(kind, (2,), False)(x.transpose(2, 0, 1)))
        labels.append(f"{kind} of a transpose")
    function, _ = _compare([x], outputs, [_sample(dtype, (3, 4, 5), rng)], labels)
    assert "rt.sum_rows(" in function.source and "rt.sum_middle(" in function.source


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_softmax_family_matches_python_backend(dtype):
    rng = np.random.default_rng(5)
    x = sg.tensor("x", dtype=dtype)
    outputs, labels = [], []
    for axis in (0, 1, 2):
        outputs += [sg.softmax(x, axis), sg.log_softmax(x, axis), sg.softmax(x.transpose(1, 0, 2), axis)]
        labels += [f"softmax {axis}", f"log_softmax {axis}", f"softmax of a transpose {axis}"]
    for axes in [(0,), (1, 2), None, (0, 2)]:
        for keepdims in (False, True):
            outputs.append(sg.logsumexp(x, axes, keepdims))
            labels.append(f"logsumexp {axes} {keepdims}")
    value = (rng.normal(size=(3, 4, 5)) * 30).astype(dtype)
    value[0, 1, :] = -np.inf
    value[1, 1:3, 2] = 500
    function, _ = _compare([x], outputs, [value], labels)
    assert "rt.log_softmax(" in function.source and "rt.logsumexp(" in function.source


def test_sum_to_shape_matches_python_backend_and_never_aliases_an_input():
    rng = np.random.default_rng(6)
    g = sg.tensor("g", dtype="float32")
    likes = {"same": ((2, 3, 4), 3), "ones": ((1, 3, 1), 3), "trailing": ((4,), 1), "lead": ((3, 1), 2),
             "scalar": ((), 0)}
    inputs, outputs, values, labels = [g], [], [rng.normal(size=(2, 3, 4)).astype("float32")], []
    for label, (shape, ndim) in likes.items():
        like = sg.tensor(f"like_{label}", dtype="float32", shape=(None,) * ndim)
        inputs.append(like)
        values.append(np.zeros(shape, dtype="float32"))
        outputs.append(SumToShape()(g, like))
        labels.append(label)
    # a transposed gradient (not contiguous) takes the inline fallback
    outputs.append(SumToShape()(g.transpose(2, 1, 0), inputs[4]))
    labels.append("transpose")
    function, got = _compare(inputs, outputs, values, labels)
    assert "rt.sum_to_shape_3d(" in function.source and "rt.sum_leading_to_shape_2d(" in function.source
    # the helper returned the input itself for "same": the kernel must have copied it
    assert not np.shares_memory(got[0], values[0])
    np.testing.assert_array_equal(got[0], values[0])


def test_broadcast_and_dimshuffle_of_a_scalar_use_helpers():
    s = sg.scalar("s", dtype="float32")
    n = sg.vector("n", dtype="float32")
    out = broadcast_to(dimshuffle(s, ("x",)), (n.shape[0],)) * n
    function, _ = _compare([s, n], [out], [np.float32(2.5), np.arange(4, dtype="float32")], ["broadcast"])
    assert "rt.broadcast_to(" in function.source and "rt.full(" in function.source


def test_concatenate_copies_with_the_helper_and_falls_back_for_views():
    rng = np.random.default_rng(7)
    a, b = sg.tensor("a", dtype="float32"), sg.tensor("b", dtype="float64")
    c = sg.tensor("c", dtype="int32")
    values = [rng.normal(size=(2, 3, 4)).astype("float32"), rng.normal(size=(2, 5, 4)),
              rng.integers(-5, 5, size=(2, 1, 4)).astype("int32")]
    outputs = [sg.concatenate([a, b, c], axis=1),                     # mixed dtypes: float64 output
               sg.concatenate([a, a], axis=0), sg.concatenate([a, a], axis=2),
               sg.concatenate([a.transpose(0, 2, 1), b.transpose(0, 2, 1)], axis=2)]   # views: fallback
    labels = ["axis 1, mixed dtypes", "axis 0", "axis 2", "transposed inputs"]
    function, _ = _compare([a, b, c], outputs, values, labels)
    assert "rt.join_copy(" in function.source


# ---------------------------------------------------------------- the kernel cache key

@pytest.mark.parametrize("library", ["runtime.py", "blas.py", "tape.py"])
def test_kernel_cache_key_follows_the_jitted_libraries_sources(tmp_path, monkeypatch, library):
    before = cache.versions()
    sources = list(cache.RUNTIME_SOURCES)
    index = [os.path.basename(path) for path in sources].index(library)
    edited = tmp_path / library
    edited.write_text(open(sources[index]).read() + "\n# edited\n")
    sources[index] = str(edited)
    monkeypatch.setattr(cache, "RUNTIME_SOURCES", tuple(sources))
    after = cache.versions()
    assert before["runtime"] != after["runtime"]
    assert cache.cache_key("kernel source", before) != cache.cache_key("kernel source", after)


@pytest.mark.skipif(not sys.platform.startswith("linux")
                    or not os.path.exists("/sys/kernel/mm/transparent_hugepage/enabled"),
                    reason="transparent huge pages are Linux's, when its kernel has them")
def test_large_arrays_the_kernels_allocate_are_advised_onto_huge_pages():
    """A fresh 80 MB output written by a parallel loop took one page fault per 4 KiB page (W1: 41 against
    19 ms on reused memory); like NumPy, arrays of 4 MiB and more ask for transparent huge pages
    (``madvise(MADV_HUGEPAGE)``: the region's VmFlags hold ``hg``), small ones are left alone."""
    from symgraph.codegen.numba import runtime as rt

    def advised(array):
        address = array.ctypes.data + array.nbytes // 2
        with open("/proc/self/smaps") as stream:
            inside = False
            for line in stream:
                head = line.split()[0]
                if "-" in head and not head.endswith(":"):
                    low, high = (int(part, 16) for part in head.split("-"))
                    inside = low <= address < high
                elif inside and head == "VmFlags:":
                    return "hg" in line.split()[1:]
        raise AssertionError("the array's region is not in /proc/self/smaps")

    for make in (lambda n: rt.empty((n,), 0.0), lambda n: rt.zeros((n,), 0.0), lambda n: rt.full((n,), 2.0)):
        large, small = make(1_000_000), make(1000)
        assert advised(large) and not advised(small)
    filled = rt.full((3, 2_000_000), np.float32(1.5))
    assert filled.dtype == np.float32 and (filled == 1.5).all() and advised(filled)
    assert rt.zeros((), np.float32(0.0)).shape == () and rt.full((), 2.0) == 2.0
