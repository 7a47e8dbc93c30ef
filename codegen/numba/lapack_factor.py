"""Runtime library of the matrix factor ops (symgraph/ops/factor.py): cached ``@njit`` helpers the generated
kernels call through linked.py (see runtime.py's docstring for the conventions).

Each helper handles one matrix of a stack (the kernel loops over the batch) and returns a status instead of
raising, which the kernel turns into a ``numpy.linalg.LinAlgError`` naming the op and the user's line:
``OK`` 0, ``NOT_FINITE`` 1 (inf or NaN in the part of the matrix read), ``SINGULAR`` 2 (an exactly zero
pivot of the LU factorisation), ``NOT_POSITIVE_DEFINITE`` 3 (Cholesky), ``ZERO_DIAGONAL`` 4 (a triangular
solve). Operands of any layout and real dtype are copied into C-contiguous matrices of the output dtype
(O(n²), against the O(n³) factorisations), except a triangular factor already in that form.

LAPACK and BLAS: three routines, called through external symbols resolved by name when machine code is
loaded (so the helpers stay in Numba's disk cache, as blas.py's gemm): ``symgraph_xtrsm`` (triangular
solve), ``symgraph_xpotrf`` (Cholesky) and ``symgraph_xgetrf`` (LU with partial pivoting), adapters with
64-bit lengths bound when this module is imported onto the Fortran-convention ``?trsm``, ``?potrf`` and
``?getrf`` of NumPy's own BLAS/LAPACK when it exports them (NumPy's wheels bundle OpenBLAS with LAPACK), else
onto SciPy's (``scipy.linalg.cython_blas``/``cython_lapack``). Inverse, solve and determinants are built on
getrf and trsm, Cholesky solves on potrf and trsm; Numba's ``np.linalg`` is not used: its overloads cost
seconds of compile per signature, and they call SciPy's OpenBLAS, whose worker threads would contend with
those of NumPy's OpenBLAS, which the kernels' matrix products use (on a machine with few cores, a call
into one library right after the other waited milliseconds for the other's spinning threads).
``bind_lapack(use_numpy=False)`` rebinds the symbols, for tests. The intrinsics live here rather than in
blas.py so that Numba's cache stamp of this file covers the code its helpers inline.
"""
from __future__ import annotations

import numba as nb
import numpy as np
from llvmlite import ir
from numba.core import cgutils, types
from numba.core.extending import intrinsic, overload
from numba.np.arrayobj import make_array

from .link import compile_adapters

_jit = nb.njit(cache=True, error_model="numpy")

OK, NOT_FINITE, SINGULAR, NOT_POSITIVE_DEFINITE, ZERO_DIAGONAL = 0, 1, 2, 3, 4
#: solve's ``assume_a``, as the integer the kernels pass
SOLVE_KINDS = {"gen": 0, "sym": 1, "pos": 2}

_KINDS = {types.float32: "s", types.float64: "d"}
_CHAR = ir.IntType(8)
_VOID_P = ir.IntType(8).as_pointer()
_I64 = ir.IntType(64)
# The adapters (column-major; Fortran's character flags; 64-bit lengths; the kind 's' or 'd' picks the routine):
#   symgraph_xtrsm(kind, side, uplo, transa, diag, m, n, alpha*, a*, lda, b*, ldb) -> 0
#   symgraph_xpotrf(kind, uplo, n, a*, lda) -> info
#   symgraph_xgetrf(kind, m, n, a*, lda, ipiv*) -> info     (ipiv: min(m, n) int64, 1-based as LAPACK's)
# A 32-bit LAPACK given a length of 2**31 or more returns info -1 (nothing computed).
_SIGNATURES = {
    "trsm": [_CHAR, _CHAR, _CHAR, _CHAR, _CHAR, _I64, _I64, _VOID_P, _VOID_P, _I64, _VOID_P, _I64],
    "potrf": [_CHAR, _CHAR, _I64, _VOID_P, _I64],
    "getrf": [_CHAR, _I64, _I64, _VOID_P, _I64, _VOID_P],
}
SYMBOLS = {routine: f"symgraph_x{routine}" for routine in _SIGNATURES}
# How NumPy's BLAS/LAPACK may name them (Fortran convention), with their integer width: NumPy's wheels
# (scipy-openblas64), ILP64 builds with the reference suffix, LP64 builds.
_NUMPY_NAMES = (("scipy_", "_64_", 64), ("", "_64_", 64), ("scipy_", "_", 32), ("", "_", 32))
_bound = {}                     # what the symbols are bound to


