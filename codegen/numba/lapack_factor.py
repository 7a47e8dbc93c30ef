"""Runtime library of the matrix factor ops (symgraph/ops/factor.py): cached ``@njit`` helpers the generated
kernels call through linked.py (see runtime.py's docstring for the conventions).

Each helper handles one matrix of a stack (the kernel loops over the batch) and returns a status instead of
raising, which the kernel turns into a ``numpy.linalg.LinAlgError`` naming the op and the user's line:
``OK`` 0, ``NOT_FINITE`` 1 (inf or NaN in the part of the matrix read), ``SINGULAR`` 2 (an exactly zero
pivot of the LU factorisation), ``NOT_POSITIVE_DEFINITE`` 3 (Cholesky), ``ZERO_DIAGONAL`` 4 (a triangular
solve). Inputs of any layout and real dtype are copied into C-contiguous matrices of the output dtype first
(O(n²), against the O(n³) factorisations). LU, inverse, determinants and Cholesky are Numba's
``np.linalg`` (LAPACK through SciPy, as Numba binds it), failures caught inside the helper.

Triangular solves are one BLAS ``trsm`` per matrix: ``_trsm`` emits a call of the external symbol
``symgraph_xxtrsm`` (resolved by name when machine code is loaded, so the helpers stay in Numba's disk
cache, as blas.py's gemm), an adapter bound when this module is imported: onto the CBLAS ``strsm``/
``dtrsm`` NumPy's own BLAS exports (NumPy's wheels bundle OpenBLAS), else onto SciPy's Fortran BLAS
(``scipy.linalg.cython_blas``). ``bind_trsm(use_numpy=False)`` rebinds it, for tests. The intrinsic lives
here rather than in blas.py so that Numba's cache stamp of this file covers the code its helpers inline.
"""
from __future__ import annotations

import numba as nb
import numpy as np
from llvmlite import ir
from numba.core import cgutils, types
from numba.core.extending import intrinsic, overload
from numba.np.arrayobj import make_array

_jit = nb.njit(cache=True, error_model="numpy")

OK, NOT_FINITE, SINGULAR, NOT_POSITIVE_DEFINITE, ZERO_DIAGONAL = 0, 1, 2, 3, 4
#: solve's ``assume_a``, as the integer the kernels pass
SOLVE_KINDS = {"gen": 0, "sym": 1, "pos": 2}

TRSM_SYMBOL = "symgraph_xxtrsm"
_KINDS = {types.float32: "s", types.float64: "d"}
_CHAR = ir.IntType(8)
_VOID_P = ir.IntType(8).as_pointer()
_INTP = ir.IntType(64)
# symgraph_xxtrsm(kind, side, uplo, transa, diag, m, n, alpha*, a*, lda, b*, ldb) -> 0; column-major, Fortran's
# character flags ('s'/'d', 'L'/'R', 'U'/'L', 'N'/'T', 'N'/'U'), 64-bit lengths.
_ADAPTER_ARGUMENTS = [_CHAR, _CHAR, _CHAR, _CHAR, _CHAR, _INTP, _INTP, _VOID_P, _VOID_P, _INTP, _VOID_P, _INTP]
# CBLAS names NumPy's BLAS may export, with their integer width (as blas.py's gemm).
_NUMPY_CBLAS = (("scipy_cblas_", "64_", 64), ("cblas_", "64_", 64), ("scipy_cblas_", "", 32), ("cblas_", "", 32))
_bound = {}                     # what TRSM_SYMBOL is bound to, and the adapter's library (kept alive)


# ------------------------------------------------------------------ binding trsm

