"""Each algebraic rewrite fires where it should, stays away where it must not, and keeps the values."""
import numpy as np
import pytest

import symgraph as sg
from symgraph.ops.elemwise import add_n
from symgraph.rewrite import optimize_graph

from .helpers import compare, op_names

RNG = np.random.default_rng(0)
XV = RNG.normal(size=5)
MV = RNG.normal(size=(3, 4))


def fired(outputs, name, exclude=("fusion", "sympy"), include=()):
    outputs = outputs if isinstance(outputs, list) else [outputs]
    mode = {"mode": "fast_run", "exclude": list(exclude), "include": list(include)}
    optimized, log = optimize_graph(outputs, mode=mode)
    return log.fired(name), optimized


#: the opt-in rewrites that change IEEE results (they need "include": ["fast_math"])
FAST_MATH = {"add_float_zero", "sub_float_zero", "negate_float_difference", "combine_constants",
             "pow_by_multiplication", "exp_of_log", "sum_of_broadcast"}


def check(build, name, values=(XV,), fires=True, kind="vector", include=None, **tolerance):
    x = sg.vector("x") if kind == "vector" else sg.matrix("x")
    out = build(x)
    if include is None:
        include = ["fast_math"] if name in FAST_MATH else []
    count, optimized = fired(out, name, include=include)
    assert (count > 0) == fires, f"{name} fired {count} times"
    compare([x], out, list(values), optimizer={"mode": "fast_run", "include": include}, **tolerance)
    return optimized


@pytest.mark.parametrize("build, name", [
    (lambda x: x + -0.0, "add_zero"),
    (lambda x: -0.0 + x, "add_zero"),
    (lambda x: x + 0.0, "add_float_zero"),
    (lambda x: x - 0.0, "sub_zero"),
    (lambda x: -0.0 - x, "sub_zero"),
    (lambda x: 0.0 - x, "sub_float_zero"),
    (lambda x: x * 1.0, "mul_one"),
    (lambda x: -1.0 * x, "mul_one"),
    (lambda x: x / 1.0, "div_one"),
    (lambda x: -(-x), "double_negation"),
    (lambda x: x + (-sg.exp(x)), "fold_negations"),
    (lambda x: -(x - sg.exp(x)), "negate_float_difference"),
    (lambda x: 2.0 * (3.0 * x), "combine_constants"),
    (lambda x: 1.0 + (x + 2.0), "combine_constants"),
    (lambda x: x ** 2, "pow_small_integer"),
    (lambda x: x ** 3, "pow_by_multiplication"),
    (lambda x: x ** 4, "pow_by_multiplication"),
    (lambda x: x ** 1, "pow_small_integer"),
    (lambda x: x ** 0, "pow_small_integer"),
    (lambda x: x ** -1, "pow_small_integer"),
    (lambda x: sg.log(sg.exp(x)), "log_of_exp"),
    (lambda x: sg.exp(sg.log(sg.abs(x))), "exp_of_log"),
    (lambda x: sg.exp(sg.log(x * x)), "exp_of_log"),
    (lambda x: sg.where(x > 0, x, x), "where_same_branches"),
    (lambda x: sg.stop_gradient(x) * 2.0, "remove_identity"),
])
def test_rewrite_fires_and_keeps_values(build, name):
    check(build, name)


def test_x_pow_2_becomes_one_multiplication():
    x = sg.vector("x")
    optimized = check(lambda v: v ** 2, "pow_small_integer")
    assert op_names(optimized) == ["mul"]
    del x


