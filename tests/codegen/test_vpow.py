"""The vectorisable pow of codegen/numba/vmath.py: its logarithm table against mpmath, the 1-ulp bound on three
million points against the 80-bit long double pow, exact results where the power is a double, C99's special
cases as NumPy gives them, float32, a vectorised loop, and the numba backend using it by default."""
import mpmath
import numpy as np
import pytest

import symgraph as sg
from symgraph.codegen.numba import vmath
from tests.codegen.ulp import assert_vectorised, binary_runner, ulp_distance

pytestmark = pytest.mark.skipif(np.finfo(np.longdouble).nmant < 63, reason="needs the 80-bit long double")


_run = binary_runner("pow")      # _run(x, y): x ** y


def test_the_logarithm_table_agrees_with_mpmath():
    mpmath.mp.prec = 200
    table = vmath._POW_LOG_TABLE.reshape(-1, 3)
    assert table.shape == (128, 3) and (table[:, 0] == 1.0).sum() == 1
    for inverse, high, low in table:
        exact = -mpmath.log(mpmath.mpf(float(inverse)))
        assert abs(mpmath.mpf(float(high)) + mpmath.mpf(float(low)) - exact) <= abs(exact) * mpmath.mpf(2) ** -104


def test_float64_is_within_1_ulp_over_three_million_points():
    rng = np.random.default_rng(31)
    n = 1_000_000
    x = np.concatenate([rng.uniform(0, 10, n), np.exp(rng.uniform(-740, 709, n)), 1 + rng.uniform(-1e-6, 1e-6, n)])
    y = np.concatenate([rng.uniform(-30, 30, n), rng.uniform(-1, 1, n), rng.uniform(-1e6, 1e6, n)])
    x[::3] *= -1
    y[::3] = np.round(y[::3])                         # negative bases with integer exponents
    got = _run(x, y)
    with np.errstate(all="ignore"):
        exact = np.power(x.astype(np.longdouble), y.astype(np.longdouble))
    rounded = exact.astype(np.float64)
    inside = np.isfinite(rounded) & (np.abs(rounded) >= np.finfo(np.float64).tiny)
    assert inside.mean() > 0.8
    ulps = ulp_distance(got[inside], exact[inside], np.float64)
    assert ulps.max() <= 1.0, (ulps.max(), x[inside][np.argmax(ulps)], y[inside][np.argmax(ulps)])
    # beyond the range (and subnormal results, within a unit of the last place there)
    outside = ~inside & np.isfinite(x) & ~np.isnan(rounded)
    np.testing.assert_allclose(got[outside], rounded[outside], rtol=0, atol=5e-324)


def test_powers_that_are_doubles_come_out_exactly():
    x = np.array([2.0, 2.0, 0.5, 9.0, 10.0, 3.0, 1.5, -2.0, -2.0, 7.0, 16.0, 10.0, 1.25, 4.0, 2.0, 0.1])
    y = np.array([10.0, -3.0, 3.0, 0.5, 15.0, 20.0, 2.0, 3.0, 2.0, 0.0, 0.25, -2.0, 3.0, 1.5, -1074.0, 1.0])
    np.testing.assert_array_equal(_run(x, y), np.power(x, y))
    k = np.arange(-1074, 1024, dtype=np.float64)
    np.testing.assert_array_equal(_run(np.full_like(k, 2.0), k), np.ldexp(1.0, k.astype(np.int64)))


def test_special_cases_are_numpys():
    values = np.array([0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.0, -2.0, 3.0, -3.0, np.inf, -np.inf, np.nan, 2.5, -2.5,
                       5e-324, 1e308, 1e-308, 1e300, -1e300])
    x, y = (a.ravel() for a in np.meshgrid(values, values))
    got = _run(x, y)
    with np.errstate(all="ignore"):
        want = np.power(x, y)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    numbers = ~np.isnan(want)
    np.testing.assert_array_equal(np.signbit(got[numbers]), np.signbit(want[numbers]))
    limits = numbers & ((want == 0) | np.isinf(want) | (np.abs(want) == 1))
    np.testing.assert_array_equal(got[limits], want[limits])
    np.testing.assert_allclose(got[numbers], want[numbers], rtol=3e-16)


def test_float32_is_within_1_ulp_of_float32():
    rng = np.random.default_rng(32)
    x = np.concatenate([rng.uniform(0, 10, 500_000), np.exp(rng.uniform(-80, 80, 500_000))]).astype(np.float32)
    y = np.concatenate([rng.uniform(-10, 10, 500_000), rng.uniform(-1, 1, 500_000)]).astype(np.float32)
    got = _run(x, y)
    assert got.dtype == np.float32
    with np.errstate(all="ignore"):
        exact = np.power(x.astype(np.longdouble), y.astype(np.longdouble))
    rounded = exact.astype(np.float32)
    inside = np.isfinite(rounded) & (np.abs(rounded) >= np.finfo(np.float32).tiny)
    ulps = ulp_distance(got[inside], exact[inside], np.float32)
    assert ulps.max() <= 1.0, ulps.max()
    np.testing.assert_array_equal(_run(np.float32([2, 3, 0.5, 9]), np.float32([10, 4, 3, 0.5])),
                                  np.float32([1024, 81, 0.125, 3]))


def test_a_loop_calling_it_vectorises():
    assert_vectorised({("pow", dtype): loop for dtype, loop in _run.loops.items()})


def test_the_numba_backend_uses_it_by_default_and_libm_when_asked():
    x, y = sg.vector("x"), sg.vector("y")
    expression = x ** y + x ** 2.5
    fast = sg.function([x, y], expression, backend="numba")
    libm = sg.function([x, y], expression, backend="numba", vector_math=False)
    assert fast.source.count("vm.pow_f64(") == 2 and "np.power(" not in fast.source
    assert "vm." not in libm.source and "np.power(" in libm.source
    rng = np.random.default_rng(33)
    a, b = rng.uniform(0, 5, 10_001), rng.uniform(-4, 4, 10_001)
    want = a ** b + a ** 2.5
    np.testing.assert_allclose(fast(a, b), want, rtol=1e-15)
    np.testing.assert_allclose(libm(a, b), want, rtol=1e-15)
    i = sg.vector("i", "int64")
    assert "vm." not in sg.function([i], i ** 3, backend="numba").source      # integer powers stay exact
