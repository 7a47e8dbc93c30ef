"""Inspection of graphs: ``dprint`` (a Theano-style text tree), ``to_networkx`` and ``to_sympy``.

Every function accepts a variable, a list of variables, a compiled function (its
optimized graph) or a ``CompiledGraph``. Traversals are iterative, so very deep
graphs print without recursion errors.
"""
from __future__ import annotations

import string

import networkx as nx

from .graph import Constant, SharedVariable, Variable, toposort


def _roots(obj):
    """The output variables to show, and whether ``obj`` was a compiled function or graph."""
    from .function import CompiledGraph, Function
    if isinstance(obj, Function):
        obj = obj.graph
    if isinstance(obj, CompiledGraph):
        return list(obj.variables), obj
    if isinstance(obj, Variable):
        return [obj], None
    if isinstance(obj, (list, tuple)) and all(isinstance(v, Variable) for v in obj):
        return list(obj), None
    raise TypeError(f"cannot inspect {type(obj).__name__}: expected a variable, a list of variables or a "
                    "compiled function")


def _short_id(n: int) -> str:
    letters = string.ascii_uppercase
    text = ""
    n += 1
    while n:
        n, r = divmod(n - 1, 26)
        text = letters[r] + text
    return text


def _op_label(node) -> str:
    op = node.op
    expressions = getattr(op, "expression_strings", None)
    if callable(expressions):
        exprs = expressions()
        if exprs:
            return f"{op.name or type(op).__name__.lower()}{{{'; '.join(exprs)}}}"
    return str(op)


def _leaf_label(var) -> str:
    if isinstance(var, Constant):
        return f"{var!r}".split(":")[0] if var.value.size <= 6 else f"constant{var.type}"
    if isinstance(var, SharedVariable):
        return f"{var.name or 'shared'} (shared)"
    return var.name or "<input>"


def dprint(obj, file=None, show_source=False, show_types=True, depth=None, print_=False) -> str:
    """A text tree of a graph (Theano's ``debugprint``): one line per node, ``[id X]`` tags.

    A subtree used more than once is printed once; later uses show only its tag. A loop (``sg.scan``) shows
    its step's graph indented under it, marked ``┊``.

    Parameters
    ----------
    obj : Variable, list of Variable, or Function
        What to print; for a compiled function, its optimized graph (with its updates).
    file : file-like, optional
        Where to print the text as well.
    show_source : bool, default False
        Add the user's file:line that built each node.
    show_types : bool, default True
        Add each variable's dtype and shape.
    depth : int, optional
        Print only this many levels.
    print_ : bool, default False
        Print the text to standard output as well.

    Returns
    -------
    str
        The text.

    Examples
    --------
    >>> x = sg.vector("x")
    >>> print(sg.dprint(sg.exp(x) + x, show_types=False))
    add [id A]
     ├─ exp [id B]
     │  └─ x [id C]
     └─ x [id C]
    """
    roots, compiled = _roots(obj)
    ids: dict[int, str] = {}
    printed: set[int] = set()
    lines: list[str] = []

    def tag(var) -> str:
        key = id(var.owner) if var.owner is not None else id(var)
        if key not in ids:
            ids[key] = _short_id(len(ids))
        return ids[key]

    def describe(var) -> str:
        parts = []
        if var.owner is None:
            parts.append(_leaf_label(var))
        else:
            parts.append(_op_label(var.owner))
            if len(var.owner.outputs) > 1:
                parts.append(f".{var.index}")
        parts.append(f"[id {tag(var)}]")
        if var.owner is not None and var.name:
            parts.append(f"'{var.name}'")
        if show_types:
            parts.append(str(var.type))
        if show_source and var.owner is not None and var.owner.source is not None:
            parts.append(f"  # {var.owner.source.filename.split('/')[-1]}:{var.owner.source.lineno}")
        return " ".join(parts)

    headings = []
    if compiled is not None:
        n_out = len(compiled.outputs)
        headings = [f"output {i}" for i in range(n_out)]
        headings += [f"update of {target.name or 'shared'}" for target, _ in compiled.updates]
    for k, root in enumerate(roots):
        if headings:
            lines.append(f"{headings[k]}:")
        # Stack of (variable, prefix for its own line, prefix for its children, depth).
        stack = [(root, "", "", 0)]
        while stack:
            var, own_prefix, child_prefix, level = stack.pop()
            node = var.owner
            line = own_prefix + describe(var)
            key = id(node) if node is not None else None
            if node is not None and key in printed and node.inputs:
                lines.append(line + " ···")
                continue
            lines.append(line)
            if node is None or (depth is not None and level >= depth):
                continue
            printed.add(key)
            inner = getattr(node.op, "inner_outputs", None)
            if inner is not None:       # a loop: its step's graph, indented under it (own [id] tags)
                lines.append(f"{child_prefix}┊ step of {node.op} [id {tag(var)}]:")
                text = dprint(list(inner), show_source=show_source, show_types=show_types, depth=depth)
                lines += [f"{child_prefix}┊   {inner_line}" for inner_line in text.splitlines()]
            children = node.inputs
            for i in reversed(range(len(children))):
                last = i == len(children) - 1
                stack.append((children[i], child_prefix + ("└─ " if last else "├─ "),
                              child_prefix + ("   " if last else "│  "), level + 1))
    text = "\n".join(lines)
    if print_ or file is not None:
        print(text, file=file)
    return text


