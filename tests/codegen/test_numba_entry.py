"""The checked entry of numba-compiled functions: argument handling, errors that name the op and the user's
line (run in a subprocess: a bad input must never crash the interpreter), atomic updates, no aliasing.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import symgraph as sg

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# ---------------------------------------------------------------- bad inputs, in a subprocess

BAD_INPUTS_SCRIPT = r'''
import json, numpy as np, symgraph as sg
results = {}
def attempt(label, call):
    try:
        call()
        results[label] = ["no error", ""]
    except Exception as exc:
        results[label] = [type(exc).__name__, str(exc)]

A, B = sg.matrix("A"), sg.matrix("B")
x, y = sg.vector("x"), sg.vector("y")
i = sg.scalar("i", "int64")
idx = sg.vector("idx", "int64")
s = sg.tensor("s", "float64", (3,))
product = sg.function([A, B], A @ B)                                  # LINE product
both = sg.function([x, y], x + y)                                     # LINE both
shaped = sg.function([x], sg.reshape(x, (3, -1)))                     # LINE shaped
picked = sg.function([x, i], x[i])                                    # LINE picked
trusted = sg.function([x, i], x[i] * 2, trust_input=True)             # LINE trusted
gathered = sg.function([x, idx], x[idx])                              # LINE gathered
hot = sg.function([idx], sg.one_hot(idx, 3))                          # LINE hot
joined = sg.function([A, B], sg.concatenate([A, B], axis=1))          # LINE joined
static = sg.function([s], s * 2)
attempt("matmul", lambda: product(np.ones((2, 3)), np.ones((4, 2))))
attempt("broadcast", lambda: both(np.ones(3), np.ones(4)))
attempt("reshape", lambda: shaped(np.ones(10)))
attempt("index", lambda: picked(np.ones(3), 3))
attempt("negative index", lambda: picked(np.ones(3), -4))
attempt("trusted index", lambda: trusted(np.ones(3), 10**6))
attempt("index array", lambda: gathered(np.ones(3), np.array([0, 5])))
attempt("one_hot", lambda: hot(np.array([0, 3])))
attempt("concatenate", lambda: joined(np.ones((2, 2)), np.ones((3, 2))))
attempt("ndim", lambda: both(np.ones((2, 2)), np.ones(2)))
attempt("dtype", lambda: picked(np.ones(3), 1.5))
attempt("missing", lambda: both(np.ones(3)))
attempt("extra", lambda: both(np.ones(3), np.ones(3), np.ones(3)))
attempt("keyword", lambda: both(np.ones(3), z=np.ones(3)))
attempt("static", lambda: static(np.ones(4)))
attempt("not numeric", lambda: both(np.ones(3), "abc"))
attempt("good after errors", lambda: np.testing.assert_allclose(product(np.ones((2, 3)), np.ones((3, 2))), 3.0))
print("RESULTS" + json.dumps(results))
'''


@pytest.fixture(scope="module")
def bad_input_results(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bad-inputs")
    script = folder / "script.py"
    script.write_text(BAD_INPUTS_SCRIPT)
    lines = {line.split("# LINE ")[1].strip(): number
             for number, line in enumerate(BAD_INPUTS_SCRIPT.splitlines(), start=1) if "# LINE " in line}
    env = dict(os.environ, PYTHONPATH=ROOT, SYMGRAPH_CACHE_DIR=str(folder / "cache"))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, f"the interpreter died or failed:\n{done.stdout}\n{done.stderr}"
    results = json.loads(done.stdout.split("RESULTS", 1)[1])
    return results, lines


@pytest.mark.parametrize("label, error, words, built", [
    ("matmul", "ValueError", ["dot", "inner"], "product"),
    ("broadcast", "ValueError", ["add", "broadcast"], "both"),
    ("reshape", "ValueError", ["reshape"], "shaped"),
    ("index", "IndexError", ["out of bounds"], "picked"),
    ("negative index", "IndexError", ["out of bounds"], "picked"),
    ("trusted index", "IndexError", ["out of bounds"], "trusted"),
    ("index array", "IndexError", ["out of bounds"], "gathered"),
    ("one_hot", "IndexError", ["one_hot"], "hot"),
    ("concatenate", "ValueError", ["concatenate"], "joined"),
    ("ndim", "TypeError", ["'x'", "1-d"], None),
    ("dtype", "TypeError", ["'i'"], None),
    ("missing", "TypeError", ["missing", "'y'"], None),
    ("extra", "TypeError", ["3"], None),
    ("keyword", "TypeError", ["'z'"], None),
    ("static", "ValueError", ["'s'", "static length 3"], None),
    ("not numeric", "TypeError", ["'y'"], None),
])
def test_bad_inputs_raise_clear_errors(bad_input_results, label, error, words, built):
    results, lines = bad_input_results
    kind, message = results[label]
    assert kind == error, f"{label}: {kind}: {message}"
    for word in words:
        assert word in message, f"{label}: {word!r} not in {message!r}"
    if built is not None:
        assert f"script.py:{lines[built]}" in message, message  # the user's line that built the op


def test_a_failed_call_leaves_the_function_usable(bad_input_results):
    results, _ = bad_input_results
    assert results["good after errors"] == ["no error", ""]


# ---------------------------------------------------------------- calling conventions

@pytest.fixture(scope="module")
def scalar_function():
    x = sg.scalar("x")
    return sg.function([x], x * 2 + 1)


def test_scalar_function_returns_0d_arrays_and_casts(scalar_function):
    f = scalar_function
    for value in (3.0, 3, np.float32(3.0), np.array(3.0), [3.0][0]):
        result = f(value)
        assert isinstance(result, np.ndarray) and result.shape == () and result.dtype == np.float64
        assert result == 7.0
    assert f(x=2.0) == 5.0
    with pytest.raises(TypeError, match="'x'"):
        f(np.ones(2))


def test_scalar_call_overhead_is_small(scalar_function):
    f = scalar_function
    for _ in range(1000):
        f(1.0)
    best = min(_time_calls(f, 2000) for _ in range(5))
    assert best < 5e-6, f"{best * 1e6:.2f} us per call"  # the benchmark reports the real figure (< 1 us)


def _time_calls(f, n):
    start = time.perf_counter()
    for _ in range(n):
        f(1.0)
    return (time.perf_counter() - start) / n


def test_every_scalar_argument_kind_takes_a_fast_path_or_the_general_rules():
    """NumPy scalars and 0-d arrays of the exact dtype, and Python floats for a float32 input, skip the general
    conversion (issue 21: 2.6-10 us each before): the same values and dtypes as the python backend; what
    the fast paths do not take (other dtypes, NaN or out-of-range floats for float32, byte-swapped arrays)
    still meets NumPy's rules and our range checks."""
    x, h = sg.scalar("x"), sg.scalar("h", "float32")
    i, b = sg.scalar("i", "int32"), sg.scalar("b", "bool")
    outputs = [x * 2 + 1, h * 3, i + 1, sg.where(b, x, -x)]
    compiled = sg.function([x, h, i, b], outputs, backend="numba")
    reference = sg.function([x, h, i, b], outputs, backend="python")
    cases = [(1.5, 0.1, 3, True),
             (np.float64(1.5), np.float32(0.1), np.int32(3), np.bool_(False)),
             (np.array(1.5), np.array(0.1, "float32"), np.array(3, "int32"), np.array(True)),
             (np.array(1.5).astype(">f8"), 3.4028234663852886e38, np.int16(3), True),
             (2, float("nan"), 7, np.array(False)),
             (np.float32(0.25), -1e-46, np.uint8(200), False)]
    for args in cases:
        got, want = compiled(*args), reference(*args)
        for g, w in zip(got, want):
            assert g.dtype == w.dtype
            np.testing.assert_array_equal(g, w)
    for bad in (3.5e38, -1e39):             # a finite float that would become inf in float32
        with pytest.raises(ValueError, match="'h'"):
            compiled(1.0, bad, 1, True)
    with pytest.raises(TypeError, match="'i'"):
        compiled(1.0, 1.0, 1.5, True)        # a float for an int32 input
    source = compiled._entry.source            # the generated wrapper: the fast paths are there
    assert "t0 is scalar0" in source and "a0 = a0.item()" in source and "t1 is float and" in source
    assert "a3 = a3.item()" in source and "a2 = a2[()]" in source     # bool: a Python type; int32: none
    # a NumPy scalar of a Python number's dtype goes to the kernel as that Python number (typed faster)
    assert "a0 = float(a0)" in source and "a3 = bool(a3)" in source
    assert compiled(np.float64(2.5), 0.0, 0, np.bool_(True))[3] == 2.5


