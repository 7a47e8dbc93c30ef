"""The vectorisable sin, cos and tan of codegen/numba/vmath.py: exact argument reduction over the whole float64
range (the 2 / pi digits checked against mpmath), their ulp bounds on millions of points against the 80-bit
long double functions (themselves checked against mpmath, large arguments included), NumPy's special values,
vectorised loops, and the numba backend using them by default (libm with ``vector_math=False``)."""
import mpmath
import numpy as np
import pytest

import symgraph as sg
from symgraph.codegen.numba import vmath
from tests.codegen.ulp import runner, ulp_distance

pytestmark = pytest.mark.skipif(np.finfo(np.longdouble).nmant < 63, reason="needs the 80-bit long double")

#: the bound each function's docstring states (float64; float32 results are within 1 ulp of float32)
BOUNDS = {"sin": 1.0, "cos": 1.0, "tan": 3.0}
#: a float64 within about 2**-61 of a multiple of pi / 2 (K. C. Ng): reduction needs 120+ bits of 2 / pi
HARD = 6381956970095103 * 2.0 ** 797


_run = runner(BOUNDS)
_LOOPS = _run.loops


def _points(rng, n):
    """Every magnitude (random bit patterns over all finite exponents), the usual range densely, around
    multiples of pi / 2 and pi / 4, and arguments whose reduction is hardest."""
    bits = rng.integers(0, 0x7FF0000000000000, n // 4, dtype=np.int64).view(np.float64) * rng.choice([-1, 1], n // 4)
    k = rng.integers(-10**6, 10**6, n // 8)
    near = np.concatenate([k * (np.pi / 2) + rng.uniform(-1e-6, 1e-6, n // 8), k * (np.pi / 4)])
    hard = np.array([HARD, -HARD, HARD * 2, np.nextafter(HARD, 0), 1e22, 2.0 ** 1023, 1.7976931348623157e308,
                     np.pi / 4, np.nextafter(np.pi / 4, 0), np.pi / 2, np.pi, 3 * np.pi / 2, 1.6e6, 2.0 ** 20])
    return np.concatenate([bits, rng.uniform(-10, 10, n // 4), rng.uniform(-1e7, 1e7, n // 8), near, hard])


@pytest.mark.parametrize("name", sorted(BOUNDS))
def test_float64_is_within_its_bound_over_two_million_points(name):
    x = _points(np.random.default_rng(11), 2_000_000)
    got = _run(name, x)
    exact = getattr(np, name)(x.astype(np.longdouble))
    finite = np.isfinite(exact.astype(np.float64))      # tan's poles round to finite values too; all are here
    assert finite.all()
    ulps = ulp_distance(got, exact, np.float64)
    assert ulps.max() <= BOUNDS[name], (ulps.max(), x[np.argmax(ulps)])


@pytest.mark.parametrize("name", sorted(BOUNDS))
def test_float32_is_within_1_ulp_of_float32_over_four_million_points(name):
    rng = np.random.default_rng(12)
    x = np.concatenate([rng.integers(0, 0x7F800000, 2_000_000, dtype=np.int64).astype(np.uint32).view(np.float32),
                        rng.uniform(-20, 20, 2_000_000).astype(np.float32)])
    x[::2] *= -1
    got = _run(name, x)
    assert got.dtype == np.float32
    exact = getattr(np, name)(x.astype(np.longdouble))
    ulps = ulp_distance(got, exact, np.float32)
    assert ulps.max() <= 1.0, (ulps.max(), x[np.argmax(ulps)])


def test_the_long_double_reference_and_the_reduction_table_agree_with_mpmath():
    mpmath.mp.prec = 1400
    assert vmath._TWO_OVER_PI_BITS == int(mpmath.floor(2 / mpmath.pi * mpmath.mpf(2) ** 1300))
    mpmath.mp.prec = 200
    rng = np.random.default_rng(13)
    points = np.concatenate([rng.uniform(-10, 10, 100), np.exp(rng.uniform(0, 700, 100)), [HARD, 1e22]])
    for name in BOUNDS:
        exact = getattr(mpmath, name)
        for x in points:
            reference = mpmath.mpf(str(getattr(np, name)(np.longdouble(x))))
            want = exact(mpmath.mpf(float(x)))
            assert abs(reference - want) <= abs(want) * mpmath.mpf(2) ** -62, (name, x, reference, want)
    # the hardest case: the reduced argument is about 2**-61 and every bit of the result still right
    assert float(mpmath.cos(mpmath.mpf(HARD))) == _run("cos", np.array([HARD]))[0]


def test_special_values_are_numpys():
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 5e-324, -5e-324, 1e-300, 2.2250738585072014e-308,
                  1.7976931348623157e308, -1.7976931348623157e308, np.pi / 2, -np.pi / 2, np.pi, 1e-8])
    with np.errstate(all="ignore"):
        for dtype in (np.float64, np.float32):
            values = x.astype(dtype)
            for name in BOUNDS:
                got, want = _run(name, values), getattr(np, name)(values)
                np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
                numbers = ~np.isnan(want)
                np.testing.assert_array_equal(np.signbit(got[numbers]), np.signbit(want[numbers]))
                exact = (want == 0) | (np.abs(values) < 1e-8)           # signed zeros, tiny arguments
                np.testing.assert_array_equal(got[exact & numbers], want[exact & numbers])
                np.testing.assert_allclose(got[numbers], want[numbers], rtol=4 * np.finfo(dtype).eps)


def test_a_loop_calling_them_vectorises():
    for (name, dtype), kernel in _LOOPS.items():
        x = np.ones(16, dtype)
        kernel(x, x.copy())
        ir = next(iter(kernel.inspect_llvm().values()))
        assert "x double>" in ir, (name, dtype)


def test_the_numba_backend_uses_them_by_default_and_libm_when_asked():
    x = sg.vector("x")
    expression = sg.sin(x) * sg.cos(2.0 * x) + sg.tan(x / 3)
    fast = sg.function([x], expression, backend="numba")
    libm = sg.function([x], expression, backend="numba", vector_math=False)
    assert all(f"vm.{name}_f64(" in fast.source for name in BOUNDS)
    assert "vm." not in libm.source and "np.sin(" in libm.source
    values = np.concatenate([np.random.default_rng(14).uniform(-50, 50, 10_001), [1e22, HARD, 0.0, -0.0]])
    want = np.sin(values) * np.cos(2.0 * values) + np.tan(values / 3)
    np.testing.assert_allclose(fast(values), want, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(libm(values), want, rtol=1e-13, atol=1e-15)
    x32 = sg.vector("x32", "float32")
    f32 = sg.function([x32], sg.sin(x32) - sg.cos(x32), backend="numba")
    assert "vm.sin_f32(" in f32.source and "vm.cos_f32(" in f32.source
    v32 = values.astype(np.float32)
    got = f32(v32)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, np.sin(v32) - np.cos(v32), rtol=1e-6, atol=1e-6)


def test_a_0d_program_calls_libm_where_nothing_vectorises():
    """A scan's scalar recurrence runs one element at a time: libm's sin is 3x faster there than the exact
    reduction (W7b), and gives NumPy's bits."""
    a, x0, c = sg.scalar("a"), sg.scalar("x0"), sg.vector("c")
    states, _ = sg.scan(lambda ct, x: a * sg.sin(x) + ct, sequences=[c], outputs_info=[x0])
    f = sg.function([a, x0, c], states[-1], backend="numba")
    assert "vm." not in f.source and "np.sin(" in f.source
    values = np.random.default_rng(15).normal(size=50)
    x = 0.3
    for ct in values:
        x = 0.9 * np.sin(x) + ct
    assert f(0.9, 0.3, values) == x
