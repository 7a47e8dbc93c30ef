"""Integer arithmetic gives NumPy's bits on every backend: wrap-around in the op's dtype, exact powers.

NumPy computes ``uint8 1 - 2`` as 255 and ``int32 65536 * 65536`` as 0; Numba computes integers in
64 bits, so generated code narrows every integer result to its dtype before anything reads it. The
property test below draws values over each integer dtype's whole range and checks every operation
class (arithmetic, comparisons and casts of intermediates, where, power, reductions, products) in
fused loops, in 0-d scalar code and in products against NumPy, on the python, numba and cuda
(simulator) backends. One function per dtype pair computes every class, so each backend compiles
once per pair and Hypothesis varies only the values.
"""
from __future__ import annotations

import numpy as np
import pytest
pytest.importorskip("hypothesis", reason="hypothesis comes with the test extra: pip install -e '.[test]'")
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import symgraph as sg

INTEGER_DTYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
# Same-dtype pairs, and mixed pairs that promote (int8+uint8 -> int16) or leave integers (int64+uint64 -> float64).
PAIRS = [(d, d) for d in INTEGER_DTYPES] + [("int8", "uint8"), ("uint16", "int32"), ("int64", "uint64"),
                                            ("uint64", "int8"), ("uint32", "int64")]
# 0-d code is the same statements without the loop: fewer pairs keep the compile time down.
SCALAR_PAIRS = [(d, d) for d in ("int8", "uint8", "int32", "uint32", "int64", "uint64")] + [("int64", "uint64")]
CUDA_PAIRS = [("int8", "int8"), ("uint8", "uint8"), ("int32", "int32"), ("int64", "uint64")]


class NumPyOps:
    """The operations the expressions use, as NumPy functions (the reference)."""
    maximum, minimum, where, abs, eq, ne = np.maximum, np.minimum, np.where, np.abs, np.equal, np.not_equal
    sum, prod, dot = staticmethod(np.sum), staticmethod(np.prod), staticmethod(np.dot)

    @staticmethod
    def cast(x, dtype):
        return np.asarray(x).astype(dtype)


class GraphOps:
    maximum, minimum, where, abs, cast, eq, ne = sg.maximum, sg.minimum, sg.where, sg.abs, sg.cast, sg.eq, sg.ne
    sum, prod, dot = staticmethod(sg.sum), staticmethod(sg.prod), staticmethod(sg.dot)


# name -> expression of (ops, a, b, e); e is a non-negative exponent of a's dtype.
EXPRESSIONS = {
    "add": lambda m, a, b, e: a + b,
    "sub": lambda m, a, b, e: a - b,
    "mul": lambda m, a, b, e: a * b,
    "neg": lambda m, a, b, e: -a,
    "abs": lambda m, a, b, e: m.abs(a),
    "maximum": lambda m, a, b, e: m.maximum(a, b - a),
    "minimum": lambda m, a, b, e: m.minimum(a * b, b),
    "chain": lambda m, a, b, e: (a - b) * b + a,
    "sub_times_float": lambda m, a, b, e: (a - b) * 1.0,
    "mul_cast_to_float": lambda m, a, b, e: m.cast(a * b, "float64"),
    "add_cast_to_int64": lambda m, a, b, e: m.cast(a + a, "int64"),
    "compare_intermediate": lambda m, a, b, e: a * b > a,
    "compare_sum_positive": lambda m, a, b, e: a + b > 0,
    "less": lambda m, a, b, e: a < b,
    "less_equal": lambda m, a, b, e: a <= b,
    "greater": lambda m, a, b, e: b > a,
    "greater_equal": lambda m, a, b, e: b >= a,
    "equal": lambda m, a, b, e: m.eq(a, b),
    "not_equal": lambda m, a, b, e: m.ne(a - b, b),
    "where": lambda m, a, b, e: m.where(a - b > b, a - b, b * a),
    "power": lambda m, a, b, e: a ** e,
    "power_of_intermediate": lambda m, a, b, e: (a + a) ** e - a,
    "sum": lambda m, a, b, e: m.sum(a),
    "sum_of_product": lambda m, a, b, e: m.sum(a * b),
    "prod": lambda m, a, b, e: m.prod(a + b),
}
VECTOR_ONLY = {"dot": lambda m, a, b, e: m.dot(a, b)}
REDUCTIONS = {"sum", "sum_of_product", "prod", "dot"}


