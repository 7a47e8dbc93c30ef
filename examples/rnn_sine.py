"""A recurrent network written with sg.scan learns to continue noisy sine waves.

Each sequence is sin(f t + phase) plus noise, with a random frequency and phase. An Elman network
h_t = tanh(h_{t-1} W + x_t U + b), read out as y_t = h_t V + c, learns to predict the next value of
every step (teacher forcing). The whole training step (the loop over time, backpropagation through
time, Adam updates of every parameter) is ONE compiled function. Then a second scan runs the trained
network on its own predictions to continue a wave it has not seen, with no noise, for 100 steps.

    python examples/rnn_sine.py [--epochs 60] [--out examples/output/rnn_sine.png] [--save weights.npz] [--quiet]
"""
import argparse
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

import symgraph as sg

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--epochs", type=int, default=60)
parser.add_argument("--steps-per-epoch", type=int, default=20)
parser.add_argument("--hidden", type=int, default=32)
parser.add_argument("--length", type=int, default=60, help="time steps per training sequence")
parser.add_argument("--batch-size", type=int, default=32)
parser.add_argument("--learning-rate", type=float, default=0.01)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--out", type=Path, default=Path(__file__).parent / "output" / "rnn_sine.png")
parser.add_argument("--save", type=Path, help="write the trained weights and the test wave to this .npz")
parser.add_argument("--quiet", action="store_true", help="no progress bar")
args = parser.parse_args()

DT, NOISE = 0.25, 0.05
rng = np.random.default_rng(args.seed)


def waves(n, length, noise=NOISE):
    """(length + 1, n, 1) float32 values of n random sine waves, time first (as sg.scan iterates)."""
    frequency = rng.uniform(0.6, 1.4, size=n)
    phase = rng.uniform(0, 2 * np.pi, size=n)
    t = np.arange(length + 1)[:, None] * DT
    clean = np.sin(frequency * t + phase)
    return (clean + noise * rng.normal(size=clean.shape)).astype(np.float32)[:, :, None], frequency, phase


# ---- the model: parameters are shared variables (they live between calls)
H = args.hidden
params = {
    "W": sg.shared((rng.normal(size=(H, H)) / np.sqrt(H)).astype(np.float32), name="W"),
    "U": sg.shared(rng.normal(size=(1, H)).astype(np.float32), name="U"),
    "b": sg.shared(np.zeros(H, np.float32), name="b"),
    "V": sg.shared((rng.normal(size=(H, 1)) / np.sqrt(H)).astype(np.float32), name="V"),
    "c": sg.shared(np.zeros(1, np.float32), name="c"),
}
W, U, b, V, c = params.values()


def cell(x, h):
    """One step of the network: the new hidden state from the input and the previous state."""
    return sg.tanh(sg.dot(h, W) + sg.dot(x, U) + b)


X = sg.tensor("X", "float32", (None, None, 1))          # (time, batch, 1): the inputs
Y = sg.tensor("Y", "float32", (None, None, 1))          # the next values
h0 = sg.zeros((X.shape[1], H), dtype="float32")
hs, _ = sg.scan(cell, sequences=X, outputs_info=h0)     # (time, batch, H): every hidden state
predictions = sg.dot(hs, V) + c
loss = sg.mean((predictions - Y) ** 2)

# ---- Adam, as updates of the graph: one call = forward, BPTT and the update of every parameter
BETA1, BETA2, EPS = 0.9, 0.999, 1e-8
step_count = sg.shared(np.float32(0.0), name="t")
t_next = step_count + 1.0
updates = [(step_count, t_next)]
for p, g in zip(params.values(), sg.grad(loss, list(params.values()))):
    m = sg.shared(np.zeros_like(p.get_value()), name=f"m_{p.name}")
    v = sg.shared(np.zeros_like(p.get_value()), name=f"v_{p.name}")
    m_new = BETA1 * m + (1 - BETA1) * g
    v_new = BETA2 * v + (1 - BETA2) * g * g
    m_hat = m_new / (1 - BETA1 ** t_next)
    v_hat = v_new / (1 - BETA2 ** t_next)
    updates += [(m, m_new), (v, v_new), (p, p - args.learning_rate * m_hat / (sg.sqrt(v_hat) + EPS))]

start = time.perf_counter()
train_step = sg.function([X, Y], loss, updates=updates, name="train_step")

