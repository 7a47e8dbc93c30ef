"""Lowering of the random draws of symgraph/ops/random.py: values from a counter-based generator on the device.

The cuda stream is not NumPy's: the python and numba backends give ``Generator(PCG64)``'s values bit for
bit, the cuda backend draws from **Philox-4x32-10** (Salmon et al., "Parallel random numbers: as easy as
1, 2, 3", SC 2011; the Random123 / cuRAND round constants) keyed by the draw's state. The distributions
are the same; the values differ from the CPU backends'. The integer arithmetic is exact, so uniform, bernoulli
and discrete draws have the same bits on a GPU and in Numba's simulator (normal draws up to the last bits
of ``log``, ``sqrt`` and ``cos``).

The stream, for one call of a draw whose state holds the words ``w0 .. w5`` (``symgraph/random_state.py``):

* key and counter word: with ``mix`` splitmix64's output function (``z += 0x9E3779B97F4A7C15`` then its
  two xor-shift-multiply steps), ``a = mix(w2 ^ mix(w3))`` (the increment), ``h = mix(w0 ^ mix(w1 ^ a))``
  and ``g = mix(h ^ a)``: the Philox key is ``(h mod 2**32, h >> 32)`` and every counter's last word is
  ``g >> 32``. Each call gives a new key (``h`` is a bijection of ``w0`` for fixed other words);
* element ``i`` (the flat C-order index of the value) reads the 128 bits of Philox at the counter
  ``(i mod 2**32, i >> 32, j, g >> 32)``, ``j`` a sub-counter (0 for the first block; further blocks
  for rejected draws), as four 32-bit words ``x0 .. x3``; a 64-bit word is ``x1 << 32 | x0`` (then
  ``x3 << 32 | x2``);
* the new state: words 2 .. 5 (the increment, ``has_uint32``, ``uinteger``) as they were; the 128-bit
  LCG state (words 0 high, 1 low) plus one, with carry, written on the device by thread 0 of the draw
  kernel (no round trip to the host). Every call advances it once, also a call drawing no value (a
  zero length, or an empty sample); a call that fails (a bad parameter) commits no new state.

The distributions:

* ``random``: float64 ``(u64 >> 11) * 2**-53``; float32 ``(x0 >> 8) * 2**-24``: in [0, 1), as NumPy's;
* ``standard_normal``: Box-Muller, ``sqrt(-2 log(1 - u)) cos(2 pi v)`` from the two float64 uniforms of
  the element's block, computed in float64 (float32 draws round it once);
* ``bernoulli``: the element's float64 uniform ``< p`` (``p`` broadcast; outside [0, 1] or NaN: a
  ValueError, checked on the host when ``p`` is a host value, else by a flag read back);
* ``integers``: ``low + r`` with ``r`` uniform in ``[0, high - low)`` by Lemire's multiply-shift on 64-bit
  words with rejection (unbiased; a rejected word is replaced by the next one of the element's blocks,
  sub-counters 0, 1, ...); ``low >= high`` somewhere: a ValueError;
* ``permutation``: Fisher-Yates on one thread (step ``k`` swaps position ``k`` with a uniform position in
  ``[0, k]``, counter ``k``); a single thread is fast enough for the lengths a permutation has here;
* ``choice``: with replacement and no ``p``, ``integers(0, n)``; with ``p``, NumPy's method: a cdf (the
  running sum of ``p`` divided by its last value) and a binary search for the first entry above the
  element's float64 uniform (``searchsorted(side='right')``); without replacement and no ``p``, the
  first ``k`` steps of a Fisher-Yates shuffle of ``range(n)`` on one thread (``O(n)`` scratch); without
  replacement and with ``p``, Efraimidis-Spirakis keys ``log(E_j) - log(p_j)`` (``E_j`` exponential,
  ``p_j = 0`` last), stably sorted, the first ``k`` taken: the successive-sampling distribution of
  NumPy's method, order included. ``p`` is checked as NumPy checks it (non-negative and not NaN, summing
  to 1 within ``sqrt(float64 eps)``, with Kahan's sum; enough non-zero entries without replacement) on
  the device, its verdict read back.

Errors are the python backend's (``perform``): the same exception types and messages, starting with the
op's name and ending with the user's line.
"""
from __future__ import annotations

