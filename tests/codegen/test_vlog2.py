"""The vectorisable log2, log10 and exp2 of codegen/numba/vmath.py (pow's two-double logarithm and exp): within
1 ulp of the 80-bit long double functions on two million points each (nearly always correctly rounded), exact
at powers of two and ten and at integer exponents, NumPy's special values, float32, and the numba backend
using them by default."""
import numpy as np
import pytest

import symgraph as sg
from tests.codegen.ulp import assert_vectorised, runner, ulp_distance

pytestmark = pytest.mark.skipif(np.finfo(np.longdouble).nmant < 63, reason="needs the 80-bit long double")

_run = runner(["log2", "log10", "exp2"])


@pytest.mark.parametrize("name", ["log2", "log10"])
def test_logarithms_are_within_1_ulp_over_two_million_points(name):
    rng = np.random.default_rng(41)
    x = np.concatenate([np.exp(rng.uniform(-744, 709, 1_200_000)), rng.uniform(0.5, 2, 600_000),
                        rng.uniform(0, 5e-310, 200_000)])
    distance = ulp_distance(_run(name, x), getattr(np, name)(x.astype(np.longdouble)), np.float64)
    assert distance.max() <= 1.0, (distance.max(), x[np.argmax(distance)])


def test_exp2_is_within_1_ulp_over_two_million_points():
    rng = np.random.default_rng(42)
    x = np.concatenate([rng.uniform(-1022, 1024, 1_400_000), rng.uniform(-1, 1, 600_000)])
    exact = np.exp2(x.astype(np.longdouble))
    inside = np.isfinite(exact.astype(np.float64))
    distance = ulp_distance(_run("exp2", x)[inside], exact[inside], np.float64)
    assert distance.max() <= 1.0, (distance.max(), x[inside][np.argmax(distance)])


def test_exact_results_are_exact():
    k = np.arange(-1074, 1024, dtype=np.float64)
    np.testing.assert_array_equal(_run("exp2", k), np.exp2(k))
    np.testing.assert_array_equal(_run("log2", np.exp2(k)), k)
    tens = 10.0 ** np.arange(-300, 309)
    np.testing.assert_array_equal(_run("log10", tens), np.log10(tens))


def test_special_values_are_numpys():
    x = np.array([0.0, -0.0, -1.0, np.inf, -np.inf, np.nan, 5e-324, 1.0, 1e308, -1074.0, -1075.0, -1080.0,
                  1023.0, 1024.0, 1e300, -1e300])
    with np.errstate(all="ignore"):
        for dtype in (np.float64, np.float32):
            values = x.astype(dtype)
            for name in ("log2", "log10", "exp2"):
                got, want = _run(name, values), getattr(np, name)(values)
                np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
                numbers = ~np.isnan(want)
                exact = numbers & (np.isinf(want) | (want == 0) | (want == np.round(want)))
                np.testing.assert_array_equal(got[exact], want[exact])
                np.testing.assert_allclose(got[numbers], want[numbers], rtol=2 * np.finfo(dtype).eps)


def test_float32_is_within_1_ulp_of_float32():
    rng = np.random.default_rng(43)
    x = np.exp(rng.uniform(-100, 88, 1_000_000)).astype(np.float32)
    e = rng.uniform(-140, 128, 1_000_000).astype(np.float32)
    for name, values in (("log2", x), ("log10", x), ("exp2", e)):
        got = _run(name, values)
        assert got.dtype == np.float32
        exact = getattr(np, name)(values.astype(np.longdouble))
        inside = np.isfinite(exact.astype(np.float32)) & (np.abs(exact) >= np.finfo(np.float32).tiny)
        assert ulp_distance(got[inside], exact[inside], np.float32).max() <= 1.0, name


def test_loops_vectorise_and_the_backend_uses_them():
    assert_vectorised(_run.loops)
    x = sg.vector("x")
    expression = sg.log2(x) + sg.log10(x) * sg.exp2(x)
    fast = sg.function([x], expression, backend="numba")
    libm = sg.function([x], expression, backend="numba", vector_math=False)
    assert all(f"vm.{name}_f64(" in fast.source for name in ("log2", "log10", "exp2"))
    assert "vm." not in libm.source
    values = np.random.default_rng(44).uniform(0.01, 30, 10_001)
    want = np.log2(values) + np.log10(values) * np.exp2(values)
    np.testing.assert_allclose(fast(values), want, rtol=1e-15)
    np.testing.assert_allclose(libm(values), want, rtol=1e-15)
