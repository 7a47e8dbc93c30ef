"""Runtime library of the random draws: a Numba port of NumPy's ``Generator(PCG64)``, bit for bit.

A stream's state is a ``uint64`` array of six words (symgraph/random_state.py): the 128-bit LCG state
(high, low), the 128-bit increment (high, low), ``has_uint32`` and ``uinteger`` (NumPy's buffered half of
a 64-bit output, which ``next_uint32`` hands out before drawing again). Every public helper advances
``state`` in place and fills ``out`` (C-contiguous, any ndim, in C order) with exactly the values
``numpy.random.Generator(PCG64)`` would give for the same state and ``size=out.shape``, leaving ``state``
where NumPy leaves its bit generator. A zero-size ``out`` draws nothing.

What is ported, from NumPy 2.x's sources (``pcg64.h``, ``distributions.c``, ``_generator.pyx``,
``_bounded_integers.pyx.in``, ``_common.pyx``):

* ``pcg64_next64``: step (``state = state * MULT + inc`` mod 2**128, in 64-bit halves with a 64x64 -> 128
  ``_mulhi`` that is one 128-bit multiply in LLVM's IR), then the XSL-RR output of the *new* state;
  ``random`` (float64) runs four interleaved LCGs that step four states at once (same outputs, in order);
  ``pcg64_next32``: the low half of a fresh 64-bit output, the high half kept for the next call;
* ``next_double`` (53 bits) and ``next_float`` (24 bits of a ``next_uint32``);
* the ziggurat normals ``random_standard_normal`` / ``random_standard_normal_f`` with NumPy's tables
  (Numba ships them, equal to NumPy's ``ziggurat_constants.h``); the float32 one draws 32-bit outputs and
  runs its tail in float32 (``log1pf``) but its wedge test against the double ``exp(-0.5 * x * x)``;
* the bounded integers of ``Generator.integers`` (Lemire's method, 32-bit when the closed range fits,
  plain outputs for the full 32- and 64-bit ranges) and ``random_interval`` (mask rejection, used by
  ``shuffle``);
* ``Generator.permutation(n)``, and the three sampling branches of ``Generator.choice``: with replacement
  and weights (cumulative sum, ``random``, ``searchsorted(side='right')``), without replacement and
  without weights (tail shuffle for large populations, else Floyd's algorithm with NumPy's hash set, then a
  shuffle), and without replacement with weights (NumPy's loop of batches made unique).

Helpers that can fail return an int64 status (0 = ok) instead of raising; the caller raises its own
message and discards ``out`` and ``state`` on a non-zero status (the checks run before any draw, so both
are in fact untouched, but callers must not rely on it). The checks come in NumPy's order:

====  ===================================================================================================
1     ``integers``: some ``low >= high``. ``choice_p*``: the Kahan sum of ``p`` is NaN (a NaN entry, or
      an infinite one followed by two or more entries) or an entry is negative.
      ``choice_no_replace``: ``out.size > pop_size``.
2     ``integers``: ``low`` or ``high`` has neither one element nor ``out.size``. ``choice_p*``: ``p``
      does not sum to 1 within ``sqrt(eps)`` (NumPy's Kahan sum and tolerance for float64 ``p``).
3     ``choice_p*``: ``p`` is empty while ``out`` is not.
4     ``choice_p_no_replace``: fewer positive entries in ``p`` than ``out.size``.
====  ===================================================================================================

Style as runtime.py: module-level functions without closures, cached by Numba on disk (``_jit``); every
integer constant of the bit arithmetic is a ``np.uint64`` (a uint64 mixed with an int64 makes Numba
compute in float64). The tiny internals are inlined by Numba (``inline="always"``); the generator steps
``_next64``/``_next32`` and the algorithms are ``_jit`` functions that LLVM inlines instead: inlined in
Numba's IR at each of their many call sites they doubled the cold compile time (~1 s per helper), at no
gain in speed. The public helpers only flatten ``out`` and call a 1-d worker, so each further ndim of
``out`` costs ~0.1 s of compile time. Kernels call the public helpers through ``linked.py``.
"""
from __future__ import annotations

import math

import numba as nb
import numpy as np
from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic
from numba.np.random import _constants

