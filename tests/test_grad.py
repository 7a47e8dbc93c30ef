"""sg.grad as a graph pass: structure, reuse of forward nodes, summation, broadcasting, dtypes, errors, scale."""
import numpy as np
import pytest

import symgraph as sg
from symgraph.graph import ancestors, count_nodes, toposort
from symgraph.grad import DisconnectedInputError
from symgraph.ops.base import op_name

RNG = np.random.default_rng(0)


def compile_(inputs, outputs, **kw):
    return sg.function(inputs, outputs, backend="python", optimizer=None, **kw)


# ---------------------------------------------------------------- structure of the result

def test_result_is_an_ordinary_variable_of_the_same_graph():
    x = sg.scalar("x")
    y = x * x * x
    g = sg.grad(y, x)
    assert isinstance(g, sg.Variable) and g.ndim == 0
    g2 = sg.grad(g, x)
    g3 = sg.grad(g2, x)
    f = compile_([x], [g, g2, g3])
    np.testing.assert_allclose(f(2.0), [12.0, 12.0, 6.0])


def test_wrt_structure_is_preserved():
    x, y = sg.scalar("x"), sg.scalar("y")
    cost = x * y
    assert isinstance(sg.grad(cost, [x, y]), list)
    assert isinstance(sg.grad(cost, (x, y)), tuple)
    gx, gy = sg.grad(cost, [x, y])
    f = compile_([x, y], [gx, gy])
    np.testing.assert_allclose(f(3.0, 5.0), [5.0, 3.0])


def test_gradient_with_respect_to_an_intermediate_variable():
    w = sg.scalar("w")
    y = sg.sin(w)
    z = sg.sin(y) * y
    gy, gw = sg.grad(z, [y, w])
    f = compile_([w], [gy, gw])
    w0 = 0.7
    y0 = np.sin(w0)
    dz_dy = np.cos(y0) * y0 + np.sin(y0)
    np.testing.assert_allclose(f(w0), [dz_dy, dz_dy * np.cos(w0)])


def test_gradient_of_cost_with_respect_to_itself_is_one():
    x = sg.scalar("x")
    y = sg.exp(x)
    assert float(compile_([x], sg.grad(y, y))(0.3)) == 1.0


# ---------------------------------------------------------------- reuse of the forward graph

def _ops_between(result, forward):
    """Names of the ops of the gradient graph that are not in the forward graph."""
    forward_nodes = {id(n) for n in toposort([forward])}
    return [op_name(n.op) for n in toposort([result]) if id(n) not in forward_nodes]


def test_exp_gradient_reuses_the_exp_node():
    x = sg.scalar("x")
    y = sg.exp(x)
    g = sg.grad(y, x)
    assert any(v is y for v in ancestors([g]))
    assert "exp" not in _ops_between(g, y)


def test_sigmoid_gradient_is_s_times_one_minus_s_of_the_forward_node():
    x = sg.scalar("x")
    s = sg.sigmoid(x)
    g = sg.grad(s, x)
    assert any(v is s for v in ancestors([g]))
    assert "sigmoid" not in _ops_between(g, s)
    np.testing.assert_allclose(compile_([x], g)(0.4), 1 / (1 + np.exp(-0.4)) * (1 - 1 / (1 + np.exp(-0.4))))


def test_tanh_gradient_is_one_minus_t_squared():
    x = sg.scalar("x")
    t = sg.tanh(x)
    g = sg.grad(t, x)
    assert any(v is t for v in ancestors([g]))
    assert "tanh" not in _ops_between(g, t)
    np.testing.assert_allclose(compile_([x], g)(0.4), 1 - np.tanh(0.4) ** 2)


def test_inner_forward_variable_is_an_ancestor_of_the_gradient():
    w = sg.scalar("w")
    y = sg.sin(w)
    z = sg.sin(y)
    g = sg.grad(z, w)
    assert any(v is y for v in ancestors([g]))
    np.testing.assert_allclose(compile_([w], g)(0.5), np.cos(np.sin(0.5)) * np.cos(0.5))


# ---------------------------------------------------------------- summation of contributions

