"""The matrix factor ops of symgraph/ops/factor.py on the cuda backend: one thread block per matrix of the stack.

The sizes models use (batched Cholesky factors, triangular solves, solves and inverses for n up to a few
hundred) as three kernels whose threads share each step of the classical algorithms, with a barrier between
steps:

* ``lu_kernel``: LU with partial pivoting (the first row of largest magnitude, as LAPACK's ``getrf``), the
  row swaps and the elimination applied to the right-hand sides as the factor is made, then back
  substitution: ``inv`` (right-hand side ``I``), ``solve`` with ``assume_a`` "gen" or "sym" (the symmetric
  matrix built from the triangle SciPy reads), ``det`` and ``slogdet`` (the diagonal of ``U`` and the
  parity of the swaps; an exactly zero pivot gives 0, or ``(0, -inf)``, as NumPy).
* ``cholesky_kernel``: the right-looking Cholesky factorisation of the triangle the op reads; a diagonal
  that is not positive stops it (``cholesky``, and ``solve`` with ``assume_a="pos"``).
* ``triangular_kernel``: forward or back substitution by columns (``solve_triangular``, and the two
  solves of a positive definite ``solve``).

Work is in the output dtype (float32 stays float32, as cuSOLVER's), in a fixed order: deterministic. Each
kernel reports per matrix whether the matrix held inf or NaN, was singular or was not positive definite;
the step reads that back (one small transfer, which waits for the kernel) and raises the
``numpy.linalg.LinAlgError`` the python backend raises, naming the op and the user's line. Operands are
read through one copy that broadcasts their batch axes and converts their dtype (integer inputs compute in
float64, as NumPy).
"""
from __future__ import annotations

import math

import numpy as np

from symgraph.ops.factor import Cholesky, Det, MatrixInverse, SlogDet, Solve, SolveTriangular

from .elemwise import copy_into
from .runtime import reshape_view, sizes, to_device, to_host, view_with
from .table import device, register

NOT_FINITE, SINGULAR, NOT_POSITIVE_DEFINITE, ZERO_DIAGONAL = 1, 2, 3, 4
_MESSAGES = {NOT_FINITE: "the matrix holds inf or NaN", SINGULAR: "singular matrix",
             NOT_POSITIVE_DEFINITE: "the matrix is not positive definite",
             ZERO_DIAGONAL: "singular matrix: a zero on the diagonal"}

# flags (shared memory, per block): [0] pivot row, [1] not finite, [2] singular / not positive definite,
# [3] parity of the row swaps. Every branch on a flag is read after a barrier, so the block agrees on it.
_LU = """
def lu_kernel(a, x, rhs, info, det, sign, logabs, batch, n, k, symmetric, lower, identity, want_det):
    flags = cuda.shared.array(0, T_int32)
    t = cuda.threadIdx.x
    nt = cuda.blockDim.x
    for m in range(cuda.blockIdx.x, batch, cuda.gridDim.x):
        if t == 0:
            flags[1] = 0
            flags[2] = 0
            flags[3] = 0
        cuda.syncthreads()
        for e in range(t, n * n, nt):
            i = e // n
            j = e - i * n
            if symmetric and ((lower and j > i) or (not lower and j < i)):
                value = {T}(a[m, j, i])
            else:
                value = {T}(a[m, i, j])
            if not (value - value == 0):
                flags[1] = 1
            x[m, i, j] = value
        if identity:
            for e in range(t, n * k, nt):
                i = e // k
                j = e - i * k
                rhs[m, i, j] = {one} if i == j else {zero}
        cuda.syncthreads()
        if flags[1] == 0:
            for c in range(n):
                if t == 0:
                    p = c
                    best = abs(x[m, c, c])
                    for r in range(c + 1, n):
                        if abs(x[m, r, c]) > best:
                            best = abs(x[m, r, c])
                            p = r
                    flags[0] = p
                    if p != c:
                        flags[3] = 1 - flags[3]
                    if best == 0:
                        flags[2] = 1
                cuda.syncthreads()
                p = flags[0]
                if p != c:
                    for j in range(t, n, nt):
                        keep = x[m, c, j]
                        x[m, c, j] = x[m, p, j]
                        x[m, p, j] = keep
                    for j in range(t, k, nt):
                        keep = rhs[m, c, j]
                        rhs[m, c, j] = rhs[m, p, j]
                        rhs[m, p, j] = keep
                cuda.syncthreads()
                pivot = x[m, c, c]
                if pivot != 0:
                    for r in range(c + 1 + t, n, nt):
                        x[m, r, c] = x[m, r, c] / pivot
                cuda.syncthreads()
                rest = n - c - 1
                width = rest + k
                for e in range(t, rest * width, nt):
                    q = e // width
                    j = e - q * width
                    r = c + 1 + q
                    if j < rest:
                        x[m, r, c + 1 + j] -= x[m, r, c] * x[m, c, c + 1 + j]
                    else:
                        rhs[m, r, j - rest] -= x[m, r, c] * rhs[m, c, j - rest]
                cuda.syncthreads()
            if flags[2] == 0:
                for c in range(n - 1, -1, -1):
                    for j in range(t, k, nt):
                        rhs[m, c, j] = rhs[m, c, j] / x[m, c, c]
                    cuda.syncthreads()
                    for e in range(t, c * k, nt):
                        r = e // k
                        j = e - r * k
                        rhs[m, r, j] -= x[m, r, c] * rhs[m, c, j]
                    cuda.syncthreads()
        if t == 0:
            code = 0
            if flags[1] != 0:
                code = 1
            elif flags[2] != 0 and not want_det:
                code = 2
            info[m] = code
            if want_det and code == 0:
                s = {one}
                if flags[3] != 0:
                    s = -s
                d = s
                total = {zero}
                for c in range(n):
                    u = x[m, c, c]
                    d = d * u
                    if u < 0:
                        s = -s
                    total += M.log(abs(u))
                if flags[2] != 0:
                    s = {zero}
                    total = -{inf}
                det[m] = d
                sign[m] = s
                logabs[m] = total
        cuda.syncthreads()
"""

