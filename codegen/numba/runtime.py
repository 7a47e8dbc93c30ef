"""Runtime library of the numba backend: generic ``@njit(cache=True)`` helpers the generated kernels call.

Numba compiles every inline loop nest of a kernel (~50 ms each) and every NumPy
overload the kernel uses (np.broadcast_to ~150 ms, np.full ~80 ms) again in
each process that builds a new kernel. The helpers here are plain module-level
functions without closures or dynamic globals, so Numba's own on-disk cache
keeps their typed and lowered code per signature (dtype, ndim, layout, tuple
lengths). Kernels call them by address through ``linked.py`` (see link.py), so
a call site costs a few milliseconds of compile time and the helper's code is
never linked into the kernel and optimised again there (~60-100 ms each).
Lowerings (reduce.py, nnet.py, shape.py) call them on contiguous inputs, passed
with the lengths of an ``(outer, reduced, inner)`` view: a reduction over a
block of adjacent axes is a reduction over the middle axis of that view.
Reshapes happen inside the helpers (each ``.reshape`` in a kernel costs ~12 ms
of compile time) and shape tuples are passed as int64 (a literal length would
make a new signature). Numerics match the inline lowering exactly: the same
accumulator dtypes and the same order of operations, except ``sum_to_shape_4d``'s
sums over both trailing axes (a convolution's bias gradient), which add each
contiguous block with partial sums in the accumulator dtype (``_block_sum``:
vectorised, in the manner of NumPy's own pairwise sum, 5x faster than one
running sum; float32 gradients still accumulate in float64 and round once).

Where the helpers' cache lives (numba/core/caching.py, ``_CacheImpl._locator_classes``):
with ``NUMBA_CACHE_DIR`` set, under that directory; otherwise in ``__pycache__``
next to this file when that is writable, else (a read-only install; checked
with a read-only bind mount) in the user-wide cache ``$XDG_CACHE_HOME/numba`` or
``~/.cache/numba``. Numba keys the entries by a stamp of this file's source,
so an edited runtime.py recompiles its helpers; kernels call them under
names derived from their argument types, so ``cache.versions()`` puts a hash
of this file in the kernel key.
"""
from __future__ import annotations

import os
import sys

import numba as nb
import numpy as np
from llvmlite import ir
from numba.core import cgutils, types
from numba.cpython.unsafe.tuple import tuple_setitem
from numba.extending import intrinsic, overload

_jit = nb.njit(cache=True, error_model="numpy")


# ------------------------------------------------------------------ combining rules (as reduce._combine)
@nb.njit(inline="always")
def _add(accumulator, value):
    return accumulator + value


@nb.njit(inline="always")
def _multiply(accumulator, value):
    return accumulator * value


@nb.njit(inline="always")
def _pick_max(accumulator, value):
    # value != value only for NaN: a NaN enters the accumulator and nothing replaces it.
    return value if (value > accumulator or value != value) else accumulator


@nb.njit(inline="always")
def _pick_min(accumulator, value):
    return value if (value < accumulator or value != value) else accumulator


@nb.njit(inline="always")
def _either(accumulator, value):
    return accumulator or value != 0


@nb.njit(inline="always")
def _both(accumulator, value):
    return accumulator and value != 0


# One rule per reduction kind; the generic loops below take the kind as a literal, so each public
# helper compiles to the loop with its own rule and no branch (and each stays a module-level function
# without closures, which Numba's disk cache needs: a rule passed as a function argument is not).
SUM, PROD, MAX, MIN, ANY, ALL = range(6)
_RULES = (_add, _multiply, _pick_max, _pick_min, _either, _both)


def _combine(kind, accumulator, value):  # pragma: no cover - typed by the overload below
    raise NotImplementedError("only callable from jitted code")


@overload(_combine, inline="always")
def _combine_for_kind(kind, accumulator, value):
    if not isinstance(kind, types.IntegerLiteral):
        return None
    rule = _RULES[kind.literal_value]
    if kind.literal_value in (SUM, PROD) and isinstance(accumulator, types.Number) and value != accumulator:
        # The value joins the accumulator's dtype first: an int8 added to a uint64 accumulator (how kernels
        # sum signed integers, in modular arithmetic) would otherwise make Numba compute in float64.
        to = accumulator
        return lambda kind, accumulator, value: rule(accumulator, to(value))
    return lambda kind, accumulator, value: rule(accumulator, value)