_jit = nb.njit(cache=True, error_model="numpy")

# ------------------------------------------------------------------ constants
_MULT_HI = np.uint64(2549297995355413924)      # PCG_DEFAULT_MULTIPLIER_HIGH
_MULT_LO = np.uint64(4865540595714422341)      # PCG_DEFAULT_MULTIPLIER_LOW
_U0 = np.uint64(0)
_U1 = np.uint64(1)
_U2 = np.uint64(2)
_U4 = np.uint64(4)
_U8 = np.uint64(8)
_U9 = np.uint64(9)
_U11 = np.uint64(11)
_U16 = np.uint64(16)
_U32 = np.uint64(32)
_U58 = np.uint64(58)
_U63 = np.uint64(63)
_U64 = np.uint64(64)
_LOW8 = np.uint64(0xFF)
_LOW23 = np.uint64(0x7FFFFF)
_LOW32 = np.uint64(0xFFFFFFFF)
_LOW52 = np.uint64(0x000FFFFFFFFFFFFF)
_ALL64 = np.uint64(0xFFFFFFFFFFFFFFFF)

_DOUBLE_UNIT = 1.0 / 9007199254740992.0        # 2**-53
_FLOAT_UNIT = np.float32(1.0 / 16777216.0)     # 2**-24

# The ziggurat tables and tail constants of NumPy's ziggurat_constants.h (Numba's copy of them).
_KI_DOUBLE = np.ascontiguousarray(_constants.ki_double, dtype=np.uint64)
_WI_DOUBLE = np.ascontiguousarray(_constants.wi_double, dtype=np.float64)
_FI_DOUBLE = np.ascontiguousarray(_constants.fi_double, dtype=np.float64)
_KI_FLOAT = np.ascontiguousarray(_constants.ki_float, dtype=np.uint32)
_WI_FLOAT = np.ascontiguousarray(_constants.wi_float, dtype=np.float32)
_FI_FLOAT = np.ascontiguousarray(_constants.fi_float, dtype=np.float32)
_NOR_R = float(_constants.ziggurat_nor_r)
_NOR_INV_R = float(_constants.ziggurat_nor_inv_r)
_NOR_R_F = np.float32(_constants.ziggurat_nor_r_f)
_NOR_INV_R_F = np.float32(_constants.ziggurat_nor_inv_r_f)

# Generator.choice: NumPy's tolerance on sum(p) for float64 p, sqrt(finfo(float64).eps) (= 2**-26).
_P_ATOL = float(np.sqrt(np.finfo(np.float64).eps))
# Generator.choice without replacement, without p: the tail shuffle above this population size ...
_TAIL_SHUFFLE_POPULATION = 10000
# ... when the sample is larger than population // _TAIL_SHUFFLE_CUTOFF (cutoff 50 as shuffle=True).
_TAIL_SHUFFLE_CUTOFF = 50


# ------------------------------------------------------------------ the bit generator (pcg64.h)
@intrinsic
def _mulhi(typingctx, x, y):
    """The high 64 bits of the 128-bit product of the uint64s ``x`` and ``y`` (NumPy's _pcg_mult64): one
    128-bit multiply in LLVM's IR (a single ``mul`` on x86-64), not four 32-bit pieces."""
    signature = types.uint64(types.uint64, types.uint64)

    def codegen(context, builder, sig, args):
        wide = ir.IntType(128)
        product = builder.mul(builder.zext(args[0], wide), builder.zext(args[1], wide))
        return builder.trunc(builder.lshr(product, ir.Constant(wide, 64)), ir.IntType(64))
    return signature, codegen


@nb.njit(inline="always")
def _times(a_high, a_low, b_high, b_low):
    """``a * b`` mod 2**128 of two 128-bit numbers given as (high, low) uint64 halves."""
    return _mulhi(a_low, b_low) + a_high * b_low + a_low * b_high, a_low * b_low


@nb.njit(inline="always")
def _plus(a_high, a_low, b_high, b_low):
    """``a + b`` mod 2**128."""
    low = a_low + b_low
    return a_high + b_high + (_U1 if low < b_low else _U0), low