_CHOLESKY = """
def cholesky_kernel(a, x, out, info, batch, n, lower):
    flags = cuda.shared.array(0, T_int32)
    t = cuda.threadIdx.x
    nt = cuda.blockDim.x
    for m in range(cuda.blockIdx.x, batch, cuda.gridDim.x):
        if t == 0:
            flags[1] = 0
            flags[2] = 0
        cuda.syncthreads()
        for e in range(t, n * n, nt):
            i = e // n
            j = e - i * n
            if j <= i:
                if lower:
                    value = {T}(a[m, i, j])
                else:
                    value = {T}(a[m, j, i])
                if not (value - value == 0):
                    flags[1] = 1
                x[m, i, j] = value
            else:
                x[m, i, j] = {zero}
        cuda.syncthreads()
        if flags[1] == 0:
            for c in range(n):
                if t == 0:
                    d = x[m, c, c]
                    if d > 0:
                        x[m, c, c] = M.sqrt(d)
                    else:
                        flags[2] = 1
                cuda.syncthreads()
                if flags[2] != 0:
                    break
                d = x[m, c, c]
                for r in range(c + 1 + t, n, nt):
                    x[m, r, c] = x[m, r, c] / d
                cuda.syncthreads()
                rest = n - c - 1
                for e in range(t, rest * rest, nt):
                    r = e // rest
                    j = e - r * rest
                    if j <= r:
                        x[m, c + 1 + r, c + 1 + j] -= x[m, c + 1 + r, c] * x[m, c + 1 + j, c]
                cuda.syncthreads()
        if not lower:
            for e in range(t, n * n, nt):
                i = e // n
                j = e - i * n
                out[m, i, j] = x[m, j, i]
        if t == 0:
            if flags[1] != 0:
                info[m] = 1
            elif flags[2] != 0:
                info[m] = 3
            else:
                info[m] = 0
        cuda.syncthreads()
"""

_TRIANGULAR = """
def triangular_kernel(a, rhs, info, batch, n, k, lower, trans, unit):
    flags = cuda.shared.array(0, T_int32)
    t = cuda.threadIdx.x
    nt = cuda.blockDim.x
    forward = lower != trans
    for m in range(cuda.blockIdx.x, batch, cuda.gridDim.x):
        if t == 0:
            flags[1] = 0
            flags[2] = 0
        cuda.syncthreads()
        for e in range(t, n * n, nt):
            i = e // n
            j = e - i * n
            if (j < i and lower) or (j > i and not lower) or (i == j and not unit):
                value = {T}(a[m, i, j])
                if not (value - value == 0):
                    flags[1] = 1
                if i == j and value == 0:
                    flags[2] = 1
        cuda.syncthreads()
        if flags[1] == 0 and flags[2] == 0:
            for s in range(n):
                c = s if forward else n - 1 - s
                if not unit:
                    for j in range(t, k, nt):
                        rhs[m, c, j] = rhs[m, c, j] / {T}(a[m, c, c])
                    cuda.syncthreads()
                for e in range(t, (n - 1 - s) * k, nt):
                    q = e // k
                    j = e - q * k
                    r = c + 1 + q if forward else q
                    if trans:
                        coefficient = {T}(a[m, c, r])
                    else:
                        coefficient = {T}(a[m, r, c])
                    rhs[m, r, j] -= coefficient * rhs[m, c, j]
                cuda.syncthreads()
        if t == 0:
            if flags[1] != 0:
                info[m] = 1
            elif flags[2] != 0:
                info[m] = 4
            else:
                info[m] = 0
        cuda.syncthreads()
"""


