"""jacobian, hessian, Lop, Rop, hessian_vector_product and verify_grad, against finite differences."""
import numpy as np
import pytest

import symgraph as sg
from symgraph.graph import count_nodes

RNG = np.random.default_rng(7)


def compile_(inputs, outputs, **kw):
    return sg.function(inputs, outputs, backend="python", optimizer=None, **kw)


def fd_jacobian(f, x, eps=1e-6):
    """Central-difference Jacobian of a NumPy function of a vector (rows: outputs)."""
    x = np.asarray(x, dtype="float64")
    columns = []
    for i in range(x.size):
        step = np.zeros_like(x)
        step[i] = eps
        columns.append((np.asarray(f(x + step)) - np.asarray(f(x - step))) / (2 * eps))
    return np.stack(columns, axis=-1)


def _np_logsumexp(w):
    m = w.max()
    return m + np.log(np.exp(w - m).sum())


def _np_cost(a, w):
    return np.sum(np.tanh(a @ w) ** 2) + _np_logsumexp(w)


def _np_grad(a, w):
    t = np.tanh(a @ w)
    soft = np.exp(w - w.max())
    return a.T @ (2 * t * (1 - t * t)) + soft / soft.sum()


@pytest.fixture
def tanh_logsumexp():
    a = sg.matrix("A", shape=(3, 4))
    w = sg.vector("w", shape=(4,))
    cost = sg.sum(sg.tanh(a @ w) ** 2) + sg.logsumexp(w)
    return a, w, cost