# ------------------------------------------------------------------ binding trsm, potrf, getrf

def numpy_lapack():
    """({routine: (single address, double address)}, integer bits, name pattern) of the Fortran-convention
    trsm, potrf and getrf NumPy's own BLAS/LAPACK exports, or None when it does not export them all."""
    import ctypes
    try:
        from numpy._core import _multiarray_umath
        library = ctypes.CDLL(_multiarray_umath.__file__)   # dlsym on it searches NumPy's own dependencies
    except (ImportError, OSError):
        return None
    for prefix, suffix, bits in _NUMPY_NAMES:
        try:
            found = {routine: tuple(getattr(library, f"{prefix}{kind}{routine}{suffix}") for kind in "sd")
                     for routine in _SIGNATURES}
        except AttributeError:
            continue
        addresses = {routine: tuple(ctypes.cast(f, ctypes.c_void_p).value for f in pair)
                     for routine, pair in found.items()}
        return addresses, bits, f"{prefix}?routine{suffix}"
    return None


def scipy_lapack():
    """({routine: (single address, double address)}, 32, name) of SciPy's cython_blas/cython_lapack."""
    from numba.extending import get_cython_function_address
    modules = {"trsm": "scipy.linalg.cython_blas", "potrf": "scipy.linalg.cython_lapack",
               "getrf": "scipy.linalg.cython_lapack"}
    addresses = {routine: tuple(get_cython_function_address(module, f"{kind}{routine}") for kind in "sd")
                 for routine, module in modules.items()}
    return addresses, 32, "scipy.linalg.cython_blas/cython_lapack ?routine"


def _adapters(addresses, bits):
    """Machine code for the three adapters, calling the Fortran-convention routines at ``addresses`` (every
    argument by pointer, ``bits``-wide integers): {routine: address}."""
    width = ir.IntType(bits)
    module = ir.Module(name="symgraph_lapack_adapters")
    for routine, arguments in _SIGNATURES.items():
        function = ir.Function(module, ir.FunctionType(_I64, arguments), name=f"symgraph_{routine}_adapter")
        builder = ir.IRBuilder(function.append_basic_block("entry"))
        args = list(function.args)
        kind, rest = args[0], args[1:]
        lengths = [value for value, t in zip(rest, arguments[1:]) if t == _I64]
        if bits == 32:
            too_long = builder.icmp_signed(">", lengths[0], ir.Constant(_I64, 2**31 - 1))
            for value in lengths[1:]:
                too_long = builder.or_(too_long, builder.icmp_signed(">", value, ir.Constant(_I64, 2**31 - 1)))
            with builder.if_then(too_long, likely=False):
                builder.ret(ir.Constant(_I64, -1))
        info = cgutils.alloca_once_value(builder, ir.Constant(width, 0))
        pointers = []
        for value, t in zip(rest, arguments[1:]):
            if t == _VOID_P:
                pointers.append(value)                       # alpha, arrays: already pointers
            else:                                            # a flag or a length: by reference
                stored = value if t == _CHAR or bits == 64 else builder.trunc(value, width)
                pointers.append(builder.bitcast(cgutils.alloca_once_value(builder, stored), _VOID_P))
        if routine != "trsm":
            pointers.append(builder.bitcast(info, _VOID_P))
        signature = ir.FunctionType(ir.VoidType(), [_VOID_P] * len(pointers))
        is_single = builder.icmp_unsigned("==", kind, ir.Constant(_CHAR, ord("s")))
        single, double = addresses[routine]
        target = builder.select(is_single, ir.Constant(_I64, single), ir.Constant(_I64, double))
        builder.call(builder.inttoptr(target, signature.as_pointer()), pointers)
        if routine == "getrf" and bits == 32:   # widen the pivots in place, last first (slot i of 64 bits
            m, n, ipiv = rest[0], rest[1], rest[4]   # covers 32-bit slots 2i and 2i+1, already read)
            count = builder.select(builder.icmp_signed("<", m, n), m, n)
            narrow = builder.bitcast(ipiv, ir.IntType(32).as_pointer())
            wide = builder.bitcast(ipiv, _I64.as_pointer())
            with cgutils.for_range(builder, count) as loop:
                i = builder.sub(builder.sub(count, ir.Constant(_I64, 1)), loop.index)
                value = builder.load(builder.gep(narrow, [i]))
                builder.store(builder.sext(value, _I64), builder.gep(wide, [i]))
        result = builder.load(info)
        builder.ret(result if bits == 64 else builder.sext(result, _I64))
    compiled = compile_adapters(module, [f"symgraph_{routine}_adapter" for routine in _SIGNATURES])
    return {routine: compiled[f"symgraph_{routine}_adapter"] for routine in _SIGNATURES}