# ------------------------------------------------------------------ reductions over trailing axes
# ``x`` (contiguous) is viewed as (outer, reduced); ``identity`` has the accumulator dtype (float64 for
# float32 sums and products, the op's ``accumulator_dtype``; uint64 for signed integer sums and products)
# and ``like`` the output dtype; the result has ``out_shape``. Reshapes happen here, not in the kernel:
# each one in a kernel costs ~12 ms of compile time.

@_jit
def _reduce_rows(x, outer, reduced, identity, like, out_shape, kind):
    nb.literally(kind)
    view = x.reshape((outer, reduced))
    out = np.empty(outer, dtype=np.asarray(like).dtype)
    for o in range(outer):
        accumulator = identity
        for r in range(reduced):
            accumulator = _combine(kind, accumulator, view[o, r])
        out[o] = accumulator
    return out.reshape(out_shape)


@_jit
def sum_rows(x, outer, reduced, identity, like, out_shape):
    return _reduce_rows(x, outer, reduced, identity, like, out_shape, SUM)


@_jit
def prod_rows(x, outer, reduced, identity, like, out_shape):
    return _reduce_rows(x, outer, reduced, identity, like, out_shape, PROD)


@_jit
def max_rows(x, outer, reduced, identity, like, out_shape):
    return _reduce_rows(x, outer, reduced, identity, like, out_shape, MAX)


@_jit
def min_rows(x, outer, reduced, identity, like, out_shape):
    return _reduce_rows(x, outer, reduced, identity, like, out_shape, MIN)


@_jit
def any_rows(x, outer, reduced, identity, like, out_shape):
    return _reduce_rows(x, outer, reduced, identity, like, out_shape, ANY)


@_jit
def all_rows(x, outer, reduced, identity, like, out_shape):
    return _reduce_rows(x, outer, reduced, identity, like, out_shape, ALL)


# ------------------------------------------------------------------ reductions over a middle block of axes
# ``x`` (contiguous) is viewed as (outer, reduced, inner); (outer, inner) accumulators start at ``identity``
# (the accumulator dtype, as for rows) and combine the elements in memory order, as the inline lowering
# does; the result has ``like``'s dtype.

@_jit
def _reduce_middle(x, outer, reduced, inner, identity, like, out_shape, kind):
    nb.literally(kind)
    view = x.reshape((outer, reduced, inner))
    out = np.full((outer, inner), identity)
    for o in range(outer):
        for r in range(reduced):
            for i in range(inner):
                out[o, i] = _combine(kind, out[o, i], view[o, r, i])
    return out.astype(np.asarray(like).dtype).reshape(out_shape)


@_jit
def sum_middle(x, outer, reduced, inner, identity, like, out_shape):
    return _reduce_middle(x, outer, reduced, inner, identity, like, out_shape, SUM)


@_jit
def prod_middle(x, outer, reduced, inner, identity, like, out_shape):
    return _reduce_middle(x, outer, reduced, inner, identity, like, out_shape, PROD)


@_jit
def max_middle(x, outer, reduced, inner, identity, like, out_shape):
    return _reduce_middle(x, outer, reduced, inner, identity, like, out_shape, MAX)


@_jit
def min_middle(x, outer, reduced, inner, identity, like, out_shape):
    return _reduce_middle(x, outer, reduced, inner, identity, like, out_shape, MIN)


@_jit
def any_middle(x, outer, reduced, inner, identity, like, out_shape):
    return _reduce_middle(x, outer, reduced, inner, identity, like, out_shape, ANY)


@_jit
def all_middle(x, outer, reduced, inner, identity, like, out_shape):
    return _reduce_middle(x, outer, reduced, inner, identity, like, out_shape, ALL)


# ------------------------------------------------------------------ sum_to_shape (adjoint of broadcasting)
# ``g`` has the rank of the target ``shape`` whose lengths must each equal g's or 1: the helpers raise the
# kernel's check ``number`` otherwise (one call where a kernel had one check per axis; the leading variants
# check through the summed view, whose first target length is 1); ``g`` is summed
# in memory order, as the inline lowering does, into accumulators of ``zero``'s dtype (the op's accumulator
# dtype), and the result has g's dtype. Matching shapes return ``g`` itself: the kernel must treat the
# result as not owned.

