"""The Fused op (its encoding, perform, grad, printing) and the fusion pass."""
import numpy as np
import pytest

import symgraph as sg
from symgraph.graph import Constant, toposort
from symgraph.ops import elemwise as ew
from symgraph.ops.fused import Fused
from symgraph.rewrite import optimize_graph

from .helpers import compare, graph_ops, op_names


def exp_times_plus_one():
    # o0 = exp(i0) * i1 + 1.0 with the constant as input 2
    return Fused(3, [(ew.Exp(), (0,), "float64"), (ew.Mul(), (3, 1), "float64"),
                     (ew.Add(), (4, 2), "float64")], (5,))


def test_fused_perform_broadcasts_like_elemwise():
    op = exp_times_plus_one()
    a, b = sg.vector("a"), sg.matrix("b")
    out = op(a, b, Constant(1.0))
    assert out.type.ndim == 2 and out.dtype == "float64"
    av, bv = np.array([0.0, 1.0, 2.0]), np.arange(6.0).reshape(2, 3)
    (result,) = op.perform(out.owner, [av, bv, np.array(1.0)])
    np.testing.assert_allclose(result, np.exp(av) * bv + 1.0)


def test_fused_output_has_broadcast_shape_and_own_memory():
    op = Fused(2, [(ew.Exp(), (0,), "float64")], (2, 1))
    a, b = sg.vector("a"), sg.matrix("b")
    e, passthrough = op(a, b)
    av, bv = np.zeros(3), np.ones((2, 3))
    r0, r1 = op.perform(e.owner, [av, bv])
    assert r0.shape == (2, 3) and r1.shape == (2, 3)
    assert r1 is not bv and not np.shares_memory(r1, bv)


def test_fused_props_identity_and_validation():
    assert exp_times_plus_one() == exp_times_plus_one()
    assert hash(exp_times_plus_one()) == hash(exp_times_plus_one())
    with pytest.raises(ValueError):
        Fused(1, [(ew.Exp(), (1,), "float64")], (1,))  # refers to itself


def test_expression_strings():
    assert exp_times_plus_one().expression_strings() == ["exp(i0) * i1 + i2"]
    assert exp_times_plus_one().expression_strings(["x", "y", "1.0"]) == ["exp(x) * y + 1.0"]
    op = Fused(2, [(ew.Sub(), (0, 1), "float64"), (ew.Mul(), (2, 2), "float64")], (3,))
    assert op.expression_strings() == ["(i0 - i1) * (i0 - i1)"]


def test_fused_grad_matches_elemwise_grad():
    x, y = sg.vector("x"), sg.vector("y")
    op = exp_times_plus_one()
    cost = sg.sum(op(x, y, Constant(1.0)) * x)
    gx, gy = sg.grad(cost, [x, y])
    xv, yv = np.array([0.1, -0.3, 0.7]), np.array([1.5, 2.0, -1.0])
    f = sg.function([x, y], [gx, gy], backend="python", optimizer=None)
    rx, ry = f(xv, yv)
    np.testing.assert_allclose(rx, np.exp(xv) * yv * xv + np.exp(xv) * yv + 1.0)
    np.testing.assert_allclose(ry, np.exp(xv) * xv)


def test_grad_of_elementwise_cost_is_one_fused_loop():
    x = sg.vector("x")
    g = sg.grad(sg.sum(sg.exp(x) * x), x)
    f = compare([x], g, [np.linspace(-2, 2, 7)])
    assert graph_ops(f) == ["fused"]
    np.testing.assert_allclose(f(np.array([0.5])), np.exp(0.5) * 1.5)


def test_chain_fuses_into_one_node_and_keeps_values():
    x, y = sg.matrix("x"), sg.vector("y")
    out = sg.tanh(sg.exp(x) * y + 1.0) - sg.sqrt(sg.abs(x))
    f = compare([x, y], out, [np.arange(6.0).reshape(2, 3) / 7, np.array([0.1, 0.2, 0.3])])
    assert graph_ops(f) == ["fused"]