def bind_lapack(use_numpy=True):
    """Bind the three symbols to NumPy's BLAS/LAPACK (``use_numpy`` and found) or to SciPy's; returns the
    name of what they are bound to. Helpers resolve the symbols when their code is loaded."""
    import llvmlite.binding as llvm
    found = numpy_lapack() if use_numpy else None
    origin = "NumPy's" if found is not None else "SciPy's"
    addresses, bits, name = found if found is not None else scipy_lapack()
    adapters = _adapters(addresses, bits)
    for routine, address in adapters.items():
        llvm.add_symbol(SYMBOLS[routine], address)
    _bound.update(name=f"{origin} {name} ({bits}-bit integers)")
    return _bound["name"]


def lapack_binding():
    """What the helpers' trsm, potrf and getrf call (bound on first import)."""
    return _bound["name"]


bind_lapack()


def _declare(builder, routine):
    return cgutils.get_or_insert_function(builder.module, ir.FunctionType(_I64, _SIGNATURES[routine]),
                                          SYMBOLS[routine])


def _is_float_matrix(a, layout="C"):
    return isinstance(a, types.Array) and a.ndim == 2 and a.layout == layout and a.dtype in _KINDS


@intrinsic
def _trsm(typingctx, a, b, lower, trans, unit):
    """``b <- op(a)⁻¹ b`` in place: ``a`` (n, n) triangular (``lower`` or upper; only that triangle read, and
    not its diagonal when ``unit``), ``op(a)`` ``a`` or ``aᵀ`` (``trans``), ``b`` (n, k); both C-contiguous,
    the same float dtype. Returns 0, or 8 when the shapes do not fit (nothing computed)."""
    if not (_is_float_matrix(a) and _is_float_matrix(b) and b.dtype == a.dtype and b.mutable):
        return None
    dtype = a.dtype
    sig = types.int64(a, b, lower, trans, unit)

    def codegen(context, builder, signature, args):
        a_array, b_array = (make_array(t)(context, builder, v) for t, v in zip((a, b), args[:2]))
        rows, cols = cgutils.unpack_tuple(builder, a_array.shape, 2)
        b_rows, k = cgutils.unpack_tuple(builder, b_array.shape, 2)
        zero = ir.Constant(_I64, 0)
        fits = builder.and_(builder.icmp_signed("==", rows, cols), builder.icmp_signed("==", b_rows, rows))
        slot = cgutils.alloca_once_value(builder, builder.select(fits, zero, ir.Constant(_I64, 8)))
        work = builder.and_(builder.icmp_signed(">", rows, zero), builder.icmp_signed(">", k, zero))
        with builder.if_then(builder.and_(fits, work), likely=True):
            flags = [context.cast(builder, v, t, types.boolean) for v, t in zip(args[2:], signature.args[2:])]

            def char(flag, yes, no):
                return builder.select(flag, ir.Constant(_CHAR, ord(yes)), ir.Constant(_CHAR, ord(no)))

            alpha = cgutils.alloca_once_value(builder, context.get_constant(dtype, 1))
            # Row-major a and b are the column-major aᵀ (lda n) and bᵀ (k x n, ldb k): op(a) x = b is
            # xᵀ op(a)ᵀ = bᵀ, a right-side solve with aᵀ, whose triangle is the other one, same transpose.
            builder.call(_declare(builder, "trsm"), (
                ir.Constant(_CHAR, ord(_KINDS[dtype])), ir.Constant(_CHAR, ord("R")), char(flags[0], "U", "L"),
                char(flags[1], "T", "N"), char(flags[2], "U", "N"), k, rows, builder.bitcast(alpha, _VOID_P),
                builder.bitcast(a_array.data, _VOID_P), rows, builder.bitcast(b_array.data, _VOID_P), k))
        return builder.load(slot)

    return sig, codegen


