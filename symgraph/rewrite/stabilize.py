"""The cost's graph in its stable forms, as ``sg.grad`` differentiates it.

Why here and not only in the optimizer: the gradient of ``log(1 + exp(x))`` built from the
naive formula is ``g / (1 + exp(x)) * exp(x)``, which is ``inf / inf`` at ``x = 1000``; the
optimizer can rewrite that one shape, but every other way of writing the cost (an index before
the log, a reshape, a hand-written sigmoid) gives the gradient another shape. Differentiating
the stable form instead (``softplus(x)``, whose rule is ``g * sigmoid(x)``) gives a finite
gradient by construction, for every cost the forward rewrites recognise. So ``sg.grad`` first
applies the rewrites tagged ``"before_grad"`` (the forward stability rewrites of
``symgraph.rewrite.stability``) to the graph between the cost and the variables it
differentiates with respect to, then runs the ordinary backward pass on the result.

The result is still made of the user's graph: every node the rewrites did not change is the
user's own node (so the gradient reuses the forward nodes, as ``sg.grad`` promises); only the
rewritten parts (``softplus(x)`` for ``log(1 + exp(x))``) are new nodes, which the optimizer
merges with the same stable forms of the forward value when both are compiled together.
Rewrites never look through ``wrt`` or ``consider_constant`` variables (they stand in as
leaves), so those keep their identity and role, and a rewrite that would make the cost stop
depending on one of its inputs is not used. Graphs with no ``exp``, ``sigmoid`` or
``softmax`` (where nothing can overflow into NaN) are differentiated as they are.
"""
from __future__ import annotations

from ..graph import Constant, Node, Variable
from ..ops.base import op_name
from .engine import REGISTRY, FunctionGraph, apply_local_rewrites, fast_toposort
from .shapes import ShapeFacts

#: the rewrites applied before differentiating carry this tag
TAG = "before_grad"

#: the ops whose overflow or underflow the tagged rewrites remove; a graph without one is left alone
_TRIGGERS = frozenset({"exp", "sigmoid", "softmax", "erfc"})


def stable_for_grad(roots, keep=()):
    """``roots`` with the ``"before_grad"`` rewrites applied (new variables), or ``roots`` unchanged.

    Parameters
    ----------
    roots : list of Variable
        The variables a backward pass starts from (the cost, the keys of ``known_grads``).
    keep : iterable of Variable
        Variables that must stay as they are (``wrt``, ``consider_constant``): the rewrites
        treat them as leaves.

    Returns
    -------
    list of Variable
        One variable per root, computing the same value: the user's nodes where nothing changed.

    Examples
    --------
    >>> import symgraph as sg
    >>> x = sg.scalar("x")
    >>> [y] = stable_for_grad([sg.log(1 + sg.exp(x))], keep=[x])
    >>> y.owner.op.name
    'softplus'
    """
    roots = list(roots)
    keep = {v for v in keep if isinstance(v, Variable) and v.owner is not None}
    order = fast_toposort(roots, stop=keep)
    if not any(op_name(node.op) in _TRIGGERS for node in order):
        return roots
    rewrites = [r for r in REGISTRY.values() if TAG in r.tags]
    standins = {v: Variable(v.type, None, 0, v.name) for v in keep}
    fg = FunctionGraph(_clone(order, roots, standins), clone=False)
    # Shape facts come from the nodes that run; a gradient need not run every node of its cost.
    fg.shape_facts = ShapeFacts()
    if not apply_local_rewrites(fg, rewrites):
        return roots
    originals = {standin: var for var, standin in standins.items()}
    result, new_order = _reuse_originals(fg.outputs, originals, order)
    if not _leaves(order, keep) <= _leaves(new_order, keep):
        return roots  # a rewrite dropped an input: keep the graph whose dependencies the user built
    return result


def _clone(order, roots, standins):
    """Copies of the nodes of ``order`` (reading the stand-ins instead of the kept variables)."""
    mapping = dict(standins)
    for node in order:
        copy = Node.__new__(Node)
        copy.op, copy.sources = node.op, node.sources
        copy.inputs = [mapping.get(v, v) for v in node.inputs]
        copy.outputs = []
        for old in node.outputs:
            new = Variable(old.type, copy, old.index, old.name)
            copy.outputs.append(new)
            mapping[old] = new
    return [mapping.get(v, v) for v in roots]


def _reuse_originals(outputs, mapping, original_order):
    """The rewritten graph rebuilt on the user's variables: a node applying the same op to the same
    inputs as one of the user's nodes is that node; any other node is a new node.

    Returns the new outputs and the nodes computing them.
    """
    mapping = dict(mapping)
    originals = {node.signature(): node for node in original_order}
    order = []
    for node in fast_toposort(outputs):
        inputs = [mapping.get(v, v) for v in node.inputs]
        found = originals.get((node.op, tuple(id(v) for v in inputs)))
        if found is None:
            found = Node.__new__(Node)
            found.op, found.sources, found.inputs = node.op, node.sources, inputs
            found.outputs = [Variable(v.type, found, v.index, v.name) for v in node.outputs]
        order.append(found)
        for old, new in zip(node.outputs, found.outputs):
            mapping[old] = new
    return [mapping.get(v, v) for v in outputs], order


def _leaves(order, keep):
    """The variables (not constants) the nodes of ``order`` read without computing them."""
    computed = {v for node in order for v in node.outputs}
    return {v for node in order for v in node.inputs
            if (v.owner is None or v in keep) and v not in computed and not isinstance(v, Constant)}