def test_shared_producer_becomes_extra_output():
    x = sg.vector("x")
    e = sg.exp(x)
    a = e * 2.0 + x
    b = sg.sum(e)                      # e is used outside the elementwise group too
    f = compare([x], [a, b], [np.linspace(0, 1, 4)])
    ops = graph_ops(f)
    assert ops.count("fused") == 1 and "exp" not in ops
    fused = next(n for n in f.graph.nodes if isinstance(n.op, Fused))
    assert len(fused.outputs) == 2


def test_transcendental_producer_is_not_recomputed_across_a_broadcast():
    """tanh of a vector read by a matrix loop would be evaluated once per row inside it: it stays its own
    (vector-sized) node; cheap producers and same-shaped transcendental ones still fuse."""
    m, v = sg.matrix("m"), sg.vector("v")
    t = sg.tanh(v * 2.0)
    out = m * t + m * (1.0 - t * t) + sg.exp(m) * (v + 1.0)
    values = [np.arange(12.0).reshape(3, 4) / 9, np.linspace(-1, 1, 4)]
    f = compare([m, v], out, values)
    fused = [n for n in f.graph.nodes if isinstance(n.op, Fused)]
    wide = [n for n in fused if n.outputs[0].ndim == 2]
    assert len(wide) == 1
    wide_ops = {type(op).__name__ for op, _, _ in wide[0].op.instructions}
    assert "Tanh" not in wide_ops and "Exp" in wide_ops       # exp(m) has the loop's own shape
    narrow = [n for n in f.graph.nodes if n.outputs[0].ndim == 1 and "tanh" in str(n.op)]
    assert len(narrow) == 1                                    # tanh(v * 2.0): one evaluation per element of v
    hessian = sg.function([m, v], sg.hessian(sg.sum(sg.tanh(m @ v) ** 2), v))
    assert hessian.source.count("vm.tanh_f64(") == 1                # (vmath.py's tanh: the numba default)
    a, w = np.arange(12.0).reshape(3, 4) / 9, np.linspace(-1, 1, 4)
    t = np.tanh(a @ w)
    np.testing.assert_allclose(hessian(a, w), a.T @ ((2 * (1 - t * t) * (1 - 3 * t * t))[:, None] * a),
                               rtol=1e-10)


def test_no_fusion_across_reductions_or_through_cycles():
    x = sg.vector("x")
    e = sg.exp(x)
    out = e * sg.sum(e)                # e feeds the sum which feeds the product: no single loop
    compare([x], out, [np.linspace(0, 1, 4)])


def test_fused_sources_are_the_union_of_the_users_lines():
    x = sg.vector("x")
    a = sg.exp(x)
    b = a * 3.0
    (out,), _ = optimize_graph([b])
    lines = {s.lineno for s in out.owner.sources}
    assert isinstance(out.owner.op, Fused)
    assert {a.owner.source.lineno, b.owner.source.lineno} <= lines


def test_exclude_fusion_by_name():
    x = sg.vector("x")
    out = sg.exp(x) * 2.0
    f = sg.function([x], out, backend="python", optimizer={"mode": "fast_run", "exclude": ["fusion"]})
    assert "fused" not in [type(n.op).__name__.lower() for n in f.graph.nodes]
    np.testing.assert_allclose(f(np.ones(2)), 2 * np.e)


def test_mixed_dtypes_and_casts_fuse():
    x = sg.vector("x", dtype="float32")
    i = sg.vector("i", dtype="int64")
    out = sg.exp(x) * 2.0 + sg.cast(i, "float32")
    f = compare([x, i], out, [np.ones(3, dtype="float32"), np.arange(3)], rtol=1e-6)
    assert f(np.ones(3, dtype="float32"), np.arange(3)).dtype == np.float32
    assert op_names(f.graph.outputs) == ["fused"]