@intrinsic
def _potrf(typingctx, w):
    """LAPACK's potrf on the C-contiguous square ``w``: its lower triangle (read) becomes the lower Cholesky
    factor (the column-major upper factor of ``wᵀ``); the upper triangle is left as it was. Returns info: 0,
    or k > 0 when the leading minor of order k is not positive definite."""
    if not (_is_float_matrix(w) and w.mutable):
        return None

    def codegen(context, builder, signature, args):
        array = make_array(w)(context, builder, args[0])
        n, _ = cgutils.unpack_tuple(builder, array.shape, 2)
        slot = cgutils.alloca_once_value(builder, ir.Constant(_I64, 0))
        with builder.if_then(builder.icmp_signed(">", n, ir.Constant(_I64, 0)), likely=True):
            builder.store(builder.call(_declare(builder, "potrf"), (
                ir.Constant(_CHAR, ord(_KINDS[w.dtype])), ir.Constant(_CHAR, ord("U")), n,
                builder.bitcast(array.data, _VOID_P), n)), slot)
        return builder.load(slot)

    return types.int64(w), codegen


@intrinsic
def _getrf(typingctx, w, ipiv):
    """LAPACK's getrf on the C-contiguous square ``w`` seen column-major (``wᵀ = P L U``): ``w``'s lower
    triangle becomes ``Uᵀ``, its strict upper triangle ``Lᵀ`` (unit diagonal), ``ipiv`` (int64, n) the
    1-based row interchanges. Returns info: 0, or k > 0 when ``U[k-1, k-1]`` is exactly zero."""
    if not (_is_float_matrix(w) and w.mutable and isinstance(ipiv, types.Array) and ipiv.ndim == 1
            and ipiv.dtype == types.int64 and ipiv.layout == "C" and ipiv.mutable):
        return None

    def codegen(context, builder, signature, args):
        array, pivots = make_array(w)(context, builder, args[0]), make_array(ipiv)(context, builder, args[1])
        n, _ = cgutils.unpack_tuple(builder, array.shape, 2)
        (length,) = cgutils.unpack_tuple(builder, pivots.shape, 1)
        slot = cgutils.alloca_once_value(builder, ir.Constant(_I64, -2))    # -2: ipiv too short
        with builder.if_then(builder.icmp_signed(">=", length, n), likely=True):
            builder.store(ir.Constant(_I64, 0), slot)
            with builder.if_then(builder.icmp_signed(">", n, ir.Constant(_I64, 0)), likely=True):
                builder.store(builder.call(_declare(builder, "getrf"), (
                    ir.Constant(_CHAR, ord(_KINDS[w.dtype])), n, n, builder.bitcast(array.data, _VOID_P), n,
                    builder.bitcast(pivots.data, _VOID_P))), slot)
        return builder.load(slot)

    return types.int64(w, ipiv), codegen


