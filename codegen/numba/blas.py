"""Direct BLAS calls for generated kernels: ``gemm(alpha, a, b, beta, out)`` and ``overlaps(x, y)`` intrinsics.

``gemm`` computes ``out = alpha * (a @ b) + beta * out`` with one call of
``symgraph_xxgemm``, a symbol with the signature of Numba's ``numba_xxgemm``
(resolved by name when the machine code is loaded, so kernels using it stay
cachable on disk, unlike a ctypes pointer global). It is bound when this module
is imported: to an adapter onto the CBLAS ``sgemm``/``dgemm`` that NumPy itself
calls when NumPy's BLAS can be found (NumPy's wheels bundle an OpenBLAS that
measured 5-9% faster on the MLP benchmark's products than SciPy's, and a user
comparing against ``a @ b`` expects NumPy's speed), else to ``numba_xxgemm``
(SciPy's Fortran BLAS). The operands' layouts are read from their runtime
strides: a row-major or column-major matrix with any leading dimension
(``W.T``, a row slice, a strided vector) becomes a transpose flag and a
leading dimension, never a copy. 1-d operands
are a row (left), a column (right), and ``out`` is their product's row or
column. The call returns a status instead of raising: 0 done, bit 1 ``a``,
bit 2 ``b``, bit 4 ``out`` has a layout BLAS cannot address (a broadcast or
negative stride; the caller copies and calls again), 8 the shapes do not fit
(the caller checks shapes first, so this only guards memory). Nothing is
computed unless the status is 0. With ``beta=1`` the product is accumulated
into ``out`` in place: the numba backend uses this for SGD-style updates
``W - lr * (a @ b)``, writing into the shared variable's own array, which a
user who holds it through ``get_value(borrow=True)`` / ``set_value(...,
borrow=True)`` sees change (PyTensor behaves the same). ``overlaps`` tells
whether two arrays' memory ranges intersect, so an in-place product never
reads the array it writes. Kernels hold the GIL, so BLAS runs one call at a time
per process from these kernels (BLAS itself may use several threads).
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit
from numba.core import cgutils, types
from numba.core.extending import intrinsic
from numba.np.arrayobj import make_array

from .link import compile_adapters
from .runtime import check_value as _check_value    # (private: not one of this module's helpers)

_KINDS = {types.float32: "s", types.float64: "d"}
_CHAR = ir.IntType(8)
_VOID_P = ir.IntType(8).as_pointer()
GEMM_SYMBOL = "symgraph_xxgemm"
# CBLAS names NumPy's BLAS may export, with their integer width: NumPy's own wheels (scipy-openblas64),
# ILP64 builds with the reference suffix, LP64 builds.
_NUMPY_CBLAS = (("scipy_cblas_", "64_", 64), ("cblas_", "64_", 64), ("scipy_cblas_", "", 32), ("cblas_", "", 32))
_bound = {}                      # what GEMM_SYMBOL is bound to


def numpy_cblas():
    """(sgemm address, dgemm address, integer bits, name) of the CBLAS NumPy calls, or None if not found."""
    import ctypes
    try:
        from numpy._core import _multiarray_umath
        library = ctypes.CDLL(_multiarray_umath.__file__)   # dlsym on it searches NumPy's own dependencies
    except (ImportError, OSError):
        return None
    for prefix, suffix, bits in _NUMPY_CBLAS:
        try:
            single, double = (getattr(library, f"{prefix}{kind}gemm{suffix}") for kind in "sd")
        except AttributeError:
            continue
        address = [ctypes.cast(function, ctypes.c_void_p).value for function in (single, double)]
        return address[0], address[1], bits, f"{prefix}?gemm{suffix}"
    return None


def _cblas_adapter(single, double, bits):
    """The address of machine code with numba_xxgemm's signature calling CBLAS (column-major; the kind picks
    s or d)."""
    intp, i32, width = ir.IntType(64), ir.IntType(32), ir.IntType(bits)
    module = ir.Module(name="symgraph_cblas_adapter")
    arguments = [_CHAR, _CHAR, _CHAR, intp, intp, intp, _VOID_P, _VOID_P, intp, _VOID_P, intp, _VOID_P,
                 _VOID_P, intp]
    adapter = ir.Function(module, ir.FunctionType(i32, arguments), name="symgraph_cblas_adapter")
    kind, transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc = adapter.args
    builder = ir.IRBuilder(adapter.append_basic_block("entry"))

    def flag(trans):   # CblasTrans 112, CblasNoTrans 111
        return builder.select(builder.icmp_unsigned("==", trans, ir.Constant(_CHAR, ord("t"))),
                              ir.Constant(i32, 112), ir.Constant(i32, 111))

    def narrow(value):
        return value if bits == 64 else builder.trunc(value, width)

    if bits == 32:   # an LP64 CBLAS cannot take a length of 2**31 or more: refuse rather than wrap around
        limit = ir.Constant(intp, 2**31 - 1)
        too_long = builder.icmp_signed(">", m, limit)
        for value in (n, k, lda, ldb, ldc):
            too_long = builder.or_(too_long, builder.icmp_signed(">", value, limit))
        with builder.if_then(too_long, likely=False):
            builder.ret(ir.Constant(i32, 1))
    flags = [flag(transa), flag(transb)]
    sizes = [narrow(v) for v in (m, n, k, lda, ldb, ldc)]
    is_single = builder.icmp_unsigned("==", kind, ir.Constant(_CHAR, ord("s")))
    with builder.if_else(is_single) as (then, otherwise):
        for block, address, real in ((then, single, ir.FloatType()), (otherwise, double, ir.DoubleType())):
            with block:
                signature = ir.FunctionType(ir.VoidType(), [i32, i32, i32, width, width, width, real, _VOID_P,
                                                            width, _VOID_P, width, real, _VOID_P, width])
                target = builder.inttoptr(ir.Constant(intp, address), signature.as_pointer())
                scalar = real.as_pointer()
                builder.call(target, [ir.Constant(i32, 102), *flags, *sizes[:3],
                                      builder.load(builder.bitcast(alpha, scalar)), a, sizes[3], b, sizes[4],
                                      builder.load(builder.bitcast(beta, scalar)), c, sizes[5]])
    builder.ret(ir.Constant(i32, 0))
    return compile_adapters(module, ["symgraph_cblas_adapter"])["symgraph_cblas_adapter"]


def bind_gemm(use_numpy=True):
    """Bind GEMM_SYMBOL to NumPy's CBLAS (``use_numpy`` and found) or to Numba's numba_xxgemm (SciPy's BLAS);
    returns the name of what it is bound to. Kernels resolve the symbol when their code is loaded."""
    import llvmlite.binding as llvm
    found = numpy_cblas() if use_numpy else None
    if found is not None:
        single, double, bits, name = found
        address = _cblas_adapter(single, double, bits)
        _bound.update(name=f"NumPy's {name}")
    else:
        from numba import _helperlib
        from numba.np.linalg import ensure_blas
        ensure_blas()
        address = _helperlib.c_helpers["xxgemm"]
        _bound.update(name="numba_xxgemm (SciPy's BLAS)")
    llvm.add_symbol(GEMM_SYMBOL, address)
    return _bound["name"]


def _ensure_blas():
    if not _bound:
        bind_gemm()


_ensure_blas()


def _matrix_view(builder, array, ndim, as_row):
    """(rows, cols, row_stride, col_stride) in bytes of ``array`` seen as a matrix (1-d: a row or a column)."""
    shapes = cgutils.unpack_tuple(builder, array.shape, ndim)
    strides = cgutils.unpack_tuple(builder, array.strides, ndim)
    one = ir.Constant(cgutils.intp_t, 1)
    if ndim == 2:
        return shapes[0], shapes[1], strides[0], strides[1]
    if as_row:
        return one, shapes[0], ir.Constant(cgutils.intp_t, 0), strides[0]
    return shapes[0], one, strides[0], ir.Constant(cgutils.intp_t, 0)


def _blas_layout(builder, rows, cols, row_stride, col_stride, itemsize):
    """(usable, row_major, leading_dimension) for a matrix given by its lengths and byte strides."""
    intp = cgutils.intp_t
    zero, one = ir.Constant(intp, 0), ir.Constant(intp, 1)
    size = ir.Constant(intp, itemsize)
    aligned = builder.and_(builder.icmp_signed("==", builder.srem(row_stride, size), zero),
                           builder.icmp_signed("==", builder.srem(col_stride, size), zero))
    sr, sc = builder.sdiv(row_stride, size), builder.sdiv(col_stride, size)

    def at_least_one(value):
        return builder.select(builder.icmp_signed("<", value, one), one, value)

    few_rows = builder.icmp_signed("<=", rows, one)
    few_cols = builder.icmp_signed("<=", cols, one)
    # An empty matrix is never read: call it row-major whatever its strides (NumPy gives it zero ones).
    empty = builder.or_(builder.icmp_signed("==", rows, zero), builder.icmp_signed("==", cols, zero))
    # Row-major: unit column stride; rows at least a full row apart (any leading dimension).
    row_major = builder.and_(builder.or_(few_cols, builder.icmp_signed("==", sc, one)),
                             builder.or_(few_rows, builder.icmp_signed(">=", sr, at_least_one(cols))))
    row_major = builder.or_(row_major, empty)
    row_ld = builder.select(builder.or_(few_rows, empty), at_least_one(cols), sr)
    col_major = builder.and_(builder.or_(few_rows, builder.icmp_signed("==", sr, one)),
                             builder.or_(few_cols, builder.icmp_signed(">=", sc, at_least_one(rows))))
    col_ld = builder.select(few_cols, at_least_one(rows), sc)
    usable = builder.or_(empty, builder.and_(aligned, builder.or_(row_major, col_major)))
    return usable, row_major, builder.select(row_major, row_ld, col_ld)


@intrinsic
def gemm(typingctx, alpha, a, b, beta, out):
    """``out = alpha * (a @ b) + beta * out`` through BLAS; returns a status (0: done; see the module doc)."""
    arrays = (a, b, out)
    if not all(isinstance(t, types.Array) for t in arrays) or not all(t.ndim in (1, 2) for t in arrays):
        return None
    if a.dtype not in _KINDS or b.dtype != a.dtype or out.dtype != a.dtype or not out.mutable:
        return None
    if not isinstance(alpha, types.Number) or not isinstance(beta, types.Number):
        return None
    _ensure_blas()
    dtype = a.dtype
    sig = types.intp(alpha, a, b, beta, out)

    def codegen(context, builder, signature, args):
        alpha_value, a_value, b_value, beta_value, out_value = args
        arrays = [make_array(t)(context, builder, v) for t, v in zip((a, b, out), (a_value, b_value, out_value))]
        itemsize = context.get_abi_sizeof(context.get_data_type(dtype))
        a_rows, a_cols, a_sr, a_sc = _matrix_view(builder, arrays[0], a.ndim, as_row=True)
        b_rows, b_cols, b_sr, b_sc = _matrix_view(builder, arrays[1], b.ndim, as_row=False)
        o_rows, o_cols, o_sr, o_sc = _matrix_view(builder, arrays[2], out.ndim, as_row=a.ndim == 1)
        a_ok, a_rm, a_ld = _blas_layout(builder, a_rows, a_cols, a_sr, a_sc, itemsize)
        b_ok, b_rm, b_ld = _blas_layout(builder, b_rows, b_cols, b_sr, b_sc, itemsize)
        o_ok, o_rm, o_ld = _blas_layout(builder, o_rows, o_cols, o_sr, o_sc, itemsize)
        intp = cgutils.intp_t
        zero = ir.Constant(intp, 0)

        def bit(flag, value):
            return builder.select(flag, zero, ir.Constant(intp, value))

        status = builder.or_(builder.or_(bit(a_ok, 1), bit(b_ok, 2)), bit(builder.and_(o_ok, o_rm), 4))
        fits = builder.and_(builder.icmp_signed("==", a_cols, b_rows),
                            builder.and_(builder.icmp_signed("==", o_rows, a_rows),
                                         builder.icmp_signed("==", o_cols, b_cols)))
        status = builder.select(fits, status, ir.Constant(intp, 8))
        slot = cgutils.alloca_once_value(builder, status)
        empty = builder.or_(builder.icmp_signed("==", a_rows, zero), builder.icmp_signed("==", b_cols, zero))
        go = builder.and_(builder.icmp_signed("==", status, zero), builder.not_(empty))
        with builder.if_then(go, likely=True):
            alpha_slot = cgutils.alloca_once_value(builder, context.cast(builder, alpha_value, signature.args[0],
                                                                         dtype))
            beta_slot = cgutils.alloca_once_value(builder, context.cast(builder, beta_value, signature.args[3],
                                                                        dtype))
            function_type = ir.FunctionType(ir.IntType(32), [
                _CHAR, _CHAR, _CHAR, intp, intp, intp, _VOID_P, _VOID_P, intp, _VOID_P, intp, _VOID_P,
                _VOID_P, intp])
            function = cgutils.get_or_insert_function(builder.module, function_type, GEMM_SYMBOL)
            trans, notrans = ir.Constant(_CHAR, ord("t")), ir.Constant(_CHAR, ord("n"))
            # Column-major BLAS computes out^T = b^T @ a^T; a row-major operand is its transpose already.
            kind = ir.Constant(_CHAR, ord(_KINDS[dtype]))
            data = [builder.bitcast(array.data, _VOID_P) for array in arrays]
            result = builder.call(function, (
                kind, builder.select(b_rm, notrans, trans), builder.select(a_rm, notrans, trans),
                b_cols, a_rows, a_cols, builder.bitcast(alpha_slot, _VOID_P), data[1], b_ld,
                data[0], a_ld, builder.bitcast(beta_slot, _VOID_P), data[2], o_ld))
            failed = builder.icmp_signed("!=", result, ir.Constant(ir.IntType(32), 0))
            builder.store(builder.select(failed, ir.Constant(intp, 16), zero), slot)
        return builder.load(slot)

    return sig, codegen


def _extent(builder, context, array_type, value):
    """(size, lowest byte address, one past the highest) of an array's memory."""
    array = make_array(array_type)(context, builder, value)
    intp = cgutils.intp_t
    zero, one = ir.Constant(intp, 0), ir.Constant(intp, 1)
    start = builder.ptrtoint(array.data, intp)
    low, high, size = start, start, one
    shapes = cgutils.unpack_tuple(builder, array.shape, array_type.ndim)
    strides = cgutils.unpack_tuple(builder, array.strides, array_type.ndim)
    for length, stride in zip(shapes, strides):
        size = builder.mul(size, length)
        reach = builder.mul(builder.sub(length, one), stride)
        negative = builder.icmp_signed("<", reach, zero)
        low = builder.add(low, builder.select(negative, reach, zero))
        high = builder.add(high, builder.select(negative, zero, reach))
    itemsize = context.get_abi_sizeof(context.get_data_type(array_type.dtype))
    return size, low, builder.add(high, ir.Constant(intp, itemsize))


@intrinsic
def overlaps(typingctx, x, y):
    """True when the memory ranges of arrays ``x`` and ``y`` intersect (conservative for strided views)."""
    if not isinstance(x, types.Array) or not isinstance(y, types.Array):
        return None
    sig = types.boolean(x, y)

    def codegen(context, builder, signature, args):
        x_size, x_low, x_high = _extent(builder, context, x, args[0])
        y_size, y_low, y_high = _extent(builder, context, y, args[1])
        zero = ir.Constant(cgutils.intp_t, 0)
        both = builder.and_(builder.icmp_signed(">", x_size, zero), builder.icmp_signed(">", y_size, zero))
        cross = builder.and_(builder.icmp_unsigned("<", x_low, y_high), builder.icmp_unsigned("<", y_low, x_high))
        return builder.and_(both, cross)

    return sig, codegen


# Jitted helpers for the rare paths, cached on disk by Numba (compiled once per type signature on a
# machine, not once per kernel): inlined into every kernel their loops cost ~0.4 s of compile each.

@njit(cache=True)
def overlaps_call(x, y):
    return overlaps(x, y)


@njit(cache=True)
def gemm_copying(alpha, a, b, beta, out):
    """``gemm``, copying an operand BLAS cannot address (broadcast, negative strides) first."""
    status = gemm(alpha, a, b, beta, out)
    if status == 0 or status & 12:
        return status
    return gemm(alpha, np.ascontiguousarray(a), np.ascontiguousarray(b), beta, out)


@njit(cache=True)
def matmul_rows(alpha, a, b, beta, out):
    """``out = alpha * (a @ b) + beta * out`` for an N-d ``a`` (N > 2) and a 2-d ``b`` shared by every matrix of
    ``a``: one gemm over all the rows of ``a`` (its batch axes flattened into the rows) when ``a`` and ``out``
    are C-contiguous, else one gemm per matrix. Returns gemm's status."""
    rows = 1
    for length in a.shape[:-1]:
        rows *= length
    if a.flags.c_contiguous and out.flags.c_contiguous:
        flat_a = np.ascontiguousarray(a).reshape((rows, a.shape[-1]))
        flat_out = np.ascontiguousarray(out).reshape((rows, out.shape[-1]))
        return gemm_copying(alpha, flat_a, b, beta, flat_out)
    for index in np.ndindex(a.shape[:-2]):
        status = gemm_copying(alpha, a[index], b, beta, out[index])
        if status != 0:
            return status
    return 0


# The kernels' product statements, called by address (link.py) instead of inlining gemm's layout logic: the
# product, and the kernel's check ``number`` raised (``runtime.check_value``) when BLAS refuses the operands
# (an internal error), in one call where a status and a check were two (each call site costs compile time).

@njit(cache=True)
def gemm_checked(alpha, a, b, beta, out, number):
    """``gemm``; ``ValueError("symgraph check", number)`` if it refuses the operands."""
    return _check_value(gemm(alpha, a, b, beta, out) != 0, number)


@njit(cache=True)
def gemm_copying_checked(alpha, a, b, beta, out, number):
    """``gemm_copying``; ``ValueError("symgraph check", number)`` if BLAS still refuses the operands."""
    return _check_value(gemm_copying(alpha, a, b, beta, out) != 0, number)


@njit(cache=True)
def matmul_rows_checked(alpha, a, b, beta, out, number):
    """``matmul_rows``; ``ValueError("symgraph check", number)`` if BLAS refuses the operands."""
    return _check_value(matmul_rows(alpha, a, b, beta, out) != 0, number)


@njit(cache=True)
def accumulated_copy(target, alpha, a, b):
    """(0, ``target + alpha * (a @ b)``) in a fresh array with NumPy broadcasting; (1, target) if the shapes
    cannot broadcast: the ordinary path of an in-place update that cannot run in place this call."""
    shape = a.shape[:-1] + b.shape[1:]
    product = np.empty(shape, dtype=target.dtype)
    if gemm_copying(1.0, a, b, 0.0, product) != 0:
        return 1, target
    for axis in range(len(shape)):
        if shape[axis] != target.shape[axis] and shape[axis] != 1 and target.shape[axis] != 1:
            return 1, target
    product *= alpha     # rounds like the elementwise node: target + (-c) * p is exactly target - c * p
    return 0, target + product
