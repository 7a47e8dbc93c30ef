"""symgraph.dask on a real two-worker LocalCluster (processes, loopback only): blockwise values equal the
whole-array call, the per-worker compile happens once, data-parallel SGD equals single-machine SGD, and a
worker killed during a step changes nothing. The classification of outputs (symgraph/sample_axis.py) is
checked here too, on the graphs map_blocks and DataParallelStep rely on."""
import os
import sys

import numpy as np
import pytest

dask = pytest.importorskip("dask", reason="symgraph.dask's tests need the dask extra: pip install -e '.[test]'")
pytest.importorskip("distributed", reason="symgraph.dask's tests need dask.distributed (the test extra)")
import cloudpickle  # noqa: E402 - comes with distributed
import dask.array as da  # noqa: E402
from dask.utils import key_split  # noqa: E402
from distributed import Client, LocalCluster  # noqa: E402

import symgraph as sg
import symgraph.dask as sgd
from symgraph.codegen.numba.locator import cache_directory
from symgraph.sample_axis import classify

# The workers cannot import this file (pytest puts tests/ on the driver's path only): its functions travel by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

CHUNKINGS = {"one chunk": (37,), "even": (10, 10, 10, 7), "uneven": (1, 20, 3, 13), "many": (5,) * 7 + (2,)}


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    # A fresh kernel cache for the workers (the once-per-install runtime library is shared with this process,
    # where it is already compiled); one Numba thread each, as Dask gives each task one core.
    env = {"SYMGRAPH_CACHE_DIR": str(tmp_path_factory.mktemp("worker_cache")),
           "SYMGRAPH_RUNTIME_CACHE_DIR": os.environ.get("SYMGRAPH_RUNTIME_CACHE_DIR")
           or os.path.join(cache_directory(), "runtime"),
           "NUMBA_NUM_THREADS": "1"}
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      host="127.0.0.1", env=env) as cluster, Client(cluster) as client:
        yield client


def worker_loads(client):
    return client.run(lambda: __import__("symgraph.dask").dask._loads)


# ---------------------------------------------------------------- map_blocks

def model_function(dtype="float64", name="model"):
    X, w = sg.matrix("X", dtype=dtype), sg.vector("w", dtype=dtype)
    scores = X @ w
    outputs = [scores,                                   # rows
               sg.softmax(X, axis=1),                    # rows
               sg.exp(X).sum(axis=1),                    # rows (reduces another axis)
               X.T,                                      # rows along axis 1
               X.sum(axis=0),                            # sum
               ((scores - 1.0) ** 2).mean(),             # mean
               X.T @ X,                                  # sum (contracts the sample axis)
               sg.grad(((scores - 1.0) ** 2).mean(), w),  # mean (the gradient of a mean)
               3.0 * X.mean(axis=0) + 1.0,               # mean + constant: still a mean
               w * 2,                                    # const
               X.shape[0]]                               # the row count: a sum of the blocks' row counts
    return sg.function([X, w], outputs, name=name), ["rows", "rows", "rows", "rows", "sum", "mean", "sum",
                                                     "mean", "mean", "const", "sum"]


@pytest.mark.parametrize("chunking", list(CHUNKINGS))
def test_map_blocks_equals_the_whole_call(client, chunking):
    f, expected = model_function()
    rng = np.random.default_rng(1)
    x, w = rng.normal(size=(37, 5)), rng.normal(size=5)
    assert [d.combined for d in classify(f.outputs, [f.inputs[0]])] == expected
    chunks = CHUNKINGS[chunking]
    outputs = sgd.map_blocks(f, da.from_array(x, chunks=(chunks, 5)), w)
    assert outputs[0].chunks == (chunks,) and outputs[1].chunks == (chunks, (5,))
    assert outputs[3].chunks == ((5,), chunks)
    results = client.gather(client.compute(outputs))
    for j, (got, want, out) in enumerate(zip(results, f(x, w), outputs)):
        assert got.shape == want.shape == out.shape and got.dtype == want.dtype == out.dtype, j
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12, err_msg=f"output {j}")