@nb.njit(inline="always")
def _affine(high, low, a_high, a_low, c_high, c_low):
    """``a * state + c`` mod 2**128: one LCG step (a = MULT, c = inc), or several at once."""
    product_high, product_low = _times(high, low, a_high, a_low)
    return _plus(product_high, product_low, c_high, c_low)


@nb.njit(inline="always")
def _output(high, low):
    """pcg_output_xsl_rr_128_64 of a 128-bit state."""
    value = high ^ low
    rotation = high >> _U58
    return (value >> rotation) | (value << ((_U64 - rotation) & _U63))


@_jit
def _next64(state):
    # pcg_setseq_128_step_r (state = state * MULT + inc, mod 2**128), then pcg_output_xsl_rr_128_64 of the
    # new state.
    high, low = _affine(state[0], state[1], _MULT_HI, _MULT_LO, state[2], state[3])
    state[0] = high
    state[1] = low
    return _output(high, low)


@_jit
def _next32(state):
    # pcg64_next32: the kept high half if there is one, else the low half of a new output (as a uint64).
    if state[4] != _U0:
        state[4] = _U0
        return state[5] & _LOW32
    value = _next64(state)
    state[4] = _U1
    state[5] = value >> _U32
    return value & _LOW32


@nb.njit(inline="always")
def _next_double(state):
    return np.float64(_next64(state) >> _U11) * _DOUBLE_UNIT


@nb.njit(inline="always")
def _next_float(state):
    return np.float32(_next32(state) >> _U8) * _FLOAT_UNIT


# ------------------------------------------------------------------ normals (distributions.c)
@_jit
def _normal_f64(state):
    """random_standard_normal."""
    while True:
        r = _next64(state)
        idx = np.intp(r & _LOW8)
        r = r >> _U8
        negative = (r & _U1) != _U0
        rabs = (r >> _U1) & _LOW52
        x = np.float64(rabs) * _WI_DOUBLE[idx]
        if negative:
            x = -x
        if rabs < _KI_DOUBLE[idx]:
            return x                                   # 99.3% of the time
        if idx == 0:
            while True:                                # the tail beyond ziggurat_nor_r
                xx = -_NOR_INV_R * math.log1p(-_next_double(state))
                yy = -math.log1p(-_next_double(state))
                if yy + yy > xx * xx:
                    if ((rabs >> _U8) & _U1) != _U0:
                        return -(_NOR_R + xx)
                    return _NOR_R + xx
        else:                                          # a wedge
            if ((_FI_DOUBLE[idx - 1] - _FI_DOUBLE[idx]) * _next_double(state)
                    + _FI_DOUBLE[idx]) < math.exp(-0.5 * x * x):
                return x


@_jit
def _normal_f32(state):
    """random_standard_normal_f."""
    while True:
        r = _next32(state)
        idx = np.intp(r & _LOW8)
        negative = ((r >> _U8) & _U1) != _U0
        rabs = (r >> _U9) & _LOW23
        x = np.float32(rabs) * _WI_FLOAT[idx]
        if negative:
            x = -x
        if rabs < np.uint64(_KI_FLOAT[idx]):
            return x
        if idx == 0:
            while True:                                # float32 arithmetic and log1pf, as NumPy
                xx = -_NOR_INV_R_F * math.log1p(-_next_float(state))
                yy = -math.log1p(-_next_float(state))
                if yy + yy > xx * xx:
                    if ((rabs >> _U8) & _U1) != _U0:
                        return -(_NOR_R_F + xx)
                    return _NOR_R_F + xx
        else:                                          # float32 left side, double exp
            xd = np.float64(x)
            if np.float64((_FI_FLOAT[idx - 1] - _FI_FLOAT[idx]) * _next_float(state)
                          + _FI_FLOAT[idx]) < math.exp(-0.5 * xd * xd):
                return x


# ------------------------------------------------------------------ bounded integers (distributions.c)
@nb.njit(inline="always")
def _gen_mask(value):
    """The smallest bit mask >= ``value`` (uint64)."""
    mask = value
    mask |= mask >> _U1
    mask |= mask >> _U2
    mask |= mask >> _U4
    mask |= mask >> _U8
    mask |= mask >> _U16
    mask |= mask >> _U32
    return mask


