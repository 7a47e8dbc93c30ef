"""symgraph.dask: which outputs can be computed block by block, map_blocks on a two-process
LocalCluster, and DataParallelStep (equal to single-process SGD, also when a worker dies mid-step).

Dask is in the ``test`` extra (CI installs ``.[test,cuda]``), so these tests always run.
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
import pytest

import dask
import dask.array as da
from distributed import Client, LocalCluster

import symgraph as sg
import symgraph.dask as sgd

BACKEND = "numba"


# ---------------------------------------------------------------- the digits MLP (as in examples/digits_mlp.py)

def _mlp(seed=0, n_in=64, n_hidden=16, n_classes=10):
    rng = np.random.default_rng(seed)
    W1 = sg.shared(rng.normal(0, np.sqrt(2 / n_in), (n_in, n_hidden)), name="W1")
    b1 = sg.shared(np.zeros(n_hidden), name="b1")
    W2 = sg.shared(rng.normal(0, np.sqrt(1 / n_hidden), (n_hidden, n_classes)), name="W2")
    b2 = sg.shared(np.zeros(n_classes), name="b2")
    X = sg.matrix("X")
    labels = sg.vector("labels", dtype="int64")
    hidden = sg.relu(X @ W1 + b1)
    logits = hidden @ W2 + b2
    log_probabilities = sg.log_softmax(logits, axis=1)
    loss = -log_probabilities[sg.arange(X.shape[0]), labels].mean()
    return [X, labels], loss, [W1, b1, W2, b2], logits


def _data(n=300, seed=1):
    rng = np.random.default_rng(seed)
    return rng.random((n, 64)), rng.integers(0, 10, n).astype(np.int64)


# ---------------------------------------------------------------- classification (no cluster)

def test_the_mlp_loss_and_every_parameter_gradient_classify_as_means():
    inputs, loss, params, logits = _mlp()
    f = sg.function(inputs, [loss, logits, sg.argmax(logits, axis=1)] + sg.grad(loss, params),
                    backend="python")
    assert sgd.classify_outputs(f, [True, True]) == ["mean", "rows", "rows"] + ["mean"] * 4


def test_sums_means_and_rows_are_recognised():
    x, w = sg.matrix("x"), sg.matrix("w")
    outputs = [x * 2 + 1, sg.exp(x) @ w, x.sum(axis=1), sg.softmax(x, axis=1), x[:, 1],
               x.sum(), x.sum(axis=0), -x.sum() / 3, sg.dot(x.T, x), x.mean(), sg.mean(x, axis=0),
               x.mean() + 3, 2 * x.mean(), x.sum() / x.shape[0], w * 2, x.shape[0]]
    f = sg.function([x, w], outputs, backend="python")
    assert sgd.classify_outputs(f, [True, False]) == (
        ["rows"] * 5 + ["sum"] * 4 + ["mean"] * 5 + ["const", "n"])


@pytest.mark.parametrize("build", [
    lambda x: x.max(axis=0), lambda x: x[0], lambda x: x.sum() ** 2, lambda x: sg.cumsum(x, axis=0),
    lambda x: x.sum() + 1, lambda x: x.sum() * x.sum(), lambda x: sg.exp(x.mean()), lambda x: x.T,
    lambda x: sg.dot(x, x.T), lambda x: x + x.sum(axis=0), lambda x: x.reshape((-1,)),
    lambda x: sg.softmax(x, axis=0), lambda x: x.min(), lambda x: x.mean() + x.sum(),
], ids=["max0", "x[0]", "sum**2", "cumsum0", "sum+1", "sum*sum", "exp(mean)", "x.T", "x@x.T",
        "x+colsum", "reshape", "softmax0", "min", "mean+sum"])
def test_what_cannot_be_proved_is_refused(build):
    x = sg.matrix("x")
    f = sg.function([x], build(x), backend="python", name="bad")
    assert sgd.classify_outputs(f, [True]) == [None]
    with pytest.raises(ValueError, match="output #0 of function 'bad'"):
        sgd.map_blocks(f, da.ones((6, 3), chunks=(2, 3)))


def test_const_operands_that_have_the_sample_axis_are_refused():
    x, c = sg.matrix("x"), sg.matrix("c")
    f = sg.function([x, c], (x * c).sum(), backend="python")     # c has N rows: block b needs rows of c
    assert sgd.classify_outputs(f, [True, False]) == [None]


def test_arguments_must_be_chunked_along_axis_0_only_and_alike():
    x, y = sg.matrix("x"), sg.matrix("y")
    f = sg.function([x, y], x + y, backend="python")
    with pytest.raises(ValueError, match=r"argument 1 \('y'\) is chunked along axis 1"):
        sgd.map_blocks(f, da.ones((6, 4), chunks=(2, 4)), da.ones((6, 4), chunks=(2, 2)))
    with pytest.raises(ValueError, match=r"argument 1 \('y'\) is chunked \(3, 3\) along axis 0"):
        sgd.map_blocks(f, da.ones((6, 4), chunks=(2, 4)), da.ones((6, 4), chunks=(3, 4)))


def test_import_symgraph_does_not_import_dask():
    code = "import sys, symgraph; assert 'dask' not in sys.modules and 'distributed' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------- on a two-process cluster

@pytest.fixture(scope="module")
def client():
    cache = tempfile.mkdtemp(prefix="symgraph-dask-cache-")
    previous = os.environ.get("SYMGRAPH_CACHE_DIR")
    os.environ["SYMGRAPH_CACHE_DIR"] = cache           # the worker processes inherit it
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")
    c = Client(cluster)
    try:
        yield c
    finally:
        c.close()
        cluster.close()
        if previous is None:
            os.environ.pop("SYMGRAPH_CACHE_DIR", None)
        else:
            os.environ["SYMGRAPH_CACHE_DIR"] = previous


@pytest.mark.parametrize("chunks", [(100, 100, 100), (7, 150, 43, 100), (300,)], ids=["even", "uneven", "one"])
def test_map_blocks_equals_the_single_process_call(client, chunks):
    inputs, loss, params, logits = _mlp()
    f = sg.function(inputs, [logits, loss] + sg.grad(loss, params), backend=BACKEND, name="mlp")
    x, y = _data()
    expected = f(x, y)
    X, Y = da.from_array(x, chunks=(chunks, 64)), da.from_array(y, chunks=(chunks,))
    results = sgd.map_blocks(f, X, Y)
    assert results[0].chunks == (chunks, (10,))
    assert results[0].dtype == np.float64 and results[1].shape == ()
    computed = dask.compute(*results)
    np.testing.assert_allclose(computed[0], expected[0], rtol=1e-12)
    for got, want in zip(computed[1:], expected[1:]):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-14)


def test_sums_and_whole_arguments(client):
    x, w, s = sg.matrix("x"), sg.vector("w"), sg.scalar("s")
    f = sg.function([x, w, s], [x @ w * s, x.sum(axis=0), sg.dot(x.T, x), x.shape[0]], backend=BACKEND,
                    name="sums")
    values = np.random.default_rng(2).random((50, 4))
    w_value = np.arange(4.0)
    results = dask.compute(*sgd.map_blocks(f, da.from_array(values, chunks=(9, 4)), w_value, 2.0))
    for got, want in zip(results, f(values, w_value, 2.0)):
        np.testing.assert_allclose(got, want, rtol=1e-12)


def test_task_keys_are_named_after_the_function(client):
    x = sg.matrix("x")
    f = sg.function([x], [x * 2, x.mean()], backend=BACKEND, name="twice")
    doubled, mean = sgd.map_blocks(f, da.ones((10, 2), chunks=(3, 2)))
    assert doubled.name.startswith("symgraph-twice-") and mean.name.startswith("symgraph-twice-")
    keys = [k[0] if isinstance(k, tuple) else k for k in dict(mean.__dask_graph__())]
    ours = [k for k in keys if not k.startswith("ones")]
    assert ours and all(k.startswith("symgraph-twice-") for k in ours)
    np.testing.assert_allclose(doubled.compute(), 2 * np.ones((10, 2)))
    assert float(mean.compute()) == 1.0
    unnamed = sg.function([x], x + 1, backend=BACKEND)
    assert sgd.map_blocks(unnamed, da.ones((4, 2), chunks=(2, 2))).name.startswith("symgraph-function-")


def test_each_worker_compiles_the_function_once(client):
    x = sg.matrix("x")
    f = sg.function([x], [sg.tanh(x) * 3.0 - 0.25, (x * x).mean()], backend=BACKEND, name="count_loads")
    before = client.run(sgd._loads_in_this_process)
    values = np.random.default_rng(3).random((400, 3))
    for _ in range(2):                        # 40 blocks, twice: still one load per worker
        rows, mean = dask.compute(*sgd.map_blocks(f, da.from_array(values, chunks=(10, 3))))
    np.testing.assert_allclose(rows, np.tanh(values) * 3.0 - 0.25)
    np.testing.assert_allclose(mean, (values * values).mean(), rtol=1e-12)
    after = client.run(sgd._loads_in_this_process)
    loads = {worker: after[worker] - before.get(worker, 0) for worker in after}
    assert all(n <= 1 for n in loads.values()) and sum(loads.values()) >= 1, loads


# ---------------------------------------------------------------- DataParallelStep

LEARNING_RATE = 0.5
STEPS = 4


def _minibatches():
    x, y = _data(n=4 * 90, seed=5)
    return [(x[i * 90:(i + 1) * 90], y[i * 90:(i + 1) * 90]) for i in range(STEPS)]


def _single_process_sgd():
    inputs, loss, params, _ = _mlp(seed=7)
    grads = sg.grad(loss, params)
    train = sg.function(inputs, loss, updates=[(p, p - LEARNING_RATE * g) for p, g in zip(params, grads)],
                        backend=BACKEND)
    costs = [float(train(x, y)) for x, y in _minibatches()]
    return costs, [p.get_value() for p in params]


def _data_parallel_sgd(client, hook=None, chunks=(40, 30, 20)):
    inputs, loss, params, _ = _mlp(seed=7)
    step = sgd.DataParallelStep(inputs, loss, params, LEARNING_RATE, client=client, backend=BACKEND,
                                _block_hook=hook)
    costs = []
    for x, y in _minibatches():
        costs.append(float(step(da.from_array(x, chunks=(chunks, 64)), da.from_array(y, chunks=(chunks,)))))
    assert step.steps == STEPS
    return costs, [p.get_value() for p in params]


def test_data_parallel_steps_equal_single_process_sgd(client):
    # float64 throughout: the block-weighted average differs from the whole-batch mean by rounding only
    costs, values = _single_process_sgd()
    dp_costs, dp_values = _data_parallel_sgd(client)
    np.testing.assert_allclose(dp_costs, costs, rtol=1e-10)
    for got, want in zip(dp_values, values):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-13)


def test_a_worker_killed_mid_step_changes_nothing(client, tmp_path):
    flag = str(tmp_path / "killed-once")

    def die_once(step, block):           # defined here: pickled by value for the workers
        import os
        if step == 2 and block == 1 and not os.path.exists(flag):
            open(flag, "w").close()
            os._exit(1)                  # the worker process dies in the middle of step 2

    costs, values = _single_process_sgd()
    dp_costs, dp_values = _data_parallel_sgd(client, hook=die_once)
    assert os.path.exists(flag)          # the worker did die
    np.testing.assert_allclose(dp_costs, costs, rtol=1e-10)
    for got, want in zip(dp_values, values):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-13)
    client.wait_for_workers(2, timeout=60)


def test_a_cost_that_is_not_a_mean_is_refused(client):
    inputs, loss, params, _ = _mlp()
    with pytest.raises(ValueError, match="must be a mean"):
        sgd.DataParallelStep(inputs, loss * inputs[0].shape[0], params, 0.1, client=client)
