"""XOR, as in section 6.1 of the Deep Learning book: the hand-set solution, then learning it.

The model is f(x) = w^T max(0, W^T x + c) + b: two ReLU hidden units and a linear
output, with the mean squared error. First the book's solution (W all ones,
c = [0, -1], w = [1, -2], b = 0) maps the four points to exactly 0, 1, 1, 0.
Then the same network is trained by gradient descent from random weights; a
start that lands in a dead or flat region is restarted with new random weights.

    python examples/xor.py
"""
import numpy as np

import symgraph as sg

X_DATA = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
Y_DATA = np.array([0, 1, 1, 0], dtype=np.float64)
HIDDEN, LEARNING_RATE, MAX_STEPS, MAX_STARTS = 2, 0.1, 4000, 20

W = sg.shared(np.zeros((2, HIDDEN)), name="W")
c = sg.shared(np.zeros(HIDDEN), name="c")
w = sg.shared(np.zeros(HIDDEN), name="w")
b = sg.shared(np.array(0.0), name="b")
params = [W, c, w, b]

X, y = sg.matrix("X"), sg.vector("y")
hidden = sg.relu(X @ W + c)
prediction = hidden @ w + b
loss = ((prediction - y) ** 2).mean()

predict = sg.function([X], [hidden, prediction])
train_step = sg.function([X, y], loss, updates=[(p, p - LEARNING_RATE * g)
                                                  for p, g in zip(params, sg.grad(loss, params))])

print("the book's solution: W = [[1, 1], [1, 1]], c = [0, -1], w = [1, -2], b = 0")
for p, value in zip(params, [np.ones((2, 2)), [0.0, -1.0], [1.0, -2.0], 0.0]):
    p.set_value(np.array(value))
h, out = predict(X_DATA)
for point, h_row, value in zip(X_DATA, h, out):
    print(f"x = {point.astype(int).tolist()}  h = {h_row.tolist()}  f(x) = {value:g}")

print("\ntraining from random weights (gradient descent on the squared error)")
rng = np.random.default_rng(0)
for start in range(1, MAX_STARTS + 1):
    W.set_value(rng.normal(0, 1, (2, HIDDEN)))
    c.set_value(rng.normal(0, 0.1, HIDDEN))
    w.set_value(rng.normal(0, 1, HIDDEN))
    b.set_value(np.array(0.0))
    for step in range(1, MAX_STEPS + 1):
        current = float(train_step(X_DATA, Y_DATA))
        if step % 50 == 0 and np.max(np.abs(predict(X_DATA)[1] - Y_DATA)) < 0.05:
            break
    _, out = predict(X_DATA)
    solved = bool(np.max(np.abs(out - Y_DATA)) < 0.05)
    print(f"start {start}: {step} steps, loss {current:.6f}, f(X) = {np.round(out, 3).tolist()}"
          f"{'  solved' if solved else '  stuck (a ReLU unit died or the start was poor): restarting'}")
    if solved:
        break
else:
    raise SystemExit(f"XOR was not solved in {MAX_STARTS} random starts")

print(f"\nlearned: W = {np.round(W.get_value(), 4).tolist()}, c = {np.round(c.get_value(), 4).tolist()}, "
      f"w = {np.round(w.get_value(), 4).tolist()}, b = {float(b.get_value()):.4f}")
print("XOR solved: f(X) =", np.round(out, 3).tolist())
