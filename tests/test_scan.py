"""``sg.scan`` and ``sg.until``: values against NumPy loops, derivatives (backpropagation through time)
against finite differences and the same loop unrolled, second derivatives, updates, the errors at build
time, and every backend against the python reference."""
import re
import warnings

import numpy as np
import pytest
from numba.core.errors import NumbaWarning

import symgraph as sg
from tests.finite_differences import numeric_grad as _numeric_grad
from symgraph.graph import toposort

BACKENDS = ["python", "numba", "cuda"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_cumulative_sum_and_its_gradient(backend):
    x = sg.vector("x")
    sums, updates = sg.scan(lambda v, total: total + v, sequences=x, outputs_info=sg.constant(0.0))
    assert updates == {}
    weights = np.array([1.0, 2.0, 3.0, 4.0])
    f = sg.function([x], [sums, sg.grad(sg.sum(sums * weights), x)], backend=backend)
    values, grad = f([1.0, 2.0, 3.0, 4.0])
    np.testing.assert_array_equal(values, [1.0, 3.0, 6.0, 10.0])
    np.testing.assert_array_equal(grad, np.cumsum(weights[::-1])[::-1])


@pytest.mark.parametrize("backend", BACKENDS)
def test_fibonacci_with_two_taps(backend):
    fib, _ = sg.scan(lambda a, b: a + b, outputs_info=dict(initial=sg.constant(np.array([0, 1])), taps=[-2, -1]),
                     n_steps=10)
    got = sg.function([], fib, backend=backend)()
    assert got.dtype == "int64"
    np.testing.assert_array_equal(got, [1, 2, 3, 5, 8, 13, 21, 34, 55, 89])


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_taps_gradient_reaches_both_initial_values(backend):
    x0 = sg.vector("x0")
    c = sg.scalar("c")
    xs, _ = sg.scan(lambda a, b, c: 0.5 * a + c * sg.sin(b), outputs_info=dict(initial=x0, taps=[-2, -1]),
                    non_sequences=c, n_steps=5)
    cost = sg.sum(xs * np.arange(1.0, 6.0))

    def loop(x0v, cv):
        a, b, total = x0v[0], x0v[1], 0.0
        for t in range(5):
            a, b = b, 0.5 * a + cv * np.sin(b)
            total += (t + 1) * b
        return total
    f = sg.function([x0, c], [cost] + sg.grad(cost, [x0, c]), backend=backend)
    value, g_x0, g_c = f([0.3, -0.7], 1.3)
    assert np.isclose(value, loop(np.array([0.3, -0.7]), 1.3))
    np.testing.assert_allclose(g_x0, _numeric_grad(lambda v: loop(v, 1.3), np.array([0.3, -0.7])), rtol=1e-6)
    np.testing.assert_allclose(g_c, _numeric_grad(lambda v: loop(np.array([0.3, -0.7]), v), np.array(1.3)),
                               rtol=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_power_iteration_with_n_steps_and_go_backwards(backend):
    A = sg.matrix("A")
    v0 = sg.vector("v0")
    n = sg.scalar("n", dtype="int64")
    vs, _ = sg.scan(lambda v, A: sg.dot(A, v) / sg.norm(sg.dot(A, v)), outputs_info=v0, non_sequences=A, n_steps=n)
    a = np.array([[2.0, 1.0], [1.0, 3.0]])
    got = sg.function([A, v0, n], vs[-1], backend=backend)(a, [1.0, 0.0], 50)
    w, V = np.linalg.eigh(a)
    np.testing.assert_allclose(np.abs(got), np.abs(V[:, -1]), atol=1e-10)
    x = sg.vector("x")
    backwards, _ = sg.scan(lambda v, acc: acc * 10 + v, sequences=x, outputs_info=sg.constant(0.0), go_backwards=True)
    np.testing.assert_array_equal(sg.function([x], backwards, backend=backend)([1.0, 2.0, 3.0]), [3.0, 32.0, 321.0])


def _rnn_graph(dtype="float64"):
    W = sg.matrix("W", dtype=dtype)
    U = sg.matrix("U", dtype=dtype)
    b = sg.vector("b", dtype=dtype)
    V = sg.matrix("V", dtype=dtype)
    X = sg.tensor("X", dtype, (None, None, None))
    h0 = sg.matrix("h0", dtype=dtype)
    hs, _ = sg.scan(lambda x, h, W, U, b: sg.tanh(sg.dot(h, W) + sg.dot(x, U) + b), sequences=X, outputs_info=h0,
                    non_sequences=[W, U, b])
    readout = sg.dot(hs, V)                     # (T, batch, out): a read-out of every step
    cost = sg.mean(readout ** 2)
    return [W, U, b, V, X, h0], hs, cost


def _rnn_values(rng, dtype="float64", T=6, batch=2, n_in=3, hidden=4, n_out=2):
    return [(0.5 * rng.standard_normal(s)).astype(dtype) for s in
            [(hidden, hidden), (n_in, hidden), (hidden,), (hidden, n_out), (T, batch, n_in), (batch, hidden)]]


def _rnn_numpy(W, U, b, V, X, h0):
    h, total = h0, 0.0
    for x in X:
        h = np.tanh(h @ W + x @ U + b)
        total += np.sum((h @ V) ** 2)
    return total / (X.shape[0] * X.shape[1] * V.shape[1])


def test_elman_rnn_values_and_gradients_match_numpy_and_finite_differences():
    rng = np.random.default_rng(0)
    inputs, hs, cost = _rnn_graph()
    values = _rnn_values(rng)
    grads = sg.grad(cost, inputs)
    f = sg.function(inputs, [cost] + grads, backend="python")
    got = f(*values)
    assert np.isclose(got[0], _rnn_numpy(*values), rtol=1e-12)
    for i, g in enumerate(got[1:]):
        def partial(v, i=i):
            args = list(values)
            args[i] = v
            return _rnn_numpy(*args)
        np.testing.assert_allclose(g, _numeric_grad(partial, values[i]), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("backend", ["numba", "cuda"])
def test_elman_rnn_gradients_on_every_backend_match_python(backend):
    rng = np.random.default_rng(1)
    inputs, hs, cost = _rnn_graph()
    values = _rnn_values(rng, T=4)
    outputs = [cost, hs] + sg.grad(cost, inputs)
    want = sg.function(inputs, outputs, backend="python")(*values)
    got = sg.function(inputs, outputs, backend=backend)(*values)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)


def test_the_gradient_is_another_scan_and_differentiates_again():
    rng = np.random.default_rng(2)
    inputs, hs, cost = _rnn_graph()
    W = inputs[0]
    g = sg.grad(cost, W)
    scans = [n for n in toposort([g]) if n.op.name == "scan"]
    assert len(scans) >= 2 and any(str(n.op).startswith("grad of") for n in scans)
    values = _rnn_values(rng, T=3)
    direction = rng.standard_normal(values[0].shape)
    hvp = sg.grad(sg.sum(g * direction), W)                    # Hessian-vector product, double backprop
    f_g = sg.function(inputs, g, backend="python")
    got = sg.function(inputs, hvp, backend="numba")(*values)

    def grad_at(w):
        return f_g(w, *values[1:])
    eps = 1e-6
    numeric = (grad_at(values[0] + eps * direction) - grad_at(values[0] - eps * direction)) / (2 * eps)
    np.testing.assert_allclose(got, numeric, rtol=1e-5, atol=1e-8)


def test_hessian_of_a_small_scan():
    x = sg.vector("x")
    ys, _ = sg.scan(lambda v, acc: acc * v + sg.sin(v), sequences=x, outputs_info=sg.constant(1.0))
    cost = ys[-1]

    def loop(v):
        acc = 1.0
        for e in v:
            acc = acc * e + np.sin(e)
        return acc
    point = np.array([0.3, -1.2, 0.8])
    H = sg.function([x], sg.hessian(cost, x), backend="numba")(point)
    grad = sg.function([x], sg.grad(cost, x), backend="python")
    numeric = np.stack([_numeric_grad(lambda v: grad(v)[i], point) for i in range(3)])
    np.testing.assert_allclose(H, numeric, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(sg.function([x], cost, backend="python")(point), loop(point))


@pytest.mark.parametrize("backend", BACKENDS)
def test_until_stops_early_and_differentiates_the_steps_that_ran(backend):
    x0 = sg.scalar("x0")
    a = sg.scalar("a")
    xs, _ = sg.scan(lambda x, a: (x * a + 1.0, sg.until(x * a + 1.0 > 20.0)), outputs_info=x0, non_sequences=a,
                    n_steps=100)
    cost = sg.sum(xs ** 2)
    f = sg.function([x0, a], [xs, cost] + sg.grad(cost, [x0, a]), backend=backend)
    got_xs, got_cost, g_x0, g_a = f(1.0, 1.5)
    want, x = [], 1.0
    while True:
        x = x * 1.5 + 1.0
        want.append(x)
        if x > 20.0:
            break
    np.testing.assert_allclose(got_xs, want)
    steps = len(want)

    def unrolled(x0v, av):
        x, total = x0v, 0.0
        for _ in range(steps):
            x = x * av + 1.0
            total += x * x
        return total
    assert np.isclose(got_cost, unrolled(1.0, 1.5))
    np.testing.assert_allclose(g_x0, _numeric_grad(lambda v: unrolled(v, 1.5), np.array(1.0)), rtol=1e-6)
    np.testing.assert_allclose(g_a, _numeric_grad(lambda v: unrolled(1.0, v), np.array(1.5)), rtol=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_outputs_not_fed_back_and_several_outputs(backend):
    x = sg.vector("x")
    (total, square), _ = sg.scan(lambda v, acc: (acc + v, v * v), sequences=x,
                                 outputs_info=[sg.constant(0.0), None])
    got_total, got_square = sg.function([x], [total, square], backend=backend)([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(got_total, [1.0, 3.0, 6.0])
    np.testing.assert_array_equal(got_square, [1.0, 4.0, 9.0])
    only, _ = sg.scan(lambda v: sg.exp(v), sequences=x)
    np.testing.assert_allclose(sg.function([x], only, backend=backend)([0.0, 1.0]), [1.0, np.e])


@pytest.mark.parametrize("backend", BACKENDS)
def test_updates_requested_by_the_step(backend):
    counter = sg.shared(np.array(0.0), name="counter")
    x = sg.vector("x")
    ys, updates = sg.scan(lambda v: (v + counter, {counter: counter + 1.0}), sequences=x)
    assert list(updates) == [counter]
    f = sg.function([x], ys, updates=updates, backend=backend)
    np.testing.assert_array_equal(f([10.0, 10.0, 10.0]), [10.0, 11.0, 12.0])
    assert counter.get_value() == 3.0
    np.testing.assert_array_equal(f([0.0]), [3.0])
    assert counter.get_value() == 4.0


@pytest.mark.parametrize("backend", BACKENDS)
def test_training_an_rnn_with_shared_weights_over_several_steps(backend):
    rng = np.random.default_rng(3)
    values = _rnn_values(rng, T=4)
    params = [sg.shared(v.copy(), name=n) for v, n in zip(values[:4], ["W", "U", "b", "V"])]
    X = sg.tensor("X", "float64", (None, None, None))
    h0 = sg.matrix("h0")
    W, U, b, V = params
    hs, _ = sg.scan(lambda x, h: sg.tanh(sg.dot(h, W) + sg.dot(x, U) + b), sequences=X, outputs_info=h0)
    cost = sg.mean(sg.dot(hs, V) ** 2)
    grads = sg.grad(cost, params)
    step = sg.function([X, h0], cost, updates={p: p - 0.1 * g for p, g in zip(params, grads)}, backend=backend)
    losses = [float(step(values[4], values[5])) for _ in range(4)]
    # the same steps in NumPy, with gradients from the python backend's loop-free reference
    weights = [v.copy() for v in values[:4]]
    inputs, _, ref_cost = _rnn_graph()
    ref = sg.function(inputs, [ref_cost] + sg.grad(ref_cost, inputs[:4]), backend="python")
    for loss in losses:
        out = ref(*weights, values[4], values[5])
        assert np.isclose(loss, out[0], rtol=1e-10)
        weights = [w - 0.1 * g for w, g in zip(weights, out[1:])]
    assert losses[-1] < losses[0]
    np.testing.assert_allclose(params[0].get_value(), weights[0], rtol=1e-9)


@pytest.mark.parametrize("backend", BACKENDS)
def test_float32_stays_float32(backend):
    rng = np.random.default_rng(4)
    inputs, hs, cost = _rnn_graph("float32")
    values = _rnn_values(rng, "float32", T=3)
    outputs = sg.function(inputs, [hs, cost] + sg.grad(cost, inputs[:3]), backend=backend)(*values)
    assert all(np.asarray(o).dtype == "float32" for o in outputs)
    assert np.isclose(outputs[1], _rnn_numpy(*[v.astype("float64") for v in values]), rtol=1e-5)


@pytest.mark.parametrize("inline_lines", [0, 400])
def test_nested_scans(inline_lines, monkeypatch):
    from symgraph.codegen.numba import loop
    monkeypatch.setattr(loop, "INLINE_STEP_LINES", inline_lines)   # steps as functions, or in the loops
    X = sg.matrix("X")

    def row_sum(row):
        sums, _ = sg.scan(lambda v, acc: acc + v, sequences=row, outputs_info=sg.constant(0.0))
        return sums[-1]
    totals, _ = sg.scan(row_sum, sequences=X)
    x = np.arange(6.0).reshape(2, 3)
    with warnings.catch_warnings():
        # the inner step is a global of the outer one, not an argument (a function argument is a dynamic
        # global: Numba would refuse to cache the kernel, compiling it again in every process)
        warnings.simplefilter("error", NumbaWarning)
        nested = sg.function([X], totals, backend="numba")
    assert not re.search(r"= step\d+\([^)]*\bstep\d+\b", nested.source)
    assert nested.source.count("def step") == (2 if inline_lines == 0 else 0)
    assert nested.source.count("for t") == 2
    for backend in BACKENDS:
        np.testing.assert_array_equal(sg.function([X], totals, backend=backend)(x), [3.0, 12.0])
    g = sg.function([X], sg.grad(sg.sum(totals * np.array([1.0, 2.0])), X), backend="numba")(x)
    np.testing.assert_array_equal(g, [[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_short_steps_are_written_in_the_loop_and_long_ones_get_a_function(dtype, monkeypatch):
    """codegen/numba/loop.py's INLINE_STEP_LINES: the same values and gradients either way (the RNN of
    test_values_and_gradients_against_numpy, forward and backward scans)."""
    from symgraph.codegen.numba import loop
    rng = np.random.default_rng(11)
    inputs, hs, cost = _rnn_graph(dtype)
    values = _rnn_values(rng, dtype, T=4)
    outputs = [hs, cost] + sg.grad(cost, inputs[:3])
    inline = sg.function(inputs, outputs, backend="numba")
    assert "def step" not in inline.source and inline.source.count("for t") == 2
    assert "join_copy" not in inline.source        # h0 joined with hs: a view of the forward scan's buffer
    monkeypatch.setattr(loop, "INLINE_STEP_LINES", 5)
    called = sg.function(inputs, outputs, backend="numba")
    assert called.source.count("def step") == 2
    reference = sg.function(inputs, outputs, backend="python")(*values)
    for a, b, want in zip(inline(*values), called(*values), reference):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(a, want, rtol=1e-5 if dtype == "float32" else 1e-12)


@pytest.mark.parametrize("backend", ["numba", "cuda"] if "cuda" in BACKENDS else ["numba"])
def test_a_scans_initial_value_joined_with_its_output(backend):
    """codegen/numba/join.py reads the join of a scan's initial rows and its output from the scan's buffer;
    with taps [-2, -1] (two initial rows), an until that stops early, and the joined value returned and
    read again."""
    x0 = sg.vector("x0")
    a = sg.scalar("a")
    xs, _ = sg.scan(lambda x2, x1, a: (x1 * a + x2, sg.until(sg.sum(x1) > 30.0)),
                    outputs_info={"initial": x0.reshape((2, 1)), "taps": [-2, -1]}, non_sequences=a, n_steps=50)
    joined = sg.concatenate([x0.reshape((2, 1)), xs], axis=0)
    other = sg.concatenate([xs, x0.reshape((2, 1))], axis=0)           # not the buffer's order: copied
    outputs = [joined, joined * 2.0 + 1.0, other, sg.grad(sg.sum(joined ** 2), a)]
    f = sg.function([x0, a], outputs, backend=backend)
    if backend == "numba":
        assert len(re.findall(r"= buf\d+\[:n\d+\]\n", f.source)) == 1      # `joined`: the buffer's first rows
        assert re.search(r"join_copy\(v\d+, v\d+, 1,", f.source)             # `other`: copied
    want = sg.function([x0, a], outputs, backend="python")(np.array([1.0, 2.0]), 1.5)
    got = f(np.array([1.0, 2.0]), 1.5)
    assert 2 < want[0].shape[0] < 52                                   # the until stopped it early
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-12)
    got[0][...] = -1.0                                                  # the result is the caller's own copy
    np.testing.assert_allclose(f(np.array([1.0, 2.0]), 1.5)[0], want[0], rtol=1e-12)


@pytest.mark.parametrize("read_init", [False, True])
def test_a_constant_initial_state_is_a_filled_buffer(read_init):
    """codegen/numba/loop.py: a state that starts as a broadcast constant (the zeros of every backward scan)
    gets its buffer made filled; the broadcast and its new axis are not made unless something else reads
    them (``read_init``: the initial value is also an output)."""
    x = sg.vector("x")
    a = sg.scalar("a")
    start = sg.zeros_like(x) + 0.0 if read_init else sg.zeros_like(x)
    hs, _ = sg.scan(lambda h, x, a: sg.tanh(h * a + x), outputs_info=start, non_sequences=[x, a], n_steps=5)
    outputs = [hs, sg.grad(sg.sum(hs ** 2), a)] + ([start] if read_init else [])
    f = sg.function([x, a], outputs, backend="numba")
    assert f.source.count("rt.full((") == 2           # h's forward and backward states (a's sum: a constant)
    # made only when read (BPTT's join of the initial state with the trajectory reads the scan's buffer)
    assert ("rt.broadcast_to(" in f.source) is read_init
    values = (np.array([0.5, -1.0, 2.0]), 0.7)
    for got, want in zip(f(*values), sg.function([x, a], outputs, backend="python")(*values)):
        np.testing.assert_allclose(got, want, rtol=1e-12)


def test_loop_invariant_expressions_leave_the_step():
    W = sg.matrix("W")
    x = sg.vector("x")
    hs, _ = sg.scan(lambda h: sg.tanh(sg.dot(sg.exp(W).T, h)), outputs_info=x, n_steps=3)
    scan_node = hs.owner
    inner_ops = {n.op.name for n in toposort(scan_node.op.inner_outputs)}
    assert "exp" not in inner_ops and "dimshuffle" not in inner_ops       # exp(W).T computed once, outside
    w = np.array([[0.1, 0.2], [0.3, -0.4]])
    want = np.array([1.0, -1.0])
    for _ in range(3):
        want = np.tanh(np.exp(w).T @ want)
    np.testing.assert_allclose(sg.function([W, x], hs[-1])(w, [1.0, -1.0]), want)


def test_bad_steps_are_errors_when_the_scan_is_built():
    h0 = sg.vector("h0", dtype="float32")
    with pytest.raises(TypeError, match=r"scan: output 0 of fn is .*float64.*'h0'.*float32.*test_scan.py"):
        sg.scan(lambda h: sg.cast(h, "float64") * 2, outputs_info=h0, n_steps=3)
    with pytest.raises(TypeError, match="output 0 of fn"):
        sg.scan(lambda h: sg.sum(h), outputs_info=h0, n_steps=3)
    with pytest.raises(ValueError, match="fn returned 2 outputs, but outputs_info describes 1"):
        sg.scan(lambda h: (h, h), outputs_info=h0, n_steps=3)
    with pytest.raises(ValueError, match="give n_steps or at least one sequence"):
        sg.scan(lambda h: h, outputs_info=h0)
    with pytest.raises(ValueError, match="taps must be negative"):
        sg.scan(lambda h: h, outputs_info=dict(initial=h0, taps=[0]), n_steps=2)
    with pytest.raises(TypeError, match="until: the condition must be 0-d"):
        sg.until(h0 > 0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_runtime_errors_name_the_scan(backend):
    x = sg.vector("x")
    n = sg.scalar("n", dtype="int64")
    ys, _ = sg.scan(lambda v, acc: acc + v, sequences=x, outputs_info=sg.constant(0.0), n_steps=n)
    f = sg.function([x, n], ys, backend=backend)
    with pytest.raises(ValueError, match="scan.*sequence 0"):
        f([1.0, 2.0], 3)
    np.testing.assert_array_equal(f([1.0, 2.0, 3.0], 2), [1.0, 3.0])
    np.testing.assert_array_equal(f([1.0, 2.0, 3.0], 0), np.zeros(0))


@pytest.mark.parametrize("backend", ["python", "numba"])
def test_a_step_result_of_another_length_than_its_row_is_an_error(backend):
    """A recurrent output of another length than its state, or an output not fed back that changes its length
    between steps, raises a ValueError naming the scan (numba: checked in the one helper call that stores the
    row) and never writes past a row."""
    h0, m = sg.vector("h0"), sg.scalar("m", dtype="int64")
    hs, _ = sg.scan(lambda h, m: h[:m] * 2, outputs_info=h0, non_sequences=m, n_steps=2)
    f = sg.function([h0, m], hs, backend=backend)
    np.testing.assert_array_equal(f(np.ones(3), 3), [[2.0] * 3, [4.0] * 3])
    with pytest.raises(ValueError, match=r"scan: .*recurrent output 0 .*(shape \(2,\)|length on axis 0)"):
        f(np.ones(3), 2)
    idx, base = sg.vector("idx", dtype="int64"), sg.vector("base")
    ys, _ = sg.scan(lambda i, b: b[:i], sequences=idx, outputs_info=None, non_sequences=base)
    g = sg.function([idx, base], ys, backend=backend)
    np.testing.assert_array_equal(g(np.array([2, 2]), np.arange(4.0)), [[0.0, 1.0], [0.0, 1.0]])
    with pytest.raises(ValueError, match="scan"):
        g(np.array([2, 3]), np.arange(4.0))


def test_an_op_from_graph_in_a_step_keeps_its_own_gradient():
    a = sg.scalar("a")
    square = sg.OpFromGraph([a], a * a, grad=lambda inputs, grads: [grads[0] * 10 * inputs[0]])
    x = sg.vector("x")
    ys, _ = sg.scan(lambda v, acc: acc + square(v), sequences=x, outputs_info=sg.constant(0.0))
    for backend in BACKENDS:
        for optimizer in (None, "fast_run"):
            values, grad = sg.function([x], [ys, sg.grad(ys[-1], x)], backend=backend, optimizer=optimizer)(
                [1.0, 2.0, 3.0])
            np.testing.assert_array_equal(values, [1.0, 5.0, 14.0])
            np.testing.assert_array_equal(grad, [10.0, 20.0, 30.0])


def test_the_step_is_optimized_and_outputs_nobody_reads_are_removed():
    x = sg.vector("x")
    (total, unused), _ = sg.scan(lambda v, acc: (acc * 2.0 + sg.exp(v) * 3.0, sg.sin(v)), sequences=x,
                                 outputs_info=[sg.constant(0.0), None])
    f = sg.function([x], total)
    scans = [n for n in f.graph.nodes if n.op.name == "scan"]
    assert len(scans) == 1 and len(scans[0].outputs) == 1            # the unread sin output is gone
    inner = [n.op.name for n in toposort(scans[0].op.inner_outputs)]
    assert inner == ["fused"] and "sin" not in str(scans[0].op.inner_outputs[0].owner.op)
    fired = [entry.stage for entry in f.rewrite_log]
    assert any(stage.startswith("step of scan") for stage in fired)
    assert f.rewrite_log.fired("remove_unused_scan_outputs") == 1
    np.testing.assert_allclose(f([0.0, 1.0]), [3.0, 6.0 + 3 * np.e])
    text = sg.dprint(f)
    assert "┊ step of scan" in text and "fused" in text


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("optimizer", [None, "fast_run"])
def test_constants_in_the_step_and_constant_outputs(backend, optimizer):
    x = sg.vector("x")
    W = sg.constant(np.array([[1.0, 2.0], [3.0, 4.0]]))
    (doubled, fixed), _ = sg.scan(lambda v: (v * 2.0, sg.constant(np.array([1.0, 2.0]))), sequences=x)
    counter, _ = sg.scan(lambda v, acc: [acc + 1.0], sequences=x, outputs_info=[sg.constant(0.0)])
    h, _ = sg.scan(lambda v, acc: sg.dot(W, acc) * v, sequences=x, outputs_info=sg.constant(np.array([1.0, 0.5])))
    got = sg.function([x], [doubled, fixed, counter, h], backend=backend, optimizer=optimizer)([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(got[0], [2.0, 4.0, 6.0])
    np.testing.assert_array_equal(got[1], [[1.0, 2.0]] * 3)
    np.testing.assert_array_equal(got[2], [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(got[3], [[2.0, 5.0], [24.0, 52.0], [384.0, 840.0]])


def test_a_steps_rows_are_computed_once_with_their_constants_folded():
    """codegen/numba/loop.py's ``_row``: BPTT (a reversed scan over sequences, its states kept only at their
    last value in a ring of two rows) reads its reversed step once per step, each ring row once, and folds
    ``lag + tap`` (``t % 2``, not ``(1 + t - 1) % 2``); values as the python backend's, and with taps
    [-2, -1] (lag 2) too."""
    inputs, hs, cost = _rnn_graph("float64")
    outputs = [hs, cost] + sg.grad(cost, inputs[:3])
    f = sg.function(inputs, outputs, backend="numba")
    backward = f.source[f.source.rindex("for t"):]
    assert len(re.findall(r"- 1 - t[0-9]+", backward)) == 1
    assert re.search(r"= t[0-9]+ % 2\n", backward) and re.search(r"= \(t[0-9]+ \+ 1\) % 2\n", backward)
    assert not re.search(r"\(1 \+ t[0-9]+ - 1\)|\(1 \+ t[0-9]+\) %", f.source)
    values = _rnn_values(np.random.default_rng(5), "float64", T=6)
    for got, want in zip(f(*values), sg.function(inputs, outputs, backend="python")(*values)):
        np.testing.assert_allclose(got, want, rtol=1e-12)
    a = sg.scalar("a")
    x0 = sg.vector("x0")
    xs, _ = sg.scan(lambda x2, x1, a: x1 * a + x2, outputs_info={"initial": x0.reshape((2, 1)), "taps": [-2, -1]},
                    non_sequences=a, n_steps=7)
    outputs = [xs[-1]] + sg.grad(sg.sum(xs[-1] ** 2), [a, x0])
    g = sg.function([x0, a], outputs, backend="numba")
    assert "- 2]" not in g.source and "+ 0]" not in g.source
    want = sg.function([x0, a], outputs, backend="python")(np.array([1.0, 2.0]), 0.9)
    for got, expected in zip(g(np.array([1.0, 2.0]), 0.9), want):
        np.testing.assert_allclose(got, expected, rtol=1e-12)