@_jit
def _lemire32(state, rng):
    """buffered_bounded_lemire_uint32: uniform on [0, rng] for 0 < rng < 2**32 - 1 (uint64s)."""
    rng_excl = rng + _U1
    m = _next32(state) * rng_excl
    leftover = m & _LOW32
    if leftover < rng_excl:
        threshold = (_LOW32 - rng) % rng_excl
        while leftover < threshold:
            m = _next32(state) * rng_excl
            leftover = m & _LOW32
    return m >> _U32


@_jit
def _lemire64(state, rng):
    """bounded_lemire_uint64: uniform on [0, rng] for 2**32 <= rng < 2**64 - 1."""
    rng_excl = rng + _U1
    x = _next64(state)
    leftover = x * rng_excl
    if leftover < rng_excl:
        threshold = (_ALL64 - rng) % rng_excl
        while leftover < threshold:
            x = _next64(state)
            leftover = x * rng_excl
    return _mulhi(x, rng_excl)


@_jit
def _bounded(state, off, rng):
    """random_bounded_uint64 (Lemire): ``off`` plus a uniform integer of [0, rng], uint64s, wrapping."""
    if rng == _U0:
        return off
    if rng <= _LOW32:
        if rng == _LOW32:                              # Lemire32 can't: a plain 32-bit output
            return off + _next32(state)
        return off + _lemire32(state, rng)
    if rng == _ALL64:
        return off + _next64(state)
    return off + _lemire64(state, rng)


@_jit
def _interval(state, max_value):
    """random_interval: uniform on [0, max_value] by mask rejection (Generator.shuffle's draws)."""
    if max_value == _U0:
        return _U0
    mask = _gen_mask(max_value)
    if max_value <= _LOW32:
        while True:
            value = _next32(state) & mask
            if value <= max_value:
                return value
    while True:
        value = _next64(state) & mask
        if value <= max_value:
            return value


@_jit
def _shuffle_int(state, data, n, first):
    """_generator.pyx's _shuffle_int: swaps data[i] with data[random_bounded(0, i)], i = n-1 .. first."""
    for i in range(n - 1, first - 1, -1):
        j = np.intp(_bounded(state, _U0, np.uint64(i)))
        temp = data[j]
        data[j] = data[i]
        data[i] = temp


# ------------------------------------------------------------------ choice with weights: checks and cdf
@_jit
def _check_p(p, count):
    """The statuses of Generator.choice's checks of ``p`` for ``count`` samples (see the module docstring)."""
    d = p.size
    if d == 0 and count > 0:
        return 3                                       # "a must be a positive integer ..."
    total = 0.0                                        # _common.pyx's kahan_sum
    if d > 0:
        total = p[0]
        c = 0.0
        for i in range(1, d):
            y = p[i] - c
            t = total + y
            c = (t - total) - y
            total = t
    if total != total:
        return 1                                       # "Probabilities contain NaN"
    for i in range(d):
        if p[i] < 0.0:
            return 1                                   # "Probabilities are not non-negative"
    if abs(total - 1.0) > _P_ATOL:
        return 2                                       # "Probabilities do not sum to 1"
    return 0


@_jit
def _normalised_cdf(p, cdf):
    """``cdf = p.cumsum(); cdf /= cdf[-1]`` (a sequential sum, as np.add.accumulate)."""
    d = p.size
    acc = p[0]
    cdf[0] = acc
    for i in range(1, d):
        acc = acc + p[i]
        cdf[i] = acc
    last = cdf[d - 1]
    for i in range(d):
        cdf[i] = cdf[i] / last


@nb.njit(inline="always")
def _search_right(cdf, value):
    """``cdf.searchsorted(value, side='right')``: the number of entries <= value of the sorted ``cdf``."""
    lo = 0
    hi = cdf.size
    while lo < hi:
        mid = (lo + hi) >> 1
        if cdf[mid] <= value:
            lo = mid + 1
        else:
            hi = mid
    return lo


# ------------------------------------------------------------------ 1-d workers
# The public helpers below only flatten ``out`` (a view, C order) and call these, so each further ndim of
# ``out`` costs a small wrapper's compile, not the whole algorithm's.