@nb.njit(inline="always")
def _check_summable(lengths, shape, number):
    """``check_value``'s error (check ``number``) unless each length of ``shape`` is the one of ``lengths`` (g's
    last ones) at the same position, or 1."""
    for a in range(len(shape)):
        check_value(shape[a] != lengths[a] and shape[a] != 1, number)


@_jit
def sum_to_shape_1d(g, shape, zero, number):
    _check_summable(g.shape, shape, number)
    if g.shape[0] == shape[0]:
        return g
    out = np.full(shape, zero)
    for i0 in range(g.shape[0]):
        out[0] += g[i0]
    return out.astype(g.dtype)


@_jit
def sum_to_shape_2d(g, shape, zero, number):
    _check_summable(g.shape, shape, number)
    if g.shape[0] == shape[0] and g.shape[1] == shape[1]:
        return g
    out = np.full(shape, zero)
    step0 = 0 if shape[0] == 1 else 1
    step1 = 0 if shape[1] == 1 else 1
    for i0 in range(g.shape[0]):
        for i1 in range(g.shape[1]):
            out[i0 * step0, i1 * step1] += g[i0, i1]
    return out.astype(g.dtype)


@_jit
def sum_to_shape_3d(g, shape, zero, number):
    _check_summable(g.shape, shape, number)
    if g.shape[0] == shape[0] and g.shape[1] == shape[1] and g.shape[2] == shape[2]:
        return g
    out = np.full(shape, zero)
    step0 = 0 if shape[0] == 1 else 1
    step1 = 0 if shape[1] == 1 else 1
    step2 = 0 if shape[2] == 1 else 1
    for i0 in range(g.shape[0]):
        for i1 in range(g.shape[1]):
            for i2 in range(g.shape[2]):
                out[i0 * step0, i1 * step1, i2 * step2] += g[i0, i1, i2]
    return out.astype(g.dtype)


@nb.njit(fastmath={"reassoc"})
def _block_sum(flat, start, count, zero):
    """``zero`` plus ``flat[start:start + count]`` in ``zero``'s dtype, in any order (partial sums: vectorised)."""
    total = zero
    for t in range(np.uint64(count)):
        total += flat[np.uint64(start) + t]
    return total


@_jit
def sum_to_shape_4d(g, shape, zero, number):
    _check_summable(g.shape, shape, number)
    if g.shape[0] == shape[0] and g.shape[1] == shape[1] and g.shape[2] == shape[2] and g.shape[3] == shape[3]:
        return g
    out = np.full(shape, zero)
    step0 = 0 if shape[0] == 1 else 1
    step1 = 0 if shape[1] == 1 else 1
    step2 = 0 if shape[2] == 1 else 1
    step3 = 0 if shape[3] == 1 else 1
    if step2 == 0 and step3 == 0:       # both trailing axes summed: each (i0, i1) block is contiguous
        flat, block = g.reshape(g.size), g.shape[2] * g.shape[3]
        for i0 in range(g.shape[0]):
            for i1 in range(g.shape[1]):
                out[i0 * step0, i1 * step1, 0, 0] += _block_sum(flat, (i0 * g.shape[1] + i1) * block, block, zero)
        return out.astype(g.dtype)
    for i0 in range(g.shape[0]):
        for i1 in range(g.shape[1]):
            for i2 in range(g.shape[2]):
                for i3 in range(g.shape[3]):
                    out[i0 * step0, i1 * step1, i2 * step2, i3 * step3] += g[i0, i1, i2, i3]
    return out.astype(g.dtype)


# With leading axes to drop: ``g`` (contiguous) is viewed as (lead, last k lengths) and summed to
# (1, *shape); the memory order of the additions is unchanged.

@_jit
def sum_leading_to_shape_1d(g, lead, shape, zero, number):
    view = g.reshape((lead, g.shape[-1]))
    return sum_to_shape_2d(view, (1, shape[0]), zero, number).reshape(shape)