def test_many_consumers_are_summed_by_one_node():
    x = sg.vector("x")
    terms = [sg.sin(x * float(k)) for k in range(1, 9)]
    cost = sg.sum(terms[0])
    for t in terms[1:]:
        cost = cost + sg.sum(t)
    g = sg.grad(cost, x)
    assert op_name(g.owner.op) == "add_n" and len(g.owner.inputs) == 8
    assert "add" not in _ops_between(g, cost)  # no chain of pairwise adds was built for the gradient
    x0 = RNG.standard_normal(4)
    expected = sum(k * np.cos(k * x0) for k in range(1, 9))
    np.testing.assert_allclose(compile_([x], g)(x0), expected)


def test_second_derivative_through_add_n():
    x = sg.scalar("x")
    cost = sg.sin(x) * sg.cos(x) * sg.exp(x) * x  # x has four consumers once differentiated
    g = sg.grad(cost, x)
    g2 = sg.grad(g, x)
    f = lambda v: np.sin(v) * np.cos(v) * np.exp(v) * v  # noqa: E731
    fp = lambda v: (f(v + 1e-5) - f(v - 1e-5)) / 2e-5  # noqa: E731
    np.testing.assert_allclose(compile_([x], g)(0.3), fp(0.3), rtol=1e-7)
    np.testing.assert_allclose(compile_([x], g2)(0.3), (fp(0.3 + 1e-4) - fp(0.3 - 1e-4)) / 2e-4, rtol=1e-5)


# ---------------------------------------------------------------- shapes and dtypes