# ------------------------------------------------------------------ copies and checks

@_jit
def _matrix(a, like, transposed):
    """A C-contiguous copy of the matrix ``a`` (or of its transpose) in the dtype of the array ``like``."""
    m, n = a.shape
    if transposed:
        w = np.empty((n, m), like.dtype)
        for i in range(m):
            for j in range(n):
                w[j, i] = a[i, j]
    else:
        w = np.empty((m, n), like.dtype)
        for i in range(m):
            for j in range(n):
                w[i, j] = a[i, j]
    return w


@_jit
def _symmetric(a, like, lower):
    """The symmetric matrix built from the lower (or upper) triangle of ``a``, C-contiguous, ``like``'s dtype."""
    n = a.shape[0]
    w = np.empty((n, n), like.dtype)
    for i in range(n):
        for j in range(i + 1):
            value = a[i, j] if lower else a[j, i]
            w[i, j] = value
            w[j, i] = value
    return w


@_jit
def _finite(w, part):
    """No inf or NaN in the matrix ``w`` (part 0), its lower triangle (1), upper triangle (2), strictly lower
    triangle (3) or strictly upper triangle (4)."""
    m, n = w.shape
    for i in range(m):
        start, stop = 0, n
        if part == 1:
            stop = min(i + 1, n)
        elif part == 2:
            start = i
        elif part == 3:
            stop = min(i, n)
        elif part == 4:
            start = i + 1
        for j in range(start, stop):
            x = w[i, j]
            if not (x - x == 0):
                return False
    return True


def _columns(b, like):  # pragma: no cover - typed by the overload below
    raise NotImplementedError("only callable from jitted code")


@overload(_columns)
def _columns_overload(b, like):
    """A C-contiguous (n, k) copy of ``b`` in ``like``'s dtype: a vector is one column."""
    if b.ndim == 1:
        def vector(b, like):
            w = np.empty((b.shape[0], 1), like.dtype)
            for i in range(b.shape[0]):
                w[i, 0] = b[i]
            return w
        return vector

    def matrix(b, like):
        return _matrix(b, like, False)
    return matrix


def _store(out, w):  # pragma: no cover - typed by the overload below
    raise NotImplementedError("only callable from jitted code")


@overload(_store)
def _store_overload(out, w):
    """``out[...] = w`` for ``out`` a vector (``w`` one column) or a matrix."""
    if out.ndim == 1:
        def vector(out, w):
            for i in range(out.shape[0]):
                out[i] = w[i, 0]
        return vector

    def matrix(out, w):
        for i in range(out.shape[0]):
            for j in range(out.shape[1]):
                out[i, j] = w[i, j]
    return matrix


def _right_side(out, b):  # pragma: no cover - typed by the overload below
    raise NotImplementedError("only callable from jitted code")


@overload(_right_side)
def _right_side_overload(out, b):
    """The (n, k) C-contiguous matrix a triangular solve works on in place, holding ``b``: ``out`` itself
    (b copied into it; a vector seen as one column) when ``out`` is C-contiguous, else a copy of ``b``
    (``_finish`` then stores it into ``out``)."""
    if out.layout != "C":
        def copied(out, b):
            return _columns(b, out)
        return copied

    def in_place(out, b):
        _fill(out, b)
        return out.reshape((out.shape[0], 1)) if out.ndim == 1 else out
    return in_place


def _fill(out, b):  # pragma: no cover - typed by the overload below
    raise NotImplementedError("only callable from jitted code")


@overload(_fill)
def _fill_overload(out, b):
    """``out[...] = b`` (same shape, any layouts and real dtypes)."""
    if out.ndim == 1:
        def vector(out, b):
            for i in range(out.shape[0]):
                out[i] = b[i]
        return vector

    def matrix(out, b):
        for i in range(out.shape[0]):
            for j in range(out.shape[1]):
                out[i, j] = b[i, j]
    return matrix


