"""The vectorisable erf and erfc of codegen/numba/vmath.py (fdlibm's algorithm without branches): their ulp
bounds against mpmath on a sample of every range, NumPy's (SciPy's) special values, vectorised loops, and
the numba backend using them by default."""
import mpmath
import numpy as np
import pytest
import scipy.special

import symgraph as sg
from tests.codegen.ulp import assert_vectorised, runner

BOUNDS = {"erf": 1.0, "erfc": 4.0}      # float64, as vmath's docstring states; float32: 1 ulp of float32


_run = runner(BOUNDS)
_LOOPS = _run.loops


def _points(rng, n):
    """Each of fdlibm's ranges (0.84375, 1.25, 1 / 0.35, 6, 28) densely, tiny and subnormal arguments."""
    edges = np.array([0.84375, 1.25, 2.857142857142857, 6.0, 28.0])
    near = (np.repeat(edges, n // 50) + rng.uniform(-1e-3, 1e-3, 5 * (n // 50))) * rng.choice([-1, 1], 5 * (n // 50))
    return np.concatenate([rng.uniform(-7, 7, n // 2), rng.uniform(-1.3, 1.3, n // 5), rng.uniform(-28, 28, n // 10),
                           np.exp(rng.uniform(-740, 0, n // 10)) * rng.choice([-1, 1], n // 10), near,
                           np.array([0.0, -0.0, 5e-324, 1e-300, 26.5, 27.2, 27.3])])


def _ulps_against_mpmath(name, x, got, dtype):
    mpmath.mp.prec = 120
    exact = getattr(mpmath, name)
    worst, where = 0.0, None
    tiny = np.finfo(dtype).smallest_subnormal
    for value, result in zip(x, got):
        want = exact(mpmath.mpf(float(value)))
        rounded = abs(dtype(float(want)))
        spacing = max(float(np.spacing(rounded)), float(tiny)) if rounded else float(tiny)
        ulps = float(abs(mpmath.mpf(float(result)) - want) / spacing)
        if ulps > worst:
            worst, where = ulps, value
    return worst, where


@pytest.mark.parametrize("name", sorted(BOUNDS))
def test_float64_is_within_its_bound_against_mpmath(name):
    x = _points(np.random.default_rng(21), 30_000)
    worst, where = _ulps_against_mpmath(name, x, _run(name, x), np.float64)
    assert worst <= BOUNDS[name], (worst, where)


@pytest.mark.parametrize("name", sorted(BOUNDS))
def test_float32_is_within_1_ulp_of_float32_against_mpmath(name):
    x = _points(np.random.default_rng(22), 20_000).astype(np.float32)
    got = _run(name, x)
    assert got.dtype == np.float32
    worst, where = _ulps_against_mpmath(name, x, got, np.float32)
    assert worst <= 1.0, (worst, where)


def test_special_values_are_scipys():
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 5e-324, -5e-324, 6.0, -6.0, 28.0, -28.0, 30.0, 1e300, -1e300])
    for dtype in (np.float64, np.float32):
        values = x.astype(dtype)
        for name in BOUNDS:
            got, want = _run(name, values), getattr(scipy.special, name)(values)
            np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
            numbers = ~np.isnan(want)
            np.testing.assert_array_equal(np.signbit(got[numbers]), np.signbit(want[numbers]))
            limits = numbers & ((want == 0) | (np.abs(want) == 1) | (want == 2))    # the limits, exactly
            np.testing.assert_array_equal(got[limits], want[limits])


def test_a_loop_calling_them_vectorises():
    assert_vectorised(_LOOPS)


def test_the_numba_backend_uses_them_by_default_and_libm_when_asked():
    x = sg.vector("x")
    expression = 0.5 * x * (1.0 + sg.erf(x * 0.7071067811865476)) + sg.erfc(x)     # GELU, and erfc
    fast = sg.function([x], expression, backend="numba")
    libm = sg.function([x], expression, backend="numba", vector_math=False)
    assert "vm.erf_f64(" in fast.source and "vm.erfc_f64(" in fast.source
    assert "vm." not in libm.source and "math.erf(" in libm.source
    values = np.random.default_rng(23).uniform(-8, 8, 10_001)
    want = 0.5 * values * (1.0 + scipy.special.erf(values * 0.7071067811865476)) + scipy.special.erfc(values)
    np.testing.assert_allclose(fast(values), want, rtol=1e-14, atol=1e-300)
    np.testing.assert_allclose(libm(values), want, rtol=1e-14, atol=1e-300)
    x32 = sg.vector("x32", "float32")
    f32 = sg.function([x32], sg.erf(x32), backend="numba")
    assert "vm.erf_f32(" in f32.source
    got = f32(values.astype(np.float32))
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, scipy.special.erf(values.astype(np.float32)), rtol=2e-7, atol=1e-30)