def test_float32_sums_accumulate_like_the_whole_call():
    X = sg.matrix("X", dtype="float32")
    f = sg.function([X], [X.sum(axis=0), X.mean(), X * 2], name="f32")
    x = np.random.default_rng(2).uniform(size=(1000, 3)).astype(np.float32)
    got = dask.compute(*sgd.map_blocks(f, da.from_array(x, chunks=(137, 3))), scheduler="sync")
    for a, b in zip(got, f(x)):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_several_blocked_inputs_and_the_mlp_loss(client):
    X, labels = sg.matrix("X"), sg.vector("labels", dtype="int64")
    W = sg.matrix("W")
    log_p = sg.log_softmax(X @ W, axis=1)
    loss = -log_p[sg.arange(X.shape[0]), labels].mean()
    f = sg.function([X, labels, W], [loss, sg.grad(loss, W), sg.argmax(log_p, axis=1)], name="mlp loss")
    rng = np.random.default_rng(3)
    x, y, w = rng.normal(size=(50, 4)), rng.integers(0, 3, 50), rng.normal(size=(4, 3))
    chunks = (7, 30, 13)
    outputs = sgd.map_blocks(f, da.from_array(x, chunks=(chunks, 4)), da.from_array(y, chunks=chunks), w)
    for got, want in zip(client.gather(client.compute(outputs)), f(x, y, w)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


def digits_like_mlp(dtype="float32"):
    """The digits example's model and loss (advanced indexing with arange over the rows)."""
    rng = np.random.default_rng(0)
    params = [sg.shared(rng.normal(size=(8, 6)).astype(dtype), name="W1"), sg.shared(np.zeros(6, dtype), name="b1"),
              sg.shared(rng.normal(size=(6, 3)).astype(dtype), name="W2"), sg.shared(np.zeros(3, dtype), name="b2")]
    W1, b1, W2, b2 = params
    X, labels = sg.matrix("X", dtype=dtype), sg.vector("labels", dtype="int64")
    logits = sg.relu(X @ W1 + b1) @ W2 + b2
    loss = -sg.log_softmax(logits, axis=1)[sg.arange(X.shape[0]), labels].mean()
    return X, labels, params, logits, loss


def test_mlp_loss_and_every_gradient_are_means():
    X, labels, params, logits, loss = digits_like_mlp()
    accuracy = sg.mean(sg.cast(sg.eq(sg.argmax(logits, axis=1), labels), "float64"))
    penalized = loss + 1e-3 * sum((p ** 2).sum() for p in params)
    one_hot = -(sg.one_hot(labels, 3, dtype="float32") * sg.log_softmax(logits, axis=1)).sum(axis=1).mean()
    outputs = [loss, *sg.grad(loss, params), accuracy, penalized, *sg.grad(penalized, params),
               one_hot, *sg.grad(one_hot, params), logits]
    found = [d.combined for d in classify(outputs, [X, labels])]
    assert found == ["mean"] * 16 + ["rows"]


def test_a_per_sample_gradient_is_refused():
    # d mean / d X has rows r_i / n: a block's rows are not the whole's (they would be off by N / n).
    X, w = sg.matrix("X"), sg.vector("w")
    f = sg.function([X, w], sg.grad(((X @ w) ** 2).mean(), X), name="per_sample")
    with pytest.raises(ValueError, match="scaled by the number of rows"):
        sgd.map_blocks(f, da.ones((6, 2), chunks=(3, 2)), np.ones(2))


def refused_outputs():
    x = sg.matrix("x")
    return {"max over rows": (x.max(axis=0), "max"),
            "first row": (x[0], "subtensor"),
            "square of a sum": (x.sum() ** 2, "pow"),
            "cumsum over rows": (sg.cumsum(x, axis=0), "cumsum"),
            "sum plus a constant": (x.sum() + 1.0, "adds a value given whole to a sum"),
            "centered rows": (x - x.mean(axis=0), "combines rows with a mean"),
            "rows times rows": (x @ x.T, "without contracting"),
            "a slice of rows": (x[1:], "subtensor"),
            "variance over rows": (sg.var(x, axis=0), "combines rows with a mean"),
            "sum over rows divided by a sum": (x.sum() / x.sum(axis=1).sum(), "divides a sum over rows"),
            "sort along the rows": (sg.sort(x, axis=0), "is not known")}, x


@pytest.mark.parametrize("case", list(refused_outputs()[0]))
def test_outputs_that_cannot_be_combined_are_refused(case):
    outputs, x = refused_outputs()
    output, why = outputs[case]
    f = sg.function([x], [x * 2, output], name="refused", backend="python")
    with pytest.raises(ValueError, match="output 1 of function 'refused'") as info:
        sgd.map_blocks(f, da.ones((8, 3), chunks=(4, 3)))
    assert why in str(info.value) and "built at" in str(info.value) and __file__ in str(info.value)


def test_blocks_must_hold_whole_rows_and_pair_up():
    X, Y = sg.matrix("X"), sg.matrix("Y")
    f = sg.function([X, Y], (X * Y).sum(), name="pair", backend="python")
    ones = da.ones((6, 4), chunks=(3, 4))
    with pytest.raises(ValueError, match=r"argument 1 \('Y'\) is chunked along axis 1.*rechunk"):
        sgd.map_blocks(f, ones, da.ones((6, 4), chunks=(3, 2)))
    with pytest.raises(ValueError, match=r"argument 1 \('Y'\) has row chunks \(2, 2, 2\) but argument 0 \('X'\) "
                                         r"has \(3, 3\)"):
        sgd.map_blocks(f, ones, da.ones((6, 4), chunks=(2, 4)))
    with pytest.raises(ValueError, match="no argument is a Dask array"):
        sgd.map_blocks(f, np.ones((6, 4)), np.ones((6, 4)))
    with pytest.raises(TypeError, match="takes 2 argument"):
        sgd.map_blocks(f, ones)
    w = sg.shared(np.zeros(4), name="w")
    g = sg.function([X], X.sum(), updates=[(w, w + 1)], backend="python")
    with pytest.raises(ValueError, match="updates 'w'"):
        sgd.map_blocks(g, ones)


def test_task_names_are_readable():
    f, _ = model_function(name="readable_model")
    outputs = sgd.map_blocks(f, da.ones((10, 5), chunks=(4, 5)), np.ones(5))
    prefixes = {key_split(k) for output in outputs for k in output.__dask_graph__()}
    assert {"symgraph-readableModel-block", "symgraph-readableModel-rows", "symgraph-readableModel-sum",
            "symgraph-readableModel-mean", "symgraph-readableModel-kernel"} <= prefixes
    assert all(p.startswith("symgraph-readableModel") for p in prefixes - {"ones_like", "ones"})


def test_each_worker_compiles_the_function_once(client):
    X = sg.matrix("X")
    f = sg.function([X], [sg.tanh(X) * 7.25, (X ** 3).sum(axis=0)], name="once")   # a graph no other test uses
    x = np.random.default_rng(4).normal(size=(64, 3))
    data = client.persist(da.from_array(x, chunks=(8, 3)))           # 8 blocks spread over the 2 workers
    assert len(client.who_has(data)) == 8
    before = worker_loads(client)
    for _ in range(2):                                              # the second call finds it loaded
        rows, total = client.gather(client.compute(sgd.map_blocks(f, data)))
        np.testing.assert_allclose(rows, f(x)[0], rtol=1e-13)
        np.testing.assert_allclose(total, f(x)[1], rtol=1e-12)
    after = worker_loads(client)
    loads = {worker: after[worker] - before.get(worker, 0) for worker in after}
    assert all(n <= 1 for n in loads.values()) and sum(loads.values()) >= 1, loads
    statuses = client.run(lambda: [str(fn.cache_info).split()[0] for fn in
                                   __import__("symgraph.dask").dask._loaded.values() if fn.name == "once"])
    assert all(s in (["compiled"], ["loaded"], []) for s in statuses.values()), statuses


# ---------------------------------------------------------------- data-parallel training

def minibatches(n_steps, rng, dtype="float32", rows=60):
    x = rng.normal(size=(n_steps, rows, 8)).astype(dtype)
    y = (x[..., 0] > 0).astype(np.int64) + (x[..., 1] > 0.5)
    return x, y


def train_single_machine(n_steps, x, y, learning_rate):
    X, labels, params, _, loss = digits_like_mlp("float64")
    step = sg.function([X, labels], loss, updates=[(p, p - learning_rate * g)
                                                   for p, g in zip(params, sg.grad(loss, params))])
    costs = [float(step(x[s], y[s])) for s in range(n_steps)]
    return costs, [p.get_value() for p in params]


def train_data_parallel(client, n_steps, x, y, learning_rate, chunks, before_step=None):
    X, labels, params, _, loss = digits_like_mlp("float64")
    rate = sg.shared(np.float64(learning_rate), name="rate")
    step = sgd.DataParallelStep([X, labels], loss, params, rate, client=client, name="train_step")
    costs = []
    for s in range(n_steps):
        xb, yb = da.from_array(x[s], chunks=(chunks, 8)), da.from_array(y[s], chunks=chunks)
        if before_step is not None:
            xb = before_step(s, xb)
        costs.append(float(step(xb, yb)))
    return costs, [p.get_value() for p in params]


N_STEPS, RATE = 6, 0.5


def test_data_parallel_training_equals_single_machine(client):
    x, y = minibatches(N_STEPS, np.random.default_rng(5), "float64")
    costs, params = train_single_machine(N_STEPS, x, y, RATE)
    parallel_costs, parallel_params = train_data_parallel(client, N_STEPS, x, y, RATE, (25, 17, 18))
    assert costs[-1] < costs[0]
    # float64 throughout: the only difference is the order of the sums over rows (per block, then across blocks).
    np.testing.assert_allclose(parallel_costs, costs, rtol=1e-12)
    for got, want in zip(parallel_params, params):
        np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-13)