import math

import numpy as np

from symgraph.ops.random import Bernoulli, Choice, Integers, Permutation, StandardNormal, StandardUniform
from symgraph.ops.shape import check_size

from .elemwise import copy_into
from .runtime import (ErrorFlag, as_contiguous, c_strides, cast_expr, host_int, reshape_view, sizes, to_host,
                      view_with)
from .sort_ops import _ARGSORT, _ROWS, _rows
from .table import device, register

# ---------------------------------------------------------------- the device functions every kernel defines

# 64-bit arithmetic from 32-bit halves, so nothing overflows (the simulator's NumPy scalars warn on a wrap).
_HELPERS = """
@cuda.jit(device=True)
def add1(a, b):
    m = T_uint64(0xFFFFFFFF)
    lo = (a & m) + (b & m)
    hi = (a >> T_uint64(32)) + (b >> T_uint64(32)) + (lo >> T_uint64(32))
    return ((hi & m) << T_uint64(32)) | (lo & m)


@cuda.jit(device=True)
def sub1(a, b):
    return add1(add1(a, ~b), T_uint64(1))


@cuda.jit(device=True)
def mul1(a, b):
    m = T_uint64(0xFFFFFFFF)
    s = T_uint64(32)
    alo = a & m
    ahi = a >> s
    blo = b & m
    bhi = b >> s
    p0 = alo * blo
    p1 = alo * bhi
    p2 = ahi * blo
    p3 = ahi * bhi
    mid = (p0 >> s) + (p1 & m) + (p2 & m)
    lo = (p0 & m) | ((mid & m) << s)
    hi = p3 + (p1 >> s) + (p2 >> s) + (mid >> s)
    return hi, lo


@cuda.jit(device=True)
def mix1(z):
    z = add1(z, T_uint64(0x9E3779B97F4A7C15))
    hi, z = mul1(z ^ (z >> T_uint64(30)), T_uint64(0xBF58476D1CE4E5B9))
    hi, z = mul1(z ^ (z >> T_uint64(27)), T_uint64(0x94D049BB133111EB))
    return z ^ (z >> T_uint64(31))


@cuda.jit(device=True)
def keys1(state):
    a = mix1(state[2] ^ mix1(state[3]))
    h = mix1(state[0] ^ mix1(state[1] ^ a))
    g = mix1(h ^ a)
    return h & T_uint64(0xFFFFFFFF), h >> T_uint64(32), g >> T_uint64(32)


@cuda.jit(device=True)
def advance1(new, state):
    for w in range(6):
        new[w] = state[w]
    low = add1(state[1], T_uint64(1))
    new[1] = low
    if low == T_uint64(0):
        new[0] = add1(state[0], T_uint64(1))


@cuda.jit(device=True)
def philox1(index, sub, c3, k0, k1):
    m = T_uint64(0xFFFFFFFF)
    s = T_uint64(32)
    c0 = index & m
    c1 = index >> s
    c2 = sub & m
    for r in range(10):
        p0 = T_uint64(0xD2511F53) * c0
        p1 = T_uint64(0xCD9E8D57) * c2
        c0, c1, c2, c3 = (p1 >> s) ^ c1 ^ k0, p1 & m, (p0 >> s) ^ c3 ^ k1, p0 & m
        k0 = (k0 + T_uint64(0x9E3779B9)) & m
        k1 = (k1 + T_uint64(0xBB67AE85)) & m
    return c0, c1, c2, c3


@cuda.jit(device=True)
def unif1(hi, lo):
    return T_float64(((hi << T_uint64(32)) | lo) >> T_uint64(11)) * T_float64(1.1102230246251565e-16)


@cuda.jit(device=True)
def bounded1(span, index, c3, k0, k1):
    s = T_uint64(32)
    sub = T_uint64(0)
    threshold = T_uint64(0)
    known = False
    while True:
        x0, x1, x2, x3 = philox1(index, sub, c3, k0, k1)
        sub = sub + T_uint64(1)
        for half in range(2):
            x = (x1 << s) | x0
            if half == 1:
                x = (x3 << s) | x2
            hi, lo = mul1(x, span)
            if lo >= span:
                return hi
            if not known:
                threshold = (~span + T_uint64(1)) % span
                known = True
            if lo >= threshold:
                return hi

"""

