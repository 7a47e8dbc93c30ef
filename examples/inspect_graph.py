"""What the compiler did: a cross-entropy gradient before and after optimisation.

The loss is written the naive way, -mean(sum(t * log(softmax(X W)))), and
differentiated with sg.grad. The raw gradient graph is what backpropagation
builds node by node; sg.function then optimizes it (merging, algebraic
simplification, the log-softmax stability rewrite, fusion of elementwise chains).
This prints both graphs, the trace of every rewrite that fired, the node counts,
checks both give the same numbers, draws both graphs, and writes a browser page
(sg.view) that steps through the rewrites.

    python examples/inspect_graph.py [--out-dir examples/output]
"""
import argparse
from pathlib import Path

import numpy as np

import symgraph as sg
from symgraph.graph import count_nodes

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--out-dir", type=Path, default=Path(__file__).parent / "output")
args = parser.parse_args()

X, W, targets = sg.matrix("X"), sg.matrix("W"), sg.matrix("targets")
probabilities = sg.softmax(X @ W, axis=1)
loss = -(targets * sg.log(probabilities)).sum(axis=1).mean()
grad_W = sg.grad(loss, W)
grad_W.name = "dloss/dW"

print("== the gradient as sg.grad built it (before optimisation)")
print(sg.dprint(grad_W))

f = sg.function([X, W, targets], grad_W)
unoptimized = sg.function([X, W, targets], grad_W, optimizer=None)
print("\n== the compiled function's graph (after optimisation)")
print(f.dprint())

print("\n== the rewrite trace")
print(f.rewrite_log)

before, after = count_nodes(grad_W), len(f.graph.nodes)
print(f"\nnodes before optimisation: {before}")
print(f"nodes after optimisation: {after}")

rng = np.random.default_rng(0)
x_value, w_value = rng.normal(size=(5, 4)), rng.normal(size=(4, 3))
t_value = np.eye(3)[rng.integers(0, 3, size=5)]
difference = np.max(np.abs(f(x_value, w_value, t_value) - unoptimized(x_value, w_value, t_value)))
print(f"max |optimized - unoptimized| on random inputs: {difference:.3e}")
# The reference answer for softmax cross-entropy: X^T (softmax(X W) - t) / n.
logits = x_value @ w_value
softmax = np.exp(logits - logits.max(axis=1, keepdims=True))
softmax /= softmax.sum(axis=1, keepdims=True)
reference = x_value.T @ (softmax - t_value) / len(x_value)
print(f"max |optimized - X^T (softmax - t) / n|: {np.max(np.abs(f(x_value, w_value, t_value) - reference)):.3e}")

# Large logits: log(softmax) of the naive graph underflows to log(0); the rewritten graph stays finite.
big = 1000.0 * x_value
print(f"with logits scaled by 1000: unoptimized finite {bool(np.isfinite(unoptimized(big, w_value, t_value)).all())}, "
      f"optimized finite {bool(np.isfinite(f(big, w_value, t_value)).all())}")

args.out_dir.mkdir(parents=True, exist_ok=True)
before_path = sg.draw(grad_W, args.out_dir / "gradient_before.svg")
after_path = sg.draw(f, args.out_dir / "gradient_after.svg")
# The same function in the browser: pan, zoom, search, click a node for its line in this file,
# and step through the rewrite history from the gradient as built to the optimized graph.
page_path = sg.view(f, args.out_dir / "gradient_viewer.html")
print(f"\nwrote {before_path}")
print(f"wrote {after_path}")
print(f"wrote {page_path} (open it in a browser)")
