"""Data-parallel training of the digits MLP on a Dask cluster (symgraph.dask, pip install "symgraph[dask]").

The training images are split into one shard per worker and kept there (a persisted Dask array,
or .npy files the workers read themselves with --from-files). Each step takes the same number of
rows from every shard: the minibatch is a Dask array with one block per worker, and
``symgraph.dask.DataParallelStep`` runs the compiled (cost, gradients) function on each block where
it lives, averages the gradients weighted by block size and applies one SGD update on this process.
The test accuracy is computed blockwise too (``symgraph.dask.map_blocks``). At the end the same
steps are replayed on one machine with an ordinary ``sg.function`` to show they give the same
parameters.

    python examples/dask_training.py                     # a LocalCluster of 2 worker processes here
    python examples/dask_training.py --workers 4 --epochs 20
    python examples/dask_training.py --scheduler tcp://host:8786    # a real cluster: start it with
        # `dask scheduler` and `dask worker tcp://host:8786` on each machine (or dask-kubernetes,
        # dask-jobqueue for HPC schedulers); symgraph must be installed on the workers
"""
import argparse
import os
import tempfile
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from tqdm import tqdm

import dask
import dask.array as da
from distributed import Client, LocalCluster

import symgraph as sg
import symgraph.dask

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--scheduler", help="address of a running Dask scheduler (default: start a LocalCluster)")
parser.add_argument("--workers", type=int, default=2, help="worker processes of the LocalCluster")
parser.add_argument("--epochs", type=int, default=12)
parser.add_argument("--rows-per-worker", type=int, default=32, help="rows each worker contributes to a step")
parser.add_argument("--learning-rate", type=float, default=0.5)
parser.add_argument("--hidden", type=int, default=128)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--from-files", action="store_true", help="the workers read their shards from .npy files")
parser.add_argument("--no-check", action="store_true", help="skip the single-machine replay")
parser.add_argument("--quiet", action="store_true", help="no progress bar")