# The frame of the kernels drawing one value per element (grid-stride loop); ``{params}`` and ``{body}`` vary.
_ELEMENTWISE = _HELPERS + """
def {name}(out, new, state, total{params}):
    first = cuda.grid(1)
    if first == 0:
        advance1(new, state)
    k0, k1, c3 = keys1(state)
    for i in range(first, total, cuda.gridsize(1)):
        index = T_uint64(i)
{body}
"""

_BLOCK = "        x0, x1, x2, x3 = philox1(index, T_uint64(0), c3, k0, k1)\n"

_UNIFORM64 = _BLOCK + "        out[i] = unif1(x1, x0)\n"
_UNIFORM32 = _BLOCK + "        out[i] = T_float32(x0 >> T_uint64(8)) * T_float32(5.960464477539063e-08)\n"
_NORMAL = _BLOCK + """\
        u = T_float64(1.0) - unif1(x1, x0)
        v = unif1(x3, x2)
        z = M.sqrt(T_float64(-2.0) * M.log(u)) * M.cos(T_float64(6.283185307179586) * v)
        out[i] = {result}
"""
_BERNOULLI = _BLOCK + """\
        pv = {p}
        if not (pv >= T_float64(0.0) and pv <= T_float64(1.0)):
            bad[0] = 1
        out[i] = {result}
"""
_INTEGERS = """\
        lo = {low}
        hi = {high}
        if lo >= hi:
            bad[0] = 1
        else:
            r = bounded1(sub1(T_uint64(hi), T_uint64(lo)), index, c3, k0, k1)
            out[i] = T_int64(add1(T_uint64(lo), r))
"""
_SEARCH = _BLOCK + """\
        u = unif1(x1, x0)
        lo = 0
        hi = n - 1
        while lo < hi:
            mid = (lo + hi) // 2
            if cdf[mid] > u:
                hi = mid
            else:
                lo = mid + 1
        out[i] = lo
"""
_KEYS = _BLOCK + """\
        e = -M.log(T_float64(1.0) - unif1(x1, x0))
        pv = p[i]
        key = T_float64(INF)
        if pv > T_float64(0.0):
            key = M.log(e) - M.log(pv)
        out[i] = key
"""

_ADVANCE = _HELPERS + """
def advance_kernel(new, state):
    if cuda.grid(1) == 0:
        advance1(new, state)
"""

# One thread: Fisher-Yates (a permutation: all n steps; a sample without replacement: the first k).
_SHUFFLE = _HELPERS + """
def shuffle_kernel(out, new, state, n, k, pool):
    if cuda.grid(1) == 0:
        advance1(new, state)
        k0, k1, c3 = keys1(state)
        for j in range(n):
            pool[j] = j
        for j in range(k):
            span = T_uint64(n - j)
            pick = j + T_int64(bounded1(span, T_uint64(j), c3, k0, k1))
            chosen = pool[pick]
            pool[pick] = pool[j]
            pool[j] = chosen
            out[j] = chosen
"""

# One thread: checks p as NumPy does and writes its normalised running sum.
# info[0]: 1 NaN or negative, 2 not summing to 1; info[1]: the number of positive entries.
_CDF = """
def choice_cdf_kernel(cdf, p, n, tolerance, info):
    if cuda.grid(1) == 0:
        flag = 0
        positive = 0
        total = p[0]
        carry = T_float64(0.0)
        acc = T_float64(0.0)
        for j in range(n):
            v = p[j]
            if not (v >= T_float64(0.0)):
                flag = 1
            if v > T_float64(0.0):
                positive += 1
            if j > 0:
                y = v - carry
                t = total + y
                carry = (t - total) - y
                total = t
            acc = acc + v
            cdf[j] = acc
        if flag == 0 and not (abs(total - T_float64(1.0)) <= tolerance):
            flag = 2
        if flag == 0:
            for j in range(n):
                cdf[j] = cdf[j] / acc
        info[0] = flag
        info[1] = positive
"""

_bernoulli_error = ErrorFlag()
_integers_error = ErrorFlag()
_UINT64 = np.dtype("uint64")