def numpy_cblas_trsm():
    """(strsm address, dtrsm address, integer bits, name) of the CBLAS NumPy's BLAS exports, or None."""
    import ctypes
    try:
        from numpy._core import _multiarray_umath
        library = ctypes.CDLL(_multiarray_umath.__file__)   # dlsym on it searches NumPy's own dependencies
    except (ImportError, OSError):
        return None
    for prefix, suffix, bits in _NUMPY_CBLAS:
        try:
            single, double = (getattr(library, f"{prefix}{kind}trsm{suffix}") for kind in "sd")
        except AttributeError:
            continue
        address = [ctypes.cast(function, ctypes.c_void_p).value for function in (single, double)]
        return address[0], address[1], bits, f"{prefix}?trsm{suffix}"
    return None


def _adapter(single, double, bits, cblas):
    """Machine code with the TRSM_SYMBOL signature calling ``single``/``double`` (CBLAS when ``cblas``, else
    the Fortran convention of scipy.linalg.cython_blas: every argument by pointer, 32-bit integers)."""
    from numba.core.compiler_lock import global_compiler_lock
    from numba.core.registry import cpu_target
    i32, width = ir.IntType(32), ir.IntType(bits)
    module = ir.Module(name="symgraph_trsm_adapter")
    adapter = ir.Function(module, ir.FunctionType(i32, _ADAPTER_ARGUMENTS), name="symgraph_trsm_adapter")
    kind, side, uplo, transa, diag, m, n, alpha, a, lda, b, ldb = adapter.args
    builder = ir.IRBuilder(adapter.append_basic_block("entry"))
    lengths = (m, n, lda, ldb)
    if bits == 32:   # an LP64 BLAS cannot take a length of 2**31 or more: refuse rather than wrap around
        limit = ir.Constant(_INTP, 2**31 - 1)
        too_long = builder.icmp_signed(">", m, limit)
        for value in lengths[1:]:
            too_long = builder.or_(too_long, builder.icmp_signed(">", value, limit))
        with builder.if_then(too_long, likely=False):
            builder.ret(ir.Constant(i32, 1))
    sizes = [value if bits == 64 else builder.trunc(value, width) for value in lengths]

    def enum(flag, char, when, otherwise):   # CBLAS enums from Fortran's characters
        equal = builder.icmp_unsigned("==", flag, ir.Constant(_CHAR, ord(char)))
        return builder.select(equal, ir.Constant(i32, when), ir.Constant(i32, otherwise))

    is_single = builder.icmp_unsigned("==", kind, ir.Constant(_CHAR, ord("s")))
    with builder.if_else(is_single) as (then, otherwise):
        for block, address, real in ((then, single, ir.FloatType()), (otherwise, double, ir.DoubleType())):
            with block:
                scalar = real.as_pointer()
                if cblas:
                    signature = ir.FunctionType(ir.VoidType(), [i32, i32, i32, i32, i32, width, width, real,
                                                                _VOID_P, width, _VOID_P, width])
                    arguments = [ir.Constant(i32, 102),                 # CblasColMajor
                                 enum(side, "L", 141, 142), enum(uplo, "U", 121, 122),
                                 enum(transa, "N", 111, 112), enum(diag, "N", 131, 132),
                                 sizes[0], sizes[1], builder.load(builder.bitcast(alpha, scalar)),
                                 a, sizes[2], b, sizes[3]]
                else:
                    signature = ir.FunctionType(ir.VoidType(), [_VOID_P] * 11)
                    flags = []
                    for flag in (side, uplo, transa, diag):
                        slot = cgutils.alloca_once_value(builder, flag)
                        flags.append(builder.bitcast(slot, _VOID_P))
                    slots = [builder.bitcast(cgutils.alloca_once_value(builder, v), _VOID_P) for v in sizes]
                    arguments = [*flags, slots[0], slots[1], alpha, a, slots[2], b, slots[3]]
                target = builder.inttoptr(ir.Constant(_INTP, address), signature.as_pointer())
                builder.call(target, arguments)
    builder.ret(ir.Constant(i32, 0))
    with global_compiler_lock:
        library = cpu_target.target_context.codegen().create_library("symgraph_trsm_adapter")
        library.add_ir_module(module)
        library.finalize()
        return library, library.get_pointer_to_function("symgraph_trsm_adapter")