def _source(template, dtype):
    return template.format(T=f"T_{dtype}", one=f"T_{dtype}(1.0)", zero=f"T_{dtype}(0.0)", inf=f"T_{dtype}(INF)")


def _kernel(call, name, template, a_dtype, dtype):
    return call.kernel(("factor", name, a_dtype, dtype), name, lambda: _source(template, dtype))


def _launch(batch):
    """Blocks, threads and the dynamic shared memory of the block's flags (4 int32). Dynamic, not a static
    ``cuda.shared.array(4, ...)``: the simulator allocates static shared arrays lazily without a lock, so two
    threads of a block could get different flags (a rare wrong result under load, seen in a full test run)."""
    s = sizes()
    return max(1, min(batch, s.batch_max_blocks)), s.factor_threads, 0, 16


def _error(node, code):
    from symgraph.ops.factor import linalg_error
    return linalg_error(node.op, node, _MESSAGES[code])


def _raise_for(node, info):
    """Raise the error of the first bad matrix (inf or NaN first, as the python backend checks it first)."""
    codes = to_host(info)
    if not codes.any():
        return
    first = NOT_FINITE if (codes == NOT_FINITE).any() else int(codes[codes != 0][0])
    raise _error(node, first)


def _check_square(node, shape):
    if len(shape) < 2 or shape[-1] != shape[-2]:
        raise ValueError(f"{node.op}: expected square matrices (..., n, n), got shape {shape}{node.where()}")


def _stack(call, value, batch, core, dtype, fresh):
    """``value`` (device array) broadcast to ``batch + core`` as a C-contiguous ``(prod(batch),) + core``
    array of ``dtype``: the array itself when it already is one and ``fresh`` (a copy the kernel may write)
    is not asked for, else one copy (which broadcasts and converts)."""
    full = tuple(batch) + tuple(core)
    count = math.prod(batch)
    if not fresh and tuple(value.shape) == full and value.dtype == np.dtype(dtype) and \
            (value.size <= 1 or value.is_c_contiguous()):
        return reshape_view(value, (count,) + tuple(core))
    out = call.empty(full, dtype)
    if out.size:
        copy_into(call, out, value)
    return reshape_view(out, (count,) + tuple(core))


def _info(call, count):
    return call.empty((max(count, 1),), "int32")


def _square_operand(node, args):
    a = device(args[0])
    shape = tuple(a.shape)
    _check_square(node, shape)
    return a, shape[:-2], shape[-1]


@register(MatrixInverse)
def lower_inv(node, host):
    dtype = node.outputs[0].dtype

    def step(args, call):
        a, batch, n = _square_operand(node, args)
        count = math.prod(batch)
        out = call.empty(batch + (n, n), dtype)
        if count == 0 or n == 0:
            return [out]
        source = _stack(call, a, batch, (n, n), a.dtype.name, False)
        x = call.empty((count, n, n), dtype)
        info = _info(call, count)
        kernel = _kernel(call, "lu_kernel", _LU, source.dtype.name, dtype)
        flat = reshape_view(out, (count, n, n))
        unused = call.empty((1,), dtype)
        kernel[_launch(count)](source, x, flat, info, unused, unused, unused, count, n, n, False, False, True, False)
        _raise_for(node, info)
        return [out]
    return step


def _determinants(node, a, batch, n, call, dtype):
    """(det, sign, logabsdet) of each matrix, each of shape ``batch``."""
    count = math.prod(batch)
    det, sign, logabs = (call.empty(batch, dtype) for _ in range(3))
    if count == 0:
        return det, sign, logabs
    if n == 0:                      # NumPy: det 1, slogdet (1, 0) of a 0 x 0 matrix
        ones, zeros = np.ones(batch, dtype), np.zeros(batch, dtype)
        return to_device(ones), to_device(ones.copy()), to_device(zeros)
    source = _stack(call, a, batch, (n, n), a.dtype.name, False)
    x = call.empty((count, n, n), dtype)
    info = _info(call, count)
    kernel = _kernel(call, "lu_kernel", _LU, source.dtype.name, dtype)
    flats = [reshape_view(v, (count,)) for v in (det, sign, logabs)]
    kernel[_launch(count)](source, x, x, info, *flats, count, n, 0, False, False, False, True)
    _raise_for(node, info)
    return det, sign, logabs


@register(Det)
def lower_det(node, host):
    dtype = node.outputs[0].dtype

    def step(args, call):
        a, batch, n = _square_operand(node, args)
        return [_determinants(node, a, batch, n, call, dtype)[0]]
    return step