# ---------------------------------------------------------------- shared steps

def _where(node):
    return node.where()


def _state(call, value):
    """The old state (a device array of six words) and a new array for the advanced one."""
    return as_contiguous(call, device(value)), call.empty((6,), _UINT64)


def _shape(node, args):
    """The drawn shape from the length inputs (host ints), checked as ``perform`` checks them."""
    shape = tuple(host_int(args[1 + a], f"{node.op.name} (length {a})") for a in range(node.op.ndim))
    if any(n < 0 for n in shape):
        raise ValueError(f"{node.op}: negative dimensions are not allowed, got {shape}{_where(node)}")
    return shape


def _advance_only(call, state, new):
    kernel = call.kernel(("draw", "advance"), "advance_kernel", _ADVANCE)
    kernel[1, 1](new, state)
    return new


def _launch_elementwise(call, name, body, params, values, key, total, out, state, new):
    kernel = call.kernel(("draw",) + key, name,
                         lambda: _ELEMENTWISE.format(name=name, params="".join(f", {p}" for p in params), body=body))
    blocks, threads = sizes().elementwise_grid(max(total, 1))
    kernel[blocks, threads](out, new, state, total, *values)


def _param(call, node, value, shape, dtype, what):
    """A parameter broadcast to ``shape``: ``(True, numpy scalar)`` for a 0-d host value, else ``(False, flat
    contiguous device array of the whole shape)``."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return True, np.asarray(value, dtype=dtype)[()]
    value = device(value)
    full = call.empty(shape, dtype)
    try:
        copy_into(call, full, value)
    except ValueError:
        raise ValueError(f"{node.op.name}: {what} of shape {tuple(value.shape)} does not broadcast to the size "
                         f"{shape}{_where(node)}") from None
    return False, reshape_view(full, (math.prod(shape),))


# ---------------------------------------------------------------- the lowerings

@register(StandardNormal, StandardUniform)
def lower_standard(node, host):
    dtype = node.op.dtype
    normal = isinstance(node.op, StandardNormal)
    if normal:
        name, body = "normal_kernel", _NORMAL.format(result=cast_expr("z", dtype) if dtype != "float64" else "z")
    else:
        name, body = "uniform_kernel", _UNIFORM64 if dtype == "float64" else _UNIFORM32

    def step(args, call):
        shape = _shape(node, args)
        total = check_size(shape, dtype, node.op.name)
        state, new = _state(call, args[0])
        out = call.empty((total,), dtype)
        _launch_elementwise(call, name, body, [], [], (name, dtype), total, out, state, new)
        return [new, reshape_view(out, shape)]
    return step


@register(Bernoulli)
def lower_bernoulli(node, host):
    dtype = node.op.dtype

    def step(args, call):
        shape = _shape(node, args)
        total = check_size(shape, dtype, node.op.name)
        state, new = _state(call, args[0])
        out = call.empty((total,), dtype)
        p = args[1 + node.op.ndim]
        if total == 0 or (isinstance(p, np.ndarray) and p.ndim == 0):
            values = np.asarray(to_host(p), dtype="float64")
            if not ((values >= 0) & (values <= 1)).all():
                raise ValueError(f"bernoulli: p must lie in [0, 1], got {values.min() if values.size else values}"
                                 f"{_where(node)}")
            if total == 0:
                return [_advance_only(call, state, new), reshape_view(out, shape)]
        scalar, p = _param(call, node, p, shape, "float64", "p")
        body = _BERNOULLI.format(p="ps" if scalar else "pa[i]", result=cast_expr("unif1(x1, x0) < pv", dtype))
        params = ["ps" if scalar else "pa", "bad"]
        _launch_elementwise(call, "bernoulli_kernel", body, params, [p, _bernoulli_error.array()],
                            ("bernoulli", dtype, scalar), total, out, state, new)
        if not scalar and _bernoulli_error.raised():
            raise ValueError(f"bernoulli: p must lie in [0, 1], got {to_host(p).min()}{_where(node)}")
        return [new, reshape_view(out, shape)]
    return step


def _integers(call, node, state, new, low, high, shape, total):
    """``total`` integers in ``[low, high)`` (parameters as ``_param`` makes them) into a new flat array."""
    (low_scalar, low), (high_scalar, high) = low, high
    out = call.empty((total,), "int64")
    if low_scalar and high_scalar and total and low >= high:
        raise ValueError(f"integers: low >= high{_where(node)}")
    body = _INTEGERS.format(low="ls" if low_scalar else "la[i]", high="hs" if high_scalar else "ha[i]")
    params = ["ls" if low_scalar else "la", "hs" if high_scalar else "ha", "bad"]
    _launch_elementwise(call, "integers_kernel", body, params, [low, high, _integers_error.array()],
                        ("integers", low_scalar, high_scalar), total, out, state, new)
    if not (low_scalar and high_scalar) and _integers_error.raised():
        raise ValueError(f"integers: low >= high{_where(node)}")
    return out


@register(Integers)
def lower_integers(node, host):
    def step(args, call):
        shape = _shape(node, args)
        total = check_size(shape, "int64", node.op.name)
        state, new = _state(call, args[0])
        if total == 0:
            return [_advance_only(call, state, new), call.empty(shape, "int64")]
        low, high = (_param(call, node, a, shape, "int64", what)
                     for a, what in zip(args[1 + node.op.ndim:], ("low", "high")))
        out = _integers(call, node, state, new, low, high, shape, total)
        return [new, reshape_view(out, shape)]
    return step


def _shuffle(call, state, new, n, k):
    """The first ``k`` values of a Fisher-Yates shuffle of ``range(n)``, a new flat int64 array."""
    out = call.empty((k,), "int64")
    pool = call.empty((max(n, 1),), "int64")
    kernel = call.kernel(("draw", "shuffle"), "shuffle_kernel", _SHUFFLE)
    kernel[1, 1](out, new, state, n, k, pool)
    return out


@register(Permutation)
def lower_permutation(node, host):
    def step(args, call):
        n = host_int(args[1], "permutation (n)")
        if n < 0:
            raise ValueError(f"permutation: n must be >= 0, got {n}{_where(node)}")
        check_size((n,), "int64", "permutation")
        state, new = _state(call, args[0])
        if n == 0:
            return [_advance_only(call, state, new), call.empty((0,), "int64")]
        return [new, _shuffle(call, state, new, n, n)]
    return step


def _checked_cdf(call, node, p, population, count, replace):
    """The normalised running sum of ``p`` (a new device array), after NumPy's checks of ``p``."""
    p = as_contiguous(call, device(p))
    p = reshape_view(p, (p.size,))
    cdf = call.empty((population,), "float64")
    info = call.empty((2,), "int64")
    kernel = call.kernel(("draw", "choice_cdf"), "choice_cdf_kernel", _CDF)
    kernel[1, 1](cdf, p, population, np.sqrt(np.finfo(np.float64).eps), info)
    flag, positive = (int(v) for v in to_host(info))
    if flag == 1:
        raise ValueError(f"choice: probabilities are not non-negative (a p is negative or NaN){_where(node)}")
    if flag == 2:
        raise ValueError(f"choice: probabilities do not sum to 1{_where(node)}")
    if not replace and positive < count:
        raise ValueError(f"choice: fewer non-zero entries in p than size{_where(node)}")
    return p, cdf