def to_networkx(obj) -> nx.DiGraph:
    """The graph as a ``networkx.DiGraph`` of variables and operations, edges following data flow.

    Parameters
    ----------
    obj : Variable, list of Variable, or Function
        What to convert; for a compiled function, its optimized graph.

    Returns
    -------
    networkx.DiGraph
        Node attributes: ``kind`` ("variable" or "op"); op nodes: ``op`` (the op's name, such as
        "exp" or "dot") and ``label``; variable nodes: ``name``, ``dtype``, ``shape`` and ``role``
        (input, constant, shared, intermediate, output).

    Examples
    --------
    >>> x = sg.vector("x")
    >>> g = sg.to_networkx(sg.exp(x).sum())
    >>> sorted(data["op"] for _, data in g.nodes(data=True) if data["kind"] == "op")
    ['exp', 'sum']
    """
    from .ops.base import op_name
    roots, _ = _roots(obj)
    graph = nx.DiGraph()
    var_keys: dict[int, str] = {}
    outputs = {id(v) for v in roots}

    def add_variable(var) -> str:
        key = var_keys.get(id(var))
        if key is None:
            key = f"v{len(var_keys)}"
            var_keys[id(var)] = key
            if isinstance(var, Constant):
                role = "constant"
            elif isinstance(var, SharedVariable):
                role = "shared"
            elif var.owner is None:
                role = "input"
            else:
                role = "output" if id(var) in outputs else "intermediate"
            graph.add_node(key, kind="variable", name=var.name, dtype=var.dtype, shape=var.type.shape,
                           role=role, label=var.name or (_leaf_label(var) if var.owner is None else ""),
                           variable=var)
        return key

    for i, node in enumerate(toposort(roots)):
        op_key = f"op{i}"
        graph.add_node(op_key, kind="op", op=op_name(node.op), label=_op_label(node), node=node,
                       source=str(node.source) if node.source else None)
        for var in node.inputs:
            graph.add_edge(add_variable(var), op_key)
        for var in node.outputs:
            graph.add_edge(op_key, add_variable(var))
    for var in roots:
        add_variable(var)
    return graph


def to_sympy(expr):
    """A SymPy expression for an elementwise expression (inputs become symbols named after them).

    Parameters
    ----------
    expr : Variable
        An expression of elementwise operations on inputs and constants.

    Returns
    -------
    sympy.Expr
        The same formula in SymPy, for reading, ``sympy.simplify`` or ``sympy.latex``.

    Raises
    ------
    TypeError
        If the expression contains an operation SymPy has no counterpart for (``dot``, a reduction).

    Examples
    --------
    >>> x = sg.scalar("x")
    >>> sg.to_sympy(sg.grad(sg.sin(x) * x, x))
    x*cos(x) + sin(x)
    """
    from .rewrite.sympy_simplify import to_sympy as convert
    return convert(expr)
