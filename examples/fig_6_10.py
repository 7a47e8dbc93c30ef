"""Figure 6.10 of the Deep Learning book: symbol-to-symbol derivatives.

z = f(f(w)) with f = sin. sg.grad does not compute numbers: it inserts the nodes
that compute dz/dw into the same graph, reusing the forward nodes (x = f(w) is
needed by f'(x)). Because the gradient is an ordinary graph, differentiating it
again gives the second derivative. The forward graph and the graph with its
gradient are drawn side by side, the added nodes highlighted.

    python examples/fig_6_10.py [--out examples/output/fig_6_10.png]
"""
import argparse
import math
from pathlib import Path

import symgraph as sg
from symgraph.graph import count_nodes

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--out", default=Path(__file__).parent / "output" / "fig_6_10.png", type=Path)
args = parser.parse_args()

w = sg.scalar("w")
x = sg.sin(w)
x.name = "x"
z = sg.sin(x)
z.name = "z"

dz_dw = sg.grad(z, w)          # new nodes: cos(x) * cos(w), built on top of the forward graph
dz_dw.name = "dz/dw"
d2z_dw2 = sg.grad(dz_dw, w)    # the derivative of the derivative graph
d2z_dw2.name = "d2z/dw2"

print("z = f(f(w)) with f = sin")
print(f"forward graph: {count_nodes(z)} nodes; with the gradient: {count_nodes([z, dz_dw])} nodes; "
      f"with the second derivative: {count_nodes([z, dz_dw, d2z_dw2])} nodes")
print("\nthe gradient graph (it reuses x = sin(w) from the forward pass):")
print(sg.dprint(dz_dw))

f = sg.function([w], [z, dz_dw, d2z_dw2])
w_value = 0.7
z_value, first, second = f(w_value)
print(f"\nat w = {w_value}")
print(f"z       = {float(z_value):.10g}")
print(f"dz/dw   = {float(first):.10g}")
print(f"d2z/dw2 = {float(second):.10g}")
# By hand: z' = cos(sin w) cos w,  z'' = -sin(sin w) cos^2 w - cos(sin w) sin w.
expected = -math.sin(math.sin(w_value)) * math.cos(w_value) ** 2 - math.cos(math.sin(w_value)) * math.sin(w_value)
print(f"by hand: d2z/dw2 = -sin(sin w) cos(w)^2 - cos(sin w) sin(w) = {expected:.10g}")

picture = sg.draw({"forward: z = f(f(w))": z, "with dz/dw inserted (Fig. 6.10)": [z, dz_dw]},
                  args.out, base=z)
print(f"\nwrote {picture} (forward graph left; right, the nodes sg.grad added are shaded red)")
