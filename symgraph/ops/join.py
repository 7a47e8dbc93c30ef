"""Joining tensors: ``Join`` (np.concatenate along one axis) and ``stack`` (expand_dims + Join).

Operands are cast to their common NumPy dtype before the ``Join`` node, so the op itself sees one
dtype. Its gradient slices the output gradient back into the pieces with ``Subtensor``.
"""
from __future__ import annotations

import numpy as np

from ..graph import Constant, Node
from ..types import TensorType
from .base import Op, as_variables


def _shapes_text(tensors):
    return ", ".join(v.describe() for v in tensors)


class Join(Op):
    """Concatenate inputs of one dtype and ndim along ``axis``."""
    __props__ = ("axis",)
    name = "concatenate"

    def __init__(self, axis):
        self.axis = int(axis)

    def make_node(self, *tensors):
        tensors = as_variables(*tensors)
        if not tensors:
            raise ValueError("concatenate: needs at least one array")
        ndim, dtype = tensors[0].ndim, tensors[0].dtype
        if ndim == 0:
            raise ValueError(f"concatenate: zero-dimensional arrays cannot be concatenated ({_shapes_text(tensors)})")
        if any(v.ndim != ndim for v in tensors):
            raise ValueError(f"concatenate: all inputs must have the same number of dimensions, got "
                             f"{_shapes_text(tensors)}")
        if any(v.dtype != dtype for v in tensors):
            raise TypeError(f"concatenate: inputs must share one dtype (sg.concatenate casts them), got "
                            f"{_shapes_text(tensors)}")
        if not 0 <= self.axis < ndim:
            raise ValueError(f"concatenate: axis {self.axis} is out of range for {_shapes_text(tensors)}")
        shape = []
        for axis in range(ndim):
            lengths = [v.type.shape[axis] for v in tensors]
            if axis == self.axis:
                shape.append(None if None in lengths else sum(lengths))
                continue
            known = {n for n in lengths if n is not None}
            if len(known) > 1:
                raise ValueError(f"concatenate: the inputs' lengths on axis {axis} differ ({sorted(known)}) "
                                 f"when joining along axis {self.axis}: {_shapes_text(tensors)}")
            shape.append(known.pop() if known else None)
        return Node(self, tensors, [TensorType(dtype, shape)])

    def perform(self, node, inputs):
        if inputs and all(a.ndim == inputs[0].ndim > self.axis for a in inputs):
            from .shape import check_size       # NumPy's own sum of lengths wraps (and then crashes)
            shape = list(inputs[0].shape)
            shape[self.axis] = sum(int(a.shape[self.axis]) for a in inputs)
            check_size(shape, node.outputs[0].dtype, f"concatenate{node.where()}")
        try:
            out = np.concatenate(inputs, axis=self.axis)
        except ValueError:
            shapes = ", ".join(str(a.shape) for a in inputs)
            raise ValueError(f"concatenate: arrays of shapes {shapes} cannot be joined along axis "
                             f"{self.axis}{node.where()}") from None
        return [np.asarray(out, dtype=node.outputs[0].dtype)]

    def grad(self, inputs, outputs, output_grads):
        from .elemwise import add
        from .index import getitem
        from .shape import shape_of
        (g,) = output_grads
        grads, start = [], 0
        for v in inputs:
            length = shape_of(v, self.axis)
            if isinstance(length, Constant) and not hasattr(start, "owner"):
                stop = start + int(length.value)
            else:
                stop = add(start, length)
            if v.type.is_float:
                grads.append(getitem(g, (slice(None),) * self.axis + (slice(start, stop),)))
            else:
                grads.append(None)
            start = stop
        return grads


def concatenate(tensors, axis=0):
    """``np.concatenate(tensors, axis)``; Python numbers and arrays in the list become constants."""
    from .elemwise import cast
    if not isinstance(tensors, (list, tuple)):
        raise TypeError(f"concatenate: expected a list of arrays, got {type(tensors).__name__}")
    tensors = as_variables(*tensors)
    if not tensors:
        raise ValueError("concatenate: needs at least one array")
    dtype = np.result_type(*[np.dtype(v.dtype) for v in tensors]).name
    tensors = [cast(v, dtype) for v in tensors]
    ndim = tensors[0].ndim
    if not isinstance(axis, (int, np.integer)):
        raise TypeError(f"concatenate: axis must be an int, got {axis!r}")
    if ndim and -ndim <= axis < ndim:
        axis = int(axis) % ndim
    elif ndim:
        raise ValueError(f"concatenate: axis {axis} is out of range for {_shapes_text(tensors)}")
    if len(tensors) == 1 and ndim:
        return tensors[0]
    return Join(axis)(*tensors)


def stack(tensors, axis=0):
    """``np.stack(tensors, axis)``: the inputs (same shape) joined along a new axis."""
    from .shape import expand_dims
    if not isinstance(tensors, (list, tuple)):
        raise TypeError(f"stack: expected a list of arrays, got {type(tensors).__name__}")
    tensors = as_variables(*tensors)
    if not tensors:
        raise ValueError("stack: needs at least one array")
    ndim = tensors[0].ndim
    if any(v.ndim != ndim for v in tensors):
        raise ValueError(f"stack: all inputs must have the same shape, got {_shapes_text(tensors)}")
    if not isinstance(axis, (int, np.integer)) or not -(ndim + 1) <= axis <= ndim:
        raise ValueError(f"stack: axis {axis!r} is out of range for {ndim + 1}-d output")
    axis = int(axis) % (ndim + 1)
    expanded = [expand_dims(v, axis) for v in tensors]
    dtype = np.result_type(*[np.dtype(v.dtype) for v in tensors]).name
    if len(expanded) == 1:
        from .elemwise import cast
        return cast(expanded[0], dtype)
    return concatenate(expanded, axis)
