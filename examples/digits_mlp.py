"""The main demo: a multilayer perceptron learns the handwritten digits that ship with scikit-learn.

1,797 images of 8x8 pixels (no download), 80% to train, 20% to test. The
network is 64 -> 128 ReLU -> 10 with a softmax cross-entropy loss, in float32.
The whole training step (forward pass, backpropagation, momentum SGD update of
every parameter) is ONE compiled function: the parameters are shared variables
and the updates are part of the graph, so Python only feeds minibatches.

    python examples/digits_mlp.py [--epochs 30] [--out examples/output/digits_mlp.png] [--quiet]
"""
import argparse
import time
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from tqdm import tqdm

import symgraph as sg

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--epochs", type=int, default=30)
parser.add_argument("--batch-size", type=int, default=32)
parser.add_argument("--learning-rate", type=float, default=0.1)
parser.add_argument("--hidden", type=int, default=128)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--out", type=Path, default=Path(__file__).parent / "output" / "digits_mlp.png")
parser.add_argument("--quiet", action="store_true", help="no progress bar")
args = parser.parse_args()

# ---- data: pixel values 0..16 scaled to [0, 1]
digits = load_digits()
images = (digits.data / 16.0).astype(np.float32)
x_train, x_test, y_train, y_test = train_test_split(images, digits.target.astype(np.int64), test_size=0.2,
                                                    stratify=digits.target, random_state=args.seed)
print(f"digits: {len(x_train)} training and {len(x_test)} test images of {images.shape[1]} pixels")

# ---- the model: parameters are shared variables (they live between calls)
rng = np.random.default_rng(args.seed)
n_in, n_hidden, n_classes = images.shape[1], args.hidden, 10
W1 = sg.shared(rng.normal(0, np.sqrt(2 / n_in), (n_in, n_hidden)).astype(np.float32), name="W1")
b1 = sg.shared(np.zeros(n_hidden, np.float32), name="b1")
W2 = sg.shared(rng.normal(0, np.sqrt(1 / n_hidden), (n_hidden, n_classes)).astype(np.float32), name="W2")
b2 = sg.shared(np.zeros(n_classes, np.float32), name="b2")
params = [W1, b1, W2, b2]

X = sg.matrix("X", dtype="float32")
labels = sg.vector("labels", dtype="int64")
hidden = sg.relu(X @ W1 + b1)
logits = hidden @ W2 + b2
log_probabilities = sg.log_softmax(logits, axis=1)
loss = -log_probabilities[sg.arange(X.shape[0]), labels].mean()    # cross-entropy of the true classes

# ---- one training step = one call: momentum SGD, every update computed from the values before the call
MOMENTUM = 0.9
learning_rate = sg.shared(np.float32(args.learning_rate), name="learning_rate")   # decays each epoch
updates = []
for p, g in zip(params, sg.grad(loss, params)):
    velocity = sg.shared(np.zeros_like(p.get_value()), name=f"velocity_{p.name}")
    new_velocity = MOMENTUM * velocity - learning_rate * g
    updates += [(velocity, new_velocity), (p, p + new_velocity)]

start = time.perf_counter()
train_step = sg.function([X, labels], loss, updates=updates, name="train_step")
# accuracy in the graph: the predicted class is the argmax of the logits (no softmax needed)
in_graph_accuracy = sg.mean(sg.cast(sg.eq(sg.argmax(logits, axis=1), labels), "float64"))
measure_accuracy = sg.function([X, labels], in_graph_accuracy, name="accuracy")
compile_seconds = time.perf_counter() - start
print(f"compiled the training step and the accuracy in {compile_seconds:.2f} s "
      f"(backend {train_step.backend!r}, {len(train_step.graph.nodes)} nodes in the optimized step)")
if train_step.cache_info is not None:     # a backend with a compile cache says whether this was a cache hit
    print(f"training step: {train_step.cache_info}")


def accuracy(x, y):
    return float(measure_accuracy(x, y))


history = {"loss": [], "train_accuracy": [], "test_accuracy": []}
steps, step_seconds, first_step_seconds = 0, 0.0, 0.0
bar = tqdm(range(1, args.epochs + 1), desc="training", unit="epoch", disable=args.quiet)
for epoch in bar:
    # Cosine decay to zero: large steps early, then settle into a minimum (the final accuracy stops jittering).
    learning_rate.set_value(np.float32(args.learning_rate * 0.5 * (1 + np.cos(np.pi * (epoch - 1) / args.epochs))))
    order = rng.permutation(len(x_train))
    losses = []
    for first in range(0, len(order), args.batch_size):
        batch = order[first:first + args.batch_size]
        xb, yb = x_train[batch], y_train[batch]
        tick = time.perf_counter()
        losses.append(float(train_step(xb, yb)))
        if steps == 0:      # kept apart: a backend may finish compiling on the first call
            first_step_seconds = time.perf_counter() - tick
        else:
            step_seconds += time.perf_counter() - tick
        steps += 1
    history["loss"].append(float(np.mean(losses)))
    history["train_accuracy"].append(accuracy(x_train, y_train))
    history["test_accuracy"].append(accuracy(x_test, y_test))
    bar.set_postfix(loss=f"{history['loss'][-1]:.4f}", test_accuracy=f"{history['test_accuracy'][-1]:.4f}")
bar.close()

test_accuracy = history["test_accuracy"][-1]
print(f"trained {args.epochs} epochs, {steps} steps: {1e3 * step_seconds / max(steps - 1, 1):.3f} ms per step "
      f"(batch of {args.batch_size}; the first step took {1e3 * first_step_seconds:.1f} ms)")
print(f"final training loss: {history['loss'][-1]:.4f}")
print(f"train accuracy: {history['train_accuracy'][-1]:.4f}")
print(f"test accuracy: {test_accuracy:.4f} ({round(test_accuracy * len(y_test))}/{len(y_test)})")

# ---- the learning curves, as a PNG (matplotlib's Figure directly: no GUI backend involved)
from matplotlib.figure import Figure  # noqa: E402

figure = Figure(figsize=(9, 3.5), layout="constrained")
left, right = figure.subplots(1, 2)
epochs = np.arange(1, args.epochs + 1)
left.plot(epochs, history["loss"], marker="o", markersize=3)
left.set(xlabel="epoch", ylabel="cross-entropy", title="training loss", yscale="log")
right.plot(epochs, history["train_accuracy"], marker="o", markersize=3, label="train")
right.plot(epochs, history["test_accuracy"], marker="o", markersize=3, label="test")
right.set(xlabel="epoch", ylabel="accuracy", title="accuracy", ylim=(min(0.8, *history["test_accuracy"]), 1.0))
right.legend()
args.out.parent.mkdir(parents=True, exist_ok=True)
figure.savefig(args.out, dpi=120)
print(f"wrote {args.out}")