def main(args):

    if args.scheduler:
        client = Client(args.scheduler)
    else:
        # One thread per worker process: each block's kernel gets one core (as Dask gives each task).
        client = Client(LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                                     dashboard_address=":0", env={"NUMBA_NUM_THREADS": "1"}))
    workers = len(client.scheduler_info()["workers"])
    print(f"cluster: {workers} workers, dashboard {client.dashboard_link}")

    # ---- data: one shard of the training images per worker
    digits = load_digits()
    images = (digits.data / 16.0).astype(np.float32)
    x_train, x_test, y_train, y_test = train_test_split(images, digits.target.astype(np.int64), test_size=0.2,
                                                        stratify=digits.target, random_state=args.seed)
    shard_rows = len(x_train) // workers
    x_shards = [x_train[k * shard_rows:(k + 1) * shard_rows] for k in range(workers)]
    y_shards = [y_train[k * shard_rows:(k + 1) * shard_rows] for k in range(workers)]
    if args.from_files:
        # Files a worker reads itself: here a temporary directory, on a cluster a path every worker sees.
        directory = tempfile.mkdtemp(prefix="digits-shards-")
        load = dask.delayed(np.load, pure=True)
        parts_x, parts_y = [], []
        for k in range(workers):
            np.save(os.path.join(directory, f"x{k}.npy"), x_shards[k])
            np.save(os.path.join(directory, f"y{k}.npy"), y_shards[k])
            parts_x.append(da.from_delayed(load(os.path.join(directory, f"x{k}.npy")), x_shards[k].shape, np.float32))
            parts_y.append(da.from_delayed(load(os.path.join(directory, f"y{k}.npy")), y_shards[k].shape, np.int64))
        data_x, data_y = da.concatenate(parts_x), da.concatenate(parts_y)
    else:
        data_x = da.from_array(np.concatenate(x_shards), chunks=(shard_rows, images.shape[1]))
        data_y = da.from_array(np.concatenate(y_shards), chunks=shard_rows)
    data_x, data_y = client.persist([data_x, data_y])    # each block stays on one worker for the whole run
    print(f"digits: {workers} shards of {shard_rows} training images, {len(x_test)} test images")

    # ---- the model (as examples/digits_mlp.py): parameters are shared variables held by this process
    rng = np.random.default_rng(args.seed)
    n_in, n_hidden, n_classes = images.shape[1], args.hidden, 10
    initial = [rng.normal(0, np.sqrt(2 / n_in), (n_in, n_hidden)).astype(np.float32), np.zeros(n_hidden, np.float32),
               rng.normal(0, np.sqrt(1 / n_hidden), (n_hidden, n_classes)).astype(np.float32),
               np.zeros(n_classes, np.float32)]
    params = [sg.shared(value, name=name) for value, name in zip(initial, ["W1", "b1", "W2", "b2"])]
    W1, b1, W2, b2 = params
    X = sg.matrix("X", dtype="float32")
    labels = sg.vector("labels", dtype="int64")
    logits = sg.relu(X @ W1 + b1) @ W2 + b2
    loss = -sg.log_softmax(logits, axis=1)[sg.arange(X.shape[0]), labels].mean()

    start = time.perf_counter()
    step = symgraph.dask.DataParallelStep([X, labels], loss, params, args.learning_rate, client=client,
                                          name="train_step")
    print(f"compiled the per-block step in {time.perf_counter() - start:.2f} s")

    # ---- training: each step takes the same slice of rows of every shard (the shards were shuffled by the
    # split), the slices visited in a new random order every epoch
    rows = args.rows_per_worker
    steps_per_epoch = shard_rows // rows
    schedule = []                        # the rows of every step, to replay them on one machine afterwards
    bar = tqdm(total=args.epochs * steps_per_epoch, desc="training", unit="step", disable=args.quiet)
    start = time.perf_counter()
    for epoch in range(args.epochs):
        for s in rng.permutation(steps_per_epoch):
            picks = [slice(k * shard_rows + s * rows, k * shard_rows + (s + 1) * rows) for k in range(workers)]
            xb = da.concatenate([data_x[p] for p in picks])       # one block per worker, read where it lives
            yb = da.concatenate([data_y[p] for p in picks])
            cost = step(xb, yb)
            schedule.append(np.concatenate([np.arange(p.start, p.stop) for p in picks]))
            bar.update()
            bar.set_postfix(epoch=epoch + 1, loss=f"{float(cost):.4f}")
    bar.close()
    seconds = time.perf_counter() - start
    print(f"trained {args.epochs} epochs, {len(schedule)} steps on {workers} workers: "
          f"{1e3 * seconds / len(schedule):.1f} ms per step (batch of {rows * workers})")
    print(f"final minibatch loss: {float(cost):.4f}")

    # ---- accuracy, blockwise: a mean over rows, combined across the test set's blocks
    accuracy = sg.function([X, labels], sg.mean(sg.cast(sg.eq(sg.argmax(logits, axis=1), labels), "float64")),
                           name="accuracy")
    test_x = da.from_array(x_test, chunks=(len(x_test) // workers + 1, n_in))
    test_y = da.from_array(y_test, chunks=(len(x_test) // workers + 1,))
    test_accuracy = float(symgraph.dask.map_blocks(accuracy, test_x, test_y).compute())
    print(f"test accuracy: {test_accuracy:.4f} ({round(test_accuracy * len(y_test))}/{len(y_test)})")

    # ---- the same steps on one machine: the same parameters, up to the order of float32 sums
    if not args.no_check:
        trained = [p.get_value() for p in params]
        for p, value in zip(params, initial):
            p.set_value(value)
        single = sg.function([X, labels], loss, updates=[(p, p - np.float32(args.learning_rate) * g)
                                                         for p, g in zip(params, sg.grad(loss, params))])
        all_x, all_y = np.concatenate(x_shards), np.concatenate(y_shards)
        for picks in schedule:
            single(all_x[picks], all_y[picks])
        difference = max(float(np.max(np.abs(a - p.get_value()))) for a, p in zip(trained, params))
        # float32 sums in another order differ in the last bits; many steps of training amplify that
        print(f"largest difference from the same steps on one machine: {difference:.2e}")

    client.close()


if __name__ == "__main__":      # the worker processes start by importing this file: they must not train
    main(parser.parse_args())
