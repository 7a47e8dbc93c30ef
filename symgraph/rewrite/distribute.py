"""Distributivity of matrix products over sums: ``A @ b + A @ c -> A @ (b + c)``.

Gradients of a variable used in several products sum one product per use:
``X.T @ a + X.T @ b`` costs two BLAS calls where ``X.T @ (a + b)`` costs one. The result
is equal in exact arithmetic but rounds differently, so these rewrites are opt-in under
the ``"fast_math"`` tag (the default optimizer never changes an IEEE result except through
the documented stability rewrites): ``optimizer={"include": ["fast_math"]}``.
"""
from __future__ import annotations

from ..ops import elemwise as ew
from ..ops.base import op_name
from .engine import register
from .patterns import as_replacement

_PRODUCTS = frozenset({"dot", "matmul"})


def _same_value(a, b) -> bool:
    """``a`` and ``b`` are one variable, or two outputs of the same op applied to the same inputs."""
    if a is b:
        return True
    pa, pb = a.owner, b.owner
    return (pa is not None and pb is not None and a.index == b.index and pa.op == pb.op
            and len(pa.inputs) == len(pb.inputs) and all(x is y for x, y in zip(pa.inputs, pb.inputs)))


def _factored(first, second, combine):
    """``A @ combine(b, c)`` for ``first = A @ b`` and ``second = A @ c`` (or ``b @ A`` and ``c @ A``), else None."""
    p, q = first.owner, second.owner
    if p is None or q is None or op_name(p.op) not in _PRODUCTS or p.op != q.op:
        return None
    (a1, b1), (a2, b2) = p.inputs, q.inputs
    for shared, left in ((0, True), (1, False)):
        common, other = (a1, a2) if shared == 0 else (b1, b2)
        if not _same_value(common, other):
            continue
        u, v = (b1, b2) if left else (a1, a2)
        # Equal ndims suffice: both products ran, so b and c agree on the contracted axis, and
        # broadcasting along any other axis commutes with the product (A @ (b + c) = A @ b + A @ c).
        if u.dtype != v.dtype or u.ndim != v.ndim:
            continue
        return p.op(a1, combine(u, v)) if left else p.op(combine(u, v), b1)
    return None


@register("canonicalize", "fast_math", ops=("add", "sub"))
def factor_common_product(node, graph):
    """A @ b + A @ c -> A @ (b + c), b @ A - c @ A -> (b - c) @ A: one product instead of two."""
    combine = ew.add if op_name(node.op) == "add" else ew.sub
    factored = _factored(*node.inputs, combine)
    return None if factored is None else [as_replacement(factored, node.outputs[0], graph)]


@register("canonicalize", "fast_math", ops="add_n")
def factor_common_product_n(node, graph):
    """add_n(..., A @ b, ..., A @ c, ...) -> add_n(..., A @ (b + c)): one product fewer."""
    terms = list(node.inputs)
    for i, first in enumerate(terms):
        for j in range(i + 1, len(terms)):
            factored = _factored(first, terms[j], ew.add)
            if factored is not None:
                rest = [t for k, t in enumerate(terms) if k not in (i, j)]
                return [as_replacement(ew.add_n(*rest, factored), node.outputs[0], graph)]
    return None


@register("canonicalize", "fast_math", ops="sum")
def gather_from_one_hot_product(node, graph):
    """sum(x * one_hot(y, n), axis=-1) -> x[..., y] (take_along_axis): one element read per row instead of
    a product and a sum over the whole row.

    Opt-in (``"fast_math"``): an inf or NaN elsewhere in a row no longer makes the sum NaN (0 * inf), and a
    -0.0 read stays -0.0. Labels out of [0, n) still raise (a negative label reads index n).
    """
    from ..ops.nnet import OneHot
    from ..ops.shape import expand_dims
    from ..ops.sort import take_along_axis
    from .patterns import dims, operands
    op = node.op
    product = node.inputs[0]
    factors = operands(product, "mul")
    if op.kind != "sum" or op.keepdims or factors is None or op.axis != (product.ndim - 1,):
        return None
    for x, hot in (factors, factors[::-1]):
        source = hot.owner
        # (other axes may broadcast: the gather broadcasts its indices the same way)
        if source is None or not isinstance(source.op, OneHot) or x.ndim != hot.ndim:
            continue
        labels, n = source.inputs
        if not _is_length_of(n, dims(x, graph)[-1], graph):
            continue
        labels = ew.cast(labels, "int64")
        safe = ew.where(ew.lt(labels, 0), ew.cast(n, "int64"), labels)
        picked = ew.cast(take_along_axis(x, expand_dims(safe, -1), -1)[..., 0], node.outputs[0].dtype)
        # (the same broadcast shape as the sum's, by the rules of the product and of the gather)
        return [picked] if node.outputs[0].type.is_compatible(picked.type) else None
    return None


def _is_length_of(n, described, graph) -> bool:
    """The int scalar ``n`` is provably the length ``described`` (a constant, or ``shape_of`` an equal axis)."""
    from ..graph import Constant
    from ..ops.shape import ShapeOf
    from .patterns import dims
    if isinstance(n, Constant):
        return isinstance(described, int) and n.value.shape == () and int(n.value) == described
    owner = n.owner
    return owner is not None and isinstance(owner.op, ShapeOf) and \
        dims(owner.inputs[0], graph)[owner.op.axis] == described
