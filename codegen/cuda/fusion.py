"""A node computed inside the kernel of its one elementwise reader: fewer launches, one pass less over memory.

A 2-d product read only by one elementwise node (a layer's bias and activation, the activation's gradient
mask, a weight update ``w - lr * (x.T @ d)``), or a reduction read only by one (the mean's division, a bias
update ``b - lr * g.sum(0)``), is not stored: its step hands on its arguments (a ``Pending`` value) and the
reader's step runs the product's or the reduction's kernel with the reader's scalar program as its
epilogue: each element of the result, rounded to its dtype as a store would round it, goes to the program,
and the kernel stores the program's outputs. The bits are those of the two kernels apart. When the shapes at
the call do not allow it (the reader broadcasts the value to a larger shape), the reader's step computes
the value with its own step first and runs as before.
"""
from __future__ import annotations

from symgraph.ops.elemwise import Elemwise
from symgraph.ops.fused import Fused

from .elemwise import (ElementwiseKernel, broadcast_shape, checks_power, elementwise_body, input_arguments,
                       mask_parameters, missing_scalar_ops)
from .table import label, lowering_for


class Pending:
    """The arguments of a node whose reader computes it; ``value()`` computes it with its own step."""

    __slots__ = ("args", "compute", "call")

    def __init__(self, args, compute, call):
        self.args, self.compute, self.call = args, compute, call

    def value(self):
        return self.compute(self.args, self.call)[0]


def pending_step(kind, compute):
    """The step of a node whose reader computes it: a ``kind`` (a ``Pending`` class) of its arguments and
    its own step ``compute``."""
    def step(args, call):
        return [kind(args, compute, call)]
    return step


def fused_readers(nodes, outputs, fuses) -> dict:
    """``id(node) -> reader`` for the nodes where ``fuses(node)`` whose one output only one elementwise node
    reads (and the function does not return), that reader's outputs having the node's ndim and its scalar
    program one the backend writes; a reader takes one such node. Ops with a lowering that read an input
    only for its shape (``Op.shape_only_inputs``, the ``sum_to_shape`` of a gradient) read the
    ``Pending`` value's ``shape`` and do not count."""
    readers = {}
    for node in nodes:
        shape_only = getattr(node.op, "shape_only_inputs", ()) if lowering_for(node.op) is not None else ()
        for position, var in enumerate(node.inputs):
            if position not in shape_only:
                readers.setdefault(id(var), {})[id(node)] = node
    returned = {id(v) for v in outputs}
    pairs, taken = {}, set()
    for node in nodes:
        if len(node.outputs) != 1 or not fuses(node):
            continue
        value = node.outputs[0]
        users = list(readers.get(id(value), {}).values())
        if id(value) in returned or len(users) != 1 or id(users[0]) in taken:
            continue
        reader = users[0]
        if not isinstance(reader.op, (Elemwise, Fused)) or any(v.ndim != value.ndim for v in reader.outputs):
            continue
        _, instructions, _ = reader.op.scalar_program(reader)
        if missing_scalar_ops(op for op, _, _ in instructions) or checks_power(instructions):
            continue
        pairs[id(node)] = reader
        taken.add(id(reader))
    return pairs


class Epilogue:
    """The scalar program of ``reader`` inside the kernel computing ``value`` (one of its inputs);
    ``host``: the ids of the host values (0-d host inputs are kernel arguments)."""

    def __init__(self, reader, value, host):
        nin, instructions, outputs = reader.op.scalar_program(reader)
        spec = tuple((v.dtype, v.ndim, id(v) in host and v.ndim == 0) for v in reader.inputs)
        self.what = label(reader)
        self.ndim = reader.outputs[0].ndim
        self.out_dtypes = tuple(o.dtype for o in reader.outputs)
        self.kernel = ElementwiseKernel(nin, instructions, outputs, spec, self.ndim, self.out_dtypes,
                                        label=self.what)
        self.given = tuple(k for k, v in enumerate(reader.inputs) if v is value)

    def pending(self, args) -> Pending:
        return args[self.given[0]]

    def fits(self, args, shape) -> bool:
        """Whether the reader's other inputs broadcast to ``shape`` (the pending value's) without enlarging it."""
        shape = tuple(shape)
        shapes = [tuple(v.shape) for k, (v, (_, _, scalar)) in enumerate(zip(args, self.kernel.input_spec))
                  if k not in self.given and not scalar]
        try:
            return broadcast_shape(shapes + [shape], self.what) == shape
        except ValueError:
            return False

    def unfused(self, step, args, call):
        """The reader's own ``step``, after the pending value's own step (which raises its errors)."""
        value = self.pending(args).value()
        return step([value if k in self.given else v for k, v in enumerate(args)], call)

    def arguments(self, args, shape):
        """The kernel arguments of the other inputs and their masks, for outputs of ``shape``."""
        return input_arguments(args, self.kernel.input_spec, tuple(shape), self.given)

    def key(self):
        return (self.kernel.key, self.given)

    def parameters(self):
        """The kernel parameters the epilogue adds: its other inputs, then their broadcast masks."""
        ins = [f"in{k}" for k in range(self.kernel.nin) if k not in self.given]
        return ins + mask_parameters(self.kernel.input_spec, self.given)

    def body(self, value):
        """Lines computing the outputs ``out<j>[i0, i1, ...]`` from ``value`` (an expression) at the index
        ``i0, i1, ...`` (set by the caller)."""
        k = self.kernel
        return elementwise_body(k.nin, k.instructions, k.outputs, k.input_spec, self.ndim, k.out_dtypes,
                                given={i: value for i in self.given})