@_jit
def sum_leading_to_shape_2d(g, lead, shape, zero, number):
    view = g.reshape((lead, g.shape[-2], g.shape[-1]))
    return sum_to_shape_3d(view, (1, shape[0], shape[1]), zero, number).reshape(shape)


@_jit
def sum_leading_to_shape_3d(g, lead, shape, zero, number):
    view = g.reshape((lead, g.shape[-3], g.shape[-2], g.shape[-1]))
    return sum_to_shape_4d(view, (1, shape[0], shape[1], shape[2]), zero, number).reshape(shape)


# ------------------------------------------------------------------ softmax family along the middle axis
# ``x_any`` (contiguous) is viewed as (outer, n, inner); ``zero`` is 0 in the accumulation dtype (float64 for
# float32). A row whose maximum is not finite shifts by 0, as the reference does (no inf - inf).

@nb.njit(inline="always")
def _row_shift(x, o, i, minus_infinity, zero):
    maximum = minus_infinity
    for r in range(x.shape[1]):
        value = x[o, r, i]
        if value > maximum:
            maximum = value
    if not np.isfinite(maximum):
        maximum = zero
    return maximum


@_jit
def softmax(x_any, outer, n, inner, zero):
    x = x_any.reshape((outer, n, inner))
    out = np.empty_like(x)
    constants = np.empty(2, dtype=x.dtype)   # -inf and 0 in x's dtype, as the inline literals
    constants[0] = -np.inf
    constants[1] = 0
    for o in range(x.shape[0]):
        for i in range(x.shape[2]):
            maximum = _row_shift(x, o, i, constants[0], constants[1])
            total = zero
            for r in range(x.shape[1]):
                total += np.exp(x[o, r, i] - maximum)
            inverse = 1 / total
            for r in range(x.shape[1]):
                out[o, r, i] = np.exp(x[o, r, i] - maximum) * inverse
    return out.reshape(x_any.shape)


@_jit
def log_softmax(x_any, outer, n, inner, zero):
    x = x_any.reshape((outer, n, inner))
    out = np.empty_like(x)
    constants = np.empty(3, dtype=x.dtype)   # -inf, 0 and the row's log-sum in x's dtype
    constants[0] = -np.inf
    constants[1] = 0
    for o in range(x.shape[0]):
        for i in range(x.shape[2]):
            maximum = _row_shift(x, o, i, constants[0], constants[1])
            total = zero
            for r in range(x.shape[1]):
                total += np.exp(x[o, r, i] - maximum)
            constants[2] = np.log(total)
            log_total = constants[2]
            for r in range(x.shape[1]):
                out[o, r, i] = (x[o, r, i] - maximum) - log_total
    return out.reshape(x_any.shape)


@_jit
def logsumexp(x_any, outer, n, inner, zero, out_shape):
    """The log-sum-exp of the middle axis of the (outer, n, inner) view, reshaped to ``out_shape``."""
    x = x_any.reshape((outer, n, inner))
    out = np.empty((x.shape[0], x.shape[2]), dtype=x.dtype)
    constants = np.empty(3, dtype=x.dtype)
    constants[0] = -np.inf
    constants[1] = 0
    for o in range(x.shape[0]):
        for i in range(x.shape[2]):
            maximum = _row_shift(x, o, i, constants[0], constants[1])
            total = zero
            for r in range(x.shape[1]):
                total += np.exp(x[o, r, i] - maximum)
            constants[2] = np.log(total)
            out[o, i] = constants[2] + maximum
    return out.reshape(out_shape)


# ------------------------------------------------------------------ integer power (NumPy's, exact)

@_jit
def int_power(base, exponent, one):
    """``base ** exponent`` for an ``exponent >= 0`` (the kernel checks the sign first), by repeated squaring
    in the wrapping arithmetic of ``one``'s type: uint64, whose bits modulo 2**64 are those of signed
    arithmetic too (the kernel casts the result to the op's dtype, exact modulo its width), with no
    undefined signed overflow. ``np.power`` in Numba goes through float64 and rounds."""
    result = one
    zero = one - one
    while exponent != zero:
        if exponent & one:
            result = result * base
        base = base * base
        exponent = exponent >> one
    return result


