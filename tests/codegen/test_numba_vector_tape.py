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
from symgraph.codegen.numba import tape

BINARY = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "true_div": np.divide,
          "pow": np.power, "maximum": np.maximum, "minimum": np.minimum,
          "lt": np.less, "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal,
          "eq": np.equal, "ne": np.not_equal,
          "and": lambda x, y: (x != 0) & (y != 0), "or": lambda x, y: (x != 0) | (y != 0)}
UNARY = {"not": lambda x: x == 0, "neg": np.negative, "abs": np.abs, "sign": np.sign, "exp": np.exp,
         "log": np.log, "log1p": np.log1p, "expm1": np.expm1, "sin": np.sin, "cos": np.cos, "tan": np.tan,
         "tanh": np.tanh, "sqrt": np.sqrt, "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
         "softplus": lambda x: np.logaddexp(0, x), "relu": lambda x: np.maximum(x, 0),
         "identity": lambda x: x, "cast": lambda x: x, "to_bool": lambda x: x != 0}


def run_one(name, operands):
    """Run a one-instruction tape: registers 0..k-1 hold the operands, the result goes to register k."""
    k = len(operands)
    args = list(range(k)) + [0] * (3 - k)
    table = np.array([[tape.OPCODES[name], *args, k]], dtype=np.int64)
    columns = [np.ascontiguousarray(table[:, i]) for i in range(5)]
    stacked = np.stack(operands)
    initial = np.zeros(k + 1, dtype=stacked.dtype)
    return tape.run_vector_tape(stacked, initial, *columns, np.array([k], dtype=np.int64))[0]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_opcodes_match_numpy(name, dtype):
    rng = np.random.default_rng(0)
    size = 3 * tape.VECTOR_BLOCK + 17
    x = rng.uniform(0.1, 2.0, size).astype(dtype)
    y = rng.uniform(0.1, 2.0, size).astype(dtype)
    y[::5] = x[::5]          # exercises eq/ne and ties of the comparisons
    x[::7] = 0.0             # exercises and/or on zeros
    expected = BINARY[name](x, y).astype(dtype)
    np.testing.assert_allclose(run_one(name, [x, y]), expected, rtol=2e-6 if dtype == "float32" else 1e-14)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_opcodes_match_numpy(name, dtype):
    rng = np.random.default_rng(1)
    size = 2 * tape.VECTOR_BLOCK + 3
    x = rng.uniform(-2.0, 2.0, size).astype(dtype)
    x[::9] = 0.0
    if name in ("log", "sqrt", "log1p"):
        x = np.abs(x) + 0.1
    expected = np.asarray(UNARY[name](x)).astype(dtype)
    np.testing.assert_allclose(run_one(name, [x]), expected, rtol=2e-6 if dtype == "float32" else 1e-13,
                               atol=1e-7 if dtype == "float32" else 1e-15)


def test_where_selects_by_the_condition_register():
    rng = np.random.default_rng(2)
    size = tape.VECTOR_BLOCK + 1
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
    """Opcodes are named constants; each interpreter compares with every one of them exactly once, so an
    opcode added to the table without its branch is caught here (it once fell through to ``to_bool``)."""
    import ast
    import inspect

    names = {f"OP_{name.upper()}" for name in tape.OPCODES}
    assert sorted(tape.OPCODES.values()) == list(range(len(tape.OPCODES)))
    assert all(getattr(tape, f"OP_{name.upper()}") == code for name, code in tape.OPCODES.items())
    for interpreter in (tape.run_tape, tape._run_block):
        tree = ast.parse(inspect.getsource(interpreter.py_func))
        compared = [node.comparators[0].id for node in ast.walk(tree)
                    if isinstance(node, ast.Compare) and isinstance(node.left, ast.Name) and node.left.id == "op"]
        assert sorted(compared) == sorted(names), interpreter.py_func.__name__


def test_unknown_opcode_is_an_error_not_another_op():
    registers = np.array([1.5, 2.0, 0.0])
    bad = np.array([len(tape.OPCODES)], dtype=np.int64)
    index = np.array([0], dtype=np.int64)
    with pytest.raises(ValueError, match="opcode without a branch"):
        tape.run_tape(registers, bad, index, index + 1, index, index + 2)