def _exponents(dtype):
    top = 70 if np.dtype(dtype).itemsize > 1 else 40
    return hnp.arrays(dtype, 4, elements=st.integers(0, min(top, np.iinfo(dtype).max)))


def _reference(a, b, e, expressions):
    with np.errstate(all="ignore"):
        return [np.asarray(f(NumPyOps, a, b, e)) for f in expressions.values()]


def _assert_same(results, expected, names):
    for result, want, name in zip(results, expected, names):
        result = np.asarray(result)
        assert result.dtype == want.dtype, f"{name}: dtype {result.dtype}, NumPy gives {want.dtype}"
        if want.dtype.kind == "f" and name in REDUCTIONS:     # BLAS or a tree may add in another order
            np.testing.assert_allclose(result, want, rtol=1e-12, err_msg=name)
        else:
            np.testing.assert_array_equal(result, want, err_msg=f"{name} ({result!r} != NumPy's {want!r})")


_functions = {}


def _compiled(backend, pair, ndim):
    key = (backend, pair, ndim)
    if key not in _functions:
        da, db = pair
        make = sg.vector if ndim else sg.scalar
        if ndim:
            a, b, e = sg.vector("a", da, shape=(4,)), sg.vector("b", db, shape=(4,)), sg.vector("e", da, shape=(4,))
        else:
            a, b, e = make("a", da), make("b", db), make("e", da)
        expressions = dict(EXPRESSIONS, **(VECTOR_ONLY if ndim else {}))
        outputs = [f(GraphOps, a, b, e) for f in expressions.values()]
        _functions[key] = (sg.function([a, b, e], outputs, backend=backend), expressions)
    return _functions[key]


def _check(backend, pair, data, ndim):
    da, db = pair
    function, expressions = _compiled(backend, pair, ndim)
    shape = 4 if ndim else ()
    a = data.draw(hnp.arrays(da, shape, elements=hnp.from_dtype(np.dtype(da))), "a")
    b = data.draw(hnp.arrays(db, shape, elements=hnp.from_dtype(np.dtype(db))), "b")
    e = data.draw(_exponents(da), "e")
    if not ndim:
        e = e[0]
    _assert_same(function(a, b, e), _reference(a, b, e, expressions), list(expressions))


SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("backend", ["python", "numba"])
@pytest.mark.parametrize("pair", PAIRS, ids=["-".join(p) for p in PAIRS])
@SETTINGS
@given(data=st.data())
def test_integer_operations_on_arrays_give_numpys_bits(backend, pair, data):
    _check(backend, pair, data, ndim=1)


@pytest.mark.parametrize("backend", ["python", "numba"])
@pytest.mark.parametrize("pair", SCALAR_PAIRS, ids=["-".join(p) for p in SCALAR_PAIRS])
@SETTINGS
@given(data=st.data())
def test_integer_operations_on_scalars_give_numpys_bits(backend, pair, data):
    _check(backend, pair, data, ndim=0)


@pytest.mark.parametrize("pair", CUDA_PAIRS, ids=["-".join(p) for p in CUDA_PAIRS])
@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_integer_operations_on_cuda_give_numpys_bits(pair, data):
    pytest.importorskip("numba.cuda")
    _check("cuda", pair, data, ndim=1)


