"""sg.function's keywords: givens, profile, name; unknown keywords and rewrite names are errors.

Theano code passes ``givens=`` and ``mode=``; a keyword that is silently ignored computes a
wrong answer (``givens``) or hides a typo (``profle=True``), so every keyword either works or
raises a TypeError that names it and lists the valid ones.
"""
import pickle

import numpy as np
import pytest

import symgraph as sg
from symgraph.function import Function

from .helpers import available_backends, backend_options

BACKENDS = available_backends()


def compile_(inputs, outputs, backend, **kw):
    return sg.function(inputs, outputs, backend=backend, **backend_options(backend), **kw)


@pytest.mark.parametrize("keyword", ["mode", "allow_input_downcast", "profle", "give", "on_unused_input"])
def test_an_unknown_keyword_is_a_type_error_listing_the_valid_ones(keyword):
    x = sg.vector("x")
    with pytest.raises(TypeError, match=f"unexpected keyword argument '{keyword}'.*givens.*profile"):
        sg.function([x], x * 2, backend="python", **{keyword: True})


def test_a_misspelt_keyword_suggests_the_right_one():
    x = sg.vector("x")
    with pytest.raises(TypeError, match="did you mean 'profile'"):
        sg.function([x], x, backend="python", profle=True)


@pytest.mark.parametrize("optimizer, match", [
    ({"exclude": ["no_such_rewrite"]}, "'exclude'.*'no_such_rewrite'"),
    ({"exclude": ["fusoin"]}, "'fusoin'.*did you mean 'fusion'"),
    ({"include": ["sympi"]}, "'include'.*'sympi'.*did you mean 'sympy'"),
    ({"mode": "fast_run", "exclude": ["stability", "log_sigmoid_to_softplsu"]},
     "log_sigmoid_to_softplsu.*log_sigmoid_to_softplus"),
])
def test_an_unknown_rewrite_name_is_a_value_error_with_close_matches(optimizer, match):
    x = sg.vector("x")
    with pytest.raises(ValueError, match=match):
        sg.function([x], sg.log(sg.sigmoid(x)), backend="python", optimizer=optimizer)
    with pytest.raises(ValueError, match=match):
        sg.optimize(sg.log(sg.sigmoid(x)), mode=optimizer)


def test_known_rewrite_names_tags_and_stages_are_accepted():
    x = sg.vector("x")
    f = sg.function([x], sg.log(sg.sigmoid(x)), backend="python",
                    optimizer={"exclude": ["log_sigmoid_to_softplus", "fusion"], "include": ["assumes_finite"]})
    np.testing.assert_allclose(f(np.array([0.0])), [np.log(0.5)])


# ---------------------------------------------------------------- givens