@pytest.mark.parametrize("build, name", [
    (lambda x: x ** 2.5, "pow_small_integer"),          # not a small integer
    (lambda x: x ** 7, "pow_small_integer"),            # too large to unroll
    (lambda x: sg.exp(sg.log(x)), "exp_of_log"),        # x may be negative: exp(log(-1)) is NaN, x is not
    (lambda x: x * 2.0, "mul_one"),
    (lambda x: x + 1.0, "add_zero"),
    (lambda x: x - sg.exp(x), "sub_self"),
    # The IEEE-changing forms stay off by default (exactness: tests/rewrite/test_ieee_exact.py).
    (lambda x: x + 0.0, "add_zero"),            # -0.0 + 0.0 is +0.0
    (lambda x: x - -0.0, "sub_zero"),
    (lambda x: 0.0 - x, "sub_zero"),            # 0.0 - 0.0 is +0.0, -(0.0) is -0.0
    (lambda x: -(x - sg.exp(x)), "double_negation"),
    (lambda x: 2.0 * (3.0 * x), "combine_integer_constants"),
    (lambda x: x ** 3, "pow_small_integer"),
    (lambda x: sg.exp(sg.log(sg.abs(x))), "exp_of_log"),
])
def test_rewrite_does_not_fire_where_it_must_not(build, name):
    check(build, name, fires=False, include=[])


def test_exp_of_log_keeps_nan_for_negative_inputs():
    x = sg.vector("x")
    f = sg.function([x], sg.exp(sg.log(x)), backend="python")
    result = f(np.array([-1.0, 2.0]))
    assert np.isnan(result[0]) and result[1] == pytest.approx(2.0)


def test_assumes_finite_rewrites_are_opt_in():
    x = sg.vector("x")
    out = x * 0.0 + (x - x)
    # Off by default: IEEE semantics, inf * 0 is NaN as in NumPy.
    assert not fired(out, "mul_by_zero")[0] and not fired(out, "sub_self")[0]
    f = sg.function([x], x * 0.0, backend="python")
    assert np.isnan(f(np.array([np.inf]))[0])
    # Asked for by tag, they fire and agree with NumPy on finite values.
    count, optimized = fired(out, "mul_by_zero", include=["assumes_finite"])
    assert count and fired(out, "sub_self", include=["assumes_finite"])[0]
    assert op_names(optimized) in (["broadcast_to"], ["shape_of", "broadcast_to"])
    g = sg.function([x], out, backend="python", optimizer={"mode": "fast_run", "include": ["assumes_finite"]})
    np.testing.assert_array_equal(g(XV), XV * 0.0)


def test_transpose_of_transpose_disappears():
    x = sg.matrix("x")
    count, optimized = fired(x.T.T * 2.0, "dimshuffle_chain")
    assert count and "dimshuffle" not in op_names(optimized)
    compare([x], x.T.T * 2.0, [MV])


def test_expand_then_transpose_composes_into_one_dimshuffle():
    x = sg.matrix("x")
    out = sg.transpose(sg.expand_dims(x, 0), (2, 0, 1))
    count, optimized = fired(out, "dimshuffle_chain")
    assert count and op_names(optimized) == ["dimshuffle"]
    compare([x], out, [MV])


def test_reshape_chain_collapses():
    x = sg.matrix("x")
    out = sg.reshape(sg.reshape(x, (12,)), (4, 3))
    count, optimized = fired(out, "reshape_chain")
    assert count and op_names(optimized).count("reshape") == 1
    compare([x], out, [MV])


def test_sum_of_broadcast_scalar_becomes_a_product():
    x = sg.matrix("x")
    s = sg.sum(x)
    out = sg.sum(sg.broadcast_to(s, x.shape), axis=0)   # s repeated over rows, summed over them
    assert not fired(out, "sum_of_broadcast")[0]        # floats: opt-in (one rounding for a sum's)
    count, optimized = fired(out, "sum_of_broadcast", include=["fast_math"])
    assert count
    compare([x], out, [MV], optimizer={"mode": "fast_run", "include": ["fast_math"]})
    i = sg.matrix("i", dtype="int32")
    out = sg.sum(sg.broadcast_to(sg.sum(i), i.shape), axis=0)
    assert fired(out, "sum_of_integer_broadcast")[0]
    compare([i], out, [np.arange(12, dtype="int32").reshape(3, 4) * 2**29])