def bind_trsm(use_numpy=True):
    """Bind TRSM_SYMBOL to NumPy's CBLAS (``use_numpy`` and found) or to SciPy's Fortran BLAS; returns the
    name of what it is bound to. Helpers resolve the symbol when their code is loaded."""
    import llvmlite.binding as llvm
    found = numpy_cblas_trsm() if use_numpy else None
    if found is not None:
        single, double, bits, name = found
        library, address = _adapter(single, double, bits, cblas=True)
        _bound.update(library=library, name=f"NumPy's {name}")
    else:
        from numba.extending import get_cython_function_address
        single, double = (get_cython_function_address("scipy.linalg.cython_blas", f"{kind}trsm") for kind in "sd")
        library, address = _adapter(single, double, 32, cblas=False)
        _bound.update(library=library, name="scipy.linalg.cython_blas ?trsm")
    llvm.add_symbol(TRSM_SYMBOL, address)
    return _bound["name"]


def trsm_binding():
    """What the helpers' triangular solves call (bound on first import)."""
    return _bound["name"]


bind_trsm()


@intrinsic
def _trsm(typingctx, a, b, lower, trans, unit):
    """``b <- op(a)⁻¹ b`` in place: ``a`` (n, n) triangular (``lower`` or upper; only that triangle read, and
    not its diagonal when ``unit``), ``op(a)`` ``a`` or ``aᵀ`` (``trans``), ``b`` (n, k); both C-contiguous,
    the same float dtype. Returns 0, or 8 when the shapes do not fit (nothing computed)."""
    if not (isinstance(a, types.Array) and isinstance(b, types.Array) and a.ndim == 2 and b.ndim == 2
            and a.layout == "C" and b.layout == "C" and a.dtype in _KINDS and b.dtype == a.dtype and b.mutable):
        return None
    dtype = a.dtype
    sig = types.intp(a, b, lower, trans, unit)

    def codegen(context, builder, signature, args):
        a_array, b_array = (make_array(t)(context, builder, v) for t, v in zip((a, b), args[:2]))
        rows, cols = cgutils.unpack_tuple(builder, a_array.shape, 2)
        b_rows, k = cgutils.unpack_tuple(builder, b_array.shape, 2)
        intp = cgutils.intp_t
        zero = ir.Constant(intp, 0)
        fits = builder.and_(builder.icmp_signed("==", rows, cols), builder.icmp_signed("==", b_rows, rows))
        slot = cgutils.alloca_once_value(builder, builder.select(fits, zero, ir.Constant(intp, 8)))
        work = builder.and_(builder.icmp_signed(">", rows, zero), builder.icmp_signed(">", k, zero))
        with builder.if_then(builder.and_(fits, work), likely=True):
            flags = [context.cast(builder, v, t, types.boolean) for v, t in zip(args[2:], signature.args[2:])]

            def char(flag, yes, no):
                return builder.select(flag, ir.Constant(_CHAR, ord(yes)), ir.Constant(_CHAR, ord(no)))

            one = context.get_constant(dtype, 1)
            alpha = cgutils.alloca_once_value(builder, one)
            function = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.IntType(32),
                                                      _ADAPTER_ARGUMENTS), TRSM_SYMBOL)
            # Row-major a and b are the column-major aᵀ (lda n) and bᵀ (k x n, ldb k): op(a) x = b is
            # xᵀ op(a)ᵀ = bᵀ, a right-side solve with aᵀ, whose triangle is the other one, same transpose.
            result = builder.call(function, (
                ir.Constant(_CHAR, ord(_KINDS[dtype])), ir.Constant(_CHAR, ord("R")), char(flags[0], "U", "L"),
                char(flags[1], "T", "N"), char(flags[2], "U", "N"), k, rows, builder.bitcast(alpha, _VOID_P),
                builder.bitcast(a_array.data, _VOID_P), rows, builder.bitcast(b_array.data, _VOID_P), k))
            failed = builder.icmp_signed("!=", result, ir.Constant(ir.IntType(32), 0))
            builder.store(builder.select(failed, ir.Constant(intp, 16), zero), slot)
        return builder.load(slot)

    return sig, codegen


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


