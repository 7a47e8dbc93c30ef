"""codegen/numba/pcg64.py draws what ``numpy.random.Generator(PCG64)`` draws, bit for bit, and leaves the
six-word state where NumPy leaves its bit generator: every helper, many seeds, zero/odd/multi-d sizes,
calls in sequence on one state (the buffered half of ``next_uint32`` carried between them), the
ziggurat's wedge and tail, every branch of the bounded integers and of ``choice``, and each status."""
from __future__ import annotations

import hashlib

import numba
import numpy as np
import pytest
from numba.np.random import _constants

from symgraph.codegen.numba import linked, pcg64
from symgraph.random_state import generator, seeded_state, state_array

SEEDS = range(20)
SHAPES = [(0,), (1,), (7,), (3, 5), (2, 3, 3), (4, 0), ()]


def _start(seed, index=0):
    state = seeded_state(seed, index)
    return state, generator(state)


def _bits(values):
    values = np.asarray(values)
    return values.view(f"u{values.dtype.itemsize}") if values.dtype.kind == "f" else values


def assert_same(values, expected, state, gen):
    """Same dtype, shape and bits as NumPy's values, and the same state afterwards."""
    expected = np.asarray(expected)
    assert values.dtype == expected.dtype
    assert values.shape == expected.shape
    np.testing.assert_array_equal(_bits(values), _bits(expected))
    np.testing.assert_array_equal(state, state_array(gen))


_MULTIPLIER = (2549297995355413924 << 64) | 4865540595714422341     # PCG64's 128-bit LCG multiplier
_LOW64 = (1 << 64) - 1


def _state_giving(output, like, uinteger=None):
    """A state (``like``'s increment) whose next 64-bit output is ``output``; with ``uinteger``, that 32-bit
    value is buffered and handed out first by next_uint32."""
    inc = (int(like[2]) << 64) | int(like[3])
    high = 0x0123456789ABCDEF >> 8                      # < 2**58: the XSL-RR rotation is 0
    after = (high << 64) | (high ^ output)              # the state the step must reach
    before = ((after - inc) * pow(_MULTIPLIER, -1, 1 << 128)) % (1 << 128)
    state = np.array([before >> 64, before & _LOW64, inc >> 64, inc & _LOW64,
                      0 if uinteger is None else 1, 0 if uinteger is None else uinteger], dtype=np.uint64)
    assert int(generator(state).bit_generator.random_raw()) == output    # (random_raw skips the buffer)
    return state, after


# ------------------------------------------------------------------ the ziggurat tables
# sha256 of the little-endian bytes of the tables in NumPy's numpy/random/src/distributions/
# ziggurat_constants.h (numpy/numpy 1f90bbb, unchanged since NumPy 1.17), parsed from the header.
NUMPY_TABLES = {
    "ki_double": ("<u8", "565295797825931547a1036f5b012a247be54abbe077c39fe06c8ed1e9d0a5a9"),
    "wi_double": ("<f8", "33c6472209e1d09ea3548f0291e5e1ad67fb4f1d0305e9f1086689584b7bb7fa"),
    "fi_double": ("<f8", "acd898d9d87e212f657755ba43b21e40958090a7ff2103c9e79f4ea1b0fe2bc5"),
    "ki_float": ("<u4", "b00c1701b8ee9b5e5bb285bef552e979942af25328141d131b0ad8183643fd39"),
    "wi_float": ("<f4", "7e876b6f831f031c494d3f21c00f1845928d7ba8984b207e08b3fcba766a67fd"),
    "fi_float": ("<f4", "3ec75aef4fc5308b6f948d1fd8d0eef691a752eebbaa91914fc111948aea6ad8"),
}


@pytest.mark.parametrize("name", sorted(NUMPY_TABLES))
def test_ziggurat_tables_are_numpys(name):
    dtype, digest = NUMPY_TABLES[name]
    table = getattr(_constants, name)
    assert table.dtype == np.dtype(dtype) and table.shape == (256,)
    assert hashlib.sha256(np.ascontiguousarray(table).tobytes()).hexdigest() == digest
    mine = getattr(pcg64, "_" + name.upper())
    assert mine.dtype == table.dtype
    np.testing.assert_array_equal(_bits(mine), _bits(table))


