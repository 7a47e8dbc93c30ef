"""sg.RandomStream: NumPy's values from the documented states, states that advance by themselves (atomically,
across functions, threads and loops), reparameterised gradients, errors, and the numba backend bit for bit
equal to the python backend. (cuda: tests/codegen/test_cuda_random.py.)"""
import threading

import numpy as np
import pytest

import symgraph as sg
from symgraph.random_state import generator, seeded_state


def reference(seed, index):
    """NumPy's generator at the state the ``index``-th draw of a stream seeded with ``seed`` starts from."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(index,))))


def compiled(inputs, outputs, backend, **options):
    return sg.function(inputs, outputs, backend=backend, **options)


BACKENDS = ["python", "numba"]


# ---------------------------------------------------------------- NumPy's values, call after call

@pytest.mark.parametrize("backend", BACKENDS)
def test_each_distribution_gives_numpys_values_call_after_call(backend):
    rng = sg.RandomStream(2024)
    draws = [rng.normal(size=(3, 4)),
             rng.normal(size=5, dtype="float32"),
             rng.normal(size=(2, 3), loc=np.array([1.0, -2.0, 3.0]), scale=2.5),
             rng.uniform(size=7),
             rng.uniform(size=3, dtype="float32"),
             rng.uniform(size=(2, 2), low=-3.0, high=np.array([1.0, 5.0])),
             rng.bernoulli(0.3, size=9),
             rng.integers(10, size=(2, 5)),
             rng.integers(np.array([-5, 0, 2**40]), np.array([5, 2**33, 2**41]), size=(4, 3)),
             rng.permutation(11),
             rng.choice(6, size=8),
             rng.choice(5, size=(2, 2), p=[0.1, 0.2, 0.3, 0.0, 0.4]),
             rng.choice(9, size=4, replace=False),
             rng.choice(6, size=3, replace=False, p=[0.3, 0.1, 0.1, 0.2, 0.2, 0.1])]
    f = compiled([], draws, backend)
    expected = [
        lambda g: g.standard_normal((3, 4)),
        lambda g: g.standard_normal(5, dtype=np.float32),
        lambda g: g.normal(np.array([1.0, -2.0, 3.0]), 2.5, (2, 3)),
        lambda g: g.random(7),
        lambda g: g.random(3, dtype=np.float32),
        lambda g: g.uniform(-3.0, np.array([1.0, 5.0]), (2, 2)),
        lambda g: (g.random(9) < 0.3).astype(np.float64),
        lambda g: g.integers(0, 10, (2, 5)),
        lambda g: g.integers(np.array([-5, 0, 2**40]), np.array([5, 2**33, 2**41]), (4, 3)),
        lambda g: g.permutation(11),
        lambda g: g.choice(6, size=8),
        lambda g: g.choice(5, size=(2, 2), p=[0.1, 0.2, 0.3, 0.0, 0.4]),
        lambda g: g.choice(9, size=4, replace=False),
        lambda g: g.choice(6, size=3, replace=False, p=[0.3, 0.1, 0.1, 0.2, 0.2, 0.1])]
    generators = [reference(2024, i) for i in range(len(draws))]
    for call in range(3):
        values = f()
        for k, (value, make, g) in enumerate(zip(values, expected, generators)):
            want = make(g)
            assert value.dtype == np.asarray(want).dtype, (k, value.dtype)
            np.testing.assert_array_equal(value, want, err_msg=f"draw {k}, call {call}")
    # and the states hold NumPy's positions after three calls
    for state, g in zip(rng.state_variables, generators):
        np.testing.assert_array_equal(state.get_value(), seeded_state(2024, 0) * 0 + _state_of(g))


def _state_of(g):
    from symgraph.random_state import state_array
    return state_array(g)


def _mixed_graph(seed):
    """Draws of every kind with symbolic sizes and parameters computed in the graph."""
    rng = sg.RandomStream(seed)
    n = sg.scalar("n", dtype="int64")
    x = sg.vector("x")
    outputs = [rng.normal(size=(n, 3), loc=x.sum(), scale=0.5, dtype="float32"),
               rng.normal(loc=sg.expand_dims(x, 1), scale=sg.ones((1, 2))),
               rng.uniform(size=x.shape, low=x, high=x + 1.0),
               rng.bernoulli(sg.sigmoid(x), dtype="int8"),
               rng.integers(-3, n, size=(2, n)),
               rng.permutation(x),
               rng.choice(x, size=n),
               rng.choice(x, size=2, replace=False, p=x / x.sum()),
               rng.choice(n, p=sg.ones(n) / sg.cast(n, "float64"))]
    return rng, [n, x], outputs


def test_numba_draws_equal_python_draws_bit_for_bit():
    args = (4, np.array([0.5, 1.0, 2.0]))
    results = {}
    for backend in BACKENDS:
        rng, inputs, outputs = _mixed_graph(77)
        f = compiled(inputs, outputs, backend)
        results[backend] = [f(*args) for _ in range(2)] + [[s.get_value() for s in rng.state_variables]]
    for python_call, numba_call in zip(results["python"], results["numba"]):
        for a, b in zip(python_call, numba_call):
            assert a.dtype == b.dtype and a.shape == b.shape
            np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------- states that advance by themselves

@pytest.mark.parametrize("backend", BACKENDS)
def test_two_calls_are_two_draws_and_two_functions_share_a_draws_state(backend):
    rng = sg.RandomStream(5)
    a, b = rng.normal(size=3), rng.normal(size=3)          # two draws, never merged by the optimizer
    f = compiled([], [a, b], backend)
    first_a, first_b = f()
    assert not np.array_equal(first_a, first_b)
    np.testing.assert_array_equal(first_a, reference(5, 0).standard_normal(3))
    np.testing.assert_array_equal(first_b, reference(5, 1).standard_normal(3))
    only_a = compiled([], a, backend)                       # another function computing the same draw
    g = reference(5, 0)
    g.standard_normal(3)
    np.testing.assert_array_equal(only_a(), g.standard_normal(3))
    np.testing.assert_array_equal(f()[0], g.standard_normal(3))


@pytest.mark.parametrize("backend", BACKENDS)
def test_seed_restarts_every_draw_and_no_default_updates_keeps_the_state(backend):
    rng = sg.RandomStream(11)
    u = rng.uniform(size=4)
    f = compiled([], u, backend)
    first, second = f(), f()
    assert not np.array_equal(first, second)
    rng.seed(11)
    np.testing.assert_array_equal(f(), first)
    rng.seed(12)
    np.testing.assert_array_equal(f(), reference(12, 0).random(4))
    frozen = compiled([], u, backend, no_default_updates=True)
    before = rng.state_variables[0].get_value()
    np.testing.assert_array_equal(frozen(), frozen())
    np.testing.assert_array_equal(rng.state_variables[0].get_value(), before)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_failed_call_advances_nothing(backend):
    rng = sg.RandomStream(3)
    x = sg.vector("x")
    w = sg.shared(np.zeros(3), name="w")
    noisy = x + rng.normal(size=3)
    f = compiled([x], noisy.sum(), backend, updates=[(w, w + noisy)])
    states = [s.get_value() for s in rng.state_variables]
    with pytest.raises(ValueError):
        f(np.ones(4))                      # shapes (4,) and (3,) do not broadcast: the call fails
    for s, before in zip(rng.state_variables, states):
        np.testing.assert_array_equal(s.get_value(), before)
    np.testing.assert_array_equal(w.get_value(), np.zeros(3))
    f(np.ones(3))
    assert not np.array_equal(rng.state_variables[0].get_value(), states[0])


@pytest.mark.parametrize("backend", BACKENDS)
def test_calls_from_several_threads_never_repeat_or_lose_a_draw(backend):
    rng = sg.RandomStream(8)
    f = compiled([], rng.integers(2**62, size=2), backend)
    f()
    rng.seed(8)
    results = []

    def work():
        for _ in range(25):
            results.append(tuple(f()))
    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    g = reference(8, 0)
    expected = {tuple(g.integers(0, 2**62, 2)) for _ in range(100)}
    assert len(results) == 100 and set(results) == expected


@pytest.mark.parametrize("backend", BACKENDS)
def test_symbolic_sizes_and_broadcast_parameters(backend):
    rng = sg.RandomStream(21)
    n = sg.scalar("n", dtype="int64")
    X = sg.matrix("X")
    outputs = [rng.normal(size=(n, 2)), rng.uniform(size=X.shape), rng.normal(loc=X),
               rng.integers(sg.arange(3), 10), rng.bernoulli(0.5, size=n)]
    f = compiled([n, X], outputs, backend)
    values = f(3, np.zeros((2, 5)))
    assert [v.shape for v in values] == [(3, 2), (2, 5), (2, 5), (3,), (3,)]
    np.testing.assert_array_equal(values[0], reference(21, 0).standard_normal((3, 2)))
    np.testing.assert_array_equal(values[3], reference(21, 3).integers(np.arange(3), 10))
    assert compiled([n], rng.normal(size=(n, 0)), backend)(4).shape == (4, 0)


# ---------------------------------------------------------------- distributions (statistics)

def test_distributions_have_the_right_moments_ranges_and_frequencies():
    rng = sg.RandomStream(99)
    n = 200_000
    outputs = [rng.normal(size=n, loc=2.0, scale=3.0), rng.uniform(size=n, low=-1.0, high=4.0),
               rng.bernoulli(0.2, size=n), rng.integers(-2, 5, size=n), rng.permutation(1000),
               rng.choice(4, size=n, p=[0.1, 0.2, 0.3, 0.4]), rng.choice(50, size=50, replace=False),
               rng.normal(size=n, dtype="float32")]
    normal, uniform, coin, ints, perm, weighted, sample, single = compiled([], outputs, "numba")()
    se = 1 / np.sqrt(n)
    assert abs(normal.mean() - 2.0) < 5 * 3.0 * se and abs(normal.std() - 3.0) < 5 * 3.0 * se
    assert uniform.min() >= -1.0 and uniform.max() < 4.0 and abs(uniform.mean() - 1.5) < 5 * 5 / np.sqrt(12) * se
    assert abs(coin.mean() - 0.2) < 5 * np.sqrt(0.16) * se and set(np.unique(coin)) == {0.0, 1.0}
    counts = np.bincount(ints + 2, minlength=7)
    assert ints.min() == -2 and ints.max() == 4
    assert abs(counts / n - 1 / 7).max() < 5 * np.sqrt(1 / 7 * 6 / 7) * se
    np.testing.assert_array_equal(np.sort(perm), np.arange(1000))
    frequencies = np.bincount(weighted, minlength=4) / n
    assert np.abs(frequencies - [0.1, 0.2, 0.3, 0.4]).max() < 5 * 0.5 * se
    np.testing.assert_array_equal(np.sort(sample), np.arange(50))
    assert single.dtype == np.float32 and abs(single.mean()) < 5 * se and abs(single.var() - 1) < 10 * se


# ---------------------------------------------------------------- gradients

@pytest.mark.parametrize("backend", BACKENDS)
def test_reparameterisation_gradients_use_the_same_draws(backend):
    rng = sg.RandomStream(4)
    loc, scale = sg.vector("loc"), sg.vector("scale")
    low, high = sg.scalar("low"), sg.scalar("high")
    z = rng.normal(loc=loc, scale=scale)
    u = rng.uniform(size=(5,), low=low, high=high)
    cost = sg.sum(z ** 2) + sg.sum(sg.sin(u))
    grads = sg.grad(cost, [loc, scale, low, high])
    f = compiled([loc, scale, low, high], [z, u] + grads, backend)
    m, s = np.array([0.5, -1.0, 2.0]), np.array([1.0, 0.5, 2.0])
    z_value, u_value, g_loc, g_scale, g_low, g_high = f(m, s, -1.0, 3.0)
    eps = (z_value - m) / s
    np.testing.assert_allclose(g_loc, 2 * z_value, rtol=1e-12)
    np.testing.assert_allclose(g_scale, 2 * z_value * eps, rtol=1e-10)
    fraction = (u_value + 1.0) / 4.0
    np.testing.assert_allclose(g_low, np.sum(np.cos(u_value) * (1 - fraction)), rtol=1e-10)
    np.testing.assert_allclose(g_high, np.sum(np.cos(u_value) * fraction), rtol=1e-10)
    np.testing.assert_array_equal(eps * 0 + z_value, m + s * reference(4, 0).standard_normal(3))


def test_discrete_draws_have_no_gradient_in_their_parameters():
    rng = sg.RandomStream(0)
    p = sg.scalar("p")
    coin = rng.bernoulli(p, size=3)
    with pytest.raises(sg.grad.__globals__["DisconnectedInputError"]):
        sg.grad(coin.sum(), p)
    zero = sg.grad(coin.sum(), p, disconnected="zero")
    assert float(compiled([p], zero, "python")(0.5)) == 0.0


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_dropout_training_step_draws_a_new_mask_each_call(backend):
    rng = sg.RandomStream(1)
    X, y = sg.matrix("X"), sg.vector("y")
    w = sg.shared(np.full(6, 0.1), name="w")
    mask = rng.bernoulli(0.5, size=X.shape)
    prediction = sg.dot(X * mask / 0.5, w)
    loss = sg.mean((prediction - y) ** 2)
    step = compiled([X, y], [loss, mask], backend, updates=[(w, w - 0.1 * sg.grad(loss, w))])
    data = np.random.default_rng(0).normal(size=(16, 6))
    target = data.sum(axis=1)
    masks, weights = [], []
    for _ in range(5):
        _, m = step(data, target)
        masks.append(m)
        weights.append(w.get_value())
    assert all(not np.array_equal(masks[0], m) for m in masks[1:])
    g = reference(1, 0)
    for m in masks:
        np.testing.assert_array_equal(m, (g.random((16, 6)) < 0.5).astype(float))
    assert not np.array_equal(weights[0], weights[-1])


# ---------------------------------------------------------------- loops

@pytest.mark.parametrize("backend", BACKENDS)
def test_a_draw_inside_a_scan_is_drawn_at_every_step_and_advances_the_stream(backend):
    rng = sg.RandomStream(7)
    h0 = sg.vector("h0")
    hs, updates = sg.scan(lambda h: h + rng.normal(size=(3,)), outputs_info=h0, n_steps=4)
    assert list(updates) == list(rng.state_variables)
    f = compiled([h0], hs, backend)
    g = reference(7, 0)
    for _ in range(2):
        np.testing.assert_array_equal(f(np.zeros(3)), np.cumsum(g.standard_normal((4, 3)), axis=0))
    np.testing.assert_array_equal(rng.state_variables[0].get_value(), _state_of(g))


@pytest.mark.parametrize("backend", BACKENDS)
def test_gradient_through_a_noisy_scan_equals_the_unrolled_loop_on_the_same_draws(backend):
    rng = sg.RandomStream(13)
    h0, w = sg.vector("h0"), sg.vector("w")
    hs, _ = sg.scan(lambda h: sg.tanh(w * h + rng.normal(size=(3,), scale=0.3)), outputs_info=h0, n_steps=5)
    cost = sg.sum(hs ** 2)
    f = compiled([h0, w], [cost, sg.grad(cost, w), hs], backend)
    start, weights = np.array([0.5, -0.2, 1.0]), np.array([0.9, 1.1, -0.7])
    _, g_w, trajectory = f(start, weights)
    noise = 0.3 * reference(13, 0).standard_normal((5, 3))
    # the unrolled loop on the same noise, differentiated by hand (forward-mode through the recursion)
    h, dh, total = start, np.zeros(3), np.zeros(3)
    for t in range(5):
        pre = weights * h + noise[t]
        new = np.tanh(pre)
        dh = (1 - new ** 2) * (h + weights * dh)
        h = new
        total += 2 * h * dh
        np.testing.assert_allclose(trajectory[t], h, rtol=1e-12)
    np.testing.assert_allclose(g_w, total, rtol=1e-10)


# ---------------------------------------------------------------- printing and errors

def test_dprint_shows_the_state_and_its_update():
    rng = sg.RandomStream(0)
    f = compiled([], rng.normal(size=2) * 2.0, "python")
    text = sg.dprint(f)
    assert "standard_normal" in text and "rng.normal[0] (shared)" in text and "update of rng.normal[0]:" in text


def test_bad_arguments_are_clear_errors_naming_the_draw():
    rng = sg.RandomStream(0)
    with pytest.raises(TypeError, match="normal: dtype must be float32 or float64"):
        rng.normal(size=2, dtype="int32")
    with pytest.raises(ValueError, match="permutation: n must be >= 0"):
        rng.permutation(-1)
    with pytest.raises(ValueError, match="negative dimensions"):
        rng.normal(size=(2, -1))
    with pytest.raises(ValueError, match="does not broadcast to the size"):
        rng.normal(size=(2, 3), loc=np.zeros(4))
    with pytest.raises(TypeError, match="seed"):
        sg.RandomStream("not a seed")
    with pytest.raises(ValueError, match="choice: a must be an integer or a 1-d array"):
        rng.choice(np.zeros((2, 2)))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("make, message", [
    (lambda rng, v: rng.bernoulli(v, size=2), "bernoulli: p must lie in"),
    (lambda rng, v: rng.integers(sg.cast(v, "int64"), 2, size=3), "integers: low >= high"),
    (lambda rng, v: rng.choice(3, size=sg.cast(v, "int64"), replace=False), "larger sample"),
    (lambda rng, v: rng.choice(3, size=2, p=sg.stack([v, 0.5, 0.5])), "(?i)probabilities do not sum to 1"),
    (lambda rng, v: rng.choice(3, size=2, p=sg.stack([-v, 0.5, 0.5])), "(?i)probabilities are not non-negative"),
    (lambda rng, v: rng.choice(2, size=2, p=sg.ones(sg.cast(v, "int64")) / v), "same length"),
])
def test_bad_parameters_at_call_time_raise_and_advance_nothing(backend, make, message):
    rng = sg.RandomStream(0)
    v = sg.scalar("v")
    f = compiled([v], make(rng, v), backend)
    before = rng.state_variables[0].get_value()
    with pytest.raises(ValueError, match=message) as info:
        f(5.0)
    assert "test_random.py" in str(info.value)         # the user's line
    np.testing.assert_array_equal(rng.state_variables[0].get_value(), before)


def test_a_draw_inside_a_scan_on_cuda_is_drawn_at_every_step():
    # cuda draws from its own stream (Philox): compare its shapes, its per-step freshness and the state
    rng = sg.RandomStream(7)
    h0 = sg.vector("h0")
    hs, _ = sg.scan(lambda h: h + rng.uniform(size=(200,)), outputs_info=h0, n_steps=3)
    f = compiled([h0], hs, "cuda")
    before = rng.state_variables[0].get_value()
    first, second = f(np.zeros(200)), f(np.zeros(200))
    steps = np.diff(np.vstack([np.zeros(200), first]), axis=0)
    assert steps.shape == (3, 200) and ((steps >= 0) & (steps < 1)).all()
    assert not np.array_equal(steps[0], steps[1]) and not np.array_equal(first, second)
    assert abs(steps.mean() - 0.5) < 5 * np.sqrt(1 / 12 / steps.size)
    after = rng.state_variables[0].get_value()
    assert not np.array_equal(before, after)
    np.testing.assert_array_equal(after[2:], before[2:])       # the stream's increment stays


def test_the_same_seed_gives_the_same_values_in_a_new_process():
    import subprocess
    import sys
    script = ("import numpy as np, symgraph as sg\n"
              "rng = sg.RandomStream(31)\n"
              "f = sg.function([], [rng.normal(size=4), rng.integers(100, size=3)])\n"
              "f()\n"
              "print(repr([v.tolist() for v in f()]))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    rng = sg.RandomStream(31)
    f = compiled([], [rng.normal(size=4), rng.integers(100, size=3)], "python")
    f()
    assert done.stdout.strip() == repr([v.tolist() for v in f()])


def test_two_copies_of_a_draw_in_one_function_are_an_error_unless_an_update_chooses():
    rng = sg.RandomStream(0)
    n = sg.scalar("n", dtype="int64")
    d = rng.normal(size=n)
    copy = sg.clone_replace(d, {n: n + 1})        # graph surgery: a second node on the same state
    with pytest.raises(ValueError, match="advanced by two nodes"):
        sg.function([n], [d, copy], backend="python")
    state = rng.state_variables[0]
    f = sg.function([n], [d, copy], backend="python", updates=[(state, copy.owner.outputs[0])])
    a, b = f(2)
    np.testing.assert_array_equal(b[:2], a)       # the same state: the copy repeats the draw's values