@register(Choice)
def lower_choice(node, host):
    op = node.op
    search_params = ("n", "cdf")

    def step(args, call):
        shape = _shape(node, args)
        count = check_size(shape, "int64", op.name)
        population = host_int(args[1 + op.ndim], "choice (the population size)")
        p = args[2 + op.ndim] if op.weighted else None
        if p is not None and int(np.prod(p.shape)) != population:
            raise ValueError(f"choice: a and p must have the same length, got {population} and "
                             f"{int(np.prod(p.shape))}{_where(node)}")
        if count and population <= 0:
            raise ValueError(f"choice: cannot take samples from an empty population{_where(node)}")
        if not op.replace and count > population:
            raise ValueError(f"choice: cannot take a larger sample ({count}) than the population "
                             f"({population}) without replacement{_where(node)}")
        state, new = _state(call, args[0])
        if count == 0:
            return [_advance_only(call, state, new), call.empty(shape, "int64")]
        if p is None and op.replace:
            low, high = (True, np.int64(0)), (True, np.int64(population))
            return [new, reshape_view(_integers(call, node, state, new, low, high, shape, count), shape)]
        if p is None:
            check_size((population,), "int64", op.name)
            return [new, reshape_view(_shuffle(call, state, new, population, count), shape)]
        p, cdf = _checked_cdf(call, node, p, population, count, op.replace)
        if op.replace:
            out = call.empty((count,), "int64")
            _launch_elementwise(call, "choice_search_kernel", _SEARCH, search_params, [population, cdf],
                                ("choice_search",), count, out, state, new)
            return [new, reshape_view(out, shape)]
        keys = call.empty((population,), "float64")
        _launch_elementwise(call, "choice_keys_kernel", _KEYS, ("p",), [p], ("choice_keys",), population, keys,
                            state, new)
        order = _rows(call, node, [keys], "argsort_kernel", _ARGSORT.format(rows=_ROWS), ("argsort",),
                      (population,), "int64")
        return [new, view_with(order, shape, c_strides(shape, 8))]
    return step


