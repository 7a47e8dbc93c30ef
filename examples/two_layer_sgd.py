"""One step of backpropagation through a two-layer sigmoid network, as worked by hand in the lectures.

Two inputs, two sigmoid hidden units, two sigmoid outputs, squared loss
E = 1/2 sum (target - output)^2, the numbers of the well-known worked example
(inputs 0.05, 0.10; targets 0.01, 0.99). The parameters are shared variables
and the SGD update is part of the compiled function, so one call is one step.

    python examples/two_layer_sgd.py
"""
import numpy as np

import symgraph as sg

LEARNING_RATE = 0.7


def show(array):
    """One line, rounded: [[0.149693, 0.19938601], [0.2496516, 0.2993032]]."""
    return np.round(array, 8).tolist()


# Row i of W1 holds the weights into hidden unit i (w1, w2 feed h1; w3, w4 feed h2), likewise W2.
W1 = sg.shared(np.array([[0.15, 0.20], [0.25, 0.30]]), name="W1")
b1 = sg.shared(np.array([0.35, 0.35]), name="b1")
W2 = sg.shared(np.array([[0.40, 0.45], [0.50, 0.55]]), name="W2")
b2 = sg.shared(np.array([0.60, 0.60]), name="b2")
params = [W1, b1, W2, b2]

x, target = sg.vector("x"), sg.vector("target")
hidden = sg.sigmoid(W1 @ x + b1)
output = sg.sigmoid(W2 @ hidden + b2)
loss = 0.5 * ((target - output) ** 2).sum()

grads = sg.grad(loss, params)
forward = sg.function([x, target], [hidden, output, loss] + grads)
step = sg.function([x, target], loss, updates=[(p, p - LEARNING_RATE * g) for p, g in zip(params, grads)])

x_value, target_value = np.array([0.05, 0.10]), np.array([0.01, 0.99])
h, o, e, *g = forward(x_value, target_value)
print("forward pass")
print(f"hidden = {show(h)}")
print(f"output = {show(o)}")
print(f"loss   = {float(e):.10f}")
print("\nbackward pass (dE/dparameter)")
for p, gradient in zip(params, g):
    print(f"dE/d{p.name} = {show(gradient)}")

loss_before = step(x_value, target_value)    # the update uses the gradients above, then commits
print(f"\none SGD step with learning rate {LEARNING_RATE} (loss at the step: {float(loss_before):.10f})")
for p in params:
    print(f"{p.name} = {show(p.get_value())}")
_, _, loss_after, *_ = forward(x_value, target_value)
print(f"\nloss after the step = {float(loss_after):.10f}")