@pytest.mark.parametrize("kind, dtype, ops", [
    ("sum", "int64", ["dimshuffle"]), ("max", "float64", ["dimshuffle"]), ("prod", "float64", ["dimshuffle"]),
    ("sum", "float64", ["dimshuffle", "add"])])   # NumPy's float sum of one element is 0.0 + x
def test_reduction_over_length_one_axes_is_a_reshape(kind, dtype, ops):
    x = sg.tensor("x", shape=(None, 1, None), dtype=dtype)
    out = getattr(sg, kind)(x, axis=1)
    count, optimized = fired(out, "reduce_trivial_axes")
    assert count and op_names(optimized) == ops
    compare([x], out, [RNG.normal(size=(2, 1, 3)).astype(dtype)])


def test_sum_to_shape_removed_when_shapes_provably_equal():
    x = sg.vector("x")
    g = sg.grad(sg.sum(sg.exp(x) * x), x)
    count, optimized = fired(g, "sum_to_shape_decided")
    assert count and "sum_to_shape" not in op_names(optimized)


def test_sum_to_shape_kept_when_broadcasting_is_undecided():
    # y may be broadcast against x at call time (its length may be 1): the sum must stay.
    x, y = sg.vector("x"), sg.vector("y")
    g = sg.grad(sg.sum(x * y), y)
    _, optimized = fired(g, "sum_to_shape_decided")
    f = sg.function([x, y], g, backend="python")
    np.testing.assert_allclose(f(np.arange(3.0), np.array([2.0])), [3.0])
    np.testing.assert_allclose(f(np.arange(3.0), np.ones(3)), np.arange(3.0))


def test_shape_of_static_length_is_folded():
    x = sg.vector("x", shape=(4,))
    out = sg.cast(x.shape[0], "float64") * x
    count, optimized = fired(out, "fold_shape_of")
    compare([x], out, [np.arange(4.0)])
    assert "shape_of" not in op_names(optimized)


def test_rewrites_keep_static_dtype_and_rank():
    x = sg.vector("x", dtype="float32")
    out = (x * 1.0 + 0.0) ** 2
    (optimized,), _ = optimize_graph([out])
    assert optimized.dtype == "float32" and optimized.ndim == 1
    compare([x], out, [np.arange(3, dtype="float32")], rtol=1e-6)


def test_integer_arithmetic_keeps_integer_dtype():
    i = sg.vector("i", dtype="int64")
    out = (i * 1 + 0) ** 2
    f = compare([i], out, [np.arange(4)])
    assert f(np.arange(4)).dtype == np.int64


def test_integer_constants_combine_within_one_dtype():
    i = sg.vector("i", dtype="int8")
    out = sg.constant(100, dtype="int8") + (i + sg.constant(100, dtype="int8"))
    assert fired(out, "combine_integer_constants")[0]
    compare([i], out, [np.array([-128, 0, 27, 127], dtype="int8")])
    wide = sg.constant(100, dtype="int64") + (i + sg.constant(100, dtype="int8"))   # the inner sum wraps
    assert not fired(wide, "combine_integer_constants")[0]


def test_widening_cast_chain_collapses():
    i = sg.vector("i", dtype="int32")
    out = sg.cast(sg.cast(i, "int64"), "float64")
    count, optimized = fired(out, "remove_useless_cast")
    assert count and len(op_names(optimized)) == 1
    compare([i], out, [np.arange(3, dtype="int32")])