# ---------------------------------------------------------------- a host reference of the stream

_MASK32, _MASK64 = (1 << 32) - 1, (1 << 64) - 1


def _mix(z):
    z = (z + 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def stream_key(state):
    """The Philox key ``(k0, k1)`` and the last counter word of one call of a draw at ``state`` (six uint64
    words), as the kernels derive them (a host reference, for tests and for reading the stream).

    Examples
    --------
    >>> from symgraph.random_state import seeded_state
    >>> len(stream_key(seeded_state(0, 0)))
    3
    """
    w = [int(v) for v in np.asarray(state, dtype=np.uint64).reshape(6)]
    a = _mix(w[2] ^ _mix(w[3]))
    h = _mix(w[0] ^ _mix(w[1] ^ a))
    g = _mix(h ^ a)
    return h & _MASK32, h >> 32, g >> 32


def philox4x32(counter, key):
    """Philox-4x32-10 of the counters ``counter`` (uint64 array ``(..., 4)`` of 32-bit words) under ``key``
    (two 32-bit ints): uint64 array ``(..., 4)`` of 32-bit words (a host reference of the kernels' function).

    Examples
    --------
    >>> [hex(int(v)) for v in philox4x32(np.zeros(4, np.uint64), (0, 0))]
    ['0x6627e8d5', '0xe169c58d', '0xbc57ac4c', '0x9b00dbd8']
    """
    c = np.array(counter, dtype=np.uint64, copy=True)
    c0, c1, c2, c3 = (c[..., j] for j in range(4))
    k0, k1 = np.uint64(key[0]), np.uint64(key[1])
    m, s = np.uint64(_MASK32), np.uint64(32)
    for _ in range(10):
        p0 = np.uint64(0xD2511F53) * c0
        p1 = np.uint64(0xCD9E8D57) * c2
        c0, c1, c2, c3 = (p1 >> s) ^ c1 ^ k0, p1 & m, (p0 >> s) ^ c3 ^ k1, p0 & m
        k0, k1 = (k0 + np.uint64(0x9E3779B9)) & m, (k1 + np.uint64(0xBB67AE85)) & m
    return np.stack([c0, c1, c2, c3], axis=-1)


def reference_blocks(state, count, sub=0):
    """The first Philox blocks (sub-counter ``sub``) of elements ``0 .. count-1`` for one call of a draw at
    ``state``: uint64 array ``(count, 4)`` of 32-bit words ``x0 .. x3``.

    Examples
    --------
    >>> from symgraph.random_state import seeded_state
    >>> reference_blocks(seeded_state(0, 0), 3).shape
    (3, 4)
    """
    k0, k1, c3 = stream_key(state)
    i = np.arange(count, dtype=np.uint64)
    counter = np.stack([i & np.uint64(_MASK32), i >> np.uint64(32), np.full(count, sub, np.uint64),
                        np.full(count, c3, np.uint64)], axis=-1)
    return philox4x32(counter, (k0, k1))


__all__ = ["lower_standard", "lower_bernoulli", "lower_integers", "lower_permutation", "lower_choice",
           "stream_key", "philox4x32", "reference_blocks"]