@pytest.mark.parametrize("backend", BACKENDS)
def test_givens_replace_a_minibatch_input_by_a_slice_of_shared_data(backend):
    """Theano's tutorial pattern: the data lives in a shared variable, the call passes the batch index."""
    data = np.arange(24.0).reshape(6, 4)
    targets = np.arange(6.0)
    data_shared, targets_shared = sg.shared(data, name="data"), sg.shared(targets, name="targets")
    w = sg.shared(np.ones(4), name="w")
    x, y, index = sg.matrix("x"), sg.vector("y"), sg.scalar("index", dtype="int64")
    batch = 2
    cost = sg.mean((x @ w - y) ** 2)
    train = compile_([index], cost, backend, updates=[(w, w - 0.001 * sg.grad(cost, w))],
                     givens=[(x, data_shared[index * batch:(index + 1) * batch]),
                             (y, targets_shared[index * batch:(index + 1) * batch])])
    expected_w = np.ones(4)
    for i in [0, 2, 1]:
        xb, yb = data[i * batch:(i + 1) * batch], targets[i * batch:(i + 1) * batch]
        expected_cost = np.mean((xb @ expected_w - yb) ** 2)
        expected_w = expected_w - 0.001 * (2 / batch) * xb.T @ (xb @ expected_w - yb)
        np.testing.assert_allclose(train(i), expected_cost, rtol=1e-12)
    np.testing.assert_allclose(w.get_value(), expected_w, rtol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_givens_replace_a_scalar_by_a_number_an_intermediate_and_a_shared_variable(backend):
    x, s = sg.vector("x"), sg.scalar("s")
    np.testing.assert_array_equal(compile_([x], x * s, backend, givens=[(s, 3.0)])(np.array([1.0, 2.0])),
                                  [3.0, 6.0])          # s is replaced, so it need not be an input
    y = x * 3.0
    np.testing.assert_array_equal(compile_([x], y + 1.0, backend, givens={y: x})(np.array([1.0, 2.0])),
                                  [2.0, 3.0])
    w = sg.shared(np.array([10.0, 20.0]), name="w")
    f = compile_([x], x + w, backend, givens=[(w, w * 2.0)])
    np.testing.assert_array_equal(f(np.array([1.0, 2.0])), [21.0, 42.0])
    # All at once: the x inside a replacement is the original x.
    g = compile_([x], x + 1.0, backend, givens=[(x, x * 2.0)])
    np.testing.assert_array_equal(g(np.array([1.0, 2.0])), [3.0, 5.0])


@pytest.mark.parametrize("backend", BACKENDS)
def test_givens_apply_to_updates(backend):
    count, step = sg.shared(np.float64(0.0), name="count"), sg.scalar("step")
    f = compile_([], count, backend, updates=[(count, count + step)], givens=[(step, 2.5)])
    f()
    f()
    assert count.get_value() == 5.0


def test_givens_with_a_mismatched_replacement_are_a_type_error():
    x, m = sg.vector("x"), sg.matrix("m")
    with pytest.raises(TypeError, match="replacement.*does not match.*'x'"):
        sg.function([m], x * 2, backend="python", givens=[(x, m)])
    with pytest.raises(TypeError, match="replacement.*float32.*does not match.*'x'"):
        sg.function([], x * 2, backend="python", givens=[(x, sg.vector("h", dtype="float32"))])
    with pytest.raises(TypeError, match="pairs"):
        sg.function([x], x * 2, backend="python", givens=[x])


def test_a_function_with_givens_survives_pickling():
    x, s = sg.vector("x"), sg.scalar("s")
    f = sg.function([x], x * s, backend="python", givens=[(s, 4.0)], name="scaled")
    g = pickle.loads(pickle.dumps(f))
    np.testing.assert_array_equal(g(np.array([1.0, 2.0])), [4.0, 8.0])
    assert g.name == "scaled"


# ---------------------------------------------------------------- profile, name, repr, docs

@pytest.mark.parametrize("backend", BACKENDS)
def test_profile_records_where_each_call_goes(backend):
    x, w = sg.vector("x"), sg.shared(np.ones(3), name="w")
    out = sg.sum(sg.exp(x) * w)
    f = compile_([x], out, backend, profile=True, updates=[(w, w + 1.0)])
    plain = compile_([x], sg.sum(sg.exp(x)), backend)
    for k in range(3):
        assert float(f(np.zeros(3))) == 3.0 * (k + 1)      # profiling changes no result
    table = f.profile()
    assert table.calls == 3 and table.total_seconds > 0
    rows = table.rows
    assert abs(sum(r["seconds"] for r in rows) - table.total_seconds) < 1e-9 + 1e-6 * table.total_seconds
    timed = [r for r in rows if not r["label"].startswith("outside")]
    assert timed and all(r["count"] == 3 for r in timed)
    # Per node: every node of the optimized graph has its row (numba: each node block of the kernel,
    # timed by cycle counters inside the generated code).
    assert len(timed) == len(f.graph.nodes)
    assert [r["label"].split()[0] for r in timed] == [f"#{k}" for k in range(len(timed))]
    assert any("sum" in r["label"] for r in timed)
    if backend == "numba":
        assert "_profile_counters" in f.source and "_profile_counters" not in plain.source
    text = str(table)
    assert "3 call(s)" in text and "%" in text
    table.reset()
    assert table.calls == 0 and table.rows == []
    with pytest.raises(ValueError, match="profile=True"):
        plain.profile()


@pytest.mark.parametrize("backend", BACKENDS)
def test_repr_shows_name_inputs_outputs_and_backend(backend):
    x, m = sg.vector("x"), sg.matrix("m")
    w = sg.shared(np.zeros(2), name="w")
    f = compile_([x, m], [m @ x, sg.sum(x)], backend, name="predict", updates=[(w, w + 1.0)])
    text = repr(f)
    assert text.startswith("<Function 'predict'") and "x: float64[?]" in text and "m: float64[?, ?]" in text
    assert f"backend='{backend}'" in text and "updates [w]" in text and "float64[]" in text
    assert "at 0x" not in text


def test_the_name_appears_in_call_errors():
    x = sg.vector("x")
    f = sg.function([x], x, backend="python", name="identity")
    with pytest.raises(TypeError, match="function 'identity'"):
        f()


def test_help_of_sg_function_explains_every_keyword_and_the_result():
    doc = sg.function.__doc__
    for word in ["inputs", "outputs", "updates", "givens", "backend", "optimizer", "trust_input",
                 "profile", "name", "Returns", "list of arrays", "Examples", "before"]:
        assert word in doc, word
    assert "Examples" in Function.__doc__
    for method in ["profile", "dprint", "source", "cache_info"]:
        assert "Examples" in (getattr(Function, method).__doc__ or ""), method
