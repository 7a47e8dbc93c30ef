"""``OpFromGraph``: a graph packaged as one reusable op, with an optional gradient of the user's choosing.

Calling the op on variables inserts one node. The optimizer inlines it (the inner graph in place of the
node, so fusion and every other rewrite see through it) unless it is made with ``inline=False``; a
backend that meets the node lowers its inner graph in place (numba: into the same kernel; cuda: its
steps one after another), and the python backend runs its nodes' ``perform``. Its derivative is the
inner graph's, or ``grad(inputs, output_grads)`` when one is given (as ``jax.custom_vjp``).
"""
from __future__ import annotations

from ..graph import Node, Variable, toposort
from ..types import TensorType
from .base import GraphOp, as_variable


class OpFromGraph(GraphOp):
    """A graph from ``inputs`` to ``outputs`` as one op (Theano's ``OpFromGraph``, JAX's ``custom_vjp``).

    Parameters
    ----------
    inputs : list of Variable
        The inner graph's inputs (placeholders: each call passes variables of the same dtype and rank).
    outputs : Variable or list of Variable
        The inner graph's outputs, computed from ``inputs`` (and constants or shared variables).
    grad : callable, optional
        ``grad(inputs, output_grads) -> input_grads``: symbolic variables in, one variable (or None) per
        input out, replacing the inner graph's derivative (for stability, straight-through estimators,
        clipping a gradient inside a graph).
    name : str, optional
        How the op prints.
    inline : bool, default True
        Let the optimizer put the inner graph in place of each node.

    Examples
    --------
    >>> x = sg.vector("x")
    >>> clip_grad = sg.OpFromGraph([x], x, grad=lambda inputs, grads: [sg.clip(grads[0], -1.0, 1.0)])
    >>> y = sg.vector("y")
    >>> g = sg.grad(sg.sum(clip_grad(y) * 5.0), y)
    >>> sg.function([y], g, backend="python")([1.0, 2.0])
    array([1., 1.])
    """

    __props__ = ()
    name = "op_from_graph"

    def __init__(self, inputs, outputs, grad=None, name=None, inline=True):
        self.inner_inputs = list(inputs)
        single = isinstance(outputs, Variable)
        self.inner_outputs = [outputs] if single else list(outputs)
        self.single = single
        for v in self.inner_inputs:
            if not isinstance(v, Variable) or v.owner is not None:
                raise TypeError(f"OpFromGraph: inputs must be input variables (no owner), got {v!r}")
        for v in self.inner_outputs:
            if not isinstance(v, Variable):
                raise TypeError(f"OpFromGraph: outputs must be symbolic variables, got {v!r}")
        self.custom_grad = grad
        self.label = name or "op_from_graph"     # how it prints; ``name`` (what rewrites match) is fixed
        self.inline = bool(inline)
        self.inner_nodes = toposort(self.inner_outputs)
        known = {id(v) for v in self.inner_inputs}
        from ..graph import Constant, SharedVariable
        for node in self.inner_nodes:
            for v in node.inputs:
                if v.owner is None and id(v) not in known and not isinstance(v, (Constant, SharedVariable)):
                    raise ValueError(f"OpFromGraph: the outputs depend on {v.describe()}, which is not among "
                                     "its inputs")

    def make_node(self, *inputs):
        if len(inputs) != len(self.inner_inputs):
            raise TypeError(f"{self.label}: takes {len(self.inner_inputs)} inputs, got {len(inputs)}")
        inputs = [as_variable(x, like=inner.dtype) for x, inner in zip(inputs, self.inner_inputs)]
        for x, inner in zip(inputs, self.inner_inputs):
            if x.dtype != inner.dtype or x.ndim != inner.ndim:
                raise TypeError(f"{self.label}: input {x.describe()} does not match {inner.describe()} "
                                "(same dtype and number of axes)")
        static = all(x.type.shape == inner.type.shape for x, inner in zip(inputs, self.inner_inputs))
        outputs = [TensorType(v.dtype, v.type.shape if static else (None,) * v.ndim) for v in self.inner_outputs]
        return Node(self, inputs, outputs)

    def expand(self, inputs):
        """The inner graph's outputs computed from ``inputs`` (copies of its nodes: the graph inlined)."""
        from ..givens import rebuild
        return rebuild(self.inner_outputs, {id(inner): x for inner, x in zip(self.inner_inputs, inputs)},
                       strict=False)

    def perform(self, node, inputs):
        import numpy as np
        from ..graph import Constant
        values = {id(v): x for v, x in zip(self.inner_inputs, inputs)}
        for inner in self.inner_nodes:
            args = []
            for v in inner.inputs:
                if id(v) in values:
                    args.append(values[id(v)])
                elif isinstance(v, Constant):
                    args.append(v.value)
                else:                       # a shared variable
                    args.append(v.get_value(borrow=True))
            for out, value in zip(inner.outputs, inner.op.perform(inner, args)):
                values[id(out)] = value
        return [np.asarray(values[id(v)] if id(v) in values else
                           (v.value if isinstance(v, Constant) else v.get_value()), dtype=o.dtype)
                for v, o in zip(self.inner_outputs, node.outputs)]

    def grad(self, inputs, outputs, output_grads):
        if self.custom_grad is not None:
            result = list(self.custom_grad(list(inputs), list(output_grads)))
            if len(result) != len(inputs):
                raise ValueError(f"{self.label}: its grad returned {len(result)} gradients for {len(inputs)} inputs")
            return [None if g is None else as_variable(g) for g in result]
        from ..givens import rebuild
        from ..grad import Lop
        # differentiate the inner graph on independent stand-ins (the inputs may depend on one another:
        # the chain rule through them is the outer graph's business), then read the real inputs again
        stand_ins = [Variable(x.type, name=x.name) for x in inputs]
        expanded = self.expand(stand_ins)
        float_inputs = [s for s, x in zip(stand_ins, inputs) if x.type.is_float]
        pairs = [(y, g) for y, g in zip(expanded, output_grads) if y.type.is_float]
        if not float_inputs or not pairs:
            return [None] * len(inputs)
        grads = Lop([y for y, _ in pairs], float_inputs, [g for _, g in pairs], disconnected="zero")
        grads = rebuild(list(grads) if isinstance(grads, (list, tuple)) else [grads],
                        {id(s): x for s, x in zip(stand_ins, inputs)}, strict=False)
        found = iter(grads)
        return [next(found) if x.type.is_float else None for x in inputs]


def inline_all(outputs):
    """``outputs`` with every ``OpFromGraph`` node replaced by its inner graph, nested ones too (what
    ``sg.function`` hands a backend: each lowers the inner graph's nodes in place of the node)."""
    from ..givens import rebuild
    outputs = list(outputs)
    while True:
        node = next((n for n in toposort(outputs) if isinstance(n.op, OpFromGraph) or _has_inner_op_from_graph(n)),
                    None)
        if node is None:
            return outputs
        if isinstance(node.op, OpFromGraph):
            expanded = node.op.expand(node.inputs)
        else:                       # a loop whose step holds one: the same loop, its step inlined
            expanded = node.op.with_inner_outputs(inline_all(node.op.inner_outputs))(*node.inputs)
            expanded = list(expanded) if isinstance(expanded, (list, tuple)) else [expanded]
        outputs = rebuild(outputs, {id(old): new for old, new in zip(node.outputs, expanded)}, strict=False)


def _has_inner_op_from_graph(node):
    inner = getattr(node.op, "inner_outputs", None)
    return isinstance(inner, list) and hasattr(node.op, "with_inner_outputs") and \
        any(isinstance(n.op, OpFromGraph) or _has_inner_op_from_graph(n) for n in toposort(inner))
