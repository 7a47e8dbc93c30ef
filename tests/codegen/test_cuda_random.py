"""sg.RandomStream on backend="cuda" (under Numba's simulator): the documented Philox-4x32-10 stream (known
answers, uniforms and integers equal to a host reference), determinism and states that advance on the
device, the distributions' statistics, errors as the python backend raises them (a failed call leaves
every state as it was), and the CPU backends' values untouched.

Statistical checks use bounds that a correct generator fails with probability around 1e-6 (five standard
errors, p-values above 1e-4), on fixed seeds, so they are deterministic.
"""
import numpy as np
import pytest

import symgraph as sg

pytest.importorskip("numba.cuda")
stats = pytest.importorskip("scipy.stats")

from symgraph.codegen.cuda.draw_ops import philox4x32, reference_blocks  # noqa: E402

TWO64 = 1 << 64


def cuda(inputs, outputs, **options):
    return sg.function(inputs, outputs, backend="cuda", **options)


def advanced(state, calls=1):
    """``state`` with its 128-bit LCG word pair plus ``calls`` (the cuda backend's new state)."""
    state = np.array(state, dtype=np.uint64)
    lcg = ((int(state[0]) << 64) | int(state[1])) + calls
    state[0], state[1] = (lcg >> 64) % TWO64, lcg % TWO64
    return state


def words64(blocks, second=False):
    """The 64-bit words of Philox blocks: ``x1 << 32 | x0`` (or ``x3 << 32 | x2``)."""
    hi, lo = (blocks[:, 3], blocks[:, 2]) if second else (blocks[:, 1], blocks[:, 0])
    return (hi << np.uint64(32)) | lo


# ---------------------------------------------------------------- the documented stream

