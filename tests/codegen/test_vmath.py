"""The vectorisable exp, expm1, tanh, log and log1p of codegen/numba/vmath.py: their ulp bounds over two million points
(float64) and four million (float32, whose own float32 algorithms were also run over all 2**32 values) against
the 80-bit long double functions (checked themselves against mpmath on a sample), the special values NumPy
gives, that a loop calling them vectorises (float32 in float32 vectors), and that the numba backend uses them
by default (libm's functions with ``vector_math=False``)."""
import mpmath
import numpy as np
import pytest

import symgraph as sg
from symgraph.codegen.numba import vmath
from tests.codegen.ulp import elementwise_loop, ulp_distance

pytestmark = pytest.mark.skipif(np.finfo(np.longdouble).nmant < 63, reason="needs the 80-bit long double")


_exp64, _tanh64 = elementwise_loop(vmath.exp_f64), elementwise_loop(vmath.tanh_f64)
_exp32, _tanh32 = elementwise_loop(vmath.exp_f32), elementwise_loop(vmath.tanh_f32)
_log64, _log1p64 = elementwise_loop(vmath.log_f64), elementwise_loop(vmath.log1p_f64)
_expm164 = elementwise_loop(vmath.expm1_f64)


def _run(kernel, x):
    out = np.empty_like(x)
    kernel(x, out)
    return out