def test_ziggurat_constants_are_numpys():
    # The literals of ziggurat_constants.h, as C rounds them to double and float.
    assert pcg64._NOR_R == 3.6541528853610087963519472518
    assert pcg64._NOR_INV_R == 0.27366123732975827203338247596
    assert type(pcg64._NOR_R_F) is np.float32 and type(pcg64._NOR_INV_R_F) is np.float32
    assert pcg64._NOR_R_F == np.float32(3.6541528853610087963519472518)
    assert pcg64._NOR_INV_R_F == np.float32(0.27366123732975827203338247596)


# ------------------------------------------------------------------ uniforms and normals
_FLOAT_DRAWS = [
    (pcg64.random_f64, np.float64, lambda g, shape: g.random(shape)),
    (pcg64.random_f32, np.float32, lambda g, shape: g.random(shape, dtype=np.float32)),
    (pcg64.standard_normal_f64, np.float64, lambda g, shape: g.standard_normal(shape)),
    (pcg64.standard_normal_f32, np.float32, lambda g, shape: g.standard_normal(shape, dtype=np.float32)),
]


@pytest.mark.parametrize("seed", SEEDS)
def test_float_draws_in_sequence_match_numpy(seed):
    # One state through every shape and helper in turn: odd float32 counts leave half an output buffered.
    state, gen = _start(seed)
    for shape in SHAPES:
        for helper, dtype, draw in _FLOAT_DRAWS:
            out = np.empty(shape, dtype)
            helper(state, out)
            assert_same(out, draw(gen, shape), state, gen)


@pytest.mark.parametrize("seed", [0, 7])
def test_many_normals_match_numpy_and_reach_the_tail(seed):
    state, gen = _start(seed, 3)
    for helper, dtype, tail_start in [(pcg64.standard_normal_f64, np.float64, pcg64._NOR_R),
                                      (pcg64.standard_normal_f32, np.float32, pcg64._NOR_R_F)]:
        out = np.empty(250_001, dtype)
        helper(state, out)
        assert_same(out, gen.standard_normal(out.size, dtype=dtype), state, gen)
        assert np.count_nonzero(np.abs(out) >= tail_start) > 10     # values only the tail path makes


def _positions(seed, dtype, kind, count=40):
    """Stream positions whose next output sends a normal of ``dtype`` to its wedge test or its tail."""
    raw = np.random.PCG64(seed).random_raw(400_000)
    if dtype == np.float64:
        idx = (raw & np.uint64(0xFF)).astype(np.intp)
        rabs = (raw >> np.uint64(9)) & np.uint64(0x000FFFFFFFFFFFFF)
        ki = _constants.ki_double
    else:                                          # next_uint32 with nothing buffered: the low half
        low = raw & np.uint64(0xFFFFFFFF)
        idx = (low & np.uint64(0xFF)).astype(np.intp)
        rabs = (low >> np.uint64(9)) & np.uint64(0x7FFFFF)
        ki = _constants.ki_float.astype(np.uint64)
    slow = rabs >= ki[idx]
    hits = np.flatnonzero(slow & (idx == 0) if kind == "tail" else slow & (idx != 0))
    assert hits.size >= count
    return [(int(k), raw[k]) for k in hits[:count]]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind", ["wedge", "tail"])
def test_normals_through_wedge_and_tail_match_numpy(dtype, kind):
    helper = pcg64.standard_normal_f64 if dtype == np.float64 else pcg64.standard_normal_f32
    accepted = rejected = 0
    for position, raw in _positions(11, dtype, kind):
        bit_generator = np.random.PCG64(11)
        bit_generator.advance(position)
        state = state_array(bit_generator)
        gen = generator(state)
        out = np.empty(3, dtype)
        helper(state, out)
        assert_same(out, gen.standard_normal(3, dtype=dtype), state, gen)
        if kind == "tail":
            assert abs(out[0]) >= (pcg64._NOR_R if dtype == np.float64 else pcg64._NOR_R_F)
            continue
        if dtype == np.float64:      # the candidate the wedge test accepts or rejects
            candidate = np.float64((raw >> np.uint64(9)) & np.uint64(0x000FFFFFFFFFFFFF)) * \
                _constants.wi_double[int(raw & np.uint64(0xFF))]
            negative = bool((raw >> np.uint64(8)) & np.uint64(1))
        else:
            low = int(raw) & 0xFFFFFFFF
            candidate = np.float32((low >> 9) & 0x7FFFFF) * _constants.wi_float[low & 0xFF]
            negative = bool((low >> 8) & 1)
        if out[0] == (-candidate if negative else candidate):
            accepted += 1
        else:
            rejected += 1
    if kind == "wedge":
        assert accepted > 0 and rejected > 0