def test_the_cost_must_be_a_mean_or_sum_over_samples(client):
    X, labels, params, logits, loss = digits_like_mlp()
    with pytest.raises(ValueError, match="the cost .* max"):
        sgd.DataParallelStep([X, labels], logits.max(), params, 0.1, client=client)
    with pytest.raises(TypeError, match="shared variables"):
        sgd.DataParallelStep([X, labels], loss, [X], 0.1, client=client)


def die_once(block, flag):
    """Kill the worker process running this block, the first time any block runs (a file marks it)."""
    from distributed import get_worker
    try:
        get_worker()
    except ValueError:                  # not on a worker (Dask probing the function): nothing to kill
        return block
    if not os.path.exists(flag):
        with open(flag, "w"):
            pass
        os._exit(1)
    return block


def test_a_worker_killed_during_a_step_changes_nothing(client, tmp_path):
    x, y = minibatches(4, np.random.default_rng(6), "float64")
    chunks = (20, 20, 20)
    _, uninterrupted = train_data_parallel(client, 4, x, y, RATE, chunks)
    flag = str(tmp_path / "killed")

    def kill_in_step_2(s, xb):
        return xb.map_blocks(die_once, flag, meta=np.empty((0, 0), xb.dtype)) if s == 2 else xb

    workers = set(client.scheduler_info()["workers"])
    _, interrupted = train_data_parallel(client, 4, x, y, RATE, chunks, before_step=kill_in_step_2)
    assert os.path.exists(flag)
    for got, want in zip(interrupted, uninterrupted):
        np.testing.assert_array_equal(got, want)        # the same tasks, the same reduction tree: bit for bit
    client.wait_for_workers(2, timeout=60)
    assert set(client.scheduler_info()["workers"]) != workers     # one worker died and its nanny started another