def test_philox_gives_the_random123_known_answers():
    cases = [((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
             ((0xFFFFFFFF,) * 4, (0xFFFFFFFF, 0xFFFFFFFF), (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
             ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
              (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1))]
    for counter, key, expected in cases:
        assert [int(v) for v in philox4x32(np.array(counter, np.uint64), key)] == list(expected)


def test_uniforms_and_integers_are_the_documented_philox_stream_and_the_state_advances_by_one():
    rng = sg.RandomStream(3)
    draws = [rng.uniform(size=(3, 5)), rng.uniform(size=7, dtype="float32"), rng.integers(-4, 9, size=12)]
    f = cuda([], draws)
    for call in range(2):
        states = [s.get_value() for s in rng.state_variables]
        u64, u32, ints = f()
        blocks = reference_blocks(states[0], 15)
        np.testing.assert_array_equal(u64.ravel(), (words64(blocks) >> np.uint64(11)) * 2.0 ** -53)
        blocks = reference_blocks(states[1], 7)
        assert u32.dtype == np.float32
        np.testing.assert_array_equal(u32, (blocks[:, 0] >> np.uint64(8)).astype(np.float32) * np.float32(2 ** -24))
        # Lemire: the high word of x * 13; a rejection (low word below 2**64 mod 13) has probability 1e-18
        blocks = reference_blocks(states[2], 12)
        products = [int(x) * 13 for x in words64(blocks)]
        assert all(p % TWO64 >= TWO64 % 13 for p in products)
        np.testing.assert_array_equal(ints, [-4 + (p >> 64) for p in products])
        for state, before in zip(rng.state_variables, states):
            np.testing.assert_array_equal(state.get_value(), advanced(before))


def test_the_lcg_word_pair_carries_and_the_other_words_stay():
    rng = sg.RandomStream(0)
    u = rng.uniform(size=3)
    f = cuda([], u)
    (state,) = rng.state_variables
    start = state.get_value().copy()
    start[1] = np.uint64(TWO64 - 1)
    start[4], start[5] = np.uint64(1), np.uint64(12345)
    state.set_value(start)
    f()
    after = state.get_value()
    assert int(after[0]) == (int(start[0]) + 1) % TWO64 and int(after[1]) == 0
    np.testing.assert_array_equal(after[2:], start[2:])


# ---------------------------------------------------------------- determinism

def _draws(seed):
    rng = sg.RandomStream(seed)
    return rng, [rng.normal(size=(2, 3)), rng.normal(size=4, dtype="float32"), rng.uniform(size=5),
                 rng.bernoulli(0.4, size=6), rng.integers(10, size=5), rng.permutation(6), rng.choice(7, size=4),
                 rng.choice(4, size=5, p=[0.1, 0.2, 0.3, 0.4]), rng.choice(8, size=3, replace=False),
                 rng.choice(5, size=2, replace=False, p=[0.1, 0.2, 0.3, 0.0, 0.4])]


def test_the_same_seed_gives_the_same_values_and_every_call_and_draw_differs():
    rng_a, draws_a = _draws(21)
    rng_b, draws_b = _draws(21)
    f, g = cuda([], draws_a), cuda([], draws_b)
    first, again = f(), g()
    for a, b in zip(first, again):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    second = f()
    for k in (0, 1, 2):     # continuous draws: a repeat would be a bug
        assert not np.array_equal(first[k], second[k])
    assert not np.array_equal(first[0][0], first[0][1]) and not np.array_equal(first[2][:3], first[0][0])
    np.testing.assert_array_equal(g()[2], second[2])         # b's stream, one call behind, catches up
    for a, b in zip(rng_a.state_variables, rng_b.state_variables):
        np.testing.assert_array_equal(a.get_value(), b.get_value())


def test_restoring_a_state_repeats_the_values_and_seed_restarts():
    rng = sg.RandomStream(8)
    x = rng.normal(size=5)
    f = cuda([], x)
    (state,) = rng.state_variables
    saved = state.get_value()
    first = f()
    np.testing.assert_array_equal(state.get_value(), advanced(saved))
    state.set_value(saved)
    np.testing.assert_array_equal(f(), first)
    rng.seed(8)
    np.testing.assert_array_equal(f(), first)
    frozen = cuda([], x, no_default_updates=True)
    before = state.get_value()
    np.testing.assert_array_equal(frozen(), frozen())
    np.testing.assert_array_equal(state.get_value(), before)


def test_the_cpu_backends_keep_numpys_values_and_cuda_differs():
    rng = sg.RandomStream(4)
    x = rng.normal(size=6)
    expected = np.random.Generator(np.random.PCG64(np.random.SeedSequence(4, spawn_key=(0,)))).standard_normal(6)
    (state,) = rng.state_variables
    saved = state.get_value()
    np.testing.assert_array_equal(sg.function([], x, backend="python")(), expected)
    state.set_value(saved)
    on_device = cuda([], x)()
    assert on_device.shape == (6,) and not np.allclose(on_device, expected)


# ---------------------------------------------------------------- shapes

def test_symbolic_sizes_0d_draws_graph_parameters_and_zero_sizes():
    rng = sg.RandomStream(2)
    n = sg.scalar("n", dtype="int64")
    x = sg.vector("x")
    outputs = [rng.normal(size=(n, 3), loc=x.sum(), scale=0.5, dtype="float32"), rng.normal(),
               rng.uniform(size=x.shape, low=x, high=x + 1.0), rng.bernoulli(sg.sigmoid(x), dtype="int8"),
               rng.integers(-3, n, size=(2, n)), rng.permutation(x), rng.choice(x, size=n),
               rng.choice(x, size=2, replace=False, p=x / x.sum()), rng.choice(n, p=sg.ones(n) / sg.cast(n, "float64")),
               rng.uniform(size=(n - 4, 2)), rng.choice(3, size=n - 4, replace=False)]
    args = (4, np.array([0.5, 1.0, 2.0]))
    expected = sg.function([n, x], outputs, backend="python")(*args)
    states = [s.get_value() for s in rng.state_variables]
    got = cuda([n, x], outputs)(*args)
    for a, b in zip(got, expected):
        assert a.dtype == b.dtype and a.shape == b.shape
    assert set(got[5]) == {0.5, 1.0, 2.0} and set(got[6]) <= {0.5, 1.0, 2.0} and len(set(got[7])) == 2
    assert got[9].shape == (0, 2) and got[10].shape == (0,)
    for state, before in zip(rng.state_variables, states):   # every draw advanced once, also the empty ones
        np.testing.assert_array_equal(state.get_value(), advanced(before))


# ---------------------------------------------------------------- statistics

N = 4000


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_normal_and_uniform_statistics(dtype):
    rng = sg.RandomStream(99)
    z, u = cuda([], [rng.normal(size=N, dtype=dtype), rng.uniform(size=(N // 40, 40), dtype=dtype)])()
    assert z.dtype == u.dtype == np.dtype(dtype) and u.shape == (N // 40, 40)
    u = u.ravel()
    assert abs(z.mean()) < 5 / np.sqrt(N)
    assert abs(z.var() - 1) < 5 * np.sqrt(2 / N)
    assert stats.kstest(z.astype(np.float64), "norm").pvalue > 1e-4
    assert ((u >= 0) & (u < 1)).all()
    assert abs(u.mean() - 0.5) < 5 * np.sqrt(1 / 12 / N)
    assert abs(u.var() - 1 / 12) < 5 * np.sqrt(1 / 180 / N)    # var of (u - 1/2)**2 is 1/180
    assert stats.kstest(u.astype(np.float64), "uniform").pvalue > 1e-4


def test_bernoulli_frequencies_with_scalar_and_broadcast_device_p():
    rng = sg.RandomStream(5)
    p = sg.vector("p")
    scalar_p, column_p, as_bool = cuda([p], [rng.bernoulli(0.3, size=N), rng.bernoulli(p, size=(N // 4, 4)),
                                             rng.bernoulli(0.5, size=8, dtype="bool")])(np.array([0.0, 0.1, 0.5, 1.0]))
    assert set(np.unique(scalar_p)) <= {0.0, 1.0} and as_bool.dtype == np.bool_
    assert abs(scalar_p.mean() - 0.3) < 5 * np.sqrt(0.3 * 0.7 / N)
    rows = N // 4
    assert column_p[:, 0].sum() == 0 and column_p[:, 3].sum() == rows
    for k, q in ((1, 0.1), (2, 0.5)):
        assert abs(column_p[:, k].mean() - q) < 5 * np.sqrt(q * (1 - q) / rows)


def test_integers_are_in_range_and_uniform():
    rng = sg.RandomStream(6)
    low, high = sg.vector("low", dtype="int64"), sg.vector("high", dtype="int64")
    small, huge, broadcast = cuda([low, high], [rng.integers(-3, 4, size=N), rng.integers(-2**62, 2**62, size=200),
                                                rng.integers(low, high, size=(100, 2))])(
        np.array([0, -2**63]), np.array([1, 2**63 - 1]))
    assert small.dtype == np.int64 and small.min() >= -3 and small.max() <= 3
    assert stats.chisquare(np.bincount(small + 3, minlength=7)).pvalue > 1e-4
    assert (huge >= -2**62).all() and (huge < 2**62).all() and (huge < 0).any() and (huge > 2**61).any()
    assert (broadcast[:, 0] == 0).all() and (broadcast[:, 1] < 0).any() and (broadcast[:, 1] > 0).any()


def test_permutations_are_permutations_and_uniform():
    rng = sg.RandomStream(7)
    big = cuda([], rng.permutation(1000))
    first, second = big(), big()
    for b in (first, second):
        np.testing.assert_array_equal(np.sort(b), np.arange(1000))
    assert not np.array_equal(first, second) and not np.array_equal(first, np.arange(1000))
    small = cuda([], rng.permutation(3))
    counts = {}
    for _ in range(240):
        s = tuple(small())
        counts[s] = counts.get(s, 0) + 1
    assert len(counts) == 6 and stats.chisquare(list(counts.values())).pvalue > 1e-4


def test_choice_frequencies_and_samples_without_replacement():
    rng = sg.RandomStream(8)
    p = np.array([0.1, 0.0, 0.25, 0.4, 0.25])
    weighted, uniform, distinct, distinct_p = cuda([], [
        rng.choice(5, size=N, p=p), rng.choice(6, size=(N // 4, 4)), rng.choice(50, size=(5, 8), replace=False),
        rng.choice(5, size=4, replace=False, p=p)])()
    counts = np.bincount(weighted, minlength=5)
    assert counts[1] == 0
    assert stats.chisquare(counts[[0, 2, 3, 4]], N * p[[0, 2, 3, 4]]).pvalue > 1e-4
    assert uniform.shape == (N // 4, 4) and stats.chisquare(np.bincount(uniform.ravel(), minlength=6)).pvalue > 1e-4
    assert distinct.shape == (5, 8) and len(np.unique(distinct)) == 40 and distinct.min() >= 0 and distinct.max() < 50
    assert sorted(distinct_p) == [0, 2, 3, 4]


def test_choice_without_replacement_with_p_picks_first_in_proportion_to_p():
    rng = sg.RandomStream(9)
    f = cuda([], rng.choice(4, size=2, replace=False, p=[0.5, 0.3, 0.2, 0.0]))
    firsts = []
    for _ in range(150):
        sample = f()
        assert sample[0] != sample[1] and 3 not in sample
        firsts.append(sample[0])
    assert stats.chisquare(np.bincount(firsts, minlength=3), [75, 45, 30]).pvalue > 1e-4


# ---------------------------------------------------------------- errors

def _fails(f, args, pattern, rng, exception=ValueError):
    """``f(*args)`` raises ``exception`` matching ``pattern`` and naming this file, and no state moves."""
    states = [s.get_value() for s in rng.state_variables]
    with pytest.raises(exception, match=pattern) as info:
        f(*args)
    assert "test_cuda_random.py" in str(info.value)
    for state, before in zip(rng.state_variables, states):
        np.testing.assert_array_equal(state.get_value(), before)


def test_bad_parameters_raise_the_python_backends_errors_and_leave_every_state():
    rng = sg.RandomStream(10)
    p, pv = sg.scalar("p"), sg.vector("pv")
    n = sg.scalar("n", dtype="int64")
    low, high = sg.vector("low", dtype="int64"), sg.vector("high", dtype="int64")
    other = rng.normal(size=3)                 # drawn in the same calls: must not advance either
    bern = cuda([p, pv], [other, rng.bernoulli(p, size=4), rng.bernoulli(pv, size=(2, 3))])
    for args in [(1.5, [0.5] * 3), (np.nan, [0.5] * 3), (0.5, [0.5, -0.1, 0.5]), (0.5, [0.5, np.nan, 0.5])]:
        _fails(bern, args, r"^bernoulli: p must lie in \[0, 1\]", rng)
    ints = cuda([n, low, high], [other, rng.integers(n, 3, size=2), rng.integers(low, high, size=(2, 2))])
    _fails(ints, (3, [0, 0], [1, 1]), r"^integers: low >= high", rng)
    _fails(ints, (0, [0, 5], [1, 5]), r"^integers: low >= high", rng)
    sized = cuda([n], [other, rng.uniform(size=(2, n))])
    _fails(sized, (-1,), r"^random\{.*negative dimensions are not allowed", rng)
    perm = cuda([n], [other, rng.permutation(n)])
    _fails(perm, (-2,), r"^permutation: n must be >= 0", rng)
    bern(0.5, [0.5] * 3)                       # the failures left nothing behind
    ints(0, [0, 0], [1, 1])


def test_bad_choices_raise_the_python_backends_errors_and_leave_every_state():
    rng = sg.RandomStream(11)
    n = sg.scalar("n", dtype="int64")
    p = sg.vector("p")
    other = rng.uniform(size=2)
    weighted = cuda([n, p], [other, rng.choice(n, size=2, p=p)])
    _fails(weighted, (3, [0.5, 0.5]), r"^choice: a and p must have the same length", rng)
    _fails(weighted, (2, [1.5, -0.5]), r"^choice: probabilities are not non-negative", rng)
    _fails(weighted, (2, [np.nan, 1.0]), r"^choice: probabilities are not non-negative", rng)
    _fails(weighted, (2, [0.5, 0.6]), r"^choice: probabilities do not sum to 1", rng)
    _fails(weighted, (0, []), r"^choice: cannot take samples from an empty population", rng)
    unique = cuda([n, p], [other, rng.choice(n, size=3, replace=False, p=p)])
    _fails(unique, (3, [0.5, 0.5, 0.0]), r"^choice: fewer non-zero entries in p than size", rng)
    _fails(unique, (2, [0.5, 0.5]), r"^choice: cannot take a larger sample \(3\) than the population \(2\)", rng)
    plain = cuda([n], [other, rng.choice(n, size=3, replace=False)])
    _fails(plain, (2,), r"^choice: cannot take a larger sample", rng)
    assert sorted(unique(3, [0.2, 0.5, 0.3])[1]) == [0, 1, 2]
    assert weighted(2, [1.0 - 1e-12, 1e-12])[1].tolist() == [0, 0]