@_jit
def _fill_normal_f64(state, flat):
    for i in range(flat.size):
        flat[i] = _normal_f64(state)


@_jit
def _fill_normal_f32(state, flat):
    for i in range(flat.size):
        flat[i] = _normal_f32(state)


@nb.njit(inline="always")
def _four_states(state):
    """For four interleaved LCGs: the states after 1, 2, 3 and 4 steps of ``state`` (they give the next four
    outputs) and the constants of a four-step jump, ``state t+4 = A4 * state t + C4`` with ``A4 = MULT**4``
    and ``C4 = inc * (MULT**3 + MULT**2 + MULT + 1)`` (mod 2**128)."""
    inc_high, inc_low = state[2], state[3]
    m2_high, m2_low = _times(_MULT_HI, _MULT_LO, _MULT_HI, _MULT_LO)
    m3_high, m3_low = _times(m2_high, m2_low, _MULT_HI, _MULT_LO)
    a4_high, a4_low = _times(m3_high, m3_low, _MULT_HI, _MULT_LO)
    sum_high, sum_low = _plus(m3_high, m3_low, m2_high, m2_low)
    sum_high, sum_low = _plus(sum_high, sum_low, _MULT_HI, _MULT_LO)
    sum_high, sum_low = _plus(sum_high, sum_low, _U0, _U1)
    c4_high, c4_low = _times(inc_high, inc_low, sum_high, sum_low)
    h0, l0 = _affine(state[0], state[1], _MULT_HI, _MULT_LO, inc_high, inc_low)
    h1, l1 = _affine(h0, l0, _MULT_HI, _MULT_LO, inc_high, inc_low)
    h2, l2 = _affine(h1, l1, _MULT_HI, _MULT_LO, inc_high, inc_low)
    h3, l3 = _affine(h2, l2, _MULT_HI, _MULT_LO, inc_high, inc_low)
    return h0, l0, h1, l1, h2, l2, h3, l3, a4_high, a4_low, c4_high, c4_low


@nb.njit(inline="always")
def _unit(high, low):
    """next_double of the output of a state: 53 random bits in [0, 1)."""
    return np.float64(_output(high, low) >> _U11) * _DOUBLE_UNIT


# Float64 uniforms are NumPy's outputs in order, computed as four interleaved LCGs (_four_states): four
# independent multiply chains run side by side instead of one serial chain (~2.5x the throughput; the
# same bits). The last state used is the state NumPy's generator ends in.

@_jit
def _fill_random_f64(state, flat):
    n = flat.size
    i = 0
    if n >= 8:
        h0, l0, h1, l1, h2, l2, h3, l3, ah, al, ch, cl = _four_states(state)
        while True:
            flat[i] = _unit(h0, l0)
            flat[i + 1] = _unit(h1, l1)
            flat[i + 2] = _unit(h2, l2)
            flat[i + 3] = _unit(h3, l3)
            i += 4
            if i + 4 > n:
                break
            h0, l0 = _affine(h0, l0, ah, al, ch, cl)
            h1, l1 = _affine(h1, l1, ah, al, ch, cl)
            h2, l2 = _affine(h2, l2, ah, al, ch, cl)
            h3, l3 = _affine(h3, l3, ah, al, ch, cl)
        state[0] = h3
        state[1] = l3
    for j in range(i, n):
        flat[j] = _next_double(state)