def _float32_wedge_edges(count=6):
    """(r, u) pairs: r sends the float32 normal to wedge ``idx`` with candidate x, and the uniform
    ``u * 2**-24`` makes the wedge's float32 left side the largest float32 below the double
    ``exp(-0.5 * x * x)``, where that exp rounds down in float32: NumPy accepts x, a float32 exp would not."""
    uniforms = np.arange(2**24, dtype=np.float32) * np.float32(2.0**-24)
    fi, wi, ki = _constants.fi_float, _constants.wi_float, _constants.ki_float
    edges = []
    for idx in range(2, 256):
        rabs = int(ki[idx])                            # the smallest rabs that leaves the fast path
        x = np.float32(rabs) * wi[idx]
        bound = np.exp(-0.5 * np.float64(x) * np.float64(x))
        if not np.float64(np.float32(bound)) < bound:
            continue
        hits = np.flatnonzero((fi[idx - 1] - fi[idx]) * uniforms + fi[idx] == np.float32(bound))
        if hits.size:
            edges.append((idx | (rabs << 9), int(hits[0]), x))
        if len(edges) == count:
            return edges
    raise AssertionError("no wedge edge found")


def test_float32_wedge_compares_with_a_double_exp():
    like = seeded_state(9, 0)
    for r, u, x in _float32_wedge_edges():
        state, _ = _state_giving((0xABCDEF01 << 32) | (u << 8), like, uinteger=r)
        gen = generator(state)
        out = np.empty(2, np.float32)
        pcg64.standard_normal_f32(state, out)
        assert_same(out, gen.standard_normal(2, dtype=np.float32), state, gen)
        assert out[0] == x                             # accepted at the edge


# ------------------------------------------------------------------ integers
RANGES = [(0, 1), (5, 6), (-3, 4), (0, 1000), (-7, 3 * 2**30 - 7), (0, 2**32 - 1), (-2**31, 2**31),
          (0, 2**32 + 1), (2**40, 2**40 + 3), (-10**18, 10**18), (-2**63, 2**62), (-2**63, 2**63 - 1),
          (-2**63 + 1, 2**63 - 1), (2**63 - 2, 2**63 - 1)]
# ranges of 1; < 2**32 - 1 (Lemire 32, rejections common near 3 * 2**30); 2**32 - 1 (Lemire 32's last);
# 2**32 (a plain next_uint32); > 2**32 (Lemire 64, rejections common near 3 * 2**62); the largest.


@pytest.mark.parametrize("seed", SEEDS)
def test_integers_scalar_bounds_match_numpy(seed):
    state, gen = _start(seed)
    for low, high in RANGES:
        for shape in [(1,), (5,), (2, 3), (2, 2, 3), ()]:
            out = np.empty(shape, np.int64)
            assert pcg64.integers(state, np.array([low]), np.array([high]), out) == 0
            assert_same(out, gen.integers(low, high, shape), state, gen)


def _random_bounds(rng, n):
    choices = rng.integers(0, len(RANGES), n)
    low = np.array([RANGES[c][0] for c in choices], dtype=np.int64)
    high = np.array([RANGES[c][1] for c in choices], dtype=np.int64)
    return low, high