def _finish(out, x):  # pragma: no cover - typed by the overload below
    raise NotImplementedError("only callable from jitted code")


@overload(_finish)
def _finish_overload(out, x):
    """Store the solution ``x`` that ``_right_side`` gave into ``out`` (nothing to do when it was ``out``)."""
    if out.layout == "C":
        return lambda out, x: None
    return lambda out, x: _store(out, x)


def _factor_matrix(a, like):  # pragma: no cover - typed by the overload below
    raise NotImplementedError("only callable from jitted code")


@overload(_factor_matrix)
def _factor_matrix_overload(a, like):
    """``a`` as a C-contiguous matrix of ``like``'s dtype: ``a`` itself when its strides already are
    (checked at run time; trsm only reads it), else a copy."""
    if a.dtype == like.dtype:
        return lambda a, like: np.ascontiguousarray(a)
    return lambda a, like: _matrix(a, like, False)


# ------------------------------------------------------------------ the factorisations, on C-contiguous matrices

@_jit
def _triangular_in_place(a, w, lower, trans, unit):
    """``w <- op(a)⁻¹ w`` for C-contiguous ``a`` and ``w`` of one dtype; ZERO_DIAGONAL (nothing computed)
    when the diagonal read holds a zero."""
    if not unit:
        for i in range(a.shape[0]):
            if a[i, i] == 0:
                return ZERO_DIAGONAL
    if _trsm(a, w, lower, trans, unit) != 0:
        raise RuntimeError("symgraph: BLAS trsm refused its operands (internal error)")
    return OK


@_jit
def _lu_in_place(w, ipiv):
    """getrf of ``w`` (see ``_getrf``); SINGULAR when a pivot is exactly zero (the factors are complete)."""
    info = _getrf(w, ipiv)
    if info < 0:
        raise RuntimeError("symgraph: LAPACK getrf refused its operands (internal error)")
    return SINGULAR if info > 0 else OK


@_jit
def _lu_solve_in_place(w, x):
    """``x <- w⁻¹ x`` by LU with partial pivoting (``w`` overwritten by its factors), as LAPACK's getrs:
    ``w = (P L U)ᵀ = Uᵀ Lᵀ Pᵀ`` in the column-major view, so two triangular solves with the triangles of
    the factored ``w``, then the row interchanges, last first. SINGULAR when a pivot is exactly zero."""
    n = w.shape[0]
    ipiv = np.empty(n, np.int64)
    status = _lu_in_place(w, ipiv)
    if status != OK:
        return status
    _triangular_in_place(w, x, True, False, False)     # Uᵀ
    _triangular_in_place(w, x, False, False, True)     # Lᵀ, unit diagonal
    for i in range(n - 1, -1, -1):
        p = ipiv[i] - 1
        if p != i:
            for j in range(x.shape[1]):
                x[i, j], x[p, j] = x[p, j], x[i, j]
    return OK


@_jit
def _cholesky_in_place(w):
    """``w <-`` the lower Cholesky factor of ``w`` (its lower triangle read; zeros above the diagonal);
    NOT_POSITIVE_DEFINITE when it has none."""
    info = _potrf(w)
    if info < 0:
        raise RuntimeError("symgraph: LAPACK potrf refused its operands (internal error)")
    if info > 0:
        return NOT_POSITIVE_DEFINITE
    for i in range(w.shape[0]):
        for j in range(i + 1, w.shape[1]):
            w[i, j] = 0
    return OK


@_jit
def _determinant(w, result):
    """From the LU factors of ``w`` (overwritten): ``result[0]`` the determinant, ``result[1]`` its sign and
    ``result[2]`` the log of its absolute value (0 and -inf for an exactly zero pivot), in ``result``'s dtype."""
    n = w.shape[0]
    ipiv = np.empty(n, np.int64)
    _lu_in_place(w, ipiv)
    result[0] = 1
    result[1] = 1
    result[2] = 0
    for i in range(n):
        d = w[i, i]
        result[0] *= d
        if ipiv[i] - 1 != i:
            result[0] = -result[0]
            result[1] = -result[1]
        if d < 0:
            result[1] = -result[1]
        elif d == 0:
            result[1] = 0
        result[2] += np.log(np.abs(d))
    if result[1] == 0:
        result[0] = 0       # +0.0, as NumPy (its det is sign * exp(logabsdet))