@pytest.mark.parametrize("vectorize", [None, False], ids=["batched", "unrolled"])
def test_jacobian_and_hessian_of_tanh_logsumexp(tanh_logsumexp, vectorize):
    a, w, cost = tanh_logsumexp
    a0, w0 = RNG.standard_normal((3, 4)), RNG.standard_normal(4)
    g = sg.grad(cost, w)
    jac_inner = sg.jacobian(sg.tanh(a @ w), w, vectorize=vectorize)
    hess = sg.hessian(cost, w, vectorize=vectorize)
    assert jac_inner.type.shape == (3, 4) and hess.type.shape == (4, 4)
    out = compile_([a, w], [g, jac_inner, hess, sg.jacobian(g, w, vectorize=vectorize)])(a0, w0)
    np.testing.assert_allclose(out[0], fd_jacobian(lambda v: _np_cost(a0, v), w0), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(out[1], fd_jacobian(lambda v: np.tanh(a0 @ v), w0), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(out[2], fd_jacobian(lambda v: _np_grad(a0, v), w0), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(out[2], out[2].T, atol=1e-12)
    np.testing.assert_allclose(out[3], out[2])


def test_jacobian_and_hessian_with_lengths_known_only_at_call_time():
    a, w = sg.matrix("A"), sg.vector("w")
    cost = sg.sum(sg.tanh(a @ w) ** 2) + sg.logsumexp(w)
    f = compile_([a, w], [sg.jacobian(sg.tanh(a @ w), w), sg.hessian(cost, w)])
    for rows, cols in ((3, 4), (5, 2)):
        a0, w0 = RNG.standard_normal((rows, cols)), RNG.standard_normal(cols)
        jac, hess = f(a0, w0)
        np.testing.assert_allclose(jac, fd_jacobian(lambda v: np.tanh(a0 @ v), w0), rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(hess, fd_jacobian(lambda v: _np_grad(a0, v), w0), rtol=1e-6, atol=1e-8)
    # A third derivative through the batched Hessian: d/dw of sum(H * R).
    r = RNG.standard_normal((4, 4))
    sg.verify_grad(lambda a_, w_: sg.sum(sg.hessian(sg.sum(sg.tanh(a_ @ w_) ** 2) + sg.logsumexp(w_), w_) * r),
                   [RNG.standard_normal((3, 4)), RNG.standard_normal(4)])


def test_jacobian_shapes_for_scalars_and_lists():
    x = sg.scalar("x")
    v = sg.vector("v", shape=(3,))
    expr = sg.sin(v) * x
    jx, jv = sg.jacobian(expr, [x, v])
    assert jx.type.shape == (3,) and jv.type.shape == (3, 3)
    j_scalar = sg.jacobian(sg.sum(expr), v)  # 0-d expr: the gradient
    x0, v0 = 0.7, RNG.standard_normal(3)
    out = compile_([x, v], [jx, jv, j_scalar])(x0, v0)
    np.testing.assert_allclose(out[0], np.sin(v0))
    np.testing.assert_allclose(out[1], np.diag(np.cos(v0) * x0))
    np.testing.assert_allclose(out[2], np.cos(v0) * x0)
    h = sg.hessian(x * x * x, x)
    np.testing.assert_allclose(compile_([x], h)(2.0), 12.0)


def test_jacobian_errors():
    w = sg.vector("w")
    with pytest.raises(ValueError, match="static shape"):
        sg.jacobian(sg.exp(w), w, vectorize=False)
    with pytest.raises(TypeError, match="symbolic variables"):
        sg.jacobian(sg.exp(w), [w, 3.0])
    # n-d expressions and wrt (issue 16): the shape is expr.shape + wrt.shape, as JAX's
    m = sg.matrix("m")
    assert sg.jacobian(sg.exp(m), m).ndim == 4


def _deep(v, depth):
    for _ in range(depth):
        v = sg.tanh(v) * 0.8 + sg.sin(v) * 0.3
    return v


@pytest.mark.parametrize("vectorize", [None, False], ids=["batched", "unrolled"])
def test_jacobian_graph_is_linear_in_rows_and_depth(vectorize):
    by_rows, by_depth = [], []
    for n in (4, 8, 16):
        w = sg.vector("w", shape=(n,))
        by_rows.append(count_nodes(sg.jacobian(_deep(w, 5), w, vectorize=vectorize)))
    for depth in (10, 20, 40):
        w = sg.vector("w", shape=(3,))
        by_depth.append(count_nodes(sg.hessian(sg.sum(_deep(w, depth)), w, vectorize=vectorize)))
    for sizes in (by_rows, by_depth):
        assert sizes[2] - sizes[1] == 2 * (sizes[1] - sizes[0]), sizes
    if vectorize is None:
        assert by_rows[0] == by_rows[2]  # one batched backward pass whatever the number of rows


def test_lop_is_a_vector_jacobian_product():
    a = sg.matrix("A")
    w = sg.vector("w")
    u = sg.vector("u")
    f = sg.tanh(a @ w)
    vjp_w, vjp_a = sg.Lop(f, [w, a], u)
    a0, w0, u0 = RNG.standard_normal((3, 4)), RNG.standard_normal(4), RNG.standard_normal(3)
    out = compile_([a, w, u], [vjp_w, vjp_a])(a0, w0, u0)
    jac = fd_jacobian(lambda v: np.tanh(a0 @ v), w0)
    np.testing.assert_allclose(out[0], u0 @ jac, rtol=1e-6)
    np.testing.assert_allclose(out[1], np.outer(u0 * (1 - np.tanh(a0 @ w0) ** 2), w0))


def test_rop_is_a_jacobian_vector_product():
    a = sg.matrix("A")
    w = sg.vector("w")
    v = sg.vector("v")
    f = sg.tanh(a @ w) * sg.sum(w)
    jvp = sg.Rop(f, w, v)
    a0, w0, v0 = RNG.standard_normal((3, 4)), RNG.standard_normal(4), RNG.standard_normal(4)
    got = compile_([a, w, v], jvp)(a0, w0, v0)
    jac = fd_jacobian(lambda x: np.tanh(a0 @ x) * x.sum(), w0)
    np.testing.assert_allclose(got, jac @ v0, rtol=1e-6)
    # Lists in, lists out; f may be 0-d.
    x = sg.scalar("x")
    r = sg.Rop([sg.sum(w * w) * x, sg.exp(x)], [w, x], [v, 2.0])
    out = compile_([w, v, x], r)(w0, v0, 0.5)
    np.testing.assert_allclose(out[0], 2 * w0 @ v0 * 0.5 + np.sum(w0 * w0) * 2.0)
    np.testing.assert_allclose(out[1], np.exp(0.5) * 2.0)


def test_hessian_vector_product(tanh_logsumexp):
    a, w, cost = tanh_logsumexp
    v = sg.vector("v")
    hv = sg.hessian_vector_product(cost, w, v)
    a0, w0, v0 = RNG.standard_normal((3, 4)), RNG.standard_normal(4), RNG.standard_normal(4)
    got, hess = compile_([a, w, v], [hv, sg.hessian(cost, w)])(a0, w0, v0)
    np.testing.assert_allclose(got, hess @ v0, rtol=1e-10, atol=1e-12)
    # With unknown lengths too (no dense Hessian needed), and for a list of variables.
    w_any = sg.vector("w_any")
    c2 = sg.sum(sg.exp(w_any) * sg.sum(w_any))
    hv2 = sg.hessian_vector_product(c2, [w_any], [v])[0]
    jac = fd_jacobian(lambda x: np.exp(x) * x.sum() + np.exp(x).sum(), w0)
    np.testing.assert_allclose(compile_([w_any, v], hv2)(w0, v0), jac @ v0, rtol=1e-6)


# ---------------------------------------------------------------- verify_grad itself

class _WrongSin(sg.ops.elemwise.Sin):
    name = "wrong_sin"

    def grad(self, inputs, output, gy):
        return [sg.mul(gy, sg.sin(inputs[0]))]


def test_verify_grad_names_the_wrong_input_and_shows_both_values():
    wrong_sin = sg.ops.elemwise.Elemwise(_WrongSin())
    with pytest.raises(AssertionError, match=r"input 1 'b' .*symbolic .* finite differences") as info:
        sg.verify_grad(lambda a, b: sg.sum(sg.sin(a) * wrong_sin(b)), [RNG.standard_normal(3), RNG.standard_normal(3)])
    assert "input 0" not in str(info.value)


def test_verify_grad_accepts_correct_gradients_of_large_inputs_quickly():
    x0 = RNG.standard_normal(20_000)
    sg.verify_grad(lambda x: sg.sum(sg.tanh(x) * sg.sin(x)), [x0])
    sg.verify_grad(lambda x: sg.sum(sg.tanh(x) * x), [x0.astype("float32")])


def test_verify_grad_checks_float_inputs_only_and_needs_a_scalar():
    x0, i0 = RNG.standard_normal((3, 4)), np.array(2)
    sg.verify_grad(lambda x, i: sg.sum(x[i] ** 2), [x0, i0])
    with pytest.raises(TypeError, match="0-d"):
        sg.verify_grad(lambda x: x * 2.0, [x0])


def test_float32_jacobian_hessian_and_products_stay_float32():
    w = sg.vector("w", dtype="float32")
    v = sg.vector("v", dtype="float32")
    cost = sg.sum(sg.tanh(w) * w) * 2.0
    results = [sg.hessian(cost, w), sg.jacobian(sg.exp(w), w), sg.hessian_vector_product(cost, w, v),
               sg.Rop(sg.exp(w), w, v), sg.Lop(sg.exp(w), w, v)]
    assert [r.dtype for r in results] == ["float32"] * 5
    w0 = np.array([0.3, -0.2, 0.5], dtype="float32")
    v0 = np.array([1.0, 2.0, -1.0], dtype="float32")
    hess, jac, hv, jv, vj = compile_([w, v], results)(w0, v0)
    assert hess.dtype == np.float32
    t = np.tanh(w0.astype("float64"))
    expected_hess = np.diag(2 * (2 * (1 - t ** 2) - 2 * w0 * t * (1 - t ** 2)))
    np.testing.assert_allclose(hess, expected_hess, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(jac, np.diag(np.exp(w0)), rtol=1e-6)
    np.testing.assert_allclose(hv, expected_hess @ v0, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(jv, np.exp(w0) * v0, rtol=1e-6)
    np.testing.assert_allclose(vj, np.exp(w0) * v0, rtol=1e-6)


@pytest.mark.parametrize("container", [tuple, list])
@pytest.mark.parametrize("vectorize", [None, False])
def test_derivatives_return_the_structure_the_caller_passed(container, vectorize):
    """jacobian, hessian, Lop, Rop and hessian_vector_product keep a tuple a tuple and a list a list,
    as sg.grad does; the values match the single-variable calls."""
    x, y = sg.vector("x", shape=(3,)), sg.vector("y", shape=(3,))
    v, u = sg.vector("v", shape=(3,)), sg.vector("u", shape=(3,))
    e = sg.tanh(x) * y
    cost = sg.sum(e * e)
    wrt = container((x, y))
    results = {
        "grad": sg.grad(cost, wrt),
        "jacobian": sg.jacobian(e, wrt, vectorize=vectorize),
        "jacobian0": sg.jacobian(cost, wrt),
        "hessian": sg.hessian(cost, wrt, vectorize=vectorize),
        "Lop": sg.Lop(container((e, e * 2.0)), wrt, container((v, u))),
        "Rop": sg.Rop(container((e, e * 2.0)), wrt, container((v, u))),
        "hvp": sg.hessian_vector_product(cost, wrt, container((v, u))),
    }
    for name, result in results.items():
        assert type(result) is container and len(result) == 2, name
    singles = [sg.jacobian(e, x, vectorize=vectorize), sg.Rop(e, x, v), sg.Rop(e * 2.0, x, v)]
    assert all(isinstance(s, sg.Variable) for s in singles)
    point = [RNG.normal(size=3) for _ in range(4)]
    f = compile_([x, y, v, u], [results["jacobian"][0], singles[0], results["Rop"][1]])
    jac, single_jac, rop = f(*point)
    np.testing.assert_allclose(jac, single_jac)
    expected = 2 * ((1 - np.tanh(point[0]) ** 2) * point[1] * point[2] + np.tanh(point[0]) * point[3])
    np.testing.assert_allclose(rop, expected)