@pytest.mark.parametrize("seed", SEEDS)
def test_integers_array_bounds_match_numpy(seed):
    # NumPy's broadcast path (random_bounded_uint64 per element, in C order of the broadcast).
    state, gen = _start(seed, 1)
    rng = np.random.default_rng(1000 + seed)
    for shape in [(1,), (9,), (4, 5), (2, 3, 4)]:
        n = int(np.prod(shape))
        low, high = _random_bounds(rng, n)
        out = np.empty(shape, np.int64)
        assert pcg64.integers(state, low, high, out) == 0
        assert_same(out, gen.integers(low.reshape(shape), high.reshape(shape), shape), state, gen)
        # one bound per element against a single other bound, both ways round; arrays shaped like out
        out = np.empty(shape, np.int64)
        assert pcg64.integers(state, low.reshape(shape), np.array([2**63 - 1]), out) == 0
        assert_same(out, gen.integers(low.reshape(shape), 2**63 - 1, shape), state, gen)
        out = np.empty(shape, np.int64)
        assert pcg64.integers(state, np.array([-2**63]), high, out) == 0
        assert_same(out, gen.integers(np.array([-2**63]), high.reshape(shape), shape), state, gen)


def test_integers_status():
    state, gen = _start(3)
    before = state.copy()
    for low, high in [(5, 5), (6, 5), (2**63 - 1, -2**63)]:
        assert pcg64.integers(state, np.array([low]), np.array([high]), np.empty(4, np.int64)) == 1
        with pytest.raises(ValueError):
            gen.integers(low, high, 4)
    low = np.array([0, 0, 7, 0])
    high = np.array([1, 9, 7, 2])          # the third has low == high
    assert pcg64.integers(state, low, high, np.empty((2, 2), np.int64)) == 1
    with pytest.raises(ValueError):
        gen.integers(low, high, 4)
    # malformed bound arrays (neither one element nor out.size)
    assert pcg64.integers(state, np.zeros(3, np.int64), np.ones(1, np.int64), np.empty(4, np.int64)) == 2
    assert pcg64.integers(state, np.zeros(1, np.int64), np.ones(2, np.int64), np.empty(4, np.int64)) == 2
    # nothing drawn: no check, no change (NumPy returns an empty array for bad scalar bounds too)
    state = before.copy()
    assert pcg64.integers(state, np.array([5]), np.array([5]), np.empty((3, 0), np.int64)) == 0
    assert gen.integers(5, 5, (3, 0)).shape == (3, 0)
    np.testing.assert_array_equal(state, before)


@pytest.mark.parametrize("rng_excl", [7, 1_000_001, 3 * 2**30 + 1, 2**32 - 3])
@pytest.mark.parametrize("accept", [False, True])
def test_integers_lemire32_rejection_edge(rng_excl, accept):
    # next_uint32 gives v with (v * rng_excl) mod 2**32 == threshold - 1 (rejected, drawn again) or
    # threshold (accepted), threshold = (2**32 - rng_excl) % rng_excl.
    threshold = (2**32 - rng_excl) % rng_excl
    assert threshold > 0
    v = ((threshold if accept else threshold - 1) * pow(rng_excl, -1, 2**32)) % 2**32
    state, _ = _state_giving(12345, seeded_state(10, 0), uinteger=v)
    before = state.copy()
    gen = generator(state)
    out = np.empty(1, np.int64)
    assert pcg64.integers(state, np.array([-5]), np.array([-5 + rng_excl]), out) == 0
    assert_same(out, gen.integers(-5, -5 + rng_excl, 1), state, gen)
    if accept:                                         # only the buffered half used
        assert out[0] == -5 + (v * rng_excl >> 32)
        np.testing.assert_array_equal(state[:4], before[:4])
        assert state[4] == 0
    else:
        assert state[4] == 1


@pytest.mark.parametrize("rng_excl", [2**33 + 1, 3 * 2**62 + 1, 2**64 - 3])
@pytest.mark.parametrize("accept", [False, True])
def test_integers_lemire64_rejection_edge(rng_excl, accept):
    threshold = (2**64 - rng_excl) % rng_excl
    assert threshold > 0
    x = ((threshold if accept else threshold - 1) * pow(rng_excl, -1, 2**64)) % 2**64
    state, after = _state_giving(x, seeded_state(10, 1))
    gen = generator(state)
    low = -2**63
    out = np.empty(1, np.int64)
    assert pcg64.integers(state, np.array([low]), np.array([low + rng_excl]), out) == 0
    assert_same(out, gen.integers(low, low + rng_excl, 1), state, gen)
    one_step = [after >> 64, after & _LOW64]
    if accept:                                         # one output: the high half of x * rng_excl
        assert out[0] == low + (x * rng_excl >> 64)
        np.testing.assert_array_equal(state[:2], np.array(one_step, dtype=np.uint64))
    else:
        assert not np.array_equal(state[:2], np.array(one_step, dtype=np.uint64))