# ------------------------------------------------------------------ cores: C-contiguous float matrices only
# The factorisations proper, typed only by dtype (all arguments C-contiguous matrices), so Numba compiles
# (and caches) each once per dtype; the helpers below, compiled per layout of their operands, only copy.

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
def _inverse_in_place(w):
    """``w <- w⁻¹`` (LU); SINGULAR when a pivot is exactly zero."""
    ok = True
    try:
        inverse = np.linalg.inv(w)
        for i in range(w.shape[0]):
            for j in range(w.shape[1]):
                w[i, j] = inverse[i, j]
    except Exception:  # noqa: BLE001 - Numba catches no narrower class; inv raises only for a singular matrix
        ok = False
    return OK if ok else SINGULAR


@_jit
def _lu_solve_in_place(w, x):
    """``x <- w⁻¹ x`` (LU with partial pivoting); SINGULAR when a pivot is exactly zero."""
    ok = True
    try:
        solution = np.linalg.solve(w, x)
        for i in range(x.shape[0]):
            for j in range(x.shape[1]):
                x[i, j] = solution[i, j]
    except Exception:  # noqa: BLE001 - raised only for a singular matrix
        ok = False
    return OK if ok else SINGULAR


@_jit
def _cholesky_in_place(w):
    """``w <-`` the lower Cholesky factor of ``w`` (its lower triangle read; zeros above the diagonal);
    NOT_POSITIVE_DEFINITE when it has none."""
    ok = True
    try:
        factor = np.linalg.cholesky(w)
        for i in range(w.shape[0]):
            for j in range(w.shape[1]):
                w[i, j] = factor[i, j] if j <= i else 0
    except Exception:  # noqa: BLE001 - raised only when w is not positive definite
        ok = False
    return OK if ok else NOT_POSITIVE_DEFINITE


@_jit
def _cholesky_solve_in_place(w, x):
    """``x <- w⁻¹ x`` for a symmetric positive definite ``w`` (overwritten by its factor): Cholesky and two
    triangular solves."""
    status = _cholesky_in_place(w)
    if status == OK:
        _triangular_in_place(w, x, True, False, False)
        _triangular_in_place(w, x, True, True, False)
    return status


@_jit
def _determinant(w, result):
    """``result[0] = det(w)``."""
    result[0] = np.linalg.det(w)


@_jit
def _log_determinant(w, result):
    """``result[0], result[1] = slogdet(w)``."""
    sign, logabsdet = np.linalg.slogdet(w)
    result[0] = sign
    result[1] = logabsdet


# ------------------------------------------------------------------ the helpers kernels call

@_jit
def factor_inv(a, out):
    """``out[:, :] = np.linalg.inv(a)`` of one square matrix (any layout and real dtype); a status."""
    w = _matrix(a, out, False)
    if not _finite(w, 0):
        return NOT_FINITE
    if w.shape[0] == 0:
        return OK
    status = _inverse_in_place(w)
    if status == OK:
        _fill(out, w)
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
        status = _cholesky_solve_in_place(w, x)
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
    result = np.ones(1, np.asarray(like).dtype)
    w = _matrix(a, result, False)
    if not _finite(w, 0):
        return NOT_FINITE, result[0]
    if w.shape[0]:
        _determinant(w, result)
    return OK, result[0]


@_jit
def factor_slogdet(a, like):
    """(status, sign, logabsdet) of ``np.linalg.slogdet(a)`` for one square matrix, in ``like``'s dtype."""
    result = np.zeros(2, np.asarray(like).dtype)
    result[0] = 1
    w = _matrix(a, result, False)
    if not _finite(w, 0):
        return NOT_FINITE, result[0], result[1]
    if w.shape[0]:
        _log_determinant(w, result)
    return OK, result[0], result[1]