def test_scalar_kernels_are_called_through_their_compiled_wrapper_and_refusals_name_the_input():
    """A kernel taking scalars only is called through its compiled wrapper, not its dispatcher (its argument
    typing is ~60-100 ns of W2): every argument kind still gives the python backend's values, and a value
    the wrapper cannot take (an int beyond int64, anything with trust_input) is refused naming the input.
    A kernel taking an array keeps its dispatcher, which refuses strided and read-only arrays."""
    from numba.core.registry import CPUDispatcher
    i, u, x, h = sg.scalar("i", "int64"), sg.scalar("u", "uint64"), sg.scalar("x"), sg.scalar("h", "float32")
    counter = sg.shared(np.int64(5), name="counter")
    outputs = [i * 3, u + 1, x * 2 - h, h * 3]
    f = sg.function([i, u, x, h], outputs, updates=[(counter, counter + i)], backend="numba")
    reference = sg.function([i, u, x, h], outputs, backend="python")
    assert not isinstance(f._entry.__globals__["kernel"], CPUDispatcher)
    for args in [(2, 2**64 - 1, 1.5, 0.1), (np.int64(-2**63), np.uint64(7), np.float64(2.5), np.float32(1e-3)),
                 (np.array(4), np.array(3, "uint64"), np.array(-0.0), np.array(2.5, "float32")),
                 (True is False, np.uint8(3), 7, 3.4028234663852886e38)]:
        for got, want in zip(f(*args), reference(*args)):
            assert got.dtype == want.dtype
            np.testing.assert_array_equal(got, want)
    before = counter.get_value()
    with pytest.raises(ValueError, match="input 'i' .*out of range for int64"):
        f(2**63, np.uint64(1), 1.0, 1.0)
    assert counter.get_value() == before
    trusted = sg.function([x], x * 2, trust_input=True, backend="numba")
    assert trusted(1.5) == 3.0
    with pytest.raises(TypeError, match="input 'x'"):
        trusted("a")
    v = sg.vector("v")
    g = sg.function([v, x], v * x, backend="numba")
    assert isinstance(g._entry.__globals__["kernel"], CPUDispatcher)
    np.testing.assert_array_equal(g(np.arange(6.0)[::2], 2.0), [0.0, 4.0, 8.0])