# ------------------------------------------------------------------ permutation
@pytest.mark.parametrize("seed", SEEDS)
def test_permutation_matches_numpy(seed):
    state, gen = _start(seed)
    for n in [0, 1, 2, 3, 10, 257, 5000]:
        out = np.empty(n, np.int64)
        pcg64.permutation(state, out)
        assert_same(out, gen.permutation(n), state, gen)
        odd = np.empty(3, np.float32)      # leave half an output buffered for the next permutation
        pcg64.random_f32(state, odd)
        assert_same(odd, gen.random(3, dtype=np.float32), state, gen)


# ------------------------------------------------------------------ choice without weights, no replacement
NO_REPLACE = [(1, (1,)), (10, (10,)), (10, (3,)), (10000, (300,)), (10000, (10000,)),
              (10001, (201,)), (10001, (200,)), (20000, (20, 30)), (20000, (2, 3, 5)),
              (2**32 + 1, (2,)), (2**40, (50,)), (7, (0,)), (0, (0,))]
# Floyd's algorithm unless population > 10000 and size > population // 50 (the tail shuffle: 10001/201,
# 20000/600); population 2**32 + 1 draws with ranges 2**32 - 1 and 2**32; 2**40 with Lemire 64.


@pytest.mark.parametrize("seed", SEEDS)
def test_choice_no_replace_matches_numpy(seed):
    state, gen = _start(seed, 2)
    for pop_size, shape in NO_REPLACE:
        out = np.empty(shape, np.int64)
        assert pcg64.choice_no_replace(state, pop_size, out) == 0
        assert_same(out, gen.choice(pop_size, size=shape, replace=False), state, gen)
        assert np.unique(out).size == out.size


def test_choice_no_replace_status():
    state, gen = _start(4)
    for pop_size, shape in [(3, (4,)), (0, (1,)), (5, (2, 3)), (-1, (0,))]:
        assert pcg64.choice_no_replace(state, pop_size, np.empty(shape, np.int64)) == 1
        with pytest.raises(ValueError):
            gen.choice(pop_size, size=shape, replace=False)


# ------------------------------------------------------------------ choice with weights
WEIGHTS = [np.array([1.0]), np.array([0.1, 0.0, 0.3, 0.6, 0.0]), np.full(7, 1 / 7),
           np.random.default_rng(5).dirichlet(np.ones(50)), np.array([0.5, 0.5 + 1.4e-8]),
           np.array([0.9] + [0.1 / 99] * 99)]


@pytest.mark.parametrize("seed", SEEDS)
def test_choice_p_matches_numpy(seed):
    state, gen = _start(seed, 4)
    for p in WEIGHTS:
        for shape in [(0,), (1,), (9,), (4, 5), (2, 3, 4), ()]:
            out = np.empty(shape, np.int64)
            assert pcg64.choice_p(state, p, out) == 0
            assert_same(out, gen.choice(p.size, size=shape, p=p), state, gen)
            odd = np.empty(1, np.float32)
            pcg64.random_f32(state, odd)
            assert_same(odd, gen.random(1, dtype=np.float32), state, gen)