@register(SlogDet)
def lower_slogdet(node, host):
    dtype = node.outputs[0].dtype

    def step(args, call):
        a, batch, n = _square_operand(node, args)
        return list(_determinants(node, a, batch, n, call, dtype)[1:])
    return step


def _factor(node, call, source, count, n, lower, dtype):
    """The lower Cholesky factor (``(count, n, n)``) of the triangle ``lower`` selects; ``lower=False``
    gives the upper factor (the transpose). Raises for a matrix that is not positive definite."""
    x = call.empty((count, n, n), dtype)
    out = x if lower else call.empty((count, n, n), dtype)
    info = _info(call, count)
    kernel = _kernel(call, "cholesky_kernel", _CHOLESKY, source.dtype.name, dtype)
    kernel[_launch(count)](source, x, out, info, count, n, lower)
    _raise_for(node, info)
    return out


@register(Cholesky)
def lower_cholesky(node, host):
    dtype, lower = node.outputs[0].dtype, node.op.lower

    def step(args, call):
        a, batch, n = _square_operand(node, args)
        count = math.prod(batch)
        if count == 0 or n == 0:
            return [call.empty(batch + (n, n), dtype)]
        source = _stack(call, a, batch, (n, n), a.dtype.name, False)
        return [reshape_view(_factor(node, call, source, count, n, lower, dtype), batch + (n, n))]
    return step


def _system(node, args, call, dtype):
    """(a stack, rhs stack (a fresh copy of b, columns), out shape, count, n, k) of ``a x = b`` with the checks
    of the python backend."""
    a, b = device(args[0]), device(args[1])
    a_shape, b_shape = tuple(a.shape), tuple(b.shape)
    _check_square(node, a_shape)
    n = a_shape[-1]
    vector = len(b_shape) == 1
    rows = b_shape[0] if vector else b_shape[-2]
    if rows != n:
        raise ValueError(f"{node.op}: b of shape {b_shape} does not fit a of shape {a_shape} (b's rows {rows} != "
                         f"{n}){node.where()}")
    if vector:
        b = view_with(b, (n, 1), (b.strides[0], 0))
    columns = tuple(b.shape)
    try:
        batch = tuple(np.broadcast_shapes(a_shape[:-2], columns[:-2]))
    except ValueError:
        raise ValueError(f"{node.op}: the batch axes of a {a_shape} and b {b_shape} cannot be broadcast"
                         f"{node.where()}") from None
    k = columns[-1]
    count = math.prod(batch)
    out_shape = batch + ((n,) if vector else (n, k))
    if count == 0 or n == 0 or k == 0:
        return None, None, out_shape, count, n, k
    source = _stack(call, a, batch, (n, n), a.dtype.name, False)
    rhs = _stack(call, b, batch, (n, k), dtype, True)
    return source, rhs, out_shape, count, n, k


def _triangular(node, call, matrix, rhs, count, n, k, lower, trans, unit):
    info = _info(call, count)
    kernel = _kernel(call, "triangular_kernel", _TRIANGULAR, matrix.dtype.name, rhs.dtype.name)
    kernel[_launch(count)](matrix, rhs, info, count, n, k, lower, trans, unit)
    _raise_for(node, info)


@register(Solve)
def lower_solve(node, host):
    op, dtype = node.op, node.outputs[0].dtype

    def step(args, call):
        source, rhs, out_shape, count, n, k = _system(node, args, call, dtype)
        if rhs is None:
            return [call.empty(out_shape, dtype)]
        if op.assume_a == "pos":
            # L Lᵀ x = b with the lower factor of the lower triangle, Uᵀ U x = b with the upper one of the upper
            lower = op.lower
            factor = _factor(node, call, source, count, n, lower, dtype)
            _triangular(node, call, factor, rhs, count, n, k, lower, not lower, False)
            _triangular(node, call, factor, rhs, count, n, k, lower, lower, False)
        else:
            x = call.empty((count, n, n), dtype)
            info = _info(call, count)
            kernel = _kernel(call, "lu_kernel", _LU, source.dtype.name, dtype)
            unused = call.empty((1,), dtype)
            kernel[_launch(count)](source, x, rhs, info, unused, unused, unused, count, n, k,
                                   op.assume_a == "sym", op.lower, False, False)
            _raise_for(node, info)
        return [reshape_view(rhs, out_shape)]
    return step


@register(SolveTriangular)
def lower_solve_triangular(node, host):
    op, dtype = node.op, node.outputs[0].dtype

    def step(args, call):
        source, rhs, out_shape, count, n, k = _system(node, args, call, dtype)
        if rhs is None:
            return [call.empty(out_shape, dtype)]
        _triangular(node, call, source, rhs, count, n, k, op.lower, bool(op.trans), op.unit_diagonal)
        return [reshape_view(rhs, out_shape)]
    return step