def test_keywords_and_positional_values_bind_as_the_signature_says():
    """The entry's own parameters are positional-only: a keyword that happens to be called like one (a0) is
    the user's input name, never a position; keywords, defaults and errors go through the general binding."""
    x, a0 = sg.scalar("x"), sg.scalar("a0")
    f = sg.function([x, a0], x - a0, backend="numba")
    assert f(3.0, 1.0) == 2.0 and f(x=3.0, a0=1.0) == 2.0 and f(3.0, a0=1.0) == 2.0 and f(a0=1.0, x=3.0) == 2.0
    with pytest.raises(TypeError, match="two values for input 'x'"):
        f(3.0, x=1.0)
    with pytest.raises(TypeError, match="missing a value"):
        f(3.0)
    with pytest.raises(TypeError, match="takes 2 argument"):
        f(3.0, 1.0, 2.0)
    with pytest.raises(TypeError, match="unexpected keyword argument 'y'"):
        f(3.0, 1.0, y=2.0)
    g = sg.function([], sg.constant(2.0) * 3, backend="numba")
    assert g() == 6.0
    with pytest.raises(TypeError):
        g(1.0)


def test_each_function_is_called_through_its_own_class():
    """``f(...)`` runs the generated entry directly (a class of its own per function, ``__call__`` = the entry),
    and still pickles, copies and reports as a Function."""
    import pickle
    x = sg.scalar("x")
    f, g = sg.function([x], x * 2), sg.function([x], x * 3)
    assert type(f).__call__ is f._entry and type(g).__call__ is g._entry and type(f) is not type(g)
    assert isinstance(f, sg.Function) and isinstance(g, sg.Function)
    loaded = pickle.loads(pickle.dumps(f))
    assert loaded(2.0) == 4.0 and type(loaded).__call__ is loaded._entry


def test_trust_input_skips_conversion_but_keeps_kernel_checks():
    x = sg.vector("x", "float32")
    f = sg.function([x], x * 2, trust_input=True)
    a = np.arange(3, dtype="float32")
    np.testing.assert_array_equal(f(a), a * 2)
    assert f(a).dtype == np.float32


