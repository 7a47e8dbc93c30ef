"""The backpropagation lectures' worked examples, computed by symgraph.

Each expression is built as a graph, differentiated symbol to symbol with
sg.grad (the gradient is itself a graph), compiled, and evaluated. The gradient
graph is then turned back into a formula with sg.to_sympy, so you can read the
derivative the compiler built and see that SymPy's own derivative agrees.

    python examples/calculus.py
"""
import sympy

import symgraph as sg


def show(title, cost, wrt, values, note=None):
    """Print the value of ``cost``, its gradient at ``values`` and the derivative formulas."""
    print(f"\n== {title}")
    grads = sg.grad(cost, wrt)
    f = sg.function(wrt, [cost] + grads)
    results = f(*values)
    print("at " + ", ".join(f"{v.name}={value:g}" for v, value in zip(wrt, values)))
    print(f"{cost.name:<8}= {float(results[0]):.10g}")
    for v, g in zip(wrt, results[1:]):
        print(f"{'d' + cost.name + '/d' + v.name:<8}= {float(g):.10g}")
    formula = sg.to_sympy(cost)
    print(f"{cost.name} = {formula}")
    for v, g in zip(wrt, grads):
        ours = sg.to_sympy(g)                   # the gradient graph, read back as a formula
        symbol = next(s for s in formula.free_symbols if s.name == v.name)
        difference = ours - sympy.diff(formula, symbol)
        agrees = sympy.simplify(difference) == 0 or difference.equals(0) is True
        print(f"d{cost.name}/d{v.name} = {ours}    (SymPy's diff agrees: {agrees})")
    if note:
        print(note)
    return results


# 1. The differentiation quiz.
x, z = sg.scalar("x"), sg.scalar("z")
y = sg.exp(x * z) + x * z / sg.log(x) + sg.sin(sg.log(x)) / (x * z)
y.name = "y"
show("quiz: y = exp(xz) + xz/log(x) + sin(log(x))/(xz)", y, [x, z], [2.0, 3.0])

# 2. A chain of functions: J = cos(sin(x^2) + 3x^2).
x = sg.scalar("x")
J = sg.cos(sg.sin(x ** 2) + 3 * x ** 2)
J.name = "J"
show("chain: J = cos(sin(x^2) + 3x^2)", J, [x], [0.5])

# 3. The circuit f = (x + y) z: the add gate routes the gradient, the multiply gate swaps its inputs.
x, y, z = sg.scalar("x"), sg.scalar("y"), sg.scalar("z")
q = x + y
f = q * z
f.name = "f"
show("circuit: f = (x + y) z", f, [x, y, z], [-2.0, 5.0, -4.0])

# 4. The sigmoid neuron f = sigmoid(w0 x0 + w1 x1 + w2); its local gradient is f (1 - f).
w0, w1, w2, x0, x1 = (sg.scalar(n) for n in ("w0", "w1", "w2", "x0", "x1"))
neuron = sg.sigmoid(w0 * x0 + w1 * x1 + w2)
neuron.name = "f"
show("sigmoid neuron: f = sigmoid(w0 x0 + w1 x1 + w2)", neuron, [w0, w1, w2, x0, x1],
     [2.0, -3.0, -3.0, -1.0, -2.0],
     note="(1/(exp(-s) + 1) is sigmoid(s): each derivative is sigmoid(s) (1 - sigmoid(s)) times the other factor)")