@pytest.mark.parametrize("seed", SEEDS)
def test_choice_p_no_replace_matches_numpy(seed):
    state, gen = _start(seed, 5)
    batches = 0
    for p in WEIGHTS:
        positive = np.count_nonzero(p > 0)
        for shape in [(0,), (1,), (positive,), (positive // 2,), (2, positive // 4), ()]:
            out = np.empty(shape, np.int64)
            probe = generator(state)                  # as many uniforms as one batch would take
            probe.random(out.size)
            assert pcg64.choice_p_no_replace(state, p, out) == 0
            assert_same(out, gen.choice(p.size, size=shape, replace=False, p=p), state, gen)
            assert np.unique(out).size == out.size
            batches += not np.array_equal(state_array(probe), state)
    assert batches > 0       # some draws repeated an index and took NumPy's loop again


P_ERRORS = [  # p, out shape, status, NumPy's message
    (np.array([0.5, np.nan, 0.5]), (3,), 1, "NaN"),
    (np.array([np.nan]), (0,), 1, "NaN"),
    (np.array([np.inf, 0.5, 0.5]), (2,), 1, "NaN"),     # Kahan sum: inf - inf in the compensation ...
    (np.array([np.inf, 0.5]), (2,), 2, "sum to 1"),     # ... reaches the sum one entry later
    (np.array([0.6, -0.1, 0.5]), (3,), 1, "non-negative"),
    (np.array([0.5, np.inf]), (2,), 2, "sum to 1"),
    (np.array([0.5, 0.4]), (2,), 2, "sum to 1"),
    (np.array([0.5, 0.5 + 1.6e-8]), (2,), 2, "sum to 1"),     # atol = sqrt(eps) = 1.49e-8
    (np.array([]), (0,), 2, "sum to 1"),
    (np.array([]), (3,), 3, "positive integer"),
    (np.array([]), (1, 2), 3, "positive integer"),
]


@pytest.mark.parametrize("p, shape, status, message", P_ERRORS)
@pytest.mark.parametrize("replace", [True, False])
def test_choice_p_status(p, shape, status, message, replace):
    state, gen = _start(6)
    helper = pcg64.choice_p if replace else pcg64.choice_p_no_replace
    assert helper(state, p, np.empty(shape, np.int64)) == status
    with pytest.raises(ValueError, match=message):
        gen.choice(p.size, size=shape, replace=replace, p=p)


@pytest.mark.parametrize("p, shape, message", [
    (np.array([0.5, 0.0, 0.5]), (3,), "Fewer non-zero"),
    (np.array([0.5, 0.0, 0.5]), (4,), "larger sample"),
    (np.array([1.0, 0.0]), (1, 2), "Fewer non-zero"),
])
def test_choice_p_no_replace_status_4(p, shape, message):
    state, gen = _start(6)
    assert pcg64.choice_p_no_replace(state, p, np.empty(shape, np.int64)) == 4
    with pytest.raises(ValueError, match=message):
        gen.choice(p.size, size=shape, replace=False, p=p)


# ------------------------------------------------------------------ everything on one state
@pytest.mark.parametrize("seed", SEEDS)
def test_mixed_sequence_matches_numpy(seed):
    state, gen = _start(seed, 6)
    p = WEIGHTS[1]
    steps = [
        (lambda out: pcg64.random_f32(state, out), lambda: gen.random(5, dtype=np.float32), (5,), np.float32),
        (lambda out: pcg64.integers(state, np.array([-4]), np.array([9]), out),
         lambda: gen.integers(-4, 9, (3, 3)), (3, 3), np.int64),
        (lambda out: pcg64.standard_normal_f32(state, out), lambda: gen.standard_normal(3, np.float32),
         (3,), np.float32),
        (lambda out: pcg64.random_f64(state, out), lambda: gen.random(2), (2,), np.float64),
        (lambda out: pcg64.permutation(state, out), lambda: gen.permutation(11), (11,), np.int64),
        (lambda out: pcg64.standard_normal_f64(state, out), lambda: gen.standard_normal((2, 2)),
         (2, 2), np.float64),
        (lambda out: pcg64.choice_no_replace(state, 40, out), lambda: gen.choice(40, 5, replace=False),
         (5,), np.int64),
        (lambda out: pcg64.integers(state, np.array([0]), np.array([2**33]), out),
         lambda: gen.integers(0, 2**33, 3), (3,), np.int64),
        (lambda out: pcg64.random_f32(state, out), lambda: gen.random(1, dtype=np.float32), (1,), np.float32),
        (lambda out: pcg64.choice_p(state, p, out), lambda: gen.choice(5, 4, p=p), (4,), np.int64),
        (lambda out: pcg64.choice_p_no_replace(state, p, out), lambda: gen.choice(5, 2, False, p), (2,),
         np.int64),
        (lambda out: pcg64.integers(state, np.array([0]), np.array([2**32]), out),
         lambda: gen.integers(0, 2**32, 3), (3,), np.int64),
    ]
    for _ in range(2):
        for ours, numpys, shape, dtype in steps:
            out = np.empty(shape, dtype)
            ours(out)
            assert_same(out, numpys(), state, gen)


@pytest.mark.parametrize("n", [4, 7, 8, 9, 10, 11, 12, 13, 100003])
def test_interleaved_uniforms_match_numpy_around_the_block_boundaries(n):
    # random_f64 steps four LCGs at once (state t+4 = MULT**4 * state t + C4): every length mod 4, the
    # state it leaves (a 32-bit draw continues from it, with a half-used word), and a state mid-stream.
    for seed in range(3):
        g = np.random.default_rng(seed)
        g.random(dtype=np.float32)            # has_uint32 set: random_f64 must keep the buffered half
        state = state_array(g)
        out = np.empty(n)
        pcg64.random_f64(state, out)
        np.testing.assert_array_equal(out, g.random(n))
        np.testing.assert_array_equal(state, state_array(g))
        tail = np.empty(3, np.float32)
        pcg64.random_f32(state, tail)
        np.testing.assert_array_equal(tail, g.random(3, dtype=np.float32))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int8, np.bool_])
