"""The vector tape: very long fused elementwise nodes run on a jitted block interpreter.

Every opcode is checked against NumPy (and against the scalar tape, so both
interpreters agree), in float64 and float32, on sizes that are not a multiple of
the block; whole functions whose fused node crosses the threshold must equal the
python backend, broadcasting included, and compile in constant time.
"""
from __future__ import annotations

import numpy as np
import pytest

import symgraph as sg
from symgraph.codegen.numba import interpreter, tape
from symgraph.ops.elemwise import SCALAR_OPS

def reference(name):
    """The NumPy reference of an opcode: its op class's own ``impl`` (the tape's ``to_bool``: ``x != 0``)."""
    return (lambda x: x != 0) if name == "to_bool" else SCALAR_OPS[name].impl


def arity(name):
    return 1 if name == "to_bool" else SCALAR_OPS[name].nin


def run_one(name, operands):
    """Run a one-instruction tape: registers 0..k-1 hold the operands, the result goes to register k."""
    k = len(operands)
    args = list(range(k)) + [0] * (3 - k)
    table = np.array([[tape.OPCODES[name], *args, k]], dtype=np.int64)
    columns = [np.ascontiguousarray(table[:, i]) for i in range(5)]
    stacked = np.stack(operands)
    initial = np.zeros(k + 1, dtype=stacked.dtype)
    return tape.run_vector_tape(stacked, initial, *columns, np.array([k], dtype=np.int64))[0]


def run_scalar(name, operands, count):
    """The first ``count`` elements, each through ``run_tape`` (the interpreter of all-scalar programs)."""
    k = len(operands)
    args = list(range(k)) + [0] * (3 - k)
    columns = [np.array([value], dtype=np.int64) for value in (tape.OPCODES[name], *args, k)]
    results = []
    for i in range(count):
        registers = np.array([x[i] for x in operands] + [0], dtype=operands[0].dtype)
        results.append(tape.run_tape(registers, *columns)[k])
    return np.array(results, dtype=operands[0].dtype)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", sorted(tape.OPCODES))
def test_every_opcode_matches_its_op_on_both_tapes(name, dtype):
    """Every opcode, generated from its op class's formula, against that class's NumPy ``impl``, on the
    vector tape and on the scalar tape: an op added to elemwise.py is tested here without a new row."""
    rng = np.random.default_rng(sorted(tape.OPCODES).index(name))
    size = 3 * interpreter.VECTOR_BLOCK + 17
    operands = [rng.uniform(-2.0, 2.0, size).astype(dtype) for _ in range(arity(name))]
    operands[0][::9] = 0.0                    # zeros: and/or/not, sign, relu, to_bool
    if len(operands) > 1:
        operands[1][::5] = operands[0][::5]   # ties: the comparisons, maximum/minimum
        operands[0][::11] = 1.0               # a true condition for where
    with np.errstate(all="ignore"):
        expected = np.asarray(reference(name)(*operands)).astype(dtype)
    tolerance = dict(rtol=2e-6 if dtype == "float32" else 1e-13, atol=1e-7 if dtype == "float32" else 1e-15)
    np.testing.assert_allclose(run_one(name, operands), expected, **tolerance)
    np.testing.assert_allclose(run_scalar(name, operands, 40), expected[:40], **tolerance)


def test_where_selects_by_the_condition_register():
    rng = np.random.default_rng(2)
    size = interpreter.VECTOR_BLOCK + 1
    condition = (rng.uniform(size=size) > 0.5).astype(np.float64)
    a, b = rng.normal(size=size), rng.normal(size=size)
    np.testing.assert_array_equal(run_one("where", [condition, a, b]), np.where(condition != 0, a, b))


def long_expression(x, y, steps):
    """A chain long enough to go over the tape threshold, with y broadcast against x."""
    for i in range(steps):
        x = sg.sin(x) * 0.9 + y * 0.01 if i % 2 else sg.tanh(x + 0.1 * (i % 3))
    return x


def numpy_expression(x, y, steps):
    for i in range(steps):
        x = np.sin(x) * 0.9 + y * 0.01 if i % 2 else np.tanh(x + 0.1 * (i % 3))
    return x


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_long_fused_node_runs_on_the_tape_and_matches_python(dtype):
    x, y = sg.matrix("x", dtype), sg.vector("y", dtype)
    steps = 200
    out = long_expression(x, y, steps)
    f = sg.function([x, y], [out, sg.sum(out)], cache=False)
    reference = sg.function([x, y], [out, sg.sum(out)], backend="python")
    assert "rt.run_pooled(" in f.source
    rng = np.random.default_rng(3)
    for shape, y_len in [((7, 300), 300), ((5, 4), 1), ((1, 9), 9)]:   # y broadcast from length 1 too
        xv = rng.normal(size=shape).astype(dtype)
        yv = rng.normal(size=y_len).astype(dtype)
        got, want = f(xv, yv), reference(xv, yv)
        rtol = 1e-4 if dtype == "float32" else 1e-12
        np.testing.assert_allclose(got[0], want[0], rtol=rtol, atol=rtol)
        np.testing.assert_allclose(got[0], numpy_expression(xv, yv, steps), rtol=rtol, atol=rtol)
        assert got[0].dtype == np.dtype(dtype) and got[0].shape == shape
    with pytest.raises(ValueError, match="broadcast"):
        f(np.zeros((3, 4), dtype), np.zeros(5, dtype))