@_jit
def _fill_bernoulli(state, p, flat):
    # The loop of _fill_random_f64 with the comparison in it, written out: one generic loop with the store
    # chosen by a flag measured 35% slower (LLVM does not unswitch it).
    # flat[i] = random() < p (p: one probability, or one per element), as _fill_random_f64 draws.
    n = flat.size
    for k in range(p.size):
        if not (p[k] >= 0.0 and p[k] <= 1.0):
            return 1
    single = p.size == 1
    q = p[0] if p.size else 0.0
    i = 0
    if n >= 8:
        h0, l0, h1, l1, h2, l2, h3, l3, ah, al, ch, cl = _four_states(state)
        while True:
            if single:
                flat[i] = _unit(h0, l0) < q
                flat[i + 1] = _unit(h1, l1) < q
                flat[i + 2] = _unit(h2, l2) < q
                flat[i + 3] = _unit(h3, l3) < q
            else:
                flat[i] = _unit(h0, l0) < p[i]
                flat[i + 1] = _unit(h1, l1) < p[i + 1]
                flat[i + 2] = _unit(h2, l2) < p[i + 2]
                flat[i + 3] = _unit(h3, l3) < p[i + 3]
            i += 4
            if i + 4 > n:
                break
            h0, l0 = _affine(h0, l0, ah, al, ch, cl)
            h1, l1 = _affine(h1, l1, ah, al, ch, cl)
            h2, l2 = _affine(h2, l2, ah, al, ch, cl)
            h3, l3 = _affine(h3, l3, ah, al, ch, cl)
        state[0] = h3
        state[1] = l3
    for j in range(i, n):
        flat[j] = _next_double(state) < (q if single else p[j])
    return 0


@_jit
def _fill_random_f32(state, flat):
    for i in range(flat.size):
        flat[i] = _next_float(state)


@_jit
def _fill_integers(state, lows, highs, flat):
    # NumPy's scalar path (random_bounded_uint64_fill) and its broadcast path (random_bounded_uint64 per
    # element, in C order) draw alike. Nothing is drawn unless every low < high.
    n = flat.size
    n_low = lows.size
    n_high = highs.size
    if n == 0:
        return 0                                       # NumPy returns before checking the bounds
    if (n_low != 1 and n_low != n) or (n_high != 1 and n_high != n):
        return 2
    for i in range(max(n_low, n_high)):
        if lows[i if n_low > 1 else 0] >= highs[i if n_high > 1 else 0]:
            return 1
    for i in range(n):
        off = np.uint64(lows[i if n_low > 1 else 0])
        rng = np.uint64(highs[i if n_high > 1 else 0]) - off - _U1   # the closed range [low, high - 1]
        flat[i] = np.int64(_bounded(state, off, rng))
    return 0


@_jit
def _fill_permutation(state, flat):
    n = flat.size
    for i in range(n):
        flat[i] = i
    for i in range(n - 1, 0, -1):                      # shuffle's fast path: random_interval swaps
        j = np.intp(_interval(state, np.uint64(i)))
        temp = flat[j]
        flat[j] = flat[i]
        flat[i] = temp


@_jit
def _fill_choice_p(state, p, flat):
    n = flat.size
    status = _check_p(p, n)
    if status != 0 or n == 0:
        return status
    cdf = np.empty(p.size, dtype=np.float64)
    _normalised_cdf(p, cdf)
    for i in range(n):
        flat[i] = _search_right(cdf, _next_double(state))
    return 0


@_jit
def _fill_choice_no_replace(state, pop_size, flat):
    size = flat.size
    if size > pop_size:
        return 1
    if size == 0:
        return 0
    if pop_size > _TAIL_SHUFFLE_POPULATION and size > pop_size // _TAIL_SHUFFLE_CUTOFF:
        # Tail shuffle: the last `size` places of a partly shuffled arange.
        idx = np.empty(pop_size, dtype=np.int64)
        for i in range(pop_size):
            idx[i] = i
        _shuffle_int(state, idx, pop_size, max(pop_size - size, 1))
        for i in range(size):
            flat[i] = idx[pop_size - size + i]
        return 0
    # Floyd's algorithm, the values kept in an open-addressing hash set (empty slots: all bits set).
    mask = _gen_mask(np.uint64(1.2 * size))
    hash_set = np.empty(np.intp(mask + _U1), dtype=np.uint64)
    for i in range(hash_set.size):
        hash_set[i] = _ALL64
    for j in range(pop_size - size, pop_size):
        uj = np.uint64(j)
        val = _bounded(state, _U0, uj)
        loc = val & mask
        while hash_set[loc] != _ALL64 and hash_set[loc] != val:
            loc = (loc + _U1) & mask
        if hash_set[loc] == _ALL64:                    # val is new
            hash_set[loc] = val
            flat[j - pop_size + size] = np.int64(val)
        else:                                          # val taken: insert j instead
            loc = uj & mask
            while hash_set[loc] != _ALL64:
                loc = (loc + _U1) & mask
            hash_set[loc] = uj
            flat[j - pop_size + size] = j
    _shuffle_int(state, flat, size, 1)
    return 0