def test_float32_inputs_accept_float64_data_and_keep_float32():
    x = sg.vector("x", "float32")
    f = sg.function([x], sg.maximum(x, 0.0))
    result = f(np.array([-1.0, 2.0]))
    assert result.dtype == np.float32
    np.testing.assert_array_equal(result, [0.0, 2.0])


def test_outputs_never_alias_inputs_or_shared_state():
    x = sg.matrix("x")
    w = sg.shared(np.ones((2, 2)), name="w")
    f = sg.function([x], [x, x.T, w, w * 1.0])
    a = np.arange(4.0).reshape(2, 2)
    same, transposed, state, scaled = f(a)
    assert not np.shares_memory(same, a) and not np.shares_memory(transposed, a)
    assert not np.shares_memory(state, w.get_value(borrow=True))
    np.testing.assert_array_equal(transposed, a.T)


# ---------------------------------------------------------------- updates

def test_updates_use_old_values_and_apply_together():
    a = sg.shared(np.array([1.0, 2.0]), name="a")
    b = sg.shared(np.array([10.0, 20.0]), name="b")
    step = sg.scalar("step")
    f = sg.function([step], [a + b], updates=[(a, b), (b, a + step)])
    (total,) = f(0.5)
    np.testing.assert_array_equal(total, [11.0, 22.0])
    np.testing.assert_array_equal(a.get_value(), [10.0, 20.0])
    np.testing.assert_array_equal(b.get_value(), [1.5, 2.5])


def test_a_failing_call_changes_no_shared_variable():
    w = sg.shared(np.zeros(3), name="w")
    v = sg.shared(np.zeros(2), name="v")
    M = sg.matrix("M")
    x = sg.vector("x")
    f = sg.function([M, x], [], updates=[(w, w + x), (v, v + M @ x)])
    with pytest.raises(ValueError, match="dot"):
        f(np.ones((2, 4)), np.ones(3))
    np.testing.assert_array_equal(w.get_value(), np.zeros(3))
    np.testing.assert_array_equal(v.get_value(), np.zeros(2))
    f(np.ones((2, 3)), np.ones(3))
    np.testing.assert_array_equal(w.get_value(), np.ones(3))
    np.testing.assert_array_equal(v.get_value(), [3.0, 3.0])


def test_update_value_is_not_the_returned_array():
    w = sg.shared(np.ones(3), name="w")
    doubled = w * 2
    f = sg.function([], doubled, updates=[(w, doubled)])
    returned = f()
    returned[:] = -1
    np.testing.assert_array_equal(w.get_value(), [2.0, 2.0, 2.0])


def test_scalar_shared_counter():
    count = sg.shared(0.0, name="count")
    f = sg.function([], count, updates=[(count, count + 1)])
    assert [float(f()) for _ in range(3)] == [0.0, 1.0, 2.0]
    assert count.get_value() == 3.0


def test_a_lone_update_without_outputs():
    w = sg.shared(np.zeros(2), name="w")
    x = sg.vector("x")
    f = sg.function([x], [], updates=[(w, w + x)])
    assert f(np.ones(2)) == []
    f(np.ones(2))
    np.testing.assert_array_equal(w.get_value(), [2.0, 2.0])


def test_strided_read_only_and_fortran_arrays_are_copied_once_and_updates_commit_once():
    """The entry leaves layout and writability to the kernel's dispatcher (compiled for C-contiguous writable
    arrays only) and calls again with contiguous copies when it refuses: the values of the python backend,
    the caller's arrays untouched, the update applied exactly once."""
    x = sg.matrix("x")
    total = sg.shared(np.float64(0.0), name="total")
    f = sg.function([x], x * 2 + 1, updates=[(total, total + sg.sum(x))], backend="numba")
    base = np.arange(24.0).reshape(4, 6)
    read_only = base.copy()
    read_only.flags.writeable = False
    expected_total = 0.0
    for value in (base[:, ::2], base.T, np.asfortranarray(base), read_only, base[::2], base):
        before = value.copy()
        np.testing.assert_array_equal(f(value), before * 2 + 1)
        expected_total += before.sum()
        assert total.get_value() == expected_total
        np.testing.assert_array_equal(value, before)
    assert "flags" not in f._entry.source.split("except TypeError")[0]   # no layout test before the call
    with pytest.raises(TypeError, match="'x'"):
        f(np.ones((2, 2, 2)))
    assert total.get_value() == expected_total
