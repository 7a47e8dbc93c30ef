"""A node computed inside the kernel of its one elementwise reader: fewer launches, one pass less over memory.

A 2-d product read only by one elementwise node (a layer's bias and activation, the activation's gradient
mask, a weight update ``w - lr * (x.T @ d)``), or a reduction read only by one (the mean's division, a bias
update ``b - lr * g.sum(0)``), is not stored: its step hands on its arguments (a ``Pending`` value) and the
reader's step runs the product's or the reduction's kernel with the reader's scalar program as its
epilogue: each element of the result, rounded to its dtype as a store would round it, goes to the program,
and the kernel stores the program's outputs. The bits are those of the two kernels apart. When the shapes at
the call do not allow it (the reader broadcasts the value to a larger shape), the reader's step computes
the value with its own step first and runs as before.

Convolutions and their input gradients (the transposed convolution) take their reader's program in the same
way (a layer's bias and activation, the activation's gradient mask).

The other way round, an elementwise node read only by one reduction (``(y * log_p).sum(axis=1)``) is not
stored either (a ``PendingElementwise``): the reduction kernel computes each element it reads with the
node's scalar program (a ``Prologue``). A profile (``sg.function(..., profile=True)``) charges the one
kernel to the reader.
"""
from __future__ import annotations

import math

import numpy as np

from symgraph.ops.elemwise import Elemwise
from symgraph.ops.fused import Fused

from .elemwise import (ElementwiseKernel, broadcast_shape, checks_power, elementwise_body, input_arguments,
                       mask_parameters, missing_scalar_ops)
from .table import device, label, lowering_for


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


def writes_program(node) -> bool:
    """Whether the backend writes ``node``'s scalar program inside another kernel (an ``Elemwise`` or
    ``Fused`` node without scalar ops lacking a formula, raising no integer power error)."""
    if not isinstance(node.op, (Elemwise, Fused)):
        return False
    _, instructions, _ = node.op.scalar_program(node)
    return not missing_scalar_ops(op for op, _, _ in instructions) and not checks_power(instructions)


def elementwise_reader(reader, value) -> bool:
    """Whether ``reader`` can be the epilogue of the kernel computing ``value``: an elementwise node whose
    outputs have ``value``'s ndim."""
    return all(v.ndim == value.ndim for v in reader.outputs) and writes_program(reader)


def fused_readers(nodes, outputs, fuses, accepts=elementwise_reader) -> dict:
    """``id(node) -> reader`` for the nodes where ``fuses(node)`` whose one output only one node reads (and
    the function does not return), where ``accepts(reader, output)``; a reader takes one such node. Ops
    with a lowering that read an input only for its shape (``Op.shape_only_inputs``, the ``sum_to_shape``
    of a gradient) read the ``Pending`` value's ``shape`` and do not count."""
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
        if not accepts(reader, value):
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


class Prologue:
    """The scalar program of a one-output elementwise ``node``, computed where a reduction reads its
    elements (the index ``i0, i1, ...`` of the node's output); ``host`` as for ``Epilogue``."""

    def __init__(self, node, host):
        nin, instructions, outputs = node.op.scalar_program(node)
        self.spec = tuple((v.dtype, v.ndim, id(v) in host and v.ndim == 0) for v in node.inputs)
        self.what = label(node)
        self.ndim = node.outputs[0].ndim
        self.dtype = node.outputs[0].dtype
        self.kernel = ElementwiseKernel(nin, instructions, outputs, self.spec, self.ndim, (self.dtype,),
                                        label=self.what)

    def device_args(self, args):
        return [a if scalar else device(a) for a, (_, _, scalar) in zip(args, self.spec)]

    def shape(self, args):
        """The node's output shape for these arguments (its broadcasting errors)."""
        return self.kernel.output_shape(args)

    def key(self):
        return self.kernel.key

    def parameters(self):
        return [f"pin{k}" for k in range(self.kernel.nin)] + mask_parameters(self.spec, prefix="p")

    def arguments(self, args, shape):
        inputs, masks = input_arguments(args, self.spec, shape)
        return inputs + masks

    def body(self):
        """The lines computing the element and the expression of its value (names start with ``p``)."""
        k = self.kernel
        lines, values = elementwise_body(k.nin, k.instructions, k.outputs, self.spec, self.ndim, k.out_dtypes,
                                         prefix="p", store=False)
        return lines, values[0]


class PendingElementwise(Pending):
    """The (device) arguments of an elementwise node whose one reader, a reduction, computes it."""

    __slots__ = ("prologue", "shape")

    def __init__(self, args, compute, call, prologue):
        super().__init__(prologue.device_args(args), compute, call)
        self.prologue = prologue
        self.shape = prologue.shape(self.args)

    @property
    def ndim(self):
        return self.prologue.ndim

    @property
    def size(self):
        return math.prod(self.shape)

    @property
    def dtype(self):
        return np.dtype(self.prologue.dtype)


def pending_elementwise_step(node, compute, host):
    """The step of an elementwise node whose reduction reader computes it."""
    prologue = Prologue(node, host)

    def step(args, call):
        return [PendingElementwise(args, compute, call, prologue)]
    return step


def realized(value):
    """``value``, computed if it is pending."""
    return value.value() if isinstance(value, Pending) else value


def with_epilogue(source, name, store, indices, epilogue, value):
    """``source`` of a kernel ``name(out, ...)`` with its line ``store`` replaced by ``epilogue``'s program at
    the output index ``indices`` (expressions for ``i0, i1, ...``) fed ``value`` (an expression), its ``out``
    parameter by the reader's outputs and the epilogue's parameters appended."""
    head = f"def {name}(out, "
    lines, replaced = [], 0
    for line in source.split("\n"):
        if line.startswith(head):
            outs = ", ".join(f"out{j}" for j in range(len(epilogue.out_dtypes)))
            rest = line[len(head):line.rindex("):")]
            lines.append(f"def {name}({outs}, {rest}{''.join(', ' + p for p in epilogue.parameters())}):")
            replaced += 1
        elif line.strip() == store:
            pad = line[:len(line) - len(line.lstrip())]
            lines += [f"{pad}i{a} = {index}" for a, index in enumerate(indices)]
            lines += [pad + body_line for body_line in epilogue.body(value)]
            replaced += 1
        else:
            lines.append(line)
    if replaced != 2:
        raise AssertionError(f"symgraph internal error: no store {store!r} in the kernel {name} to fuse into")
    return "\n".join(lines)
