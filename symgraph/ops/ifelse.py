"""``sg.ifelse``: a lazy conditional, Theano's ``ifelse``.

``IfElse`` takes the condition, then the values of the ``then`` branch, then those of the ``else`` branch,
and returns the chosen ones. Laziness belongs to the evaluation, not to the op: ``lazy_branches`` finds,
for each ``IfElse`` node, the nodes that only its ``then`` (or ``else``) values need, and every backend
runs them only when that branch is chosen (python: ``codegen/python.py``; numba: inside an ``if`` block
of the kernel; cuda: the steps of the chosen branch). A node that something else also needs runs
anyway, before the conditional.
"""
from __future__ import annotations

import numpy as np

from ..graph import Node, Variable
from ..types import TensorType
from .base import Op, as_variable, pointing_at_user_line


class IfElse(Op):
    """The ``then`` values when the condition is true, else the ``else`` values (``n`` of each)."""

    __props__ = ("n",)
    name = "ifelse"

    def __init__(self, n):
        self.n = int(n)

    def make_node(self, condition, *values):
        condition = as_variable(condition)
        if condition.ndim != 0:
            raise TypeError(f"ifelse: the condition must be 0-d, got {condition.describe()}")
        if len(values) != 2 * self.n:
            raise TypeError(f"ifelse: expected {self.n} then-values and {self.n} else-values, got {len(values)}")
        then_values = [as_variable(v) for v in values[:self.n]]
        else_values = [as_variable(v, like=t.dtype) for v, t in zip(values[self.n:], then_values)]
        outputs = []
        for k, (a, b) in enumerate(zip(then_values, else_values)):
            if a.dtype != b.dtype or a.ndim != b.ndim:
                raise TypeError(f"ifelse: value {k} of the two branches must have one type: then {a.describe()}, "
                                f"else {b.describe()}")
            shape = tuple(x if x == y else None for x, y in zip(a.type.shape, b.type.shape))
            outputs.append(TensorType(a.dtype, shape))
        return Node(self, [condition] + then_values + else_values, outputs)

    def choose(self, condition) -> slice:
        """The inputs that become the outputs for this value of the condition."""
        return slice(1, 1 + self.n) if bool(condition) else slice(1 + self.n, 1 + 2 * self.n)

    def perform(self, node, inputs):
        chosen = inputs[self.choose(inputs[0])]
        return [np.array(v, dtype=out.dtype, copy=True) for v, out in zip(chosen, node.outputs)]

    def grad(self, inputs, outputs, output_grads):
        from .shape import zeros_like
        condition, then_values, else_values = inputs[0], inputs[1:1 + self.n], inputs[1 + self.n:]
        then_grads = IfElse(self.n)(condition, *output_grads, *[zeros_like(v) for v in then_values])
        else_grads = IfElse(self.n)(condition, *[zeros_like(v) for v in else_values], *output_grads)
        then_grads = then_grads if isinstance(then_grads, list) else [then_grads]
        else_grads = else_grads if isinstance(else_grads, list) else [else_grads]
        return [None] + [g if v.type.is_float else None for g, v in zip(then_grads, then_values)] + \
            [g if v.type.is_float else None for g, v in zip(else_grads, else_values)]

    def connection_pattern(self, node):
        return [False] + [True] * (2 * self.n)


def ifelse(condition, then_value, else_value):
    """A lazy conditional: ``then_value`` when ``condition`` is true, else ``else_value``; only the chosen
    branch is computed.

    Parameters
    ----------
    condition : Variable or bool
        A 0-d condition (a number counts as true when nonzero).
    then_value, else_value : Variable or list of Variable
        The values of the two branches (one variable, or lists of equal length); each pair has one dtype
        and number of axes (lengths may differ).

    Returns
    -------
    Variable or list of Variable
        The chosen values. Nodes that only the branch not taken needs are not run (an index out of range
        there raises nothing). Differentiable in the values: the gradient flows to the chosen branch (the
        derivative's graph runs the nodes of both branches).

    Examples
    --------
    >>> x = sg.vector("x")
    >>> i = sg.scalar("i", dtype="int64")
    >>> y = sg.ifelse(i < 3, x[i], sg.constant(-1.0))
    >>> f = sg.function([x, i], y, backend="python")
    >>> f([1.0, 2.0, 3.0], 1), f([1.0, 2.0, 3.0], 7)
    (array(2.), array(-1.))
    """
    with pointing_at_user_line():
        single = not isinstance(then_value, (list, tuple))
        then_values = [then_value] if single else list(then_value)
        else_values = [else_value] if not isinstance(else_value, (list, tuple)) else list(else_value)
        if len(then_values) != len(else_values):
            raise ValueError(f"ifelse: {len(then_values)} then-values but {len(else_values)} else-values")
        out = IfElse(len(then_values))(condition, *then_values, *else_values)
    return out if single else (list(out) if isinstance(out, (list, tuple)) else [out])


def lazy_branches(nodes, outputs):
    """``(deferred, branches)`` for the topologically ordered ``nodes`` computing ``outputs``.

    ``branches`` maps ``id(ifelse node)`` to ``(then_nodes, else_nodes)``: the nodes (in order) that only
    that branch needs, and no branch of an ``IfElse`` among them (those run inside it); ``deferred`` holds
    the ids of every node in some branch, which the main sequence skips.
    """
    conditionals = [n for n in nodes if isinstance(n.op, IfElse)]
    if not conditionals:
        return set(), {}
    position = {id(n): i for i, n in enumerate(nodes)}
    consumers = {}
    for node in nodes:
        for slot, var in enumerate(node.inputs):
            consumers.setdefault(id(var), []).append((node, slot))
    returned = {id(v) for v in outputs if isinstance(v, Variable)}
    sets = {}
    for cond in conditionals:
        for side in (0, 1):
            slots = range(1, 1 + cond.op.n) if side == 0 else range(1 + cond.op.n, 1 + 2 * cond.op.n)
            members = set()
            for node in reversed(nodes[:position[id(cond)]]):
                if any(id(o) in returned for o in node.outputs):
                    continue
                uses = [use for o in node.outputs for use in consumers.get(id(o), [])]
                if uses and all((c is cond and slot in slots) or id(c) in members for c, slot in uses):
                    members.add(id(node))
            sets[(id(cond), side)] = members
    innermost = {}
    for key, members in sets.items():
        for member in members:
            if member not in innermost or len(members) < len(sets[innermost[member]]):
                innermost[member] = key
    branches = {id(cond): ([n for n in nodes if innermost.get(id(n)) == (id(cond), 0)],
                           [n for n in nodes if innermost.get(id(n)) == (id(cond), 1)]) for cond in conditionals}
    return set(innermost), branches