# ------------------------------------------------------------------ shape arithmetic of the generated checks
# One call in place of a few statements per axis: Numba's compile time grows with every branch of a kernel
# (all of W7's shape checks written inline cost 45% of its compile), a call by address costs a statement.

@_jit
def check_value(failed, number):
    """Raise ``ValueError("symgraph check", number)`` when ``failed``: a kernel's shape check as one call (the
    entry looks the message up by ``number``); an inline ``if ...: raise`` costs compile time per branch."""
    if failed:
        raise ValueError("symgraph check", number)
    return 0


@_jit
def check_index(failed, number):
    """``check_value`` raising ``IndexError`` (an index out of range)."""
    if failed:
        raise IndexError("symgraph check", number)
    return 0


@_jit
def broadcast_lengths(lengths, number):
    """The NumPy broadcast of the lengths in the int64 tuple ``lengths`` (equal, or 1); raises the kernel's
    check ``number`` when they do not broadcast (one call in the kernel, no branch of its own)."""
    length = lengths[0]
    for other in lengths[1:]:
        if other != length:
            if length == 1:
                length = other
            elif other != 1:
                raise ValueError("symgraph check", number)
    return length


@_jit
def checked_size(dims, itemsize):
    """The number of elements of a shape with the int64 lengths ``dims``, or -1 when NumPy would refuse the
    shape as too large: the product of the nonzero lengths times ``itemsize`` overflows int64 (int64
    arithmetic would wrap, and a wrapped size reads and writes out of bounds); -2 when a length is negative."""
    for d in dims:
        if d < 0:
            return np.int64(-2)
    size = np.int64(1)
    nonzero = np.int64(itemsize)
    for d in dims:
        if d != 0:
            if nonzero > 9223372036854775807 // d:
                return np.int64(-1)
            nonzero = nonzero * d
        size = size * d
    return size


@_jit
def shape_size(dims, itemsize, negative, too_large):
    """``checked_size`` for a kernel: the number of elements of ``dims``; raises the kernel's check ``negative``
    for a negative length and ``too_large`` when the shape overflows (one call, no branch in the kernel)."""
    size = checked_size(dims, itemsize)
    if size == -2:
        raise ValueError("symgraph check", negative)
    if size == -1:
        raise ValueError("symgraph check", too_large)
    return size


