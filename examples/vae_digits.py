"""A variational autoencoder learns the handwritten digits that ship with scikit-learn, and draws new ones.

1,797 images of 8x8 pixels (no download), 80% to train, 20% to test; pixel values 0..16 scaled to
[0, 1] and read as the probabilities of a Bernoulli likelihood. The encoder 64 -> 128 tanh -> (mu,
logvar) gives a Gaussian q(z|x) over an 8-dimensional latent code; the decoder 8 -> 128 tanh -> 64
gives the logits of the pixels. The loss is the negative evidence lower bound (ELBO) per image:

    reconstruction = sum over pixels of softplus(logit) - x * logit     (binary cross-entropy from logits)
    kl             = -1/2 sum over latents of (1 + logvar - mu^2 - exp(logvar))     (KL to N(0, I))

with z = mu + exp(logvar / 2) * eps, the reparameterisation trick. eps comes from ``sg.RandomStream``:
the draw is part of the compiled training step (forward pass, backpropagation, Adam updates, all one
function), every call draws new noise, and the stream advances its own state (no updates to write).
After training, a second compiled function draws codes from the prior N(0, I) and decodes them: new
digits. Prints the negative ELBO before and after training, and writes a PNG of generated digits and
test reconstructions.

    python examples/vae_digits.py [--epochs 60] [--latent 8] [--out examples/output/vae_digits.png]
                                  [--save weights.npz] [--quiet]
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
parser.add_argument("--epochs", type=int, default=60)
parser.add_argument("--batch-size", type=int, default=32)
parser.add_argument("--learning-rate", type=float, default=0.003)
parser.add_argument("--hidden", type=int, default=128)
parser.add_argument("--latent", type=int, default=8)
parser.add_argument("--eval-draws", type=int, default=10,
                    help="draws of eps averaged when the final negative ELBO is measured")
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--out", type=Path, default=Path(__file__).parent / "output" / "vae_digits.png")
parser.add_argument("--save", type=Path, help="write the trained weights and the generated digits to this .npz")
parser.add_argument("--quiet", action="store_true", help="no progress bar")
args = parser.parse_args()

# ---- data: pixel values 0..16 scaled to [0, 1] (the probability that a pixel is "on")
digits = load_digits()
images = (digits.data / 16.0).astype(np.float32)
x_train, x_test = train_test_split(images, test_size=0.2, stratify=digits.target, random_state=args.seed)
print(f"digits: {len(x_train)} training and {len(x_test)} test images of {images.shape[1]} pixels")

# ---- the model: parameters are shared variables (they live between calls)
init = np.random.default_rng(args.seed)       # NumPy: initial weights and the order of the minibatches
rng = sg.RandomStream(args.seed)              # symgraph: the noise drawn inside the compiled functions
n_pixels, H, L = images.shape[1], args.hidden, args.latent


def weight(name, n_in, n_out):
    return sg.shared((init.normal(size=(n_in, n_out)) / np.sqrt(n_in)).astype(np.float32), name=name)


def bias(name, n, value=0.0):
    return sg.shared(np.full(n, value, np.float32), name=name)


mean_image = x_train.mean(axis=0).clip(1e-3, 1 - 1e-3)
params = {
    "W_enc": weight("W_enc", n_pixels, H), "b_enc": bias("b_enc", H),
    "W_mu": weight("W_mu", H, L), "b_mu": bias("b_mu", L),
    "W_logvar": weight("W_logvar", H, L), "b_logvar": bias("b_logvar", L),
    "W_dec": weight("W_dec", L, H), "b_dec": bias("b_dec", H),
    "W_out": weight("W_out", H, n_pixels),
    # the output bias starts at the logit of the mean image: the untrained decoder draws a blurred average
    "b_out": sg.shared(np.log(mean_image / (1 - mean_image)).astype(np.float32), name="b_out"),
}
p = params


def encode(x):
    """q(z|x): the mean and the log-variance of the code of each image."""
    h = sg.tanh(x @ p["W_enc"] + p["b_enc"])
    return h @ p["W_mu"] + p["b_mu"], h @ p["W_logvar"] + p["b_logvar"]


def decode(z):
    """The logits of the 64 pixels of each code."""
    return sg.tanh(z @ p["W_dec"] + p["b_dec"]) @ p["W_out"] + p["b_out"]


X = sg.matrix("X", dtype="float32")
mu, logvar = encode(X)
eps = rng.normal(size=mu.shape, dtype="float32")       # new noise on every call of a compiled function
z = mu + sg.exp(0.5 * logvar) * eps                     # the reparameterisation trick
logits = decode(z)
reconstruction = sg.mean(sg.sum(sg.softplus(logits) - X * logits, axis=1))     # -E log p(x|z), per image
kl = sg.mean(-0.5 * sg.sum(1 + logvar - mu ** 2 - sg.exp(logvar), axis=1))      # KL(q(z|x) || N(0, I))
loss = reconstruction + kl                                                       # the negative ELBO

# ---- Adam, as updates of the graph: one call = draw, forward, backpropagation and every update
BETA1, BETA2, EPS = 0.9, 0.999, 1e-8
step_count = sg.shared(np.float32(0.0), name="t")
t_next = step_count + 1.0
updates = [(step_count, t_next)]
for v, g in zip(params.values(), sg.grad(loss, list(params.values()))):
    m = sg.shared(np.zeros_like(v.get_value()), name=f"m_{v.name}")
    s = sg.shared(np.zeros_like(v.get_value()), name=f"s_{v.name}")
    m_new = BETA1 * m + (1 - BETA1) * g
    s_new = BETA2 * s + (1 - BETA2) * g * g
    step = args.learning_rate * (m_new / (1 - BETA1 ** t_next)) / (sg.sqrt(s_new / (1 - BETA2 ** t_next)) + EPS)
    updates += [(m, m_new), (s, s_new), (v, v - step)]

start = time.perf_counter()
train_step = sg.function([X], loss, updates=updates, name="train_step")
# the same graph without the updates: the loss and its two terms (it shares the draw's state, so it draws too)
evaluate = sg.function([X], [loss, reconstruction, kl], name="evaluate")
# reconstructions: decode the mean code (no noise)
reconstruct = sg.function([X], sg.sigmoid(decode(mu)), name="reconstruct")
# new digits: codes drawn from the prior N(0, I), decoded to pixel probabilities
n_samples = sg.scalar("n_samples", dtype="int64")
generate = sg.function([n_samples], sg.sigmoid(decode(rng.normal(size=(n_samples, L), dtype="float32"))),
                       name="generate")
compile_seconds = time.perf_counter() - start
print(f"compiled the training step, the evaluation, the reconstruction and the generator in "
      f"{compile_seconds:.2f} s (backend {train_step.backend!r}, {len(train_step.graph.nodes)} nodes in the "
      f"optimized step)")


def negative_elbo(x, draws=args.eval_draws):
    """The negative ELBO per image and its two terms, each averaged over ``draws`` calls (new eps each)."""
    return np.mean([[float(value) for value in evaluate(x)] for _ in range(draws)], axis=0)


initial_nelbo, _, _ = negative_elbo(x_test)

history = {"loss": [], "test_nelbo": []}
steps, step_seconds = 0, 0.0
bar = tqdm(range(1, args.epochs + 1), desc="training", unit="epoch", disable=args.quiet)
for epoch in bar:
    order = init.permutation(len(x_train))
    losses = []
    for first in range(0, len(order), args.batch_size):
        xb = x_train[order[first:first + args.batch_size]]
        tick = time.perf_counter()
        losses.append(float(train_step(xb)))
        if steps:       # the first call is kept apart: a backend may finish compiling on it
            step_seconds += time.perf_counter() - tick
        steps += 1
    history["loss"].append(float(np.mean(losses)))
    history["test_nelbo"].append(float(evaluate(x_test)[0]))
    bar.set_postfix(loss=f"{history['loss'][-1]:.2f}", test=f"{history['test_nelbo'][-1]:.2f}")
bar.close()
print(f"trained {args.epochs} epochs, {steps} steps: {1e3 * step_seconds / max(steps - 1, 1):.3f} ms per step "
      f"(batch of {args.batch_size})")

# ---- the negative ELBO per image (nats), averaged over --eval-draws draws of the noise
train_nelbo, _, _ = negative_elbo(x_train)
test_nelbo, test_reconstruction, test_kl = negative_elbo(x_test)
print(f"initial_nelbo = {initial_nelbo:.4f}")        # the untrained model, on the test images
print(f"train_nelbo = {train_nelbo:.4f}")
print(f"test_nelbo = {test_nelbo:.4f}")
print(f"test_reconstruction = {test_reconstruction:.4f}")
print(f"test_kl = {test_kl:.4f}")
print(f"eval_draws = {args.eval_draws}")
# A pixel x in (0, 1) is a soft target: even a perfect decoder (logit = log(x / (1 - x))) pays its entropy.
with np.errstate(divide="ignore", invalid="ignore"):
    pixel_entropy = -np.nan_to_num(x_test * np.log(x_test)) - np.nan_to_num((1 - x_test) * np.log1p(-x_test))
print(f"test_reconstruction_floor = {pixel_entropy.sum(axis=1).mean():.4f}")   # the least the first term can be

samples = generate(100)                               # 100 new digits from the prior
shown = x_test[:20]
rebuilt = reconstruct(shown)
if args.save is not None:
    np.savez(args.save, samples=samples, **{name: v.get_value() for name, v in params.items()})
    print(f"wrote {args.save}")

# ---- generated digits and test reconstructions, as a PNG (matplotlib's Figure directly: no GUI backend)
from matplotlib.figure import Figure  # noqa: E402


def tile(pictures, columns):
    """(n, 64) pixel values as one image of 8x8 tiles with a one-pixel gap."""
    rows = -(-len(pictures) // columns)
    canvas = np.ones((rows * 9 - 1, columns * 9 - 1))
    for i, picture in enumerate(pictures):
        r, c = divmod(i, columns)
        canvas[r * 9:r * 9 + 8, c * 9:c * 9 + 8] = 1 - picture.reshape(8, 8)     # dark ink on white
    return canvas


figure = Figure(figsize=(12, 4.2), layout="constrained")
left, middle, right = figure.subplots(1, 3, width_ratios=[1, 1, 1.2])
left.imshow(tile(samples, 10), cmap="gray", vmin=0, vmax=1)
left.set_title(f"new digits: z ~ N(0, I) ({L}-d), decoded")
# rows 1 and 3: test images; rows 2 and 4: their reconstructions
pairs = np.concatenate([shown[:10], rebuilt[:10], shown[10:], rebuilt[10:]])
middle.imshow(tile(pairs, 10), cmap="gray", vmin=0, vmax=1)
middle.set_title("test images, reconstructed below")
for axes in (left, middle):
    axes.set_axis_off()
epochs = np.arange(1, args.epochs + 1)
right.plot(epochs, history["loss"], label="training minibatches")
right.plot(epochs, history["test_nelbo"], label="test images")
right.axhline(initial_nelbo, color="gray", linestyle=":", label="untrained (test)")
right.set(xlabel="epoch", ylabel="negative ELBO per image (nats)", title="loss")
right.legend()
args.out.parent.mkdir(parents=True, exist_ok=True)
figure.savefig(args.out, dpi=120)
print(f"wrote {args.out}")
