"""Sizes computed from call-time lengths are checked as NumPy checks them, on every backend: a shape whose size
overflows int64 is a ValueError naming the op (never a wrapped size that reads out of bounds or loops for
ever), and ``arange`` has NumPy's length and values even where ``stop - start`` does not fit in int64.
"""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
pytest.importorskip("hypothesis", reason="hypothesis comes with the test extra: pip install -e '.[test]'")
from hypothesis import given, settings, strategies as st

import symgraph as sg

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
INT64_MAX = 2 ** 63 - 1


def _backends():
    backends = ["python", "numba"]
    try:
        import numba.cuda  # noqa: F401
        backends.append("cuda")
    except ImportError:
        pass
    return backends


BACKENDS = _backends()

# Run in a subprocess: before the fix the numba reshape segfaulted and the broadcast sum ran for ever.
OVERFLOW_SCRIPT = r'''
import sys
import numpy as np
import symgraph as sg

backend = sys.argv[1]
x, n = sg.vector("x"), sg.scalar("n", dtype="int64")
cases = [
    ("reshape", sg.function([x, n], x.reshape((n, 4)), backend=backend), (np.arange(4.0), 2 ** 62 + 1)),
    ("reshape", sg.function([x, n], x.reshape((-1, n)), backend=backend), (np.zeros(0), 2 ** 62)),
    ("reshape", sg.function([x, n], x.reshape((0, n, 4)), backend=backend), (np.zeros(0), 2 ** 62)),
    ("broadcast_to", sg.function([x, n], sg.broadcast_to(x, (n, 4)).sum(), backend=backend),
     (np.arange(4.0), 2 ** 62 + 1)),
    ("broadcast_to", sg.function([x, n], sg.broadcast_to(x, (n, n)), backend=backend), (np.ones(1), 2 ** 32)),
    ("one_hot", sg.function([n], sg.one_hot(np.array([0, 1]), n), backend=backend), (2 ** 62,)),
]
# Three int8 views whose lengths add up to 2**64 + 2: a wrapped total would allocate 2 bytes for the copies
# (np.concatenate itself crashes on these).
b = sg.vector("b", dtype="int8")
view = sg.broadcast_to(b, (n,))
cases.append(("concatenate", sg.function([b, n], sg.concatenate([view, view, view]), backend=backend),
              (np.array([3], dtype="int8"), 6148914691236517206)))
for op, f, args in cases:
    try:
        f(*args)
    except ValueError as exc:
        print(op in str(exc), "too large" in str(exc) or "too big" in str(exc) or "Maximum" in str(exc))
    else:
        print("no error")
print("done")
'''


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_size_that_overflows_int64_is_a_value_error_naming_the_op(backend):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]))
    if backend == "cuda":
        env["NUMBA_ENABLE_CUDASIM"] = "1"
    done = subprocess.run([sys.executable, "-c", OVERFLOW_SCRIPT, backend], env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.split("\n")
    assert lines[:8] == ["True True"] * 7 + ["done"], done.stdout


def test_static_shapes_that_overflow_are_refused_when_the_graph_is_built():
    x = sg.tensor("x", "float64", (4,))
    with pytest.raises(ValueError, match="reshape.*too large"):
        x.reshape((2 ** 62 + 1, 4))             # int64 products wrap: (2**62 + 1) * 4 looked like 4
    with pytest.raises(ValueError, match="broadcast_to.*too large"):
        sg.broadcast_to(x, (2 ** 61, 4))
    assert x.reshape((2, 2)).type.shape == (2, 2) and sg.broadcast_to(x, (0, 4)).type.shape == (0, 4)


_functions = {}


def _zero_reshape(backend):
    """x.reshape((0, a, b)) of an empty x: NumPy refuses it exactly when a * b * 8 bytes overflow int64."""
    if backend not in _functions:
        x, a, b = sg.vector("x"), sg.scalar("a", dtype="int64"), sg.scalar("b", dtype="int64")
        _functions[backend] = sg.function([x, a, b], x.reshape((0, a, b)), backend=backend)
    return _functions[backend]


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=40, deadline=None)
@given(a=st.integers(1, 2 ** 62), b=st.integers(1, 2 ** 62), near=st.booleans())
def test_reshape_refuses_exactly_the_shapes_numpy_refuses(backend, a, b, near):
    if near:        # land on either side of the boundary a * b * 8 == 2**63
        b = max(1, (INT64_MAX // 8) // a + (b % 3) - 1)
    try:
        expected = np.zeros(0).reshape((0, a, b)).shape
    except ValueError:
        expected = None
    f = _zero_reshape(backend)
    if expected is None:
        with pytest.raises(ValueError, match="reshape"):
            f(np.zeros(0), a, b)
    else:
        assert f(np.zeros(0), a, b).shape == expected


# ---------------------------------------------------------------- arange

HARD_ARANGE = [(-1, INT64_MAX, 2 ** 62), (0, 2 ** 62 + 1, 2 ** 61), (INT64_MAX, -2 ** 63, -2 ** 62), (0, 3, INT64_MAX),
               (-2 ** 63, INT64_MAX, 2 ** 62 + 3), (5, 0, -1), (0, 0, 1), (3, 40, 7), (-2 ** 63, INT64_MAX, INT64_MAX)]


def _random_integer_bounds(seed, count):
    rng = np.random.default_rng(seed)
    cases = []
    while len(cases) < count:
        start = int(rng.integers(-2 ** 63, INT64_MAX))
        step = int(rng.integers(1, INT64_MAX)) * (1 if rng.random() < 0.5 else -1)
        stop = start + step * int(rng.integers(-2, 30)) + int(rng.integers(-3, 3))
        if -2 ** 63 <= stop <= INT64_MAX:
            cases.append((start, stop, step))
    return cases


def _same_bits(result, expected):
    return (result.dtype == expected.dtype and result.shape == expected.shape
            and result.tobytes() == expected.tobytes())


@pytest.mark.parametrize("backend", BACKENDS)
def test_arange_with_integer_bounds_is_numpys(backend):
    a, b, c = (sg.scalar(name, dtype="int64") for name in "abc")
    functions = {dtype: sg.function([a, b, c], sg.arange(a, b, c, dtype=dtype), backend=backend)
                 for dtype in ("int64", "float64", "float32")}
    for start, stop, step in HARD_ARANGE + _random_integer_bounds(1, 40):
        for dtype, f in functions.items():
            expected = np.arange(start, stop, step, dtype=dtype)
            assert _same_bits(f(start, stop, step), expected), (start, stop, step, dtype)
    with pytest.raises(ValueError, match="arange"):
        functions["int64"](-2 ** 63, INT64_MAX, 1)          # NumPy: Maximum allowed size exceeded


@pytest.mark.parametrize("backend", BACKENDS)
def test_arange_with_float_bounds_is_numpys(backend):
    x, y, z = sg.scalar("x"), sg.scalar("y"), sg.scalar("z")
    functions = {dtype: sg.function([x, y, z], sg.arange(x, y, z, dtype=dtype), backend=backend)
                 for dtype in ("float64", "float32")}
    rng = np.random.default_rng(2)
    cases = [(0.1, 3.3, 0.2), (0.0, 1.0, np.inf), (0.0, -1.0, np.inf), (1e-300, 2e-300, 1e300), (0.1, 1e6, 0.3)]
    for _ in range(30):
        start, stop = rng.normal() * 10.0 ** rng.integers(0, 6), rng.normal() * 10.0 ** rng.integers(0, 6)
        cases.append((start, stop, (stop - start) / rng.integers(1, 500) * (1 + rng.normal() * 0.01)))
    for start, stop, step in cases:
        for dtype, f in functions.items():
            expected = np.arange(start, stop, step, dtype=dtype)
            assert _same_bits(f(start, stop, step), expected), (start, stop, step, dtype)
    for bad in [(0.0, np.inf, 1.0), (0.0, np.nan, 1.0), (0.0, -np.inf, 1.0)]:
        with pytest.raises(ValueError, match="arange"):
            functions["float64"](*bad)


# ---------------------------------------------------------------- shapes inferred from broadcast_to

@pytest.mark.parametrize("backend", BACKENDS)
def test_broadcast_to_an_unknown_length_that_may_be_one(backend):
    """broadcast_to(x, (n,)) has length n, not x's: x's unknown length may be 1 (it was taken for n)."""
    x, n = sg.vector("x"), sg.scalar("n", dtype="int64")
    b = sg.broadcast_to(x, (n,))
    f = sg.function([x, n], [b, sg.outer(b, b), b + x], backend=backend)
    vector, outer, total = f(np.array([2.0]), 3)
    np.testing.assert_array_equal(vector, [2.0, 2.0, 2.0])
    np.testing.assert_array_equal(outer, np.full((3, 3), 4.0))
    np.testing.assert_array_equal(total, [4.0, 4.0, 4.0])