def test_broadcasting_is_undone_with_static_shapes():
    a = sg.tensor("a", shape=(3, 1))
    b = sg.tensor("b", shape=(4,))
    c = sg.scalar("c")
    cost = sg.sum(sg.sin(a * b + c))
    ga, gb, gc = sg.grad(cost, [a, b, c])
    assert ga.type.shape == (3, 1) and gb.type.shape == (4,) and gc.ndim == 0
    a0, b0, c0 = RNG.standard_normal((3, 1)), RNG.standard_normal(4), 0.3
    vals = compile_([a, b, c], [ga, gb, gc])(a0, b0, c0)
    inner = np.cos(a0 * b0 + c0)
    np.testing.assert_allclose(vals[0], (inner * b0).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(vals[1], (inner * a0).sum(axis=0))
    np.testing.assert_allclose(vals[2], inner.sum())


def test_broadcasting_is_undone_when_lengths_are_known_only_at_call_time():
    a = sg.matrix("a")
    b = sg.matrix("b")
    cost = sg.sum(a * b)
    ga = sg.grad(cost, a)
    f = compile_([a, b], ga)
    a0, b0 = RNG.standard_normal((3, 1)), RNG.standard_normal((3, 4))
    np.testing.assert_allclose(f(a0, b0), b0.sum(axis=1, keepdims=True))
    a1 = RNG.standard_normal((3, 4))
    np.testing.assert_allclose(f(a1, b0), b0)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gradient_keeps_the_dtype_of_the_variable(dtype):
    x = sg.vector("x", dtype=dtype)
    y = sg.vector("y", dtype="float64")
    cost = sg.sum(sg.tanh(x) * 2.0) + sg.sum(sg.cast(x, "float64") * y)
    g = sg.grad(cost, x)
    assert g.dtype == dtype
    g2 = sg.grad(sg.sum(g * g), x)
    assert g2.dtype == dtype
    out = compile_([x, y], g)(np.ones(3, dtype=dtype), np.full(3, 0.5))
    assert out.dtype == np.dtype(dtype)
    np.testing.assert_allclose(out, 2 * (1 - np.tanh(1.0) ** 2) + 0.5, rtol=1e-6)


def test_float32_network_stays_float32():
    x = sg.matrix("x", dtype="float32")
    w = sg.shared(np.ones(3, dtype="float32"), name="w")
    cost = sg.mean(sg.sigmoid(sg.sum(x * w, axis=1)) ** 2)
    g = sg.grad(cost, w)
    assert g.dtype == "float32"
    assert all(v.dtype in ("float32", "bool", "int64") for v in ancestors([g]) if v.owner is not None)


# ---------------------------------------------------------------- what passes no gradient

def test_non_differentiable_points_follow_the_usual_convention():
    x = sg.vector("x")
    f = compile_([x], [sg.grad(sg.sum(sg.relu(x)), x), sg.grad(sg.sum(abs(x)), x)])
    relu_grad, abs_grad = f(np.array([-1.0, 0.0, 2.0]))
    np.testing.assert_array_equal(relu_grad, [0.0, 0.0, 1.0])
    np.testing.assert_array_equal(abs_grad, [-1.0, 0.0, 1.0])


def test_comparisons_and_integer_casts_pass_zero_gradient():
    x = sg.vector("x")
    cost = sg.sum(sg.where(x > 0, x, 0.0)) + sg.sum(sg.cast(sg.cast(x * 3, "int64"), "float64"))
    g = compile_([x], sg.grad(cost, x))(np.array([-1.5, 2.0, 0.5]))
    np.testing.assert_array_equal(g, [0.0, 1.0, 1.0])


def test_integer_valued_cost_has_zero_gradient():
    x = sg.vector("x")
    cost = sg.sum(x > 0)
    g = compile_([x], sg.grad(cost, x))(np.array([1.0, -1.0]))
    np.testing.assert_array_equal(g, [0.0, 0.0])


def test_stop_gradient_blocks_one_path_only():
    x = sg.scalar("x")
    cost = sg.stop_gradient(x * x) * x
    np.testing.assert_allclose(compile_([x], sg.grad(cost, x))(3.0), 9.0)


# ---------------------------------------------------------------- errors and options

def test_non_scalar_cost_raises():
    x = sg.vector("x")
    with pytest.raises(TypeError, match="0-d"):
        sg.grad(sg.exp(x), x)
    with pytest.raises(ValueError, match="'doubled'"):  # the same error is also a ValueError, naming the cost
        doubled = x * 2.0
        doubled.name = "doubled"
        sg.grad(doubled, x)


def test_disconnected_wrt_raises_naming_it_unless_asked_for_zeros():
    x, unused = sg.vector("x"), sg.matrix("unused")
    cost = sg.sum(x)
    with pytest.raises(DisconnectedInputError, match="unused"):
        sg.grad(cost, [x, unused])
    gx, gu = sg.grad(cost, [x, unused], disconnected="zero")
    f = compile_([x, unused], [gx, gu])
    out = f(np.ones(2), np.ones((2, 3)))
    np.testing.assert_array_equal(out[1], np.zeros((2, 3)))
    gu = sg.grad(cost, unused, disconnected="ignore")
    assert gu.ndim == 2
    assert sg.grad(cost, unused, disconnected="none") is None
    with pytest.warns(UserWarning, match="unused"):
        sg.grad(cost, unused, disconnected="warn")


def test_wrt_reached_only_through_stop_gradient_is_disconnected():
    x = sg.scalar("x")
    with pytest.raises(ValueError, match="'x'"):
        sg.grad(sg.stop_gradient(x) * 2.0, x)


def test_integer_wrt_is_taken_as_real_and_boolean_wrt_is_refused():
    # (issue 16: PyTensor's test_grad_int) the gradient with respect to the same values as floats
    i = sg.vector("i", dtype="int64")
    g = sg.grad(sg.sum(sg.cast(i, "float64") * 3.0), i)
    assert g.dtype == "float64"
    np.testing.assert_array_equal(sg.function([i], g, backend="python")(np.array([1, 2])), [3.0, 3.0])
    b = sg.vector("b", dtype="bool")
    with pytest.raises(TypeError, match="'b'.*neither a float nor an integer"):
        sg.grad(sg.sum(sg.cast(b, "float64")), b)


def test_consider_constant():
    x = sg.scalar("x")
    h = x * x
    cost = h * x
    g = sg.grad(cost, x, consider_constant=[h])
    np.testing.assert_allclose(compile_([x], g)(3.0), 9.0)
    np.testing.assert_allclose(compile_([x], sg.grad(cost, x))(3.0), 27.0)
    with pytest.raises(DisconnectedInputError):
        sg.grad(h * 2.0, x, consider_constant=[h])


def test_known_grads():
    x = sg.vector("x")
    h = sg.sin(x)
    cost = sg.sum(h * h)
    v = sg.vector("v")
    # Only the injected gradient flows: d/dx <v, sin(x)> = v cos(x)
    g = sg.grad(None, x, known_grads={h: v})
    # Combined with a cost, both contributions add up.
    g_both = sg.grad(cost, x, known_grads={h: v})
    x0, v0 = RNG.standard_normal(3), RNG.standard_normal(3)
    out = compile_([x, v], [g, g_both])(x0, v0)
    np.testing.assert_allclose(out[0], v0 * np.cos(x0))
    np.testing.assert_allclose(out[1], (2 * np.sin(x0) + v0) * np.cos(x0))


def test_gradient_nodes_point_at_the_forward_line():
    x = sg.scalar("x")
    y = sg.exp(x)  # the line the gradient's nodes should point at
    g = sg.grad(y * 2.0, x)
    line = y.owner.source.lineno
    assert any(n.source is not None and n.source.lineno == line
               for n in toposort([g]) if n not in toposort([y]))


# ---------------------------------------------------------------- scale

def _chain(v, n):
    for _ in range(n):
        v = sg.sin(v) * 0.9 + v * 0.5
    return v


def test_gradient_graph_grows_linearly_with_the_chain():
    sizes = []
    for n in (100, 200, 400):
        x = sg.scalar("x")
        y = _chain(x, n)
        sizes.append(count_nodes(sg.grad(y, x)) - count_nodes(y))
    assert sizes[2] - sizes[1] == 2 * (sizes[1] - sizes[0])
    assert sizes[0] < 15 * 100


def test_second_derivative_and_hessian_grow_linearly():
    hess_sizes, second_sizes = [], []
    for n in (100, 200, 400):
        x = sg.scalar("x")
        w = sg.vector("w", shape=(2,))
        y = _chain(x, n)
        second_sizes.append(count_nodes(sg.grad(sg.grad(y, x), x)))
        cost = sg.sum(_chain(w, n))
        hess_sizes.append(count_nodes(sg.hessian(cost, w)))
    for sizes in (second_sizes, hess_sizes):
        assert sizes[2] - sizes[1] == 2 * (sizes[1] - sizes[0]), sizes


def test_chain_values_match_finite_differences():
    x = sg.scalar("x")
    y = _chain(x, 8)
    g, g2 = sg.grad(y, x), sg.grad(sg.grad(y, x), x)
    f = compile_([x], [y, g, g2])

    def chain(v):
        for _ in range(8):
            v = np.sin(v) * 0.9 + v * 0.5
        return v
    value, d1, d2 = f(0.3)
    eps = 1e-5
    np.testing.assert_allclose(d1, (chain(0.3 + eps) - chain(0.3 - eps)) / (2 * eps), rtol=1e-6)
    d1_up, d1_down = f(0.3 + 1e-4)[1], f(0.3 - 1e-4)[1]
    np.testing.assert_allclose(d2, (d1_up - d1_down) / 2e-4, rtol=1e-5, atol=1e-9)


def test_very_long_chain_without_recursion_error():
    x = sg.scalar("x")
    y = x
    for _ in range(20_000):
        y = y + sg.sin(y) * 1e-4
    g = sg.grad(y, x)
    value = float(compile_([x], g)(0.1))
    v, d = 0.1, 1.0
    for _ in range(20_000):
        d *= 1 + 1e-4 * np.cos(v)
        v = v + np.sin(v) * 1e-4
    np.testing.assert_allclose(value, d, rtol=1e-9)


def test_an_op_without_gradient_is_named_with_the_users_line():
    from symgraph.graph import Node
    from symgraph.ops.base import Op

    class Opaque(Op):
        abstract = True  # keeps this test op out of OP_REGISTRY (the backends' coverage lists)
        name = "opaque"

        def make_node(self, x):
            return Node(self, [x], [x.type])

    x = sg.scalar("x")
    y = Opaque()(x)  # this line is named
    with pytest.raises(NotImplementedError, match=r"opaque.*test_grad.py:\d+"):
        sg.grad(y * 2.0, x)