@pytest.mark.parametrize("n", [0, 5, 8, 13, 4099])
def test_bernoulli_is_numpys_uniforms_compared_with_p(dtype, n):
    for p in (np.array([0.3]), np.random.default_rng(n).random(n)):
        g = np.random.default_rng(7)
        state = state_array(g)
        out = np.empty(n, dtype)
        assert pcg64.bernoulli(state, p, out) == 0
        np.testing.assert_array_equal(out, (g.random(n) < p).astype(dtype))
        np.testing.assert_array_equal(state, state_array(g))
    state = state_array(np.random.default_rng(7))
    before = state.copy()
    for bad in (np.array([1.5]), np.array([-0.1]), np.array([np.nan])):
        assert pcg64.bernoulli(state, bad, np.empty(3)) == 1
        np.testing.assert_array_equal(state, before)


def test_zero_size_out_leaves_the_state_alone():
    state, gen = _start(8)
    odd = np.empty(1, np.float32)
    pcg64.random_f32(state, odd)           # half an output buffered: a draw would change words 4 and 5
    before = state.copy()
    p = WEIGHTS[1]
    for shape in [(0,), (3, 0), (0, 2, 5)]:
        for helper, dtype, _ in _FLOAT_DRAWS:
            helper(state, np.empty(shape, dtype))
        assert pcg64.integers(state, np.array([0]), np.array([2**40]), np.empty(shape, np.int64)) == 0
        assert pcg64.choice_p(state, p, np.empty(shape, np.int64)) == 0
        assert pcg64.choice_p_no_replace(state, p, np.empty(shape, np.int64)) == 0
        assert pcg64.choice_no_replace(state, 10, np.empty(shape, np.int64)) == 0
    pcg64.permutation(state, np.empty(0, np.int64))
    pcg64.permutation(state, np.empty(1, np.int64))
    np.testing.assert_array_equal(state, before)


@numba.njit
def _kernel_like(state, low, high, out, normals, choices, p):
    # as a generated kernel calls them: through linked.py, by address
    status = linked.integers(state, low, high, out)
    linked.standard_normal_f32(state, normals)
    return status, linked.choice_p_no_replace(state, p, choices)


def test_kernels_reach_the_helpers_through_linked():
    state, gen = _start(12)
    out, normals, choices = np.empty((2, 3), np.int64), np.empty(5, np.float32), np.empty(2, np.int64)
    p = WEIGHTS[1]
    assert _kernel_like(state, np.array([-9]), np.array([2**35]), out, normals, choices, p) == (0, 0)
    np.testing.assert_array_equal(out, gen.integers(-9, 2**35, (2, 3)))
    np.testing.assert_array_equal(_bits(normals), _bits(gen.standard_normal(5, np.float32)))
    assert_same(choices, gen.choice(5, 2, replace=False, p=p), state, gen)
    state[:] = seeded_state(12, 0)
    assert _kernel_like(state, np.array([3]), np.array([3]), out, normals, choices, np.array([0.5]))[0] == 1
