"""The vectorisable sinh and cosh of codegen/numba/vmath.py: their bounds (3 and 2 ulp) against the 80-bit long
double functions on two million points over every range, overflow exactly where NumPy's does, NumPy's special
values, float32, and the numba backend using them by default."""
import numpy as np
import pytest

import symgraph as sg
from tests.codegen.ulp import assert_vectorised, runner, ulp_distance

pytestmark = pytest.mark.skipif(np.finfo(np.longdouble).nmant < 63, reason="needs the 80-bit long double")

BOUNDS = {"sinh": 3.0, "cosh": 2.0}
_run = runner(BOUNDS)


@pytest.mark.parametrize("name", sorted(BOUNDS))
def test_float64_is_within_its_bound_over_two_million_points(name):
    rng = np.random.default_rng(51)
    x = np.concatenate([rng.uniform(-25, 25, 800_000), rng.uniform(-1.2, 1.2, 500_000),
                        rng.uniform(-711, 711, 400_000), rng.uniform(0.3, 0.4, 100_000),
                        rng.uniform(21, 23, 100_000), np.exp(rng.uniform(-740, -1, 100_000))])
    x[::2] *= -1
    got = _run(name, x)
    with np.errstate(over="ignore"):
        exact = getattr(np, name)(x.astype(np.longdouble))
        rounded = exact.astype(np.float64)
    finite = np.isfinite(rounded)
    distance = ulp_distance(got[finite], exact[finite], np.float64)
    assert distance.max() <= BOUNDS[name], (distance.max(), x[finite][np.argmax(distance)])
    np.testing.assert_array_equal(got[~finite], rounded[~finite])           # overflow where NumPy's does


def test_special_values_and_float32():
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 5e-324, -5e-324, 710.4758600739439, 710.476, -710.476,
                  1e-300, 89.0, -89.5, 100.0])
    with np.errstate(all="ignore"):
        for dtype in (np.float64, np.float32):
            values = x.astype(dtype)
            for name in BOUNDS:
                got, want = _run(name, values), getattr(np, name)(values)
                assert got.dtype == dtype
                np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
                numbers = ~np.isnan(want)
                np.testing.assert_array_equal(np.signbit(got[numbers]), np.signbit(want[numbers]))
                exact = numbers & (np.isinf(want) | (np.abs(values) < 1e-8))
                np.testing.assert_array_equal(got[exact], want[exact])
                np.testing.assert_allclose(got[numbers], want[numbers], rtol=3 * np.finfo(dtype).eps)
    rng = np.random.default_rng(52)
    x32 = rng.uniform(-89, 89, 1_000_000).astype(np.float32)
    for name in BOUNDS:
        exact = getattr(np, name)(x32.astype(np.longdouble))
        assert ulp_distance(_run(name, x32), exact, np.float32).max() <= 1.0, name


def test_loops_vectorise_and_the_backend_uses_them():
    assert_vectorised(_run.loops)
    x = sg.vector("x")
    fast = sg.function([x], sg.sinh(x) * sg.cosh(x), backend="numba")
    libm = sg.function([x], sg.sinh(x) * sg.cosh(x), backend="numba", vector_math=False)
    assert "vm.sinh_f64(" in fast.source and "vm.cosh_f64(" in fast.source and "vm." not in libm.source
    values = np.random.default_rng(53).uniform(-3, 3, 10_001)
    np.testing.assert_allclose(fast(values), np.sinh(values) * np.cosh(values), rtol=1e-14)
    np.testing.assert_allclose(libm(values), np.sinh(values) * np.cosh(values), rtol=1e-14)
