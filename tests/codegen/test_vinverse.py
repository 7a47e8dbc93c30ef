"""The vectorisable inverse trigonometric and hyperbolic functions, hypot and cbrt of codegen/numba/vmath.py:
their bounds (arctan, arcsin, arccos, hypot, cbrt 1 ulp, arctan2 2, arcsinh, arccosh, arctanh 3) against the
80-bit long double functions on millions of points over every range, C99's special cases as NumPy's,
float32, vectorised loops, and the numba backend using them by default."""
import numpy as np
import pytest

import symgraph as sg
from tests.codegen.ulp import assert_vectorised, binary_runner, runner, ulp_distance

pytestmark = pytest.mark.skipif(np.finfo(np.longdouble).nmant < 63, reason="needs the 80-bit long double")

BOUNDS = {"arctan": 1.0, "arcsin": 1.0, "arccos": 1.0, "arcsinh": 3.0, "arccosh": 3.0, "arctanh": 3.0,
          "cbrt": 1.0}
_run = runner(BOUNDS)


_atan2 = binary_runner("arctan2")
_hypot = binary_runner("hypot")


def _points(rng, n):
    """Every range of atan's reduction (breakpoints 7/16, 11/16, 19/16, 39/16 included) and magnitudes from
    subnormal to huge, both signs."""
    breakpoints = np.array([0.4375, 0.6875, 1.1875, 2.4375])
    x = np.concatenate([rng.uniform(-3, 3, n // 2), np.exp(rng.uniform(-745, 709, n // 4)),
                        (breakpoints[:, None] * (1 + rng.uniform(-1e-6, 1e-6, (4, n // 16)))).ravel(),
                        rng.uniform(-1e-8, 1e-8, n // 8)])
    x[::3] *= -1
    return x


def test_arctan_float64_is_within_1_ulp_over_two_million_points():
    x = _points(np.random.default_rng(61), 2_000_000)
    got = _run("arctan", x)
    distance = ulp_distance(got, np.arctan(x.astype(np.longdouble)), np.float64)
    assert distance.max() <= 1.0, (distance.max(), x[np.argmax(distance)])


@pytest.mark.parametrize("name", ["arcsin", "arccos"])
def test_arcsin_and_arccos_float64_are_within_1_ulp_over_two_million_points(name):
    rng = np.random.default_rng(64)
    x = np.concatenate([rng.uniform(-1, 1, 1_000_000), 1 - np.exp(rng.uniform(-40, 0, 400_000)),
                        np.exp(rng.uniform(-745, 0, 400_000)), rng.uniform(0.97, 0.98, 100_000),
                        rng.uniform(0.499, 0.501, 100_000)])
    x[::2] *= -1
    got = _run(name, x)
    distance = ulp_distance(got, getattr(np, name)(x.astype(np.longdouble)), np.float64)
    assert distance.max() <= BOUNDS[name], (distance.max(), x[np.argmax(distance)])
    special = np.array([0.0, -0.0, 1.0, -1.0, 1.0000000000000002, -1.5, np.inf, -np.inf, np.nan, 5e-324, -5e-324])
    for dtype in (np.float64, np.float32):
        values = special.astype(dtype)
        with np.errstate(invalid="ignore"):
            want = getattr(np, name)(values)
        got = _run(name, values)
        assert got.dtype == dtype
        np.testing.assert_array_equal(got, want)                 # NaN outside [-1, 1], ±pi / 2, pi, 0, ±0
        numbers = ~np.isnan(want)
        np.testing.assert_array_equal(np.signbit(got[numbers]), np.signbit(want[numbers]))


def _hyperbolic_points(name, rng):
    if name == "arcsinh":
        x = np.concatenate([rng.uniform(-3, 3, 800_000), np.exp(rng.uniform(-745, 709, 800_000)),
                            np.exp(rng.uniform(-21, -19, 200_000)), rng.uniform(1.9, 2.1, 200_000)])
    elif name == "arccosh":
        return np.concatenate([1 + rng.uniform(0, 3, 800_000), 1 + np.exp(rng.uniform(-52, 0, 400_000)),
                               np.exp(rng.uniform(0, 709, 600_000)), rng.uniform(1.9, 2.1, 200_000)])
    else:
        x = np.concatenate([rng.uniform(-1, 1, 800_000), 1 - np.exp(rng.uniform(-36, 0, 400_000)),
                            np.exp(rng.uniform(-745, -1, 600_000)), rng.uniform(0.49, 0.51, 200_000)])
    x[::2] *= -1
    return x


@pytest.mark.parametrize("name", ["arcsinh", "arccosh", "arctanh"])
def test_inverse_hyperbolic_float64_are_within_3_ulp_over_two_million_points(name):
    rng = np.random.default_rng(65)
    x = _hyperbolic_points(name, rng)
    got = _run(name, x)
    distance = ulp_distance(got, getattr(np, name)(x.astype(np.longdouble)), np.float64)
    assert distance.max() <= BOUNDS[name], (distance.max(), x[np.argmax(distance)])
    special = np.array([0.0, -0.0, 1.0, -1.0, 1.0000000000000002, -1.5, 0.5, np.inf, -np.inf, np.nan, 5e-324,
                        -5e-324, 1e-300, 1e300, -1e300, 2.0 ** 28, 2.0 ** -28])
    for dtype in (np.float64, np.float32):
        with np.errstate(over="ignore", under="ignore"):
            values = special.astype(dtype)
        with np.errstate(invalid="ignore", divide="ignore"):
            want = getattr(np, name)(values)
        got = _run(name, values)
        assert got.dtype == dtype
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        numbers = ~np.isnan(want)
        np.testing.assert_array_equal(np.signbit(got[numbers]), np.signbit(want[numbers]))
        decided = numbers & (np.isinf(want) | (want == 0) | (np.abs(values) < 1e-8))
        np.testing.assert_array_equal(got[decided], want[decided])           # ±0, ±inf, tiny: exact
        np.testing.assert_allclose(got[numbers], want[numbers], rtol=4 * np.finfo(dtype).eps)


def test_arctan2_float64_is_within_2_ulp_over_two_million_points():
    rng = np.random.default_rng(62)
    x = _points(rng, 2_000_000)
    y = rng.permutation(x)
    with np.errstate(over="ignore", under="ignore"):
        y[::5] = rng.uniform(-1, 1, y[::5].size) * x[::5] * 1e-70     # |y / x| tiny: angles near 0 and pi
        y[1::5] = x[1::5] * rng.uniform(-1, 1, y[1::5].size) * 1e70   # and near pi / 2
    y = np.where(np.isfinite(y), y, 1.0)
    got = _atan2(y, x)
    exact = np.arctan2(y.astype(np.longdouble), x.astype(np.longdouble))
    distance = ulp_distance(got, exact, np.float64)
    assert distance.max() <= 2.0, (distance.max(), y[np.argmax(distance)], x[np.argmax(distance)])


def test_special_values_are_numpys_bit_for_bit():
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 5e-324, -5e-324, 1e308, -1e308, 1e-300,
                        2.0 ** 61, -(2.0 ** -61)])
    y, x = (a.ravel().copy() for a in np.meshgrid(special, special))
    for dtype in (np.float64, np.float32):
        with np.errstate(over="ignore", under="ignore"):
            yv, xv = y.astype(dtype), x.astype(dtype)
        got, want = _atan2(yv, xv), np.arctan2(yv, xv)
        assert got.dtype == dtype
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        numbers = ~np.isnan(want)
        np.testing.assert_array_equal(np.signbit(got[numbers]), np.signbit(want[numbers]))
        # zeros and infinities on either side, or the ratio out of range: exactly NumPy's (C99's) values
        decided = numbers & ((yv == 0) | (xv == 0) | np.isinf(yv) | np.isinf(xv))
        np.testing.assert_array_equal(got[decided], want[decided])
        np.testing.assert_allclose(got[numbers], want[numbers], rtol=2 * np.finfo(dtype).eps)
        with np.errstate(over="ignore"):
            values = special.astype(dtype)
        got, want = _run("arctan", values), np.arctan(values)
        np.testing.assert_array_equal(got, want)             # ±0, ±pi / 2, tiny arguments returned as they are
        np.testing.assert_array_equal(np.signbit(got), np.signbit(want))


def test_hypot_is_within_1_ulp_overflows_as_numpy_and_keeps_cs_special_cases():
    rng = np.random.default_rng(66)
    x = np.concatenate([rng.uniform(-3, 3, 1_000_000), np.exp(rng.uniform(-745, 709, 1_000_000))])
    y = rng.permutation(x)
    y[::4] = x[::4] * rng.uniform(0.5, 2, y[::4].size)                  # operands of the same size
    got = _hypot(y, x)
    with np.errstate(over="ignore"):
        exact = np.hypot(y.astype(np.longdouble), x.astype(np.longdouble))
        rounded = exact.astype(np.float64)
    finite = np.isfinite(rounded)
    distance = ulp_distance(got[finite], exact[finite], np.float64)
    assert distance.max() <= 1.0, (distance.max(), y[finite][np.argmax(distance)], x[finite][np.argmax(distance)])
    np.testing.assert_array_equal(got[~finite], rounded[~finite])          # overflow where NumPy's does
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -3.0, 5e-324, -5e-324, 1e308, -1.7e308, 1e-300,
                        2.0 ** 61, 4.0])
    y, x = (a.ravel().copy() for a in np.meshgrid(special, special))
    for dtype in (np.float64, np.float32):
        with np.errstate(over="ignore", under="ignore"):
            yv, xv = y.astype(dtype), x.astype(dtype)
            want = np.hypot(yv, xv)
        np.testing.assert_array_equal(_hypot(yv, xv), want)              # inf beats NaN, |x| for y = 0, ...
    x32, y32 = rng.uniform(-1e3, 1e3, (2, 1_000_000)).astype(np.float32)
    exact = np.hypot(y32.astype(np.longdouble), x32.astype(np.longdouble))
    assert ulp_distance(_hypot(y32, x32), exact, np.float32).max() <= 1.0


def test_cbrt_is_within_1_ulp_and_exact_on_cubes():
    rng = np.random.default_rng(67)
    x = np.concatenate([rng.uniform(-3, 3, 1_000_000), np.exp(rng.uniform(-745, 709, 1_000_000))])
    x[::2] *= -1
    distance = ulp_distance(_run("cbrt", x), np.cbrt(x.astype(np.longdouble)), np.float64)
    assert distance.max() <= 1.0, (distance.max(), x[np.argmax(distance)])
    cubes = np.arange(-300, 301, dtype=np.float64)
    np.testing.assert_array_equal(_run("cbrt", cubes ** 3), cubes)
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 5e-324, -5e-324, 2.0 ** -1022, 1e308, 0.001])
    for dtype in (np.float64, np.float32):
        with np.errstate(over="ignore", under="ignore"):
            values = special.astype(dtype)
        got, want = _run("cbrt", values), np.cbrt(values)
        np.testing.assert_array_equal(np.signbit(got), np.signbit(want))
        exact = ~np.isfinite(want) | (want == 0)
        np.testing.assert_array_equal(got[exact], want[exact])
        np.testing.assert_allclose(got, want, rtol=np.finfo(dtype).eps)
    x32 = rng.uniform(-1e3, 1e3, 1_000_000).astype(np.float32)
    assert ulp_distance(_run("cbrt", x32), np.cbrt(x32.astype(np.longdouble)), np.float32).max() <= 1.0


def test_float32_is_within_1_ulp():
    rng = np.random.default_rng(63)
    with np.errstate(over="ignore"):
        x = _points(rng, 1_000_000).astype(np.float32)          # (huge ones become inf)
    y = rng.permutation(x)
    exact = np.arctan(x.astype(np.longdouble))
    assert ulp_distance(_run("arctan", x), exact, np.float32).max() <= 1.0
    unit = rng.uniform(-1, 1, 1_000_000).astype(np.float32)
    for name in ("arcsin", "arccos", "arctanh"):
        exact = getattr(np, name)(unit.astype(np.longdouble))
        assert ulp_distance(_run(name, unit), exact, np.float32).max() <= 1.0, name
    for name in ("arcsinh", "arccosh"):
        values = (1 + np.abs(x) if name == "arccosh" else x)
        values = values[np.isfinite(values)]
        exact = getattr(np, name)(values.astype(np.longdouble))
        assert ulp_distance(_run(name, values), exact, np.float32).max() <= 1.0, name
    exact = np.arctan2(y.astype(np.longdouble), x.astype(np.longdouble))
    assert ulp_distance(_atan2(y, x), exact, np.float32).max() <= 1.0


def test_loops_vectorise_and_the_backend_uses_them():
    assert_vectorised({**_run.loops, **{(name, dtype): loop for name, binary in (("arctan2", _atan2), ("hypot", _hypot))
                                        for dtype, loop in binary.loops.items()}})
    x, y = sg.vector("x"), sg.vector("y")
    outputs = sg.arctan(x) + sg.arctan2(y, x) + sg.arcsin(y / 2) * sg.arccos(y / 2) + sg.arcsinh(x) + \
        sg.arccosh(1 + x * x) * sg.arctanh(y / 3) + sg.hypot(x, y) + sg.cbrt(x)
    fast = sg.function([x, y], outputs, backend="numba")
    libm = sg.function([x, y], outputs, backend="numba", vector_math=False)
    for name in ("arctan", "arctan2", "arcsin", "arccos", "arcsinh", "arccosh", "arctanh", "hypot", "cbrt"):
        assert f"vm.{name}_f64(" in fast.source
    assert "vm." not in libm.source
    a, b = np.linspace(-3, 3, 101), np.linspace(2, -2, 101)
    expected = np.arctan(a) + np.arctan2(b, a) + np.arcsin(b / 2) * np.arccos(b / 2) + np.arcsinh(a) + \
        np.arccosh(1 + a * a) * np.arctanh(b / 3) + np.hypot(a, b) + np.cbrt(a)
    np.testing.assert_allclose(fast(a, b), expected, rtol=1e-14, atol=1e-15)