@_jit
def reshape_lengths(size, requested, itemsize, mismatch, too_large):
    """The lengths of a reshape of ``size`` elements to the int64 tuple ``requested``, where one length may be
    -1 (NumPy's "the rest"). Raises the kernel's check ``mismatch`` when the shapes do not match (or a length
    is below -1, or -1 appears twice), ``too_large`` when the requested shape overflows (``checked_size``)."""
    unknown = 0
    for n in requested:
        if n < -1:
            raise ValueError("symgraph check", mismatch)
        if n == -1:
            unknown += 1
    if unknown > 1:
        raise ValueError("symgraph check", mismatch)
    known_lengths = requested
    for i in range(len(requested)):
        if requested[i] == -1:
            known_lengths = tuple_setitem(known_lengths, i, np.int64(1))
    known = checked_size(known_lengths, itemsize)
    if known == -1:
        raise ValueError("symgraph check", too_large)
    if (unknown == 0 and known != size) or (unknown == 1 and (known == 0 or size % known != 0)):
        raise ValueError("symgraph check", mismatch)
    resolved = requested
    if unknown:
        for i in range(len(requested)):
            if requested[i] == -1:
                resolved = tuple_setitem(resolved, i, size // known)
    return resolved


# ------------------------------------------------------------------ allocations and views
# Each NumPy overload compiles once per process inside a kernel; behind a cached helper it loads.

@_jit
def broadcast_to(x, shape):
    """A read-only broadcast view of ``x`` (the kernel checks the lengths first)."""
    return np.broadcast_to(x, shape)


@_jit
def permute_dims(x, axes):
    """The view ``x.transpose(axes)`` (``axes`` an int64 tuple): Numba's transpose with axes compiles for
    over a second, once here rather than in every kernel."""
    return x.transpose(axes)


@_jit
def written(x):
    """Nothing; a kernel calls it after a ``prange`` loop that wrote through ``x``, a view returned by a helper
    (``ravel``): the use keeps Numba's parfor passes from dropping those writes as dead (they do not see
    that the view aliases an array read later)."""
    return 0


@_jit
def ravel(x):
    """The 1-d view of the C-contiguous ``x`` (a ``.reshape`` in a kernel costs ~12 ms of compile time)."""
    return x.reshape(x.size)


@_jit
def reshape(x, shape):
    """The view of the C-contiguous ``x`` with the int64 tuple ``shape`` (same size): a ``.reshape`` written in
    a kernel makes Numba compile its overload again in every process (~100 ms of a cold compile)."""
    return x.reshape(shape)


@_jit
def contiguous(x):
    """``x`` when it is C-contiguous, else a C-contiguous copy (``np.ascontiguousarray``, compiled once)."""
    return np.ascontiguousarray(x)


@_jit
def broadcast_copy(x, shape):
    """``x`` itself when it has ``shape``, else a C-contiguous copy of it broadcast to ``shape``: elementwise
    loops index every operand directly, and a dynamic broadcast (an axis of length 1 that the graph's types
    do not show) is rare enough to pay a copy."""
    if x.shape == shape:
        return x
    return np.ascontiguousarray(np.broadcast_to(x, shape))


@_jit
def broadcast_flat(x, shape):
    """``ravel(broadcast_copy(x, shape))`` for a C-contiguous ``x``: the 1-d view a flat elementwise loop reads
    an operand through, in one call."""
    return ravel(broadcast_copy(x, shape))


# ------------------------------------------------------------------ large arrays on huge pages
#
# A new array of tens of megabytes is fresh memory from the kernel: writing it first takes one page fault per
# 4 KiB page (20,000 for W1's 80 MB output, which made its parallel loop twice as slow as on reused memory:
# 41 against 19 ms), unless the pages are huge ones. NumPy asks Linux for transparent huge pages on arrays of
# 4 MiB and more (``madvise(MADV_HUGEPAGE)``); the arrays our kernels allocate get the same request.

_MADV_HUGEPAGE = 14 if sys.platform.startswith("linux") else 0
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_HUGE_PAGES_FROM = 1 << 22          # bytes: NumPy's threshold


@intrinsic
def _madvise(typingctx, address, length, advice):
    """``madvise(address, length, advice)`` (libc's; 0 and no call where the system has no huge pages)."""
    if not all(isinstance(t, types.Integer) for t in (address, length, advice)):
        return None

    def codegen(context, builder, signature, args):
        if not _MADV_HUGEPAGE:
            return context.get_constant(types.int32, 0)
        function = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.IntType(32), [ir.IntType(8).as_pointer(), ir.IntType(64),
                                                             ir.IntType(32)]), "madvise")
        values = [context.cast(builder, value, given, wanted) for value, given, wanted
                  in zip(args, signature.args, (types.intp, types.int64, types.int32))]
        return builder.call(function, [builder.inttoptr(values[0], ir.IntType(8).as_pointer()), values[1],
                                       values[2]])
    return types.int32(address, length, advice), codegen


