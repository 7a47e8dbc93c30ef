"""Indexing against NumPy on random keys: values, inferred static shapes and gradients.

Keys mix ints, slices (any start/stop/step, constant or symbolic), None, Ellipsis and integer
arrays; the gradient of ``sum(x[key] * w)`` must be NumPy's ``np.add.at(zeros, key, w)``.
"""
import numpy as np
import pytest
pytest.importorskip("hypothesis", reason="hypothesis comes with the test extra: pip install -e '.[test]'")
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symgraph as sg

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def shapes_and_keys(draw):
    shape = tuple(draw(st.lists(st.integers(0, 4), min_size=1, max_size=3)))
    key, axis, used_ellipsis = [], 0, False
    allow_arrays = draw(st.booleans())
    array_length = draw(st.integers(1, 4))  # index arrays of one key must broadcast together
    while axis < len(shape):
        n = shape[axis]
        # After an Ellipsis the remaining entries index the last axes, so the key must not stop early.
        choices = ["slice", "slice", "int", "none", "ellipsis", "array"] + ([] if used_ellipsis else ["stop"])
        choice = draw(st.sampled_from(choices))
        if choice == "stop":
            break
        if choice == "none":
            key.append(None)
            continue
        if choice == "ellipsis":
            if not used_ellipsis:
                used_ellipsis = True
                key.append(Ellipsis)
                axis = len(shape) - draw(st.integers(0, len(shape) - axis))
            continue
        if choice == "int" and n > 0:
            key.append(draw(st.integers(-n, n - 1)))
        elif choice == "array" and n > 0 and allow_arrays:
            key.append(draw(st.lists(st.integers(-n, n - 1), min_size=array_length, max_size=array_length)))
        else:
            bound = st.one_of(st.none(), st.integers(-6, 6))
            step = draw(st.one_of(st.none(), st.sampled_from([1, 2, 3, -1, -2])))
            key.append(slice(draw(bound), draw(bound), step))
        axis += 1
    return shape, tuple(key)


def _symbolic_key(key, as_symbolic):
    """Replace constant scalars by symbolic int64 inputs where ``as_symbolic`` says; returns key, inputs, values."""
    inputs, values, out = [], [], []

    def maybe(v):
        if isinstance(v, int) and as_symbolic:
            var = sg.scalar(f"k{len(inputs)}", dtype="int64")
            inputs.append(var)
            values.append(v)
            return var
        return v

    for entry in key:
        if isinstance(entry, slice):
            out.append(slice(maybe(entry.start), maybe(entry.stop), maybe(entry.step)))
        elif isinstance(entry, list):
            out.append(entry)
        else:
            out.append(maybe(entry))
    return tuple(out), inputs, values


@SETTINGS
@given(shapes_and_keys(), st.booleans(), st.booleans())
def test_indexing_matches_numpy(shape_key, symbolic, static):
    shape, key = shape_key
    data = np.arange(int(np.prod(shape)), dtype=np.float64).reshape(shape)
    expected = data[key]
    x = sg.tensor("x", "float64", shape if static else (None,) * len(shape))
    sym_key, key_inputs, key_values = _symbolic_key(key, symbolic)
    y = x[sym_key]
    assert y.type.accepts_shape(expected.shape), (y.type, expected.shape)
    weights = sg.tensor("w", "float64", (None,) * y.ndim)
    cost = sg.sum(y * weights)
    gx = sg.grad(cost, x)
    f = sg.function([x, weights] + key_inputs, [y, gx], backend="python", optimizer=None)
    w = np.linspace(1.0, 2.0, expected.size).reshape(expected.shape)
    value, grad = f(data, w, *key_values)
    np.testing.assert_array_equal(value, expected)
    expected_grad = np.zeros_like(data)
    np.add.at(expected_grad, key, w)
    np.testing.assert_allclose(grad, expected_grad)


def test_labels_gather_accumulates_gradient():
    logits, labels = sg.matrix("logits"), sg.vector("labels", dtype="int64")
    picked = sg.log_softmax(logits)[sg.arange(logits.shape[0]), labels]
    g = sg.grad(-sg.sum(picked), logits)
    f = sg.function([logits, labels], g, backend="python", optimizer=None)
    z = np.array([[1.0, 2.0, 0.5], [0.1, 0.2, 0.3]])
    y = np.array([1, 1])
    softmax = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(f(z, y), softmax - np.eye(3)[y])