# ---- continuation: read a warm-up stretch, then feed the network its own predictions (a second scan)
warmup = sg.tensor("warmup", "float32", (None, None, 1))
n_future = sg.scalar("n_future", dtype="int64")
warm_states, _ = sg.scan(cell, sequences=warmup, outputs_info=sg.zeros((warmup.shape[1], H), dtype="float32"))
last_state = warm_states[-1]
first_guess = sg.dot(last_state, V) + c


def free_run(h, x):
    h_next = cell(x, h)
    return h_next, sg.dot(h_next, V) + c


(_, later), _ = sg.scan(free_run, outputs_info=[last_state, first_guess], n_steps=n_future - 1)
future = sg.concatenate([sg.expand_dims(first_guess, 0), later], axis=0)   # the n_future values after warm-up
continue_wave = sg.function([warmup, n_future], future, name="continue_wave")
compile_seconds = time.perf_counter() - start
print(f"compiled the training step and the continuation in {compile_seconds:.2f} s (backend "
      f"{train_step.backend!r}); the training step's graph has {len(train_step.graph.nodes)} nodes")

history = []
bar = tqdm(range(1, args.epochs + 1), desc="training", unit="epoch", disable=args.quiet)
step_seconds, steps = 0.0, 0
for epoch in bar:
    losses = []
    for _ in range(args.steps_per_epoch):
        series, _, _ = waves(args.batch_size, args.length)
        tick = time.perf_counter()
        losses.append(float(train_step(series[:-1], series[1:])))
        if steps:
            step_seconds += time.perf_counter() - tick
        steps += 1
    history.append(float(np.mean(losses)))
    bar.set_postfix(loss=f"{history[-1]:.5f}")
bar.close()
print(f"trained {args.epochs} epochs, {steps} steps of {args.batch_size} sequences x {args.length} time steps: "
      f"{1e3 * step_seconds / max(steps - 1, 1):.2f} ms per step")
print(f"final_training_loss = {history[-1]:.6f}")
print(f"noise_floor = {NOISE ** 2:.6f}")

# ---- a wave the network has not seen: 40 noisy steps to read, then 100 steps on its own
WARMUP, FUTURE = 40, 100
frequency, phase = 1.1, 0.7
t = np.arange(WARMUP + FUTURE + 1) * DT
clean = np.sin(frequency * t + phase).astype(np.float32)
seen = (clean[:WARMUP] + NOISE * rng.normal(size=WARMUP)).astype(np.float32)
guess = continue_wave(seen[:, None, None], FUTURE)[:, 0, 0]
truth = clean[WARMUP:WARMUP + FUTURE]
# A small error in the learned frequency becomes a phase drift over a long run: score the first 40 steps
continuation_mse = float(np.mean((guess[:40] - truth[:40]) ** 2))
print(f"continuation_mse_first_40 = {continuation_mse:.6f}")
print(f"zero_prediction_mse_first_40 = {float(np.mean(truth[:40] ** 2)):.6f}")
print(f"continuation_mse_all_{FUTURE} = {float(np.mean((guess - truth) ** 2)):.6f}")

if args.save is not None:
    np.savez(args.save, seen=seen, guess=guess, truth=truth,
             **{name: p.get_value() for name, p in params.items()})
    print(f"wrote {args.save}")

# ---- the loss curve and the continuation, as a PNG (matplotlib's Figure directly: no GUI backend involved)
from matplotlib.figure import Figure  # noqa: E402

figure = Figure(figsize=(10, 3.5), layout="constrained")
left, right = figure.subplots(1, 2, width_ratios=[1, 2])
left.plot(np.arange(1, args.epochs + 1), history)
left.axhline(NOISE ** 2, color="gray", linestyle=":", label="noise floor")
left.set(xlabel="epoch", ylabel="mean squared error", title="training loss", yscale="log")
left.legend()
right.plot(t[:WARMUP], seen, ".", color="gray", label="seen (noisy)")
right.plot(t[WARMUP:WARMUP + FUTURE], truth, color="black", linewidth=1, label="true continuation")
right.plot(t[WARMUP:WARMUP + FUTURE], guess, color="tab:red", label="network, on its own")
right.set(xlabel="time", title=f"continuing an unseen wave (MSE of the first 40 steps {continuation_mse:.4f})")
right.legend(loc="lower left")
args.out.parent.mkdir(parents=True, exist_ok=True)
figure.savefig(args.out, dpi=120)
print(f"wrote {args.out}")
