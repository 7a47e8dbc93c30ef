"""squeeze with lengths known only at call time: never a silently wrong shape, on every backend.

``squeeze(x)`` on unknown lengths cannot know its number of axes when the graph is built, so it raises and asks
for ``axis``; ``squeeze(x, axis)`` removes exactly those axes and checks at call time that they have length 1.
"""
from __future__ import annotations

import numpy as np
import pytest
pytest.importorskip("hypothesis", reason="hypothesis comes with the test extra: pip install -e '.[test]'")
from hypothesis import given, settings, strategies as st

import symgraph as sg


def _backends():
    backends = ["python", "numba"]
    try:
        import numba.cuda  # noqa: F401
        backends.append("cuda")
    except ImportError:
        pass
    return backends


BACKENDS = _backends()


def test_squeeze_without_axis_on_unknown_lengths_asks_for_axis():
    x = sg.tensor("x", shape=(None, None, None))
    with pytest.raises(ValueError, match=r"squeeze: the lengths of axes \[0, 1, 2\].*pass axis=.*test_squeeze"):
        sg.squeeze(x)
    y = sg.tensor("y", shape=(None, 1))
    with pytest.raises(ValueError, match=r"axes \[0\]"):
        sg.squeeze(y)       # NumPy would also drop axis 0 when it is 1 at call time: refuse rather than guess


def test_squeeze_on_static_lengths_and_bad_axes_at_build_time():
    x = sg.tensor("x", shape=(5, 1, 4))
    assert sg.squeeze(x).type.shape == (5, 4)
    with pytest.raises(ValueError, match=r"cannot remove axis 0 of 'x'.*its length is 5, not 1"):
        sg.squeeze(x, axis=0)
    with pytest.raises(ValueError, match="out of range"):
        sg.squeeze(x, axis=3)
    with pytest.raises(ValueError, match="repeated"):
        sg.squeeze(x, axis=(1, -2))
    assert sg.squeeze(sg.scalar("s")).ndim == 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_squeeze_an_axis_of_unknown_length_is_checked_at_call_time(backend):
    x = sg.tensor("x", shape=(None, None, None))
    f = sg.function([x], sg.squeeze(x, axis=1), backend=backend)
    value = np.arange(20.0).reshape(5, 1, 4)
    result = f(value)
    assert result.shape == (5, 4)                   # before: (5, 1, 4) from squeeze(x), or an error
    np.testing.assert_array_equal(result, value[:, 0, :])
    g = sg.function([x], sg.squeeze(x, axis=(0, -1)) * 2, backend=backend)
    np.testing.assert_array_equal(g(np.arange(5.0).reshape(1, 5, 1)), np.arange(5.0) * 2)
    with pytest.raises(ValueError, match=r"squeeze: cannot remove axis 1 of 'x'.*not 1.*test_squeeze"):
        f(np.ones((5, 3, 4)))
    with pytest.raises(ValueError, match=r"squeeze: cannot remove axis 1"):
        f(np.ones((0, 2, 1)))          # an empty array too: NumPy refuses it


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_gradient_through_a_call_time_squeeze(backend):
    x = sg.tensor("x", shape=(None, None, None))
    y = sg.squeeze(x, axis=1)
    g = sg.grad(sg.sum(y * y), x)
    value = np.arange(6.0).reshape(3, 1, 2)
    np.testing.assert_allclose(sg.function([x], g, backend=backend)(value), 2 * value)


_cache = {}


def _squeezer(backend, ndim, axis):
    key = (backend, ndim, axis)
    if key not in _cache:
        x = sg.tensor("x", shape=(None,) * ndim)
        _cache[key] = sg.function([x], sg.squeeze(x, axis=axis) + 0.5, backend=backend)
    return _cache[key]


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=25, deadline=None)
@given(shape=st.lists(st.sampled_from([0, 1, 1, 2, 3]), min_size=1, max_size=3), data=st.data())
def test_squeeze_agrees_with_numpy(backend, shape, data):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    value = np.arange(float(np.prod(shape))).reshape(shape)
    f = _squeezer(backend, len(shape), axis)
    try:
        expected = np.squeeze(value, axis=axis) + 0.5
    except ValueError:
        with pytest.raises(ValueError, match="squeeze"):
            f(value)
        return
    result = f(value)
    assert result.shape == expected.shape
    np.testing.assert_array_equal(result, expected)
