"""Bad input never crashes and never loses data, on every available backend.

Wrong argument counts, ndims, static lengths and dtypes raise a TypeError or
ValueError naming the input; NaN and Inf propagate exactly as NumPy propagates
them; empty, non-contiguous, read-only and huge-valued arrays give NumPy's
answers (and are never modified); a call that raises leaves every shared
variable unchanged. A fuzzer throws random malformed values at compiled
functions in a subprocess, so a hard crash (a segfault in generated code) is
caught as a test failure rather than killing the test run.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import symgraph as sg

from .graph_strategies import SOAK, SOAK_FACTOR, NumpyLib
from .helpers import CASES_CHECKED, available_backends, backend_options

BACKENDS = available_backends()
# NumPy warns on overflow, NaN and empty means as symgraph may; these tests compare values, not warnings.
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def assert_same_as_numpy(got, want, what):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape}, NumPy {want.shape}"
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0, equal_nan=True, err_msg=what)


# ---------------------------------------------------------------- wrong arguments

@pytest.fixture(scope="module", params=BACKENDS)
def affine(request):
    """f(x, b) = x @ w + b with a static length-2 b, compiled once per backend."""
    x, b = sg.matrix("x"), sg.vector("b", shape=(2,))
    w = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    return sg.function([x, b], x @ w + b, backend=request.param), w


def test_wrong_argument_count_names_the_inputs(affine):
    f, _ = affine
    with pytest.raises(TypeError, match="'b'"):
        f(np.ones((1, 3)))
    with pytest.raises(TypeError, match="3"):
        f(np.ones((1, 3)), np.ones(2), np.ones(2))
    with pytest.raises(TypeError, match="'z'"):
        f(np.ones((1, 3)), z=np.ones(2))
    with pytest.raises(TypeError, match="'x'"):
        f(np.ones((1, 3)), np.ones(2), x=np.ones((1, 3)))


@pytest.mark.parametrize("bad_x, error, names", [
    (np.ones(3), TypeError, "'x'"),                             # ndim 1 for a matrix
    (np.ones((1, 1, 3)), TypeError, "'x'"),                     # ndim 3
    (np.ones((2, 4)), ValueError, "dot"),                       # inner length 4 != 3
    (np.ones((2, 3), dtype=complex), TypeError, "'x'"),         # complex -> float64 loses data
    (np.array([["a", "b", "c"]]), TypeError, "'x'"),            # strings
    ([[1.0, None, 2.0]], TypeError, "'x'"),                     # objects
])
def test_wrong_ndim_shape_or_dtype_names_the_culprit(affine, bad_x, error, names):
    f, _ = affine
    with pytest.raises(error) as info:
        f(bad_x, np.ones(2))
    assert names in str(info.value), str(info.value)


def test_static_length_and_safe_casts(affine):
    f, w = affine
    with pytest.raises(ValueError, match="'b'"):
        f(np.ones((1, 3)), np.ones(3))
    # Integers, booleans and lists cast safely to float64 and give NumPy's answer.
    for x in (np.arange(6).reshape(2, 3), np.ones((2, 3), dtype=bool), [[1, 2, 3]], np.float32([[1, 2, 3]])):
        assert_same_as_numpy(f(x, [1, -1]), np.asarray(x, dtype=float) @ w + [1, -1], f"x = {x!r}")


def test_integer_input_rejects_lossy_and_out_of_range_values():
    for backend in BACKENDS:
        i = sg.vector("i", dtype="int32")
        f = sg.function([i], i * 2, backend=backend)
        assert_same_as_numpy(f(np.array([1, 2], dtype=np.int16)), np.array([2, 4], dtype=np.int32), backend)
        with pytest.raises(TypeError, match="'i'"):
            f(np.array([1.5, 2.0]))
        with pytest.raises((TypeError, ValueError), match="'i'"):
            f(np.array([2**40], dtype=np.int64))


# ---------------------------------------------------------------- NaN, Inf, huge and tiny values

SPECIAL = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e308, -1e308, 5e-324, 1.0, -2.5, 700.0, -750.0])
ELEMENTWISE_CASES = {
    "exp": lambda L, x, y: L.exp(x),
    "log": lambda L, x, y: L.log(x),
    "sqrt": lambda L, x, y: L.sqrt(x),
    "tanh": lambda L, x, y: L.tanh(x),
    "sigmoid": lambda L, x, y: L.sigmoid(x),
    "x*0": lambda L, x, y: x * 0.0,
    "x/y": lambda L, x, y: x / y,
    "x*y": lambda L, x, y: x * y,
    "x-y": lambda L, x, y: x - y,
    "maximum": lambda L, x, y: L.maximum(x, y),
    "minimum": lambda L, x, y: L.minimum(x, y),
    "where": lambda L, x, y: L.where(x > y, x, y),
    "x**2": lambda L, x, y: x ** 2.0,
}
REDUCTION_CASES = {
    "sum": lambda L, x: L.sum(x),
    "max": lambda L, x: L.max(x),
    "min": lambda L, x: L.min(x),
    "mean": lambda L, x: L.mean(x),
    "prod": lambda L, x: L.prod(x),
}


# Rewrites tagged "assumes_finite" (x * 0 -> 0, x - x -> 0) trade IEEE semantics for speed, so they are
# opt-in; the default optimizer must give NumPy's answers.
IEEE_OPTIMIZER = "fast_run"


@pytest.mark.parametrize("backend", BACKENDS)
def test_nan_inf_and_huge_values_propagate_as_numpy(backend):
    x, y = sg.vector("x"), sg.vector("y")
    names = list(ELEMENTWISE_CASES)
    outputs = [ELEMENTWISE_CASES[n](sg, x, y) for n in names]
    f = sg.function([x, y], outputs, backend=backend, **backend_options(backend), optimizer=IEEE_OPTIMIZER)
    rng = np.random.default_rng(0)
    for trial in range(4):
        xv, yv = SPECIAL, SPECIAL[rng.permutation(len(SPECIAL))] if trial else SPECIAL[::-1].copy()
        with np.errstate(all="ignore"):
            want = [np.asarray(ELEMENTWISE_CASES[n](NumpyLib, xv, yv)) for n in names]
        for name, got, expected in zip(names, f(xv, yv), want):
            assert_same_as_numpy(got, expected, f"{name} on {backend} with x={xv}, y={yv}")


def test_default_optimizer_keeps_nan_of_inf_times_zero():
    x = sg.vector("x")
    f = sg.function([x], [x * 0.0, x - x], backend="python")
    values = np.array([np.inf, np.nan, 1.0])
    with np.errstate(all="ignore"):
        for got, want in zip(f(values), [values * 0.0, values - values]):
            assert_same_as_numpy(got, want, "default optimizer")


@pytest.mark.parametrize("backend", BACKENDS)
def test_reductions_propagate_nan_and_inf_as_numpy(backend):
    x = sg.vector("x")
    names = list(REDUCTION_CASES)
    f = sg.function([x], [REDUCTION_CASES[n](sg, x) for n in names], backend=backend, **backend_options(backend))
    for values in ([1.0, np.nan, 3.0], [np.inf, -np.inf], [np.inf, 1.0], [1e308, 1e308], [-0.0], [5e-324, 2.0]):
        values = np.array(values)
        with np.errstate(all="ignore"):
            want = [REDUCTION_CASES[n](NumpyLib, values) for n in names]
        for name, got, expected in zip(names, f(values), want):
            assert_same_as_numpy(got, expected, f"{name} of {values} on {backend}")


# ---------------------------------------------------------------- empty, strided, read-only arrays

@pytest.mark.parametrize("backend", BACKENDS)
def test_empty_arrays_give_numpy_results(backend):
    m, v = sg.matrix("m"), sg.vector("v")
    outputs = [sg.exp(m) + v, sg.sum(m), sg.sum(m, axis=0), sg.sum(m, axis=1), sg.prod(m, axis=1),
               m @ v, sg.mean(m, axis=0), m.T]
    f = sg.function([m, v], outputs, backend=backend, **backend_options(backend))
    for shape in [(0, 3), (2, 0), (0, 0)]:
        mv, vv = np.zeros(shape), np.zeros(shape[1])
        with np.errstate(all="ignore"):
            want = [np.exp(mv) + vv, mv.sum(), mv.sum(0), mv.sum(1), mv.prod(1), mv @ vv, np.mean(mv, axis=0), mv.T]
        for k, (got, expected) in enumerate(zip(f(mv, vv), want)):
            assert_same_as_numpy(got, expected, f"output {k} for shape {shape} on {backend}")


@pytest.mark.parametrize("backend", BACKENDS)
def test_max_of_empty_raises_a_clear_error(backend):
    x = sg.vector("x")
    f = sg.function([x], sg.max(x) * 2.0, backend=backend, **backend_options(backend))
    assert f(np.array([1.0, 3.0])) == 6.0
    with pytest.raises(ValueError) as info:
        f(np.zeros(0))
    assert "max" in str(info.value), str(info.value)


@pytest.mark.parametrize("backend", BACKENDS)
def test_strided_fortran_and_read_only_inputs(backend):
    m, v = sg.matrix("m"), sg.vector("v")
    f = sg.function([m, v], [sg.tanh(m) * v, m @ v, sg.sum(m, axis=0), m.T + 1.0],
                    backend=backend, **backend_options(backend))
    base = np.arange(48.0).reshape(6, 8) / 10
    vector_base = np.arange(16.0) / 7
    read_only = base[:3, :4].copy()
    read_only.setflags(write=False)
    cases = {
        "strided": (base[::2, 1::2], vector_base[::4]),
        "transposed": (base[:4, :3].T, vector_base[:4]),
        "fortran": (np.asfortranarray(base[:3, :4]), vector_base[3:7]),
        "negative strides": (base[::-2, ::-2], vector_base[::-4]),
        "read-only": (read_only, np.broadcast_to(np.float64(2.0), (4,))),
    }
    for name, (mv, vv) in cases.items():
        before = (mv.copy(), vv.copy())
        want = [np.tanh(mv) * vv, mv @ vv, mv.sum(0), mv.T + 1.0]
        for k, (got, expected) in enumerate(zip(f(mv, vv), want)):
            assert_same_as_numpy(got, expected, f"output {k} for {name} inputs on {backend}")
        np.testing.assert_array_equal(mv, before[0], err_msg=f"{name}: input modified")
        np.testing.assert_array_equal(vv, before[1], err_msg=f"{name}: input modified")


# ---------------------------------------------------------------- failed calls leave state alone

@pytest.mark.parametrize("backend", BACKENDS)
def test_a_call_that_raises_leaves_every_shared_variable_unchanged(backend):
    w = sg.shared(np.array([1.0, 2.0, 3.0]), name="w")
    count = sg.shared(np.float64(0.0), name="count")
    x, shape = sg.vector("x"), sg.vector("shape_probe")
    reshaped = (w * 2.0).reshape((3, -1))
    updates = [(count, count + 1.0), (w, w + x)]
    f = sg.function([x, shape], [sg.sum(reshaped) + sg.sum(shape)], updates=updates,
                    backend=backend, **backend_options(backend))
    f(np.ones(3), np.ones(2))
    np.testing.assert_array_equal(w.get_value(), [2.0, 3.0, 4.0])
    for bad in [(np.ones(4), np.ones(2)),            # broadcast mismatch in the update of w
                (np.ones((3, 1)), np.ones(2)),       # wrong ndim
                (np.array(["a", "b", "c"]), np.ones(2))]:
        with pytest.raises((TypeError, ValueError)):
            f(*bad)
        np.testing.assert_array_equal(w.get_value(), [2.0, 3.0, 4.0], err_msg=f"w changed by a failed call {bad}")
        assert count.get_value() == 1.0, f"count changed by a failed call {bad}"
    f(np.ones(3), np.zeros(0))
    np.testing.assert_array_equal(w.get_value(), [3.0, 4.0, 5.0])
    assert count.get_value() == 2.0


@pytest.mark.parametrize("backend", BACKENDS)
def test_updates_never_alias_the_callers_arrays(backend):
    w = sg.shared(np.zeros(3), name="w")
    x = sg.vector("x")
    f = sg.function([x], w * 1.0, updates=[(w, x)], backend=backend, **backend_options(backend))
    given = np.array([1.0, 2.0, 3.0])
    f(given)
    given[:] = 99.0
    np.testing.assert_array_equal(w.get_value(), [1.0, 2.0, 3.0])
    out = f(np.array([4.0, 5.0, 6.0]))
    out[:] = -1.0
    np.testing.assert_array_equal(w.get_value(), [4.0, 5.0, 6.0])


# ---------------------------------------------------------------- fuzzing in a subprocess

FUZZ_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    import symgraph as sg

    backend, n_cases, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    rng = np.random.default_rng(seed)
    m, v, s = sg.matrix("m"), sg.vector("v"), sg.scalar("s")
    w = sg.shared(np.arange(3.0), name="w")
    outputs = [sg.tanh(m @ v) * s, sg.sum(m, axis=0) + v, sg.max(v * s), m.reshape((-1,))[1:], sg.exp(m).T]
    options = {"parallel": False} if backend == "numba" else {}     # small inputs: see helpers.backend_options
    f = sg.function([m, v, s], outputs, updates=[(w, w + v)], backend=backend, **options)

    def reference(mv, vv, sv):
        with np.errstate(all="ignore"):
            return [np.tanh(mv @ vv) * sv, mv.sum(0) + vv, np.max(vv * sv), mv.reshape(-1)[1:], np.exp(mv).T]

    def random_value():
        kind = rng.integers(0, 9)
        ndim = int(rng.integers(0, 4))
        shape = tuple(int(d) for d in rng.integers(0, 4, size=ndim))
        if kind == 0:
            return rng.normal(size=shape) * 10.0 ** rng.integers(-300, 300)
        if kind == 1:
            return rng.choice([np.nan, np.inf, -np.inf, 0.0, 1e308], size=shape)
        if kind == 2:
            return rng.integers(-5, 5, size=shape).astype(rng.choice(["int8", "int64", "uint8", "bool"]))
        if kind == 3:
            return rng.normal(size=shape).astype(rng.choice(["float32", "complex128", "float16"]))
        if kind == 4:
            return rng.normal(size=shape + (2,))[..., 0]          # non-contiguous
        if kind == 5:
            a = rng.normal(size=shape); a.setflags(write=False); return a
        if kind == 6:
            oddities = [None, "text", [1, [2]], object(), 1.5, 3, True, [], 10**400, 2**70]
            return oddities[int(rng.integers(0, len(oddities)))]
        return rng.normal(size=shape)

    stats = {"ok": 0, "rejected": 0}
    for case in range(n_cases):
        args = [random_value() for _ in range(3)]
        if rng.random() < 0.5:    # often well-formed shapes, so values reach the compiled code
            r, c = int(rng.integers(0, 4)), int(rng.integers(0, 4))
            args = [rng.normal(size=(r, c)), rng.choice([np.nan, 1.0, -np.inf, 2.0], size=c), rng.normal()]
        if rng.random() < 0.1:
            args = args[:int(rng.integers(0, 3))]
        before = w.get_value()
        try:
            got = f(*args)
        except (TypeError, ValueError, IndexError) as exc:
            stats["rejected"] += 1
            assert np.array_equal(w.get_value(), before, equal_nan=True), f"case {case}: w changed: {exc}"
            continue
        want = reference(*[np.asarray(a, dtype=np.float64) for a in args])
        for k, (g, e) in enumerate(zip(got, want)):
            assert np.shape(g) == np.shape(e), (case, k, np.shape(g), np.shape(e), args)
            assert np.allclose(g, e, rtol=1e-6, atol=0, equal_nan=True), (case, k, g, e, args)
        stats["ok"] += 1
    print("FUZZ-RESULT " + json.dumps(stats))
""")


@pytest.mark.parametrize("backend", BACKENDS)
def test_fuzzing_compiled_functions_never_crashes(backend):
    n_cases = 300 * (SOAK_FACTOR if SOAK else 1)
    env = dict(os.environ, PYTHONPATH=REPO_ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    result = subprocess.run([sys.executable, "-c", FUZZ_SCRIPT, backend, str(n_cases), "1234"],
                            capture_output=True, text=True, timeout=600, env=env, cwd=REPO_ROOT)
    assert result.returncode == 0, (f"fuzzer exited with {result.returncode} (negative: killed by a signal)\n"
                                    f"{result.stdout[-2000:]}\n{result.stderr[-4000:]}")
    line = [ln for ln in result.stdout.splitlines() if ln.startswith("FUZZ-RESULT ")][-1]
    stats = json.loads(line.split(" ", 1)[1])
    assert stats["ok"] > n_cases // 10 and stats["rejected"] > n_cases // 10, stats
    CASES_CHECKED[f"fuzz calls ({backend})"] += n_cases
