"""A value cast to an input's (or a shared variable's) dtype may round, never change beyond rounding.

The property, over every pair of numeric dtypes and arbitrary values (Hypothesis): the checked
cast either raises an error naming the input (TypeError for a dtype pair that is refused whatever
the values, ValueError for values the cast would change: a finite float that becomes inf, an
integer out of range, NaN or a fraction to an integer, a complex with an imaginary part, a masked
element) or returns NumPy's cast, which then differs from the value by rounding only. A
ValueError is raised only where the cast really would change a value beyond rounding.
"""
import warnings

import numpy as np
import pytest
pytest.importorskip("hypothesis", reason="hypothesis comes with the test extra: pip install -e '.[test]'")
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import symgraph as sg
from symgraph.function import check_value
from symgraph.types import safe_cast_allowed

from .helpers import available_backends, backend_options

DTYPES = ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
          "float32", "float64", "complex64", "complex128"]


def changed_beyond_rounding(value, target):
    """Whether NumPy's cast of ``value`` to ``target`` changes some element beyond rounding."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cast = value.astype(target)
    if value.dtype.kind == "c" and target.kind != "c" and np.any(value.imag != 0):
        return True
    real = value.real if value.dtype.kind == "c" else value
    if target.kind in "biu":
        # Exact integers of the value (None for NaN, inf or a fraction) against the cast's integers.
        exact = [int(v) if real.dtype.kind in "biu" or (np.isfinite(v) and v == np.trunc(v)) else None
                 for v in real.ravel()]
        return any(e != int(c) for e, c in zip(exact, cast.ravel()))
    return bool(np.any(np.isinf(cast) & np.isfinite(value)))


@pytest.mark.parametrize("target", DTYPES)
@pytest.mark.parametrize("source", DTYPES)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_cast_rounds_or_raises_naming_the_input(data, source, target):
    value = data.draw(hnp.arrays(np.dtype(source), st.integers(0, 4)))
    x = sg.vector("the_input", dtype=target)
    try:
        got = check_value(value, x)
    except TypeError as exc:
        assert "the_input" in str(exc)
        assert not safe_cast_allowed(source, target), f"{source} -> {target} refused: {exc}"
        return
    except ValueError as exc:
        assert "the_input" in str(exc)
        assert changed_beyond_rounding(value, np.dtype(target)), f"refused a rounding cast: {exc}"
        return
    assert got.dtype == np.dtype(target) and got.dtype.isnative
    assert not changed_beyond_rounding(value, np.dtype(target)), (value, got)
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(got, value.astype(target))


@pytest.mark.parametrize("target", DTYPES)
@settings(max_examples=60, deadline=None)
@given(data=st.data(), source=st.sampled_from(DTYPES))
def test_shared_values_follow_the_same_rule(data, source, target):
    value = data.draw(hnp.arrays(np.dtype(source), st.integers(0, 4)))
    s = sg.shared(np.zeros(1, dtype=target), name="the_state")
    try:
        s.set_value(value)
    except (TypeError, ValueError) as exc:
        assert "the_state" in str(exc)
        assert s.get_value().tolist() == [0]
        if isinstance(exc, ValueError):
            assert changed_beyond_rounding(value, np.dtype(target))
        return
    assert not changed_beyond_rounding(value, np.dtype(target))


@pytest.mark.parametrize("backend", available_backends())
@pytest.mark.parametrize("value, dtype, match", [
    (np.array([1e300, 1.0]), "float32", "would become inf"),
    (np.array([2**40]), "int32", "out of range"),
    (np.ma.masked_array([1.0, 2.0], mask=[False, True]), "float64", "masked"),
])
def test_each_backend_refuses_a_value_the_cast_would_change(backend, value, dtype, match):
    x = sg.vector("x", dtype=dtype)
    f = sg.function([x], x + x, backend=backend, **backend_options(backend))
    with pytest.raises(ValueError, match=f"'x'.*{match}"):
        f(value)
    np.testing.assert_array_equal(f(np.array([1.5, 2.0]) if dtype[0] == "f" else np.array([3])),
                                  [3.0, 4.0] if dtype[0] == "f" else [6])     # ordinary values still work
    if dtype == "float32":
        assert f(np.array([0.1]))[0] == np.float32(0.1) * 2      # rounding is allowed