def test_a_long_float_chain_and_its_gradient_are_one_node_and_compile_on_the_vector_tape():
    """A 1,000-step vector chain y = tanh(y) + 0.001 x with its gradient: every step, forward and backward,
    in one fused node (the numba backend runs it on its vector tape: compile time independent of the
    length; it was 1,000 small loops, 358 s to compile); values and gradient as the python backend."""
    from symgraph.codegen.numba.tape import vector_tape_applicable
    x = sg.vector("x")
    y = x
    for _ in range(1000):
        y = sg.tanh(y) + 0.001 * x
    outputs = [sg.sum(y), sg.grad(sg.sum(y), x)]
    f = sg.function([x], outputs, backend="python")
    fused = [n for n in f.graph.nodes if isinstance(n.op, Fused)]
    assert len(fused) == 1 and len(fused[0].op.instructions) > 4000
    assert vector_tape_applicable(fused[0])
    value = np.linspace(-2, 2, 9)
    reference = [value, np.ones_like(value)]
    for _ in range(1000):      # the chain and its derivative by hand
        t = np.tanh(reference[0])
        reference = [t + 0.001 * value, reference[1] * (1 - t * t) + 0.001]
    got = sg.function([x], outputs)(value)          # numba
    want = f(value)
    np.testing.assert_allclose(want[1], reference[1], rtol=1e-12)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-12)


def test_groups_holding_integers_stay_at_most_max_group_nodes():
    """Only a group of one float dtype grows past MAX_GROUP (the numba backend compiles other groups as one
    loop body, in time that grows faster than its length)."""
    from symgraph.rewrite.fusion import MAX_GROUP
    i = sg.vector("i", "int64")
    y = i
    for k in range(MAX_GROUP + 100):
        y = y * 3 + k
    f = sg.function([i], y, backend="python")
    sizes = [len(n.op.instructions) for n in f.graph.nodes if isinstance(n.op, Fused)]
    assert len(sizes) >= 2 and max(sizes) <= 2 * MAX_GROUP
    expected = np.arange(3, dtype="int64")
    for k in range(MAX_GROUP + 100):
        expected = expected * 3 + k
    np.testing.assert_array_equal(f(np.arange(3)), expected)


def test_many_loops_over_one_array_become_one_node_and_one_returned_array():
    """[x * i + i for i in range(300)]: 300 independent loops over x (each compiled on its own: 52 s) become
    one fused node with 300 outputs (MIN_SIBLINGS or more siblings), run on numba's vector tape, whose rows
    the kernel returns as one array (a tuple of 300 arrays alone took Numba minutes); values and shapes as the
    python backend's, for vectors and matrices, with an update and a plain output beside them."""
    from symgraph.rewrite.fusion import MIN_SIBLINGS
    for x in (sg.vector("x"), sg.matrix("x")):
        total = sg.shared(np.float64(0.0), name="total")
        outputs = [x * i + i for i in range(300)] + [sg.sum(x)]
        reference = sg.function([x], outputs, updates=[(total, total + sg.sum(x))], backend="python")
        fused = [n for n in reference.graph.nodes if isinstance(n.op, Fused)]
        assert len(fused) == 1 and len(fused[0].outputs) == 300
        f = sg.function([x], outputs, updates=[(total, total + sg.sum(x))])
        assert f._executor.module.packs and len(f.source.splitlines()) < 40
        value = np.arange(6.0).reshape((6,) if x.ndim == 1 else (2, 3))
        got, want = f(value), reference(value)
        assert len(got) == 301 and total.get_value() == 2 * value.sum()
        for g, w in zip(got, want):
            assert g.shape == w.shape and g.dtype == w.dtype
            np.testing.assert_array_equal(g, w)
        direct = f._executor([value], [total.get_value()])     # the executor's own path unpacks the same way
        for g, w in zip(direct, want):
            np.testing.assert_array_equal(g, w)
    few = sg.function([x], [x * i for i in range(2, MIN_SIBLINGS + 1)], backend="python")   # (x * 1 is x)
    assert len([n for n in few.graph.nodes if isinstance(n.op, Fused) or n.op.__class__.__name__ == "Elemwise"]) \
        == MIN_SIBLINGS - 1
