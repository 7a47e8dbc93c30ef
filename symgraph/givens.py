"""``givens``: substitutions made in a function's graph before it is compiled (Theano's ``givens``).

``sg.function(inputs, outputs, givens=[(x, replacement)])`` compiles ``outputs`` (and the
update expressions) with ``x`` replaced; a replacement has ``x``'s dtype, ndim and a compatible
static shape, and the substitution is simultaneous, as in Theano.
"""
from __future__ import annotations

from .graph import Constant, Variable, graph_inputs, toposort
from .types import safe_cast_allowed


def normalize_givens(givens):
    """``givens`` (a dict or (variable, replacement) pairs) as {id(variable): (variable, replacement)}."""
    if givens is None:
        return {}
    pairs = list(givens.items()) if isinstance(givens, dict) else list(givens)
    result = {}
    from .ops.base import as_variable
    for pair in pairs:
        try:
            old, new = pair
        except (TypeError, ValueError):
            raise TypeError(f"givens must be (variable, replacement) pairs, got {pair!r}") from None
        if not isinstance(old, Variable) or isinstance(old, Constant):
            raise TypeError(f"givens: {old!r} is not a variable that can be replaced")
        if id(old) in result:
            raise ValueError(f"givens replace {old.describe()} twice")
        new = as_variable(new, like=old.dtype)
        if new.dtype != old.dtype and isinstance(new, Constant) and safe_cast_allowed(new.dtype, old.dtype):
            from .ops.elemwise import cast
            new = cast(new, old.dtype)
        if new.dtype != old.dtype or new.ndim != old.ndim or not old.type.is_compatible(new.type):
            raise TypeError(f"givens: the replacement {new.describe()} of type {new.type} does not match "
                            f"{old.describe()} of type {old.type} (same dtype, ndim and static lengths)")
        result[id(old)] = (old, new)
    return result


def substitute(roots, givens):
    """Copies of ``roots`` with the variables of ``givens`` ({id: (old, new)}) replaced, all at once.

    Only the part of the graph between the roots and the replaced variables is rebuilt (each node
    through its op's ``make_node``, so types are inferred again); a replacement's own graph is not
    searched, so ``givens=[(x, x * 2)]`` means the old ``x`` inside the replacement, as in Theano.
    """
    if not givens:
        return list(roots)
    return rebuild(roots, {key: new for key, (_, new) in givens.items()}, stop=[old for old, _ in givens.values()],
                   what="givens")


def rebuild(roots, mapping, strict=True, stop=None, what="clone_replace"):
    """Copies of ``roots`` with the variables of ``mapping`` ({id(old): new}) replaced, each node on the way
    rebuilt through its op's ``make_node``; ``strict`` refuses a node whose output changes dtype or rank.
    ``stop``: the replaced variables, where the walk up from the roots ends (default: the leaves replaced)."""
    mapping = dict(mapping)
    if stop is None:
        stop = [v for v in graph_inputs(roots) if id(v) in mapping]
    for node in toposort(roots, stop_at=stop):
        if not any(id(v) in mapping for v in node.inputs):
            continue
        rebuilt = node.op.make_node(*[mapping.get(id(v), v) for v in node.inputs])
        rebuilt.sources = node.sources
        for old, new in zip(node.outputs, rebuilt.outputs):
            if strict and (new.dtype != old.dtype or new.ndim != old.ndim):
                raise TypeError(f"{what}: the replacement changes {node.op}{node.where()} from {old.type} to "
                                f"{new.type}")
            new.name = old.name
            mapping[id(old)] = new
    return [mapping.get(id(v), v) for v in roots]


def clone_replace(outputs, replace):
    """Copies of ``outputs`` with variables replaced, as Theano's ``clone``/PyTensor's ``graph_replace``.

    Parameters
    ----------
    outputs : Variable or list of Variable
        The expressions to copy.
    replace : dict or list of (Variable, Variable) pairs
        ``{old: new}``: every use of ``old`` (an input or an intermediate) reads ``new`` instead; each
        ``new`` has the dtype and rank of its ``old`` (its static lengths may differ where ``old`` allows).
        The substitution is simultaneous: a replacement's own graph is not searched.

    Returns
    -------
    Variable or list of Variable
        The copies, in the structure of ``outputs``; the originals are unchanged.

    Examples
    --------
    >>> x, y = sg.vector("x"), sg.vector("y")
    >>> z = sg.exp(x) + 1.0
    >>> w = sg.clone_replace(z, {x: y * 2.0})
    >>> sg.function([y], w, backend="python")([0.0, 1.0])
    array([2.        , 8.3890561])
    """
    single = isinstance(outputs, Variable)
    roots = [outputs] if single else list(outputs)
    pairs = normalize_givens(replace)
    result = rebuild(roots, {key: new for key, (_, new) in pairs.items()})
    return result[0] if single else result