# Rewrites not covered by a dedicated test above: (builder on x, expected to fire). Together with
# the parametrized lists, every registered rewrite is exercised (checked by the last test).
MORE_CASES = {
    "log_of_erfc": lambda x: sg.log(sg.erfc(x * 10.0)),
    "arg_extreme_of_softmax": lambda x: sg.argmax(sg.log_softmax(sg.stack([x, x * 2.0], axis=1)), axis=1),
    "add_n_zeros": lambda x: add_n(x, sg.zeros_like(x), sg.exp(x)),   # exp(x) is never -0.0
    "elemwise_scalar_constants": lambda x: x * sg.constant(np.array([2.0])),
    "broadcast_to_useless": lambda x: sg.broadcast_to(x, x.shape) * 2.0,
    "elemwise_absorbs_broadcast": lambda x: sg.broadcast_to(sg.sum(x), x.shape) * x,
    "elemwise_lifts_broadcast": lambda x: sg.broadcast_to(sg.sum(x), x.shape) * 2.0 * x,
    "negation_out_of_product": lambda x: (-x) * sg.exp(x),
    "cancel_division": lambda x: (x / sg.exp(x)) * sg.exp(x),
    "cancel_common_factor": lambda x: (sg.exp(x) * x) / sg.exp(x),
    "distribute_over_quotient": lambda x: sg.sigmoid(x) * (x / sg.sigmoid(x) - 1.0),
    "one_minus_sigmoid": lambda x: 1.0 - sg.sigmoid(x),
    "log1p_exp_to_softplus": lambda x: sg.log1p(sg.exp(x)),
    "constant_fold": lambda x: x * (sg.constant(2.0) + sg.constant(3.0)),
    "sub_self": lambda x: x - x + sg.exp(x),
    "mul_by_zero": lambda x: x * 0.0 + sg.exp(x),
    "fold_shape_of": lambda x: sg.broadcast_to(2.0, (x * 2.0).shape) + x,
    "log_sigmoid_to_softplus": lambda x: sg.log(sg.sigmoid(x)),
    "log_one_minus_sigmoid": lambda x: sg.log(1.0 - sg.sigmoid(x)),
    "log_one_plus_to_log1p": lambda x: sg.log(1.0 + x * x),
    "exp_minus_one_to_expm1": lambda x: sg.exp(x) - 1.0,
}


@pytest.mark.parametrize("name", sorted(MORE_CASES))
def test_more_rewrites_fire_and_keep_values(name):
    x = sg.vector("x")
    out = MORE_CASES[name](x)
    _, log = optimize_graph([out], mode={"mode": "fast_run", "exclude": ["fusion"], "include": ["fast_math"]})
    if name == "log_one_minus_sigmoid":
        # 1 - sigmoid(x) -> sigmoid(-x) usually wins first; excluded, the direct form fires
        _, log = optimize_graph([out], mode={"mode": "fast_run", "exclude": ["fusion", "one_minus_sigmoid"]})
    assert log.fired(name), f"{name} did not fire"
    compare([x], out, [XV], optimizer={"mode": "fast_run", "include": ["fast_math"]})


def test_every_registered_rewrite_is_exercised():
    from symgraph.rewrite import rewrite_names
    import inspect
    source = inspect.getsource(inspect.getmodule(test_every_registered_rewrite_is_exercised))
    from pathlib import Path
    stability = "".join(path.read_text() for path in Path(__file__).parent.glob("test_*.py"))
    missing = [n for n in rewrite_names() if f'"{n}"' not in source + stability]
    assert not missing, f"rewrites without a test: {missing}"


def test_gather_from_one_hot_product_is_opt_in_and_keeps_errors():
    X, y = sg.matrix("X"), sg.vector("y", dtype="int64")
    cost = sg.sum(X * sg.one_hot(y, X.shape[1]), axis=1)
    fast = sg.function([X, y], cost, backend="numba", rewrite_log=True,
                       optimizer={"mode": "fast_run", "include": ["fast_math"]})
    assert fast.rewrite_log.fired("gather_from_one_hot_product")
    default = sg.function([X, y], cost, backend="numba", rewrite_log=True)
    assert not default.rewrite_log.fired("gather_from_one_hot_product")
    values = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(fast(values, np.array([2, 0])), default(values, np.array([2, 0])))
    for labels in ([3, 0], [-1, 0]):       # out of [0, n): an error either way
        with pytest.raises(IndexError):
            fast(values, np.array(labels))