# ------------------------------------------------------------------ the helpers kernels call

@_jit
def factor_inv(a, out):
    """``out[:, :] = np.linalg.inv(a)`` of one square matrix (any layout and real dtype); a status."""
    w = _matrix(a, out, False)
    if not _finite(w, 0):
        return NOT_FINITE
    n = w.shape[0]
    if n == 0:
        return OK
    x = np.zeros((n, n), w.dtype)
    for i in range(n):
        x[i, i] = 1
    status = _lu_solve_in_place(w, x)
    if status == OK:
        _fill(out, x)
    return status


@_jit
def factor_solve(a, b, out, kind, lower):
    """``out = x`` with ``a x = b`` for one square matrix and a vector or matrix ``b`` (``out`` b's shape):
    kind 0 LU of ``a``; 1 LU and 2 Cholesky of the symmetric matrix built from one triangle (``lower``).
    A status."""
    if kind == 0:
        w = _matrix(a, out, False)
    else:
        w = _symmetric(a, out, lower)
    if not _finite(w, 0):
        return NOT_FINITE
    if w.shape[0] == 0:
        return OK
    x = _right_side(out, b)
    if kind == 2:
        status = _cholesky_in_place(w)
        if status == OK:
            _triangular_in_place(w, x, True, False, False)
            _triangular_in_place(w, x, True, True, False)
    else:
        status = _lu_solve_in_place(w, x)
    if status == OK:
        _finish(out, x)
    return status


@_jit
def factor_solve_triangular(a, b, out, lower, trans, unit):
    """``out = x`` with ``op(a) x = b`` (scipy.linalg.solve_triangular) for one matrix ``a`` and a vector or
    matrix ``b``: one BLAS trsm. A status."""
    w = _factor_matrix(a, out)
    part = (3 if lower else 4) if unit else (1 if lower else 2)
    if not _finite(w, part):
        return NOT_FINITE
    if w.shape[0] == 0:
        return OK
    x = _right_side(out, b)
    status = _triangular_in_place(w, x, lower, trans, unit)
    if status == OK:
        _finish(out, x)
    return status


@_jit
def factor_cholesky(a, out, lower):
    """``out[:, :]`` the lower Cholesky factor of ``a`` (reading its lower triangle), or with ``lower``
    False the upper factor (reading the upper triangle: the lower factor of ``aᵀ``, transposed). A status."""
    w = _matrix(a, out, not lower)
    if not _finite(w, 1):
        return NOT_FINITE
    if w.shape[0] == 0:
        return OK
    status = _cholesky_in_place(w)
    if status == OK:
        _fill(out, w if lower else w.T)
    return status


@_jit
def factor_det(a, like):
    """(status, ``np.linalg.det(a)``) of one square matrix, the determinant in the dtype of the scalar
    ``like`` (0 for a singular matrix, as NumPy)."""
    result = np.zeros(3, np.asarray(like).dtype)
    result[0] = 1
    w = _matrix(a, result, False)
    if not _finite(w, 0):
        return NOT_FINITE, result[0]
    if w.shape[0]:
        _determinant(w, result)
    return OK, result[0]


@_jit
def factor_slogdet(a, like):
    """(status, sign, logabsdet) of ``np.linalg.slogdet(a)`` for one square matrix, in ``like``'s dtype
    (0 and -inf for a singular matrix, as NumPy)."""
    result = np.zeros(3, np.asarray(like).dtype)
    result[1] = 1
    w = _matrix(a, result, False)
    if not _finite(w, 0):
        return NOT_FINITE, result[1], result[2]
    if w.shape[0]:
        _determinant(w, result)
    return OK, result[1], result[2]