def test_minibatches_read_from_files_on_the_workers(client, tmp_path):
    x, y = minibatches(1, np.random.default_rng(7), "float64")
    paths = []
    for k, part in enumerate(np.array_split(np.arange(60), 3)):
        paths.append((str(tmp_path / f"x{k}.npy"), str(tmp_path / f"y{k}.npy"), len(part)))
        np.save(paths[-1][0], x[0][part])
        np.save(paths[-1][1], y[0][part])
    load = dask.delayed(np.load, pure=True)
    xb = da.concatenate([da.from_delayed(load(px), (n, 8), dtype="float64") for px, _, n in paths])
    yb = da.concatenate([da.from_delayed(load(py), (n,), dtype="int64") for _, py, n in paths])
    X, labels, params, _, loss = digits_like_mlp("float64")
    step = sgd.DataParallelStep([X, labels], loss, params, RATE, client=client)
    cost = step(xb, yb)
    single_cost, single_params = train_single_machine(1, x, y, RATE)
    np.testing.assert_allclose(cost, single_cost[0], rtol=1e-12)
    for p, want in zip(params, single_params):
        np.testing.assert_allclose(p.get_value(), want, rtol=1e-11, atol=1e-13)


def test_a_deep_reduction_tree_gives_the_same_sums():
    f, _ = model_function(name="deep")
    x, w = np.random.default_rng(8).normal(size=(37, 5)), np.ones(5)
    outputs = sgd.map_blocks(f, da.from_array(x, chunks=((3, 1, 9, 4, 6, 2, 5, 7), 5)), w, split_every=2)
    assert any(isinstance(k, tuple) and key_split(k) == "symgraph-deep-combine" and k[1] == 2
               for k in outputs[4].__dask_graph__())                         # three levels of additions
    for got, want in zip(dask.compute(*outputs, scheduler="sync"), f(x, w)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_importing_symgraph_does_not_import_dask():
    import subprocess
    code = "import sys, symgraph; assert not any(m == 'dask' or m.startswith('dask.') for m in sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_an_embedding_lookup_and_its_gradient():
    # table[tokens] reads rows of a table given whole: row-wise; the gradient scatters every row's
    # contribution back into the table: a mean over rows. Both equal the whole call on uneven blocks.
    tokens, table = sg.matrix("tokens", dtype="int64"), sg.matrix("table")
    embedded = table[tokens]                                     # (n, length, width)
    loss = (sg.tanh(embedded.sum(axis=1)) ** 2).mean()
    f = sg.function([tokens, table], [embedded, loss, sg.grad(loss, table)], name="embed")
    assert [d.combined for d in classify(f.outputs, [tokens])] == ["rows", "mean", "mean"]
    rng = np.random.default_rng(9)
    t, w = rng.integers(0, 6, (23, 4)), rng.normal(size=(6, 3))
    outputs = sgd.map_blocks(f, da.from_array(t, chunks=((5, 11, 7), 4)), w)
    for got, want in zip(dask.compute(*outputs, scheduler="sync"), f(t, w)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