def test_gradient_of_a_long_chain_on_vectors_matches_python():
    x = sg.vector("x")
    y = x
    for i in range(300):
        y = sg.sin(y) * 0.9 if i % 2 else y + 0.001 * (i % 7)
    cost = sg.sum(y)
    g = sg.grad(cost, x)
    f = sg.function([x], [cost, g], cache=False)
    reference = sg.function([x], [cost, g], backend="python")
    values = np.linspace(-1, 1, 11)
    for got, want in zip(f(values), reference(values)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


def vector_chain(steps):
    x = sg.vector("x")
    y = x
    for i in range(steps):
        y = sg.sin(y) * 0.9 if i % 2 else y + 0.001 * (i % 7)
    return x, sg.sum(y)


def test_compile_time_of_long_vector_chains_grows_close_to_linearly():
    import time

    def compile_seconds(steps):
        x, cost = vector_chain(steps)
        start = time.process_time()
        f = sg.function([x], [cost, sg.grad(cost, x)], cache=False)
        return time.process_time() - start, f

    compile_seconds(50)                        # the process's one-time loading of the tape helpers
    small, _ = compile_seconds(600)
    large, f = compile_seconds(2400)
    assert large < 8 * small, (small, large)   # linear growth gives about 4, quadratic 16
    values = np.linspace(-1, 1, 7)
    y = values.copy()
    for i in range(2400):
        y = np.sin(y) * 0.9 if i % 2 else y + 0.001 * (i % 7)
    np.testing.assert_allclose(f(values)[0], y.sum(), rtol=1e-12)


def test_tape_with_boolean_and_float32_operands_and_outputs():
    x = sg.matrix("x", "float32")
    mask = sg.vector("mask", "bool")
    y = long_expression(x, sg.cast(mask, "float32"), 200)
    outputs = [y, y > 0.5, sg.where(mask, y, -y)]
    f = sg.function([x, mask], outputs, cache=False)
    reference = sg.function([x, mask], outputs, backend="python")
    assert "rt.run_pooled(" in f.source
    rng = np.random.default_rng(5)
    xv = rng.normal(size=(3, 6)).astype(np.float32)
    mv = rng.uniform(size=6) > 0.5
    for got, want in zip(f(xv, mv), reference(xv, mv)):
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_tape_false_compiles_the_long_node_to_a_loop():
    x = sg.vector("x")
    out = long_expression(x, x, 140)
    f = sg.function([x], out, cache=False, tape=False)
    assert "rt.run_pooled(" not in f.source
    values = np.linspace(-1, 1, 5)
    np.testing.assert_allclose(f(values), numpy_expression(values, values, 140), rtol=1e-12)


def test_every_opcode_has_its_branch_in_both_interpreters():
    """Opcodes are named constants written from the scalar op table (interpreter.py); each interpreter
    compares with every one of them exactly once, so no opcode falls through to another op's branch (one
    once fell through to ``to_bool``)."""
    import ast
    import inspect



    names = {interpreter.constant_name(name) for name in tape.OPCODES}
    assert sorted(tape.OPCODES.values()) == list(range(len(tape.OPCODES)))
    module = inspect.getmodule(tape.run_tape.py_func)
    assert all(getattr(module, interpreter.constant_name(name)) == code for name, code in tape.OPCODES.items())
    for function in (tape.run_tape, tape._run_block):
        tree = ast.parse(inspect.getsource(function.py_func))
        compared = [node.comparators[0].id for node in ast.walk(tree)
                    if isinstance(node, ast.Compare) and isinstance(node.left, ast.Name) and node.left.id == "op"]
        assert sorted(compared) == sorted(names), function.py_func.__name__


def test_the_opcode_table_and_the_scalar_op_table_agree():
    """Every scalar op class that declares its formula and has no parameters has an opcode under its name,
    in definition order, and the tape's own ``to_bool`` comes last; ops with parameters (cast, add_n) are
    encoded by the tape and have none."""

    expected = [cls.name for cls in SCALAR_OPS.values() if cls.has_formula() and not cls.__props__]
    assert list(tape.OPCODES) == expected + ["to_bool"]
    assert "cast" not in tape.OPCODES and "add_n" not in tape.OPCODES
    assert interpreter.tape_op_classes() == [SCALAR_OPS[name] for name in expected]


def test_unknown_opcode_is_an_error_not_another_op():
    registers = np.array([1.5, 2.0, 0.0])
    bad = np.array([len(tape.OPCODES)], dtype=np.int64)
    index = np.array([0], dtype=np.int64)
    with pytest.raises(ValueError, match="opcode without a branch"):
        tape.run_tape(registers, bad, index, index + 1, index, index + 2)


def test_fused_nodes_with_many_outputs_run_on_the_tape_and_never_in_a_parallel_loop():
    """A fused node's compile time grows with its outputs (~50-75 ms each inline, and steeply in a prange
    loop: 64 outputs of x*i + i took over 5 minutes): from 32 outputs the node runs on the vector tape,
    and above 16 its inline loop is serial. Values as the python backend's, every output."""
    from symgraph.codegen.numba import elemwise, tape
    x = sg.vector("x")
    many = [x * i + i for i in range(tape.VECTOR_TAPE_MIN_OUTPUTS)]
    f = sg.function([x], many, cache=False)
    assert "rt.run_pooled(" in f.source or "rt.run_vector_tape(" in f.source
    some = [sg.exp(x * (i + 1.5)) + i for i in range(elemwise.PARALLEL_MAX_OUTPUTS + 1)]   # one fused node
    g = sg.function([x], some, cache=False)
    assert "prange(" not in g.source and "rt.run_pooled(" not in g.source
    few = [sg.exp(sg.sin(x) * 1.5) + 2.0]
    assert "prange(" in sg.function([x], few, cache=False).source      # (a heavy node: parallel when large)
    values = np.linspace(-1, 1, 70_000)
    for function, outputs in [(f, many), (g, some)]:
        reference = sg.function([x], outputs, backend="python")
        for got, want in zip(function(values), reference(values)):
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