def _exp_points(rng, n):
    return np.concatenate([rng.uniform(-745.13, 709.78, n // 2), rng.uniform(-1, 1, n // 4),
                           rng.uniform(-745.13, -708.0, n // 8),            # subnormal results
                           rng.uniform(700, 709.78, n // 8)])


def test_exp_f64_is_within_1_ulp_over_two_million_points():
    x = _exp_points(np.random.default_rng(0), 2_000_000)
    ulps = ulp_distance(_run(_exp64, x), np.exp(x.astype(np.longdouble)), np.float64)
    assert ulps.max() <= 1.0, (ulps.max(), x[np.argmax(ulps)])


def test_tanh_f64_is_within_2_ulp_over_two_million_points():
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.uniform(-20, 20, 800_000), rng.uniform(-0.7, 0.7, 800_000),
                        rng.uniform(-1e-3, 1e-3, 200_000), rng.uniform(0.6, 0.65, 200_000) * rng.choice([-1, 1])])
    ulps = ulp_distance(_run(_tanh64, x), np.tanh(x.astype(np.longdouble)), np.float64)
    assert ulps.max() <= 2.0, (ulps.max(), x[np.argmax(ulps)])


def test_log_f64_is_within_1_ulp_over_two_million_points():
    rng = np.random.default_rng(5)
    x = np.concatenate([np.exp(rng.uniform(-740, 709, 1_000_000)), rng.uniform(0.5, 2, 800_000),
                        rng.uniform(0, 1e-300, 100_000), rng.uniform(0, 5e-310, 100_000)])    # subnormals
    ulps = ulp_distance(_run(_log64, x), np.log(x.astype(np.longdouble)), np.float64)
    assert ulps.max() <= 1.0, (ulps.max(), x[np.argmax(ulps)])


def test_log1p_f64_is_within_2_ulp_over_two_million_points():
    rng = np.random.default_rng(6)
    x = np.concatenate([rng.uniform(-0.999, 1, 1_000_000), rng.uniform(-1e-8, 1e-8, 400_000),
                        np.exp(rng.uniform(-700, 700, 600_000))])
    ulps = ulp_distance(_run(_log1p64, x), np.log1p(x.astype(np.longdouble)), np.float64)
    assert ulps.max() <= 2.0, (ulps.max(), x[np.argmax(ulps)])


def test_expm1_f64_is_within_3_ulp_over_two_million_points():
    """Within 1 ulp below ln 2 / 2 in magnitude (r = x, no scaling), 3 beyond (2.004 at most here, just above
    ln 2 / 2, where 2 expm1(r) + 1 cancels a bit)."""
    rng = np.random.default_rng(7)
    x = np.concatenate([rng.uniform(-45, 709.78, 800_000), rng.uniform(-0.35, 0.35, 400_000),
                        rng.uniform(-1e-8, 1e-8, 200_000), rng.uniform(0.3, 0.45, 200_000) * rng.choice([-1, 1]),
                        rng.uniform(700, 709.78, 100_000), rng.uniform(36, 41, 100_000) * -1,
                        np.exp(rng.uniform(-740, 0, 200_000)) * rng.choice([-1, 1])])
    ulps = ulp_distance(_run(_expm164, x), np.expm1(x.astype(np.longdouble)), np.float64)
    assert ulps.max() <= 3.0, (ulps.max(), x[np.argmax(ulps)])
    inner = np.abs(x) < 0.34
    assert ulps[inner].max() <= 1.0, (ulps[inner].max(), x[inner][np.argmax(ulps[inner])])


FLOAT32_BOUNDS = {"exp": 1.0, "tanh": 2.0, "log": 1.0, "log1p": 2.0, "expm1": 2.0}


def _float32_points(name, rng, n):
    """Random bit patterns (every exponent of float32 equally often) and uniform points where each function
    changes its method or its result is hardest to round."""
    x = rng.integers(0, 2**32, n // 2, dtype=np.uint64).astype(np.uint32).view(np.float32)
    dense = {"exp": [(-104, 89), (-1, 1), (-104, -87), (80, 89)], "tanh": [(-10, 10), (-0.7, 0.7), (0.6, 0.65)],
             "log": [(0.5, 2), (0, 1e-37), (0.69, 0.71)], "log1p": [(-1, 1), (-1e-6, 1e-6), (-1, -0.9)],
             "expm1": [(-20, 89), (-0.4, 0.4), (-1e-6, 1e-6), (80, 89)]}[name]
    parts = [rng.uniform(low, high, n // (2 * len(dense))).astype(np.float32) for low, high in dense]
    return np.concatenate([x] + parts)


@pytest.mark.parametrize("name", ["exp", "tanh", "log", "log1p", "expm1"])
def test_float32_versions_are_within_their_bounds(name):
    """Native float32 algorithms (16 lanes per AVX-512 vector): exp and log within 1 ulp, tanh and log1p
    within 2, on four million points here; run over all 2**32 float32 values once (0.99, 1.33, 0.83 and
    1.44 ulp at most, every non-finite result NumPy's)."""
    x = _float32_points(name, np.random.default_rng(2), 4_000_000)
    got = _run(elementwise_loop(getattr(vmath, f"{name}_f32")), x)
    assert got.dtype == np.float32
    with np.errstate(all="ignore"):
        exact = getattr(np, name)(x.astype(np.longdouble))
        rounded = exact.astype(np.float32)
    finite = np.isfinite(rounded) & np.isfinite(x)
    ulps = ulp_distance(got[finite], exact[finite], np.float32)
    assert ulps.max() <= FLOAT32_BOUNDS[name], (ulps.max(), x[finite][np.argmax(ulps)])
    others = ~finite                                   # inf and NaN results and arguments: exactly NumPy's
    np.testing.assert_array_equal(got[others], rounded[others])


def test_float32_versions_compute_in_float32():
    """No float64 arithmetic in the loop (it would halve the vector width)."""
    for name in ("exp", "tanh", "log", "log1p", "expm1"):
        kernel = elementwise_loop(getattr(vmath, f"{name}_f32"))
        x = np.ones(64, np.float32)
        kernel(x, x.copy())
        ir = next(iter(kernel.inspect_llvm().values()))
        assert "x float>" in ir, name
        assert "fpext" not in ir and "double" not in ir.split("define", 1)[1].split("\n}", 1)[0].replace(
            "double*", ""), name


def test_the_long_double_reference_agrees_with_mpmath_on_a_sample():
    mpmath.mp.prec = 120
    rng = np.random.default_rng(3)
    for function, points in ((np.exp, _exp_points(rng, 400)), (np.tanh, rng.uniform(-20, 20, 400)),
                             (np.log, np.exp(rng.uniform(-700, 700, 400))), (np.log1p, rng.uniform(-0.9, 3, 400)),
                             (np.expm1, rng.uniform(-40, 700, 400)), (np.expm1, rng.uniform(-1e-3, 1e-3, 100))):
        exact = getattr(mpmath, function.__name__)
        for x in points:
            reference = mpmath.mpf(str(function(np.longdouble(x))))     # every digit of the long double
            want = exact(mpmath.mpf(float(x)))
            assert abs(reference - want) <= abs(want) * mpmath.mpf(2) ** -62, (x, reference, want)


def test_float32_special_values_are_numpys():
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 88.72283, 88.72284, -103.97207, -103.97208, -1000.0,
                  1000.0, 1e-45, -1e-45, 1e-38, 0.625, -0.625, 9.0, 20.0, 1e6, -1.0, -2.0, 1.0, 1.1754944e-38,
                  3.4028235e38, -18.0, -17.9, 88.7, 0.34657359], np.float32)
    with np.errstate(all="ignore"):
        for name in ("exp", "tanh", "log", "log1p", "expm1"):
            got, want = _run(elementwise_loop(getattr(vmath, f"{name}_f32")), x), getattr(np, name)(x)
            np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
            numbers = ~np.isnan(want)
            np.testing.assert_array_equal(np.signbit(got[numbers]), np.signbit(want[numbers]))
            exact = np.isinf(want) | (want == 0) | np.isnan(want) | ((np.abs(x) >= 20) & (name == "tanh"))
            np.testing.assert_array_equal(got[exact], want[exact])
            np.testing.assert_allclose(got, want, rtol=3e-7)


def test_special_values_are_numpys():
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 709.78, 709.79, -745.13, -745.14, -1000.0, 1000.0,
                  5e-324, -5e-324, 1e-300, 0.625, -0.625, 19.0, 40.0, 1e6, -1.0, -2.0, 1.0, 2.2250738585072014e-308,
                  1.7976931348623157e308, -40.0, -39.9, 0.34657359027997264, 39.0, 38.0])
    with np.errstate(all="ignore"):
        for kernel, function in ((_exp64, np.exp), (_tanh64, np.tanh), (_log64, np.log), (_log1p64, np.log1p),
                                 (_expm164, np.expm1)):
            got, want = _run(kernel, x), function(x)
            np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
            numbers = ~np.isnan(want)                # (a NaN's sign bit is not NumPy's contract)
            np.testing.assert_array_equal(np.signbit(got[numbers]), np.signbit(want[numbers]))
            exact = np.isinf(want) | (want == 0) | np.isnan(want) | (np.abs(x) >= 40) & (function is not np.expm1)
            np.testing.assert_array_equal(got[exact], want[exact])
            np.testing.assert_allclose(got, want, rtol=3e-16)


def test_a_loop_calling_them_vectorises():
    x = np.zeros(8)
    _exp64(x, x.copy())
    _tanh64(x, x.copy())
    _log64(x + 1, x.copy())
    _log1p64(x, x.copy())
    _expm164(x, x.copy())
    for kernel in (_exp64, _tanh64, _log64, _log1p64, _expm164):
        ir = next(iter(kernel.inspect_llvm().values()))
        assert "x double>" in ir, "no vector of doubles in the loop's LLVM IR"


def test_the_numba_backend_uses_them_by_default_and_libm_when_asked():
    x = sg.vector("x")
    expression = sg.tanh(x) * sg.exp(-x * x) + sg.log(x + 6.0) - sg.log1p(x * x) + sg.expm1(x / 7)
    fast = sg.function([x], expression, backend="numba")             # the default: vmath.py's functions
    libm = sg.function([x], expression, backend="numba", vector_math=False)
    assert all(f"vm.{name}_f64(" in fast.source for name in ("exp", "tanh", "log", "log1p", "expm1"))
    assert "vm." not in libm.source and "np.exp(" in libm.source
    values = np.random.default_rng(4).uniform(-5, 5, 10_001)
    want = np.tanh(values) * np.exp(-values * values) + np.log(values + 6.0) - np.log1p(values * values) \
        + np.expm1(values / 7)
    np.testing.assert_allclose(fast(values), want, rtol=1e-15, atol=1e-15)
    np.testing.assert_allclose(libm(values), want, rtol=1e-15, atol=1e-15)
    x32 = sg.vector("x32", "float32")
    f32 = sg.function([x32], sg.exp(x32) + sg.tanh(x32), backend="numba")
    assert "vm.exp_f32(" in f32.source
    v32 = values.astype(np.float32)
    got = f32(v32)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, np.exp(v32) + np.tanh(v32), rtol=3e-7, atol=3e-7)
