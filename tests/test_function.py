"""sg.function with the python reference backend: arguments, casting, errors, updates, atomicity."""
import numpy as np
import pytest

import symgraph as sg

BACKEND = "python"


def compile_(inputs, outputs, **kw):
    kw.setdefault("backend", BACKEND)
    return sg.function(inputs, outputs, **kw)


def test_single_output_is_an_array_and_list_output_is_a_list():
    x = sg.vector("x")
    f = compile_([x], x * 2)
    g = compile_([x], [x * 2, x + 1])
    assert isinstance(f([1.0, 2.0]), np.ndarray)
    np.testing.assert_allclose(f([1.0, 2.0]), [2.0, 4.0])
    out = g(np.array([1.0, 2.0]))
    assert isinstance(out, list) and len(out) == 2
    np.testing.assert_allclose(out[1], [2.0, 3.0])


def test_arguments_by_position_and_by_name():
    x, y = sg.scalar("x"), sg.scalar("y")
    f = compile_([x, y], x - y)
    assert f(5.0, 3.0) == 2.0
    assert f(y=3.0, x=5.0) == 2.0
    assert f(5.0, y=1.0) == 4.0


@pytest.mark.parametrize("call, match", [
    (lambda f: f(1.0), "missing a value for input 'y'"),
    (lambda f: f(1.0, 2.0, 3.0), "takes 2 argument"),
    (lambda f: f(1.0, z=2.0), "unexpected keyword argument 'z'"),
    (lambda f: f(1.0, 2.0, x=2.0), "takes 2 argument|two values"),
    (lambda f: f(1.0, x=2.0), "two values for input 'x'"),
])
def test_bad_argument_lists_raise_type_errors_naming_inputs(call, match):
    x, y = sg.scalar("x"), sg.scalar("y")
    f = compile_([x, y], x * y)
    with pytest.raises(TypeError, match=match):
        call(f)


def test_wrong_ndim_names_the_input():
    x = sg.matrix("weights")
    f = compile_([x], x.sum())
    with pytest.raises(TypeError, match="'weights'.*2-d"):
        f(np.ones(3))


def test_static_shape_is_checked():
    x = sg.tensor("x", shape=(None, 3))
    f = compile_([x], x.sum())
    assert f(np.ones((2, 3))) == 6.0
    with pytest.raises(ValueError, match="'x'.*static length 3 on axis 1"):
        f(np.ones((2, 4)))


def test_values_are_cast_to_the_input_dtype_and_lossy_casts_refused():
    x = sg.vector("x", dtype="float32")
    f = compile_([x], x * 2.0)
    out = f([1, 2, 3])
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [2, 4, 6])
    assert f(np.array([1.5], dtype=np.float64)).dtype == np.float32
    i = sg.vector("i", dtype="int32")
    g = compile_([i], i + 1)
    assert g([1, 2]).dtype == np.int32
    with pytest.raises(TypeError, match="'i'.*cannot cast a float64"):
        g(np.array([1.5]))
    with pytest.raises(ValueError, match="out of range"):
        g(np.array([2**40]))


def test_python_scalars_and_lists_accepted():
    x = sg.matrix("x")
    f = compile_([x], x.sum(axis=0))
    np.testing.assert_allclose(f([[1, 2], [3, 4]]), [4.0, 6.0])


def test_missing_input_in_graph_is_reported_at_compile_time():
    x, y = sg.scalar("x"), sg.scalar("hidden")
    with pytest.raises(ValueError, match="'hidden'"):
        compile_([x], x + y)


def test_constants_and_computed_variables_cannot_be_inputs():
    x = sg.scalar("x")
    with pytest.raises(TypeError):
        compile_([sg.constant(1.0)], x)
    with pytest.raises(TypeError, match="computed by"):
        compile_([x * 2], x)


def test_updates_are_simultaneous():
    a, b = sg.shared(np.array(1.0), "a"), sg.shared(np.array(2.0), "b")
    swap = compile_([], a + b, updates=[(a, b), (b, a)])
    assert swap() == 3.0
    assert (a.get_value(), b.get_value()) == (2.0, 1.0)
    swap()
    assert (a.get_value(), b.get_value()) == (1.0, 2.0)


def test_updates_accept_dicts_and_python_numbers():
    counter = sg.shared(np.array(0, dtype="int64"), "counter")
    step = compile_([], counter, updates={counter: counter + 1})
    assert [int(step()) for _ in range(3)] == [0, 1, 2]
    assert counter.get_value() == 3
    reset = compile_([], [], updates=[(counter, 0)])
    reset()
    assert counter.get_value() == 0


def test_update_with_wrong_dtype_or_ndim_is_refused():
    w = sg.shared(np.zeros(3, dtype="float32"), "w")
    x = sg.vector("x")  # float64
    with pytest.raises(TypeError, match="'w'.*float64.*sg.cast"):
        compile_([x], [], updates=[(w, x)])
    with pytest.raises(TypeError, match="'w'.*dimensions"):
        compile_([], [], updates=[(w, w.sum())])
    with pytest.raises(TypeError, match="not a shared variable"):
        compile_([x], [], updates=[(x, x)])


def test_failing_call_changes_no_shared_variable():
    a = sg.shared(np.array([1.0, 2.0]), "a")
    b = sg.shared(np.array([3.0, 4.0]), "b")
    idx = sg.matrix("m")
    # The update of ``a`` can be computed; the one of ``b`` fails for a bad reshape: nothing may change.
    f = compile_([idx], [], updates=[(a, a + 1), (b, b + idx.reshape((-1,))[:2] * 0 + sg.reshape(idx, (2,)))])
    before = a.get_value(), b.get_value()
    with pytest.raises(ValueError, match="reshape"):
        f(np.ones((3, 3)))
    np.testing.assert_array_equal(a.get_value(), before[0])
    np.testing.assert_array_equal(b.get_value(), before[1])


def test_outputs_never_alias_caller_or_shared_arrays():
    x = sg.vector("x")
    s = sg.shared(np.array([1.0, 2.0]), "s")
    f = compile_([x], [x, s])
    data = np.array([5.0, 6.0])
    out_x, out_s = f(data)
    out_x[0] = 0.0
    out_s[0] = 0.0
    assert data[0] == 5.0 and s.get_value()[0] == 1.0


def test_shared_get_value_is_a_copy_and_set_value_checks():
    s = sg.shared(np.array([1.0, 2.0]), "s")
    v = s.get_value()
    v[0] = 100.0
    assert s.get_value()[0] == 1.0
    s.set_value([3, 4])
    np.testing.assert_array_equal(s.get_value(), [3.0, 4.0])
    with pytest.raises(ValueError, match="'s'.*1-d"):
        s.set_value(np.ones((2, 2)))
    i = sg.shared(np.array([1, 2]), "i")
    with pytest.raises(TypeError, match="'i'.*cannot cast"):
        i.set_value(np.array([1.5, 2.5]))


def test_runtime_error_names_op_and_user_line():
    a, b = sg.matrix("a"), sg.matrix("b")
    c = a + b  # this line is named in the error
    f = compile_([a, b], c)
    with pytest.raises(ValueError) as info:
        f(np.ones((2, 3)), np.ones((4, 5)))
    assert "add" in str(info.value) and "test_function.py" in str(info.value)


def test_truth_value_of_variable_is_an_error():
    x = sg.scalar("x")
    with pytest.raises(TypeError, match="sg.where"):
        bool(x > 0)