@_jit
def _fill_choice_p_no_replace(state, p, flat):
    size = flat.size
    status = _check_p(p, size)
    if status != 0 or size == 0:
        return status
    d = p.size
    positive = 0
    for i in range(d):
        if p[i] > 0.0:
            positive += 1
    if positive < size:                                # (so also size > d)
        return 4
    weights = p.copy()
    cdf = np.empty(d, dtype=np.float64)
    batch_of = np.empty(d, dtype=np.int64)             # the last batch that drew each index
    for i in range(d):
        batch_of[i] = -1
    n_uniq = 0
    batch = 0
    while n_uniq < size:
        # NumPy: x = random(size - n_uniq); p[found] = 0; cdf of p; new = searchsorted(x), its distinct
        # values in order of first occurrence (np.unique(return_index=True), indices sorted) appended.
        for k in range(n_uniq):
            weights[flat[k]] = 0.0
        _normalised_cdf(weights, cdf)
        added = 0
        for _ in range(size - n_uniq):
            index = _search_right(cdf, _next_double(state))   # < d: cdf[-1] == 1 > the uniform
            if batch_of[index] != batch:
                batch_of[index] = batch
                flat[n_uniq + added] = index
                added += 1
        n_uniq += added
        batch += 1
    return 0


# ------------------------------------------------------------------ public helpers
@_jit
def standard_normal_f64(state, out):
    """Fill ``out`` (float64) as ``Generator.standard_normal(out.shape)``, advancing ``state``."""
    _fill_normal_f64(state, out.reshape(out.size))


@_jit
def standard_normal_f32(state, out):
    """Fill ``out`` (float32) as ``Generator.standard_normal(out.shape, dtype=np.float32)``."""
    _fill_normal_f32(state, out.reshape(out.size))


@_jit
def random_f64(state, out):
    """Fill ``out`` (float64) as ``Generator.random(out.shape)``, advancing ``state``."""
    _fill_random_f64(state, out.reshape(out.size))


@_jit
def bernoulli(state, p, out):
    """Fill ``out`` (any dtype) with ``Generator.random(out.shape) < p`` (``p`` float64, one probability or
    one per element of ``out`` in C order); status 1 (nothing drawn) when some ``p`` is outside [0, 1] or
    NaN."""
    return _fill_bernoulli(state, p.reshape(p.size), out.reshape(out.size))


@_jit
def random_f32(state, out):
    """Fill ``out`` (float32) as ``Generator.random(out.shape, dtype=np.float32)``."""
    _fill_random_f32(state, out.reshape(out.size))


@_jit
def integers(state, low, high, out):
    """Fill ``out`` (int64) as ``Generator.integers(low, high, out.shape)``; status 1: some low >= high."""
    # low, high: int64, one bound or one per element of out (C order). A zero-size out returns 0 before
    # any check, as NumPy. On status 1 or 2 nothing was drawn or written; the caller discards both.
    return _fill_integers(state, low.reshape(low.size), high.reshape(high.size), out.reshape(out.size))


@_jit
def permutation(state, out):
    """Fill ``out`` (int64, n elements) as ``Generator.permutation(n)``: arange, then shuffle."""
    _fill_permutation(state, out.reshape(out.size))


@_jit
def choice_p(state, p, out):
    """Fill ``out`` (int64) as ``Generator.choice(p.size, out.shape, p=p)``; status as the module says."""
    return _fill_choice_p(state, p.reshape(p.size), out.reshape(out.size))


@_jit
def choice_no_replace(state, pop_size, out):
    """Fill ``out`` (int64) as ``Generator.choice(pop_size, out.shape, replace=False)``; status 1: too many."""
    return _fill_choice_no_replace(state, np.int64(pop_size), out.reshape(out.size))


@_jit
def choice_p_no_replace(state, p, out):
    """Fill ``out`` (int64) as ``Generator.choice(p.size, out.shape, replace=False, p=p)``; status as the module."""
    return _fill_choice_p_no_replace(state, p.reshape(p.size), out.reshape(out.size))