@nb.njit(inline="always")
def _on_huge_pages(array):
    """``array``, its whole pages marked for transparent huge pages when it is large (as NumPy does)."""
    if _MADV_HUGEPAGE != 0 and array.nbytes >= _HUGE_PAGES_FROM:
        address = array.ctypes.data
        start = (address + _PAGE - 1) // _PAGE * _PAGE
        _madvise(start, (address + array.nbytes - start) // _PAGE * _PAGE, _MADV_HUGEPAGE)
    return array


@_jit
def full(shape, value):
    """A new array of ``shape`` filled with ``value``, of value's dtype."""
    out = _on_huge_pages(np.empty(shape, dtype=np.asarray(value).dtype))
    out.reshape((out.size,)).fill(value)      # (a 0-d array has no fill in Numba)
    return out


@_jit
def zeros(shape, like):
    """A new zero array of ``shape`` with the dtype of the scalar ``like``."""
    out = _on_huge_pages(np.empty(shape, dtype=np.asarray(like).dtype))
    out.reshape((out.size,)).fill(0)
    return out


@_jit
def empty(shape, like):
    """A new uninitialised array of ``shape`` with the dtype of the scalar ``like`` (huge pages when large)."""
    return _on_huge_pages(np.empty(shape, dtype=np.asarray(like).dtype))


@_jit
def join_copy(out, x, outer, total, length, inner, offset):
    """Copy the contiguous ``x`` into ``out`` at ``offset`` along the join axis, both seen as 3-d views
    (outer, that axis, inner): a slice assignment in the kernel costs over a second of compile time."""
    source = x.reshape((outer, length, inner))
    target = out.reshape((outer, total, inner))
    for o in range(outer):
        for r in range(length):
            for i in range(inner):
                target[o, offset + r, i] = source[o, r, i]


@_jit
def astype(x, like):
    """A new C-contiguous copy of ``x`` converted to the dtype of the scalar ``like`` (``x.astype``: written
    inline in a kernel, Numba compiles its overload again in every process)."""
    return x.astype(np.asarray(like).dtype)


@_jit
def copy(x):
    """A new C-contiguous copy of ``x`` (of any layout, read-only views included)."""
    return x.copy()


@_jit
def positions(n):
    """``np.arange(n)`` as int64 (the positions a slice selects from, for advanced indexing): inline,
    Numba compiles its overload again in every process."""
    return np.arange(n)


@_jit
def arange_length_int(start, stop, step):
    """The length of ``np.arange(start, stop, step)`` for integer bounds, as NumPy computes it: the ceiling of
    ``(stop - start) / step`` with the difference exact (it may exceed int64) and the quotient rounded once to
    a double; -1 when it exceeds the largest array. The kernel checks step != 0."""
    one = np.uint64(1)
    if step > 0:
        if stop <= start:
            return np.int64(0)
        difference, size = np.uint64(stop) - np.uint64(start), np.uint64(step)
    else:
        if stop >= start:
            return np.int64(0)
        difference, size = np.uint64(start) - np.uint64(stop), np.uint64(0) - np.uint64(step)
    quotient = difference // size
    remainder = difference - quotient * size
    length = quotient
    if remainder != 0:
        length = quotient + one
        bits, rest = np.uint64(0), quotient
        while rest > one:
            rest >>= one
            bits += one
        if quotient != 0 and bits < np.uint64(53):
            # The double nearest quotient + remainder / size is quotient itself (whose ceiling is quotient)
            # when remainder / size is below half a unit in the last place of quotient, 2**(bits - 53).
            shift = np.uint64(53) - bits
            threshold = size >> shift
            exact = (size & ((one << shift) - one)) == 0
            if remainder < threshold or (remainder == threshold and (not exact or quotient % np.uint64(2) == 0)):
                length = quotient
    if length > np.uint64(9223372036854775807):
        return np.int64(-1)
    return np.int64(length)


@_jit
def arange_length_float(start, stop, step):
    """The length of ``np.arange(start, stop, step)`` for float bounds (NumPy: the ceiling of the double
    ``(stop - start) / step``); -1 when it exceeds the largest array, -2 when it is not a number."""
    difference = stop - start
    quotient = difference / step
    if quotient == 0.0 and difference != 0.0:     # NumPy's underflow and divide-by-inf rule
        return np.int64(0) if np.signbit(quotient) else np.int64(1)
    value = np.ceil(quotient)
    if value != value:
        return np.int64(-2)
    if not -9.223372036854775808e18 <= value < 9.223372036854775808e18:
        return np.int64(-1)
    return np.int64(max(value, 0.0))


@_jit
def arange_fill(start, second, n, like):
    """The values of ``np.arange`` in the dtype of the scalar ``like``, by NumPy's fill loop: ``start``, then
    ``second`` (start + step, computed by the caller as NumPy does), then ``start + i * delta`` in that
    dtype with ``delta`` the difference of the first two stored values."""
    out = np.empty(n, np.asarray(like).dtype)
    if n > 0:
        out[0] = start
    if n > 1:
        out[1] = second
        first, delta = out[0], out[1] - out[0]
        scratch = np.empty(1, out.dtype)
        for i in range(2, n):
            scratch[0] = i                  # the index in the output dtype, as NumPy's loop converts it
            out[i] = first + scratch[0] * delta
    return out


# ------------------------------------------------------------------ sorting (ops/sort.py)

@_jit
def argsort_row(row, out):
    """``out[:] = np.argsort(row, kind="stable")`` for one row (any strides): merge sort, NaN last."""
    out[:] = np.argsort(row, kind="mergesort")


# ------------------------------------------------------------------ decompositions (ops/svd.py)

@_jit
def _as_float_matrix(a, like):
    """A C-contiguous copy of the matrix ``a`` in the dtype of ``like``."""
    m, n = a.shape
    w = np.empty((m, n), like.dtype)
    for i in range(m):
        for j in range(n):
            w[i, j] = a[i, j]
    return w


@_jit
def svd_matrix(a, u, s, vh, full):
    """``u, s, vh = np.linalg.svd(a, full_matrices=full)`` of one matrix (any layout and real dtype) written
    into ``u``, ``s`` and ``vh`` (LAPACK's gesdd, as NumPy); False when ``a`` holds inf or NaN."""
    w = _as_float_matrix(a, s)
    if not np.all(np.isfinite(w)):
        return False
    m, n = w.shape
    if m == 0 or n == 0:            # NumPy: no values, identity bases
        for i in range(u.shape[0]):
            for j in range(u.shape[1]):
                u[i, j] = 1.0 if i == j else 0.0
        for i in range(vh.shape[0]):
            for j in range(vh.shape[1]):
                vh[i, j] = 1.0 if i == j else 0.0
        return True
    uu, ss, vv = np.linalg.svd(w, full_matrices=full)
    u[:, :] = uu
    s[:] = ss
    vh[:, :] = vv
    return True


@_jit
def svd_values(a, s):
    """``s = np.linalg.svd(a, compute_uv=False)`` of one matrix; False when ``a`` holds inf or NaN."""
    w = _as_float_matrix(a, s)
    if not np.all(np.isfinite(w)):
        return False
    if w.shape[0] == 0 or w.shape[1] == 0:
        return True
    s[:] = np.linalg.svd(w, full_matrices=False)[1]
    return True


# ------------------------------------------------------------------ loops (ops/scan.py)

def _copy_elements(target, source):  # pragma: no cover - typed by the overload below
    raise NotImplementedError("only callable from jitted code")


def _copy_1d(target, source):
    for i0 in range(source.shape[0]):
        target[i0] = source[i0]


def _copy_2d(target, source):
    for i0 in range(source.shape[0]):
        for i1 in range(source.shape[1]):
            target[i0, i1] = source[i0, i1]


def _copy_3d(target, source):
    for i0 in range(source.shape[0]):
        for i1 in range(source.shape[1]):
            for i2 in range(source.shape[2]):
                target[i0, i1, i2] = source[i0, i1, i2]


def _copy_any(target, source):
    for index in np.ndindex(source.shape):
        target[index] = source[index]


@overload(_copy_elements, inline="always")
def _copy_elements_for_ndim(target, source):
    """``target[index] = source[index]`` for every index of ``source`` (``target`` at least as large): nested
    loops for up to three axes (the inner one vectorises), ``np.ndindex`` above (Numba's array assignment
    compiles its broadcasting and messages: ~3 s)."""
    return {1: _copy_1d, 2: _copy_2d, 3: _copy_3d}.get(source.ndim, _copy_any)


@_jit
def store_row(buffer, i, value):
    """``buffer[i] = value`` for an array ``value`` of ``buffer.shape[1:]`` (a scan writing a step's row)."""
    _copy_elements(buffer[i], value)


@_jit
def store_row_checked(buffer, i, value, first_check):
    """``store_row`` of a step's result, after checking it has the shape of a row of ``buffer``: a mismatch on
    axis ``a`` raises the kernel's check ``first_check + a`` (one call, no branch per axis in the kernel)."""
    for axis in range(value.ndim):
        if value.shape[axis] != buffer.shape[axis + 1]:
            raise ValueError("symgraph check", first_check + axis)
    _copy_elements(buffer[i], value)


@_jit
def store_rows(buffer, values):
    """``buffer[:len(values)] = values`` (a scan's initial rows)."""
    _copy_elements(buffer[:values.shape[0]], values)
