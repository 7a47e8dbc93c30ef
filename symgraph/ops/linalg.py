"""Products of tensors: ``Dot`` (np.dot of 1-d/2-d operands) and ``BatchedMatmul`` (np.matmul of
operands with batch axes), and the user functions ``dot``, ``matmul`` and ``outer`` built on them.

Inner lengths known when the graph is built are checked then, so a mismatched product fails at the
user's line instead of at call time. Gradients are the usual ``gA = gY Bᵀ``, ``gB = Aᵀ gY`` written
with these same ops, so second derivatives work.
"""
from __future__ import annotations

import numpy as np

from ..graph import Node
from ..types import TensorType, broadcast_shapes, promote_dtypes
from .base import Op, as_variables


def _inner_mismatch(op_name, a, b, ka, kb):
    if ka is not None and kb is not None and ka != kb:
        raise ValueError(f"{op_name}: shapes {_shape_text(a)} and {_shape_text(b)} are not aligned: "
                         f"inner lengths {ka} != {kb} ({a.describe()} and {b.describe()})")


def _shape_text(v):
    return "(" + ", ".join("?" if n is None else str(n) for n in v.type.shape) + ("," if v.ndim == 1 else "") + ")"


def _operand_names(node):
    """Which operands a runtime shape error is about: 'X' and the output of tanh."""
    return " and ".join(f"'{v.name}'" if v.name else f"the output of {v.owner.op}" if v.owner else "a constant"
                        for v in node.inputs)


def _product_dtype(op_name, a, b):
    for v in (a, b):
        if v.type.kind not in "biufc":
            raise TypeError(f"{op_name}: operands must be numeric, got {v.describe()}")
    return promote_dtypes(a.dtype, b.dtype)


class Dot(Op):
    """``np.dot`` of a 1-d or 2-d ``a`` with a 1-d or 2-d ``b``."""
    name = "dot"

    def make_node(self, a, b):
        a, b = as_variables(a, b)
        if a.ndim not in (1, 2) or b.ndim not in (1, 2):
            raise ValueError(f"dot: operands must be 1-d or 2-d, got {a.describe()} and {b.describe()}")
        ka = a.type.shape[-1]
        kb = b.type.shape[0]
        _inner_mismatch("dot", a, b, ka, kb)
        shape = a.type.shape[:-1] + b.type.shape[1:]
        return Node(self, [a, b], [TensorType(_product_dtype("dot", a, b), shape)])

    def perform(self, node, inputs):
        a, b = inputs
        if a.shape[-1] != b.shape[0]:
            raise ValueError(f"dot: shapes {a.shape} and {b.shape} are not aligned "
                             f"(inner lengths {a.shape[-1]} != {b.shape[0]}): {_operand_names(node)}"
                             f"{node.where()}")
        return [np.asarray(np.dot(a, b), dtype=node.outputs[0].dtype)]

    def grad(self, inputs, outputs, output_grads):
        from .elemwise import cast, mul
        (a, b), (gy,) = inputs, output_grads
        if a.ndim == 1 and b.ndim == 1:
            ga, gb = mul(gy, b), mul(gy, a)
        elif a.ndim == 2 and b.ndim == 1:
            ga, gb = outer(gy, b), dot(_swap(a), gy)
        elif a.ndim == 1 and b.ndim == 2:
            ga, gb = dot(b, gy), outer(a, gy)
        else:
            ga, gb = dot(gy, _swap(b)), dot(_swap(a), gy)
        return [cast(ga, a.dtype) if a.type.is_float else None,
                cast(gb, b.dtype) if b.type.is_float else None]


