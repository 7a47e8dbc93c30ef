"""Data-parallel training on a Dask cluster: the digits MLP trained with symgraph.dask.DataParallelStep.

Every step splits a minibatch into blocks (a Dask array chunked along the sample axis); each
worker computes the loss and the gradients of its block with the compiled gradient function
(compiled once per worker), the driver averages them weighted by block sizes and updates the
shared parameters once. Then symgraph.dask.map_blocks evaluates the trained network on the test
set block by block: the predictions come back chunked like the images, the mean loss and the
accuracy combined across blocks.

    python examples/dask_training.py [--workers 2] [--steps 150] [--scheduler tcp://host:8786] [--quiet]

Without --scheduler it starts a LocalCluster of --workers processes on this machine.
Needs `pip install -e ".[examples,dask]"`.
"""
import argparse
import time

import dask
import dask.array as da
import numpy as np
from distributed import Client, LocalCluster
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from tqdm import tqdm

import symgraph as sg
import symgraph.dask


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scheduler", help="address of a running Dask scheduler (default: a LocalCluster)")
    parser.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes")
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--blocks", type=int, default=4, help="blocks per minibatch")
    parser.add_argument("--learning-rate", type=float, default=0.5)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args()

    digits = load_digits()
    images = digits.data / 16.0
    x_train, x_test, y_train, y_test = train_test_split(images, digits.target.astype(np.int64), test_size=0.2,
                                                        stratify=digits.target, random_state=args.seed)
    print(f"digits: {len(x_train)} training and {len(x_test)} test images")

    rng = np.random.default_rng(args.seed)
    n_in, n_classes = images.shape[1], 10
    W1 = sg.shared(rng.normal(0, np.sqrt(2 / n_in), (n_in, args.hidden)), name="W1")
    b1 = sg.shared(np.zeros(args.hidden), name="b1")
    W2 = sg.shared(rng.normal(0, np.sqrt(1 / args.hidden), (args.hidden, n_classes)), name="W2")
    b2 = sg.shared(np.zeros(n_classes), name="b2")
    X, labels = sg.matrix("X"), sg.vector("labels", dtype="int64")
    logits = sg.relu(X @ W1 + b1) @ W2 + b2
    loss = -sg.log_softmax(logits, axis=1)[sg.arange(X.shape[0]), labels].mean()
    accuracy = sg.mean(sg.cast(sg.eq(sg.argmax(logits, axis=1), labels), "float64"))

    if args.scheduler:
        client = Client(args.scheduler)
        cluster = None
    else:
        cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                               dashboard_address=":0")
        client = Client(cluster)
    print(f"cluster: {len(client.scheduler_info()['workers'])} workers ({args.scheduler or 'LocalCluster'})")
    try:
        start = time.perf_counter()
        step = sg.dask.DataParallelStep([X, labels], loss, [W1, b1, W2, b2], args.learning_rate, client=client)
        print(f"compiled the gradient function in {time.perf_counter() - start:.2f} s")
        chunk = -(-args.batch_size // args.blocks)
        start = time.perf_counter()
        bar = tqdm(range(args.steps), desc="steps", disable=args.quiet)
        for i in bar:
            picked = rng.choice(len(x_train), args.batch_size, replace=False)
            cost = step(da.from_array(x_train[picked], chunks=(chunk, n_in)),
                        da.from_array(y_train[picked], chunks=(chunk,)))
            bar.set_postfix(loss=f"{float(cost):.4f}")
        seconds = time.perf_counter() - start
        print(f"{args.steps} data-parallel steps in {seconds:.1f} s ({1000 * seconds / args.steps:.1f} ms per step)")

        # Evaluation block by block: predictions stay chunked, the loss and accuracy are combined means.
        evaluate = sg.function([X, labels], [sg.argmax(logits, axis=1), loss, accuracy], name="evaluate")
        chunks = -(-len(x_test) // args.blocks)
        predictions, test_loss, test_accuracy = dask.compute(*sg.dask.map_blocks(
            evaluate, da.from_array(x_test, chunks=(chunks, n_in)), da.from_array(y_test, chunks=(chunks,))))
        assert np.isclose(test_accuracy, np.mean(predictions == y_test))
        print(f"test loss = {float(test_loss):.4f}")
        print(f"test accuracy = {float(test_accuracy):.4f}")
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


if __name__ == "__main__":
    main()