BACKENDS = ["python", "numba", "cuda"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_issues_examples_wrap_as_numpy_does(backend):
    a, b = sg.vector("a", "uint8"), sg.vector("b", "uint8")
    assert sg.function([a, b], (a - b) * 1.0, backend=backend)(np.array([1], np.uint8),
                                                               np.array([2], np.uint8)).tolist() == [255.0]
    c = sg.vector("c", "int8")
    assert sg.function([c], sg.cast(c + c, "float64"), backend=backend)(np.array([100], np.int8)).tolist() == [-56.0]
    s = sg.scalar("s", "int32")
    square = sg.function([s], [s * s, s * s > 0], backend=backend)(np.int32(65536))
    assert square[0] == 0 and square[0].dtype == np.int32 and not square[1]
    v = sg.vector("v", "int32")
    product = sg.function([v], sg.dot(v, v), backend=backend)(np.array([65536, 1], np.int32))
    assert product.dtype == np.int32 and product == 1


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", ["int8", "int32", "uint16", "bool"])
def test_integer_and_boolean_matrix_products_match_numpy(backend, dtype):
    rng = np.random.default_rng(3)
    if dtype == "bool":
        x, y = rng.random((3, 5)) < 0.3, rng.random((5, 2)) < 0.3
        w = rng.random((2, 3, 5)) < 0.5
    else:
        info = np.iinfo(dtype)
        x, y = (rng.integers(info.min, info.max, size=s, dtype=dtype, endpoint=True) for s in ((3, 5), (5, 2)))
        w = rng.integers(info.min, info.max, size=(2, 3, 5), dtype=dtype, endpoint=True)
    a, b, c = sg.matrix("a", dtype), sg.matrix("b", dtype), sg.tensor("c", dtype)
    results = sg.function([a, b, c], [a @ b, c @ b, sg.dot(a[0], b), sg.dot(a[0], a[1])], backend=backend)(x, y, w)
    with np.errstate(all="ignore"):
        expected = [x @ y, w @ y, np.dot(x[0], y), np.dot(x[0], x[1])]
    for result, want in zip(results, expected):
        assert np.asarray(result).dtype == want.dtype
        np.testing.assert_array_equal(result, want)


@pytest.mark.parametrize("backend", BACKENDS)
def test_integer_power_is_exact(backend):
    a, b = sg.vector("a", "int64"), sg.vector("b", "int64")
    result = sg.function([a, b], a ** b, backend=backend)(np.array([3, 7, -3, 0, 5]), np.array([39, 22, 39, 0, 27]))
    # 3**39 and 7**22 need 62 and 62 bits: exact, not rounded through float64; 5**27 wraps as in NumPy.
    assert result.tolist() == [4052555153018976267, 3909821048582988049, -4052555153018976267, 1,
                               int(np.int64(5) ** np.int64(27))]
    u = sg.vector("u", "uint8")
    assert sg.function([u], u ** 3, backend=backend)(np.array([7, 200], np.uint8)).tolist() == [87, 0]
    s = sg.scalar("s", "int32")
    assert sg.function([s], s ** 31, backend=backend)(np.int32(3)) == np.int32(3) ** np.int32(31)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("ndim", [0, 1])
def test_integer_to_a_negative_integer_power_raises_as_numpy(backend, ndim):
    make = sg.vector if ndim else sg.scalar
    a, b = make("a", "int64"), make("b", "int64")
    f = sg.function([a, b], a ** b + 1, backend=backend)
    value = np.array([2, 3]) if ndim else np.int64(2)
    with pytest.raises(ValueError, match="Integers to negative integer powers are not allowed"):
        f(value, -value // 2)
    assert np.asarray(f(value, value)).tolist() == (np.asarray(value) ** np.asarray(value) + 1).tolist()


def test_a_power_loop_that_checks_exponents_stays_serial_and_correct():
    """A signed integer power's loop raises per element, so it never becomes a prange loop."""
    a, b = sg.vector("a", "int32"), sg.vector("b", "int32")
    f = sg.function([a, b], (a ** b + a * b - b) * a + 1)
    assert "prange" not in f.source
    x = np.arange(-50_000, 50_000, dtype=np.int32)
    y = (np.arange(100_000) % 9).astype(np.int32)
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(f(x, y), (x ** y + x * y - y) * x + 1)


def test_the_cuda_integer_power_compiles_to_exact_wrapping_code():
    """The device function a real GPU compiles (``int_power`` in the kernel source), compiled here by Numba's
    CPU target with the same typing rules: the simulator alone runs it on NumPy scalars."""
    import numba

    from symgraph.codegen.cuda.elemwise import INT_POWER_SOURCE

    class DeviceJit:
        @staticmethod
        def jit(device=True):
            return numba.njit

    namespace = {"cuda": DeviceJit}
    exec(INT_POWER_SOURCE, namespace)
    power = namespace["int_power"]
    u = np.uint64
    for base, exponent, dtype in [(3, 39, "int64"), (7, 22, "int64"), (-3, 39, "int64"), (5, 27, "int64"),
                                  (7, 3, "uint8"), (-2, 7, "int8"), (3, 31, "int32"), (0, 0, "int16")]:
        with np.errstate(all="ignore"):
            want = np.asarray(np.array(base, dtype) ** np.array(exponent, dtype))
        got = power(u(np.array(base, dtype).astype(np.uint64)), u(exponent), u(1))
        assert np.array(got, np.uint64).astype(dtype) == want, (base, exponent, dtype)


def test_the_cuda_kernel_checks_negative_exponents_with_a_flag():
    """On a GPU a kernel cannot raise: a negative signed exponent sets the error flag the launch reads back."""
    from symgraph.codegen.cuda.elemwise import elementwise_source
    from symgraph.ops.elemwise import Pow

    source = elementwise_source("k", 2, [(Pow(), (0, 1), "int32")], (2,), [("int32", 1, False)] * 2, 1, ["int32"])
    assert "int_power(" in source and "error[0] = 1" in source and "** " not in source
    unsigned = elementwise_source("k", 2, [(Pow(), (0, 1), "uint8")], (2,), [("uint8", 1, False)] * 2, 1, ["uint8"])
    assert "int_power(" in unsigned and "error" not in unsigned


@pytest.mark.parametrize("name", ["lt", "le", "gt", "ge", "eq", "ne"])
def test_the_cuda_signed_to_uint64_comparison_is_exact_under_numba_typing(name):
    """The expression a GPU compiles for int64 <op> uint64, compiled by Numba's CPU target (same typing):
    exact above 2**53, where comparing through float64 would round."""
    import numba

    from symgraph.codegen.cuda.elemwise import exact_comparison

    reference = {"lt": np.less, "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal,
                 "eq": np.equal, "ne": np.not_equal}[name]
    pairs = [(2**53 + 1, 2**53), (2**53, 2**53 + 1), (-1, 2**64 - 1), (2**63 - 1, 2**63), (5, 5), (-(2**63), 0)]
    for left, right in (("int64", "uint64"), ("uint64", "int64")):
        namespace = {"T_int64": numba.int64, "T_uint64": numba.uint64}
        exec(f"def compare(a, b):\n    return {exact_comparison(name, 'a', 'b', left, right)}\n", namespace)
        compare = numba.njit(namespace["compare"])
        for s, u in pairs:
            a, b = (np.int64(s), np.uint64(u)) if left == "int64" else (np.uint64(u), np.int64(s))
            assert compare(a, b) == reference(np.array([a]), np.array([b]))[0], (name, a, b)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", ["int8", "int64", "uint32", "bool"])
def test_integer_reductions_on_every_path_wrap_as_numpy(backend, dtype):
    """Rows, a middle axis and strided views (each a different loop in the numba backend), sums and
    products that overflow int64 (signed overflow is wrap-around, never undefined behaviour)."""
    rng = np.random.default_rng(7)
    if dtype == "bool":
        data = rng.random((5, 6)) < 0.5
    else:
        info = np.iinfo(dtype)
        data = rng.integers(info.min, info.max, size=(5, 6), dtype=dtype, endpoint=True)
    x = sg.matrix("x", dtype)
    outputs = [sg.sum(x), sg.sum(x, axis=0), sg.sum(x, axis=1), sg.sum(x.T, axis=0), sg.sum(x.T, axis=1),
               sg.prod(x, axis=0), sg.prod(x, axis=1), sg.prod(x.T, axis=0), sg.prod(x.T, axis=1),
               sg.max(x.T, axis=0), sg.min(x, axis=0), sg.sum(x, axis=1) > 0]
    with np.errstate(all="ignore"):
        expected = [np.sum(data), data.sum(0), data.sum(1), data.T.sum(0), data.T.sum(1), data.prod(0), data.prod(1),
                    data.T.prod(0), data.T.prod(1), data.T.max(0), data.min(0), data.sum(1) > 0]
    results = sg.function([x], outputs, backend=backend)(data)
    for k, (result, want) in enumerate(zip(results, expected)):
        assert np.asarray(result).dtype == want.dtype, k
        np.testing.assert_array_equal(result, want, err_msg=str(k))


def test_the_cuda_int64_arithmetic_wraps_under_numba_typing():
    """The int64 expressions a GPU compiles (in uint64: Numba's signed overflow is undefined to LLVM, which
    may fold ``a + b > 0`` as if it could not wrap), compiled by Numba's CPU target."""
    import numba

    from symgraph.codegen.cuda.elemwise import CudaDialect, int64_wrapping
    from symgraph.ops.elemwise import Abs, Add, Mul

    namespace = {"T_int64": numba.int64, "T_uint64": numba.uint64}
    add = int64_wrapping(Add(), ["a", "b"], CudaDialect("int64", [], "t"))
    mul = int64_wrapping(Mul(), ["a", "b"], CudaDialect("int64", [], "t"))
    absolute = int64_wrapping(Abs(), ["b"], CudaDialect("int64", [], "t"))
    exec(f"def f(a, b):\n    s = T_int64({add})\n    p = T_int64({mul})\n    m = T_int64({absolute})\n"
         f"    return s > T_int64(0), p, m\n", namespace)
    f = numba.njit(namespace["f"])
    positive, product, magnitude = f(np.int64(-1), np.int64(-2**63))
    assert positive                                   # -1 + -2**63 wraps to 2**63 - 1, as in NumPy
    assert product == np.int64(-1) * np.int64(-2**63) == -2**63
    assert magnitude == -2**63                         # abs(-2**63) is -2**63 in NumPy


# ---------------------------------------------------------------- floats converted to integers

EDGE_FLOATS = [np.nan, np.inf, -np.inf, 1e30, -1e30, 2.5, -2.5, 3.5, 0.99, -0.99, -0.0, 128.0, 300.0, -129.0,
               65536.0 * 3 + 7, 2147483647.0, 2147483648.0, -2147483648.5, -2147483649.0, 4294967301.0,
               -4294967301.0, 9.3e18, -9.3e18, 9223372036854775807.0, 1.7e19, 1.8446744073709552e19]


def _x86_conversion(value, dtype):
    """What Cast.from_float defines, written independently with Python integers: truncation where the
    32- or 64-bit conversion holds the value, its most negative value elsewhere, the low bits kept."""
    import math
    target = np.dtype(dtype)

    def convert(v, bits):
        if v != v or not -2.0 ** (bits - 1) - 1 < v < 2.0 ** (bits - 1):
            return -(2 ** (bits - 1))
        return math.trunc(v)

    if target == np.uint64 and value >= 2.0 ** 63:
        result = (convert(value - 2.0 ** 63, 64) % 2 ** 64) ^ 2 ** 63
    else:
        result = convert(value, 64 if target.itemsize == 8 or target == np.uint32 else 32)
    result %= 2 ** (8 * target.itemsize)
    if target.kind == "i" and result >= 2 ** (8 * target.itemsize - 1):
        result -= 2 ** (8 * target.itemsize)
    return result


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("source", ["float64", "float32"])
def test_floats_convert_to_integers_with_the_same_bits_on_every_backend(backend, source):
    """Where NumPy's conversion is defined (the value fits) the result is NumPy's; elsewhere every backend
    gives x86-64's bits (a kernel's bare conversion is undefined: AVX-512 code saturated NaN, -2.5 or 1e30
    to uint64 as 2**64 - 1, where NumPy gives 2**63, 2**64 - 2 and 0)."""
    values = np.array(EDGE_FLOATS, source)
    x, s = sg.vector("x", source), sg.scalar("s", source)
    dtypes = INTEGER_DTYPES
    vector = sg.function([x], [sg.cast(x, dtype) for dtype in dtypes], backend=backend)
    scalar = sg.function([s], [sg.cast(s, dtype) for dtype in ("int8", "int64", "uint32", "uint64")],
                         backend=backend)
    long = np.resize(values, 1003)          # vectorised loops and their remainders
    for data in (values, long):
        for dtype, got in zip(dtypes, vector(data)):
            want = np.array([_x86_conversion(float(v), dtype) for v in data], dtype)
            assert got.dtype == want.dtype
            np.testing.assert_array_equal(got, want, err_msg=f"{source} -> {dtype}")
            info, truncated = np.iinfo(dtype), np.trunc(data.astype("float64"))
            # (info.max + 1 is a power of two: exact as a float, where info.max itself may round up)
            fits = np.isfinite(data) & (truncated >= info.min) & (truncated < float(info.max) + 1)
            np.testing.assert_array_equal(got[fits], data[fits].astype(dtype))    # NumPy's where defined
    for value in values:
        for dtype, got in zip(("int8", "int64", "uint32", "uint64"), scalar(value)):
            assert got == _x86_conversion(float(value), dtype) and got.dtype == dtype, (value, dtype)


def test_the_python_backends_conversion_ignores_numpys_layout():
    """NumPy's own loops disagree for NaN (its vectorised float32 -> uint32 loop gives 2**31, its scalar
    one 0): float_to_integer, the python backend's Cast, gives the same bits for every layout."""
    from symgraph.ops.elemwise import float_to_integer
    data = np.array([np.nan, np.inf, -2.5, 3.9, 4294967301.0, -1e30, 0.5, -0.0] * 4, "float32")
    for layout in (data, data[::2], data[::-1], data.reshape(4, 8).T):
        want = np.array([_x86_conversion(float(v), "uint32") for v in layout.ravel()], "uint32")
        np.testing.assert_array_equal(float_to_integer(layout, "uint32"), want.reshape(layout.shape))
    with pytest.raises(TypeError, match="float array and an integer dtype"):
        float_to_integer(np.arange(3), "int8")