class BatchedMatmul(Op):
    """``np.matmul`` of operands with at least 2 axes; leading (batch) axes broadcast."""
    name = "matmul"

    def make_node(self, a, b):
        a, b = as_variables(a, b)
        if a.ndim < 2 or b.ndim < 2:
            raise ValueError(f"matmul: batched operands need at least 2 axes, got {a.describe()} and {b.describe()}")
        _inner_mismatch("matmul", a, b, a.type.shape[-1], b.type.shape[-2])
        batch = broadcast_shapes(a.type.shape[:-2], b.type.shape[:-2], op_name="matmul (batch axes)",
                                 describe=lambda: f"{a.describe()} and {b.describe()}")
        shape = batch + (a.type.shape[-2], b.type.shape[-1])
        return Node(self, [a, b], [TensorType(_product_dtype("matmul", a, b), shape)])

    def perform(self, node, inputs):
        a, b = inputs
        try:
            result = np.matmul(a, b)
        except ValueError as exc:
            raise ValueError(f"matmul: operands of shapes {a.shape} and {b.shape} do not fit "
                             f"({_operand_names(node)}): {exc}{node.where()}") from None
        return [np.asarray(result, dtype=node.outputs[0].dtype)]

    def grad(self, inputs, outputs, output_grads):
        from .elemwise import cast, mul
        from .reduce import sum_to
        (a, b), (gy,) = inputs, output_grads
        ga = gb = None
        if a.type.is_float:
            ga = cast(sum_to(matmul(gy, _swap(b)), a), a.dtype)
        if b.type.is_float and b.ndim == 2:
            # one matrix shared by the whole batch: the sum over the batch of a[i].T @ gy[i] is one product
            # over all the rows, (rows, k).T @ (rows, n), not a batch of products summed
            from .shape import reshape, shape_tuple
            lengths = shape_tuple(a)
            rows = lengths[0]
            for length in lengths[1:-1]:
                rows = mul(rows, length)          # explicit: a (-1, 0) reshape of an empty array is ambiguous
            rows_a = reshape(a, (rows, lengths[-1]))
            rows_gy = reshape(gy, (rows, shape_tuple(gy)[-1]))
            gb = cast(dot(_swap(rows_a), rows_gy), b.dtype)
        elif b.type.is_float:
            gb = cast(sum_to(matmul(_swap(a), gy), b), b.dtype)
        return [ga, gb]


def _swap(x):
    """``x`` with its last two axes exchanged (the transpose of each matrix in a batch)."""
    from .shape import dimshuffle
    order = list(range(x.ndim))
    order[-2], order[-1] = order[-1], order[-2]
    return dimshuffle(x, order)


def matmul(a, b):
    """``np.matmul(a, b)`` (the ``@`` operator): 1-d operands are promoted to matrices then squeezed."""
    from .shape import dimshuffle, expand_dims
    a, b = as_variables(a, b)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: operands cannot be 0-d (use *), got {a.describe()} and {b.describe()}")
    if a.ndim <= 2 and b.ndim <= 2:
        return Dot()(a, b)
    a2 = expand_dims(a, 0) if a.ndim == 1 else a
    b2 = expand_dims(b, 1) if b.ndim == 1 else b
    if a.ndim == 1:
        _inner_mismatch("matmul", a, b, a.type.shape[0], b.type.shape[-2])
    if b.ndim == 1:
        _inner_mismatch("matmul", a, b, a.type.shape[-1], b.type.shape[0])
    out = BatchedMatmul()(a2, b2)
    keep = list(range(out.ndim))
    if b.ndim == 1:
        keep.remove(out.ndim - 1)
    if a.ndim == 1:
        keep.remove(out.ndim - 2)
    return dimshuffle(out, keep)


def dot(a, b):
    """``np.dot(a, b)``: a 0-d operand multiplies; 1-d and 2-d operands use ``Dot``; otherwise the last
    axis of ``a`` is contracted with the second-to-last of ``b`` (the last, for a 1-d ``b``)."""
    from .elemwise import mul
    a, b = as_variables(a, b)
    if a.ndim == 0 or b.ndim == 0:
        return mul(a, b)
    if a.ndim <= 2 and b.ndim <= 2:
        return Dot()(a, b)
    if b.ndim <= 2:
        return matmul(a, b)
    return _dot_nd(a, b)


def _dot_nd(a, b):
    """np.dot with an n-d ``b``: contract the last axis of ``a`` with the second-to-last of ``b``,
    as one matrix product of ``a`` flattened to (rows, k) and ``b`` moved and flattened to (k, cols)."""
    from .shape import reshape, shape_tuple, transpose
    _inner_mismatch("dot", a, b, a.type.shape[-1], b.type.shape[-2])
    k = shape_tuple(a)[-1]
    b_first = transpose(b, (b.ndim - 2,) + tuple(range(b.ndim - 2)) + (b.ndim - 1,))
    product = Dot()(reshape(a, (-1, k)) if a.ndim != 2 else a, reshape(b_first, (k, -1)))
    return reshape(product, shape_tuple(a)[:-1] + shape_tuple(b)[:-2] + shape_tuple(b)[-1:])


def outer(a, b):
    """``np.outer(a, b)``: operands are flattened, then ``a[:, None] * b[None, :]``."""
    from .elemwise import mul
    from .shape import dimshuffle, reshape
    a, b = as_variables(a, b)
    a = a if a.ndim == 1 else reshape(a, (-1,))
    b = b if b.ndim == 1 else reshape(b, (-1,))
    return mul(dimshuffle(a, (0, "x")), dimshuffle(b, ("x", 0)))
