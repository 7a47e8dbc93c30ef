"""Every catalogue row, valued with the python backend and compared with its NumPy reference.

Checks the value, the dtype (NumPy 2 promotion: float32 stays float32) and that the static shape
inferred when the graph is built agrees with the shape computed at call time, both with unknown
lengths and with every input length static.
"""
import numpy as np
import pytest

import symgraph as sg

try:
    from tests.ops.catalogue import CATALOGUE, FAMILIES, ids, sample_inputs, symbolic_inputs, tolerance
except ImportError:  # pytest run without the repository root on sys.path
    from catalogue import CATALOGUE, FAMILIES, ids, sample_inputs, symbolic_inputs, tolerance

CASES = [(row, dtype) for row in CATALOGUE for dtype in row.dtypes]


def _evaluate(row, dtype, static, seed=0):
    rng = np.random.default_rng(seed)
    arrays = sample_inputs(row, rng, dtype)
    variables = symbolic_inputs(row, dtype, static=static)
    output = row.build(*variables)
    f = sg.function(variables, output, backend="python", optimizer=None)
    return output, f(*arrays), np.asarray(row.ref(*arrays))


@pytest.mark.parametrize("static", [False, True], ids=["dynamic_shapes", "static_shapes"])
@pytest.mark.parametrize("row,dtype", CASES, ids=[f"{r.id}-{d}" for r, d in CASES])
def test_value_matches_numpy(row, dtype, static):
    output, result, expected = _evaluate(row, dtype, static)
    assert isinstance(result, np.ndarray)
    assert result.dtype == expected.dtype, f"{row.id}: dtype {result.dtype}, NumPy gives {expected.dtype}"
    assert output.dtype == expected.dtype
    assert result.shape == expected.shape
    assert output.type.accepts_shape(result.shape), f"{row.id}: static type {output.type} vs {result.shape}"
    if expected.dtype.kind in "fc":
        np.testing.assert_allclose(result, expected, **tolerance(row, dtype))
    else:
        np.testing.assert_array_equal(result, expected)


@pytest.mark.parametrize("row", [r for r in CATALOGUE if "float32" in r.dtypes], ids=ids)
def test_float32_stays_float32(row):
    output = row.build(*symbolic_inputs(row, "float32"))
    if row.id in ("cast_to_float64", "matmul_constant", "concatenate_with_constant", "array_constant_operand"):
        assert output.dtype == "float64"  # a float64 array operand promotes, as in NumPy
        return
    others = sorted({s.dtype for s in row.inputs if s.dtype not in (None, "bool")})
    if others:
        pytest.skip(f"{row.id} has {'/'.join(others)} inputs, which may promote as in NumPy "
                    "(its dtype is checked against NumPy by test_value_matches_numpy)")
    if not output.type.is_float:
        pytest.skip(f"{row.id} gives {output.dtype}, not a float result")
    assert output.dtype == "float32", f"{row.id} upcasts float32 to {output.dtype}"


def test_catalogue_covers_every_family():
    expected = {"elemwise", "compare", "broadcast", "reduce", "shape", "join", "index", "advanced_index",
                "linalg", "nnet", "arange"}
    assert expected <= set(FAMILIES)
    assert len({r.id for r in CATALOGUE}) == len(CATALOGUE)


def test_catalogue_rows_are_well_formed():
    rng = np.random.default_rng(1)
    for row in CATALOGUE:
        for i in row.grad_wrt:
            assert row.inputs[i].dtype in (None, "float64"), f"{row.id}: grad input {i} is not float"
        arrays = sample_inputs(row, rng, "float32")
        for spec, array in zip(row.inputs, arrays):
            assert array.shape == spec.shape
            assert array.dtype == (spec.dtype or "float32")


def test_advanced_increment_accumulates_repeats():
    x, y = sg.vector("x"), sg.vector("y")
    out = sg.inc_subtensor(x[[0, 2, 0, 0]], y)
    f = sg.function([x, y], out, backend="python", optimizer=None)
    np.testing.assert_allclose(f([1.0, 1.0, 1.0], [1.0, 2.0, 3.0, 4.0]), [9.0, 1.0, 3.0])


def test_symbolic_index_op_identity():
    x, i = sg.matrix("x"), sg.scalar("i", dtype="int64")
    a, b = x[:, i], x[:, i]
    assert a.owner.op == b.owner.op and hash(a.owner.op) == hash(b.owner.op)
    assert x[1:3].owner.op != x[1:4].owner.op
    assert x[0].owner.op == x[sg.constant(0)].owner.op  # a constant index folds into the pattern
    assert x[i].owner.inputs[1] is i


def test_variable_methods_exist():
    x = sg.matrix("x")
    for name in ("T", "shape", "sum", "mean", "max", "min", "prod", "reshape", "transpose", "astype", "dot"):
        assert hasattr(x, name)
    for name in ("exp", "log", "sin", "cos", "tan", "tanh", "sqrt", "abs", "sign", "log1p", "expm1", "sigmoid",
                 "softplus", "relu", "maximum", "minimum", "where", "pow", "dot", "outer", "sum", "mean", "max",
                 "min", "prod", "transpose", "reshape", "concatenate", "stack", "softmax", "log_softmax",
                 "logsumexp", "cast", "zeros_like", "ones_like", "one_hot", "stop_gradient", "matmul", "arange"):
        assert callable(getattr(sg, name)), name
