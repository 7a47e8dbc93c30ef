"""Lowering of reductions (``Reduce``, ``SumToShape``) onto the tree-reduction kernels of reduce.py."""
from __future__ import annotations

from symgraph.ops.reduce import Reduce, SumToShape

from .fusion import Epilogue, Pending, realized, writes_program
from .reduce import reduce_rows, reduce_rows_into, reduce_rows_over
from .table import device, label, register


def reduction_plan(node):
    """``plan(args) -> (x, axes, shape)``: the device array the node reduces, the axes and the result's
    shape; None where the node's own step has more to do (raise an error, or nothing to sum)."""
    op = node.op
    if isinstance(op, Reduce):
        def plan(args):
            x = device(args[0])
            if op.kind in ("max", "min") and x.size == 0:
                return None
            if op.keepdims:
                return x, op.axis, tuple(1 if a in op.axis else n for a, n in enumerate(x.shape))
            return x, op.axis, tuple(n for a, n in enumerate(x.shape) if a not in op.axis)
        return plan

    def plan(args):                      # SumToShape
        g, shape = device(args[0]), tuple(args[1].shape)
        lead = g.ndim - len(shape)
        if lead < 0 or any(n != 1 and g.shape[lead + i] != n for i, n in enumerate(shape)):
            return None
        axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape) if n == 1 and g.shape[lead + i] != 1)
        return (g, axes, shape) if axes else None
    return plan


@register(Reduce)
def lower_reduce(node, host):
    op = node.op
    out_dtype = node.outputs[0].dtype
    plan = reduction_plan(node)

    def step(args, call):
        planned = plan(args)
        if planned is None:
            x = device(args[0])
            raise ValueError(f"{op.kind}: zero-size input of shape {tuple(x.shape)} has no {op.kind}"
                             f"{node.where()}")
        x, axes, shape = planned
        return [reduce_rows(call, op.kind, x, axes, out_dtype, shape)]
    return step


@register(SumToShape)
def lower_sum_to_shape(node, host):
    out_dtype = node.outputs[0].dtype
    plan = reduction_plan(node)

    def step(args, call):
        planned = plan(args)
        if planned is not None:
            g, axes, shape = planned
            return [reduce_rows(call, "sum", g, axes, out_dtype, shape)]
        g, shape = device(args[0]), tuple(args[1].shape)
        if tuple(g.shape) != shape:
            raise ValueError(f"{label(node)}: cannot sum shape {tuple(g.shape)} to {shape}")
        if g.dtype.name == out_dtype:
            # nothing to sum (the gradient of a sum whose operands had the same shape): the value itself, as a
            # sum of one term each would give the same bits (values are never written after their step)
            return [realized(g)]
        return [reduce_rows(call, "sum", g, (), out_dtype, shape)]
    return step


# ---------------------------------------------------------------- a reduction and its elementwise reader

class PendingReduction(Pending):
    """A reduction not computed yet (see fusion.py); ``plan`` as ``reduction_plan``'s."""

    __slots__ = ("plan",)

    def __init__(self, args, compute, call, plan):
        super().__init__(args, compute, call)
        self.plan = plan

    @property
    def shape(self):
        planned = self.plan(self.args)
        return planned[2] if planned is not None else tuple(self.value().shape)

    @property
    def ndim(self):
        return len(self.shape)


def fuses_into_reader(node) -> bool:
    """Whether ``node`` is a reduction its elementwise reader may compute."""
    return isinstance(node.op, (Reduce, SumToShape))


def fuses_into_reduction(node) -> bool:
    """Whether ``node`` is an elementwise node (one output, at least 1-d) its reduction reader may compute."""
    return len(node.outputs) == 1 and node.outputs[0].ndim > 0 and writes_program(node)


def reduction_reader(reader, value) -> bool:
    """Whether ``reader`` is a reduction reading ``value`` as the array it reduces (a ``sum_to_shape`` may
    also read its shape: the pending value has one)."""
    return isinstance(reader.op, (Reduce, SumToShape)) and reader.inputs[0] is value


def pending_value_step(node, compute):
    """The step of a reduction its reader computes (fusion.py)."""
    plan = reduction_plan(node)

    def step(args, call):
        return [PendingReduction(args, compute, call, plan)]
    return step


def lower_with_reader(reader, reduction_node, host, unfused):
    """The step of ``reader`` computing ``reduction_node`` in the same kernel (fusion.py); ``unfused`` is the
    reader's own step."""
    epilogue = Epilogue(reader, reduction_node.outputs[0], host)
    kind = reduction_node.op.kind if isinstance(reduction_node.op, Reduce) else "sum"
    out_dtype = reduction_node.outputs[0].dtype

    keepdims = isinstance(reduction_node.op, Reduce) and reduction_node.op.keepdims

    def step(args, call):
        pending = epilogue.pending(args)
        planned = pending.plan(pending.args)
        if planned is not None and epilogue.fits(args, planned[2]):
            x, axes, shape = planned
            return reduce_rows_into(call, kind, x, axes, out_dtype, epilogue, shape, *epilogue.arguments(args, shape))
        if planned is not None and keepdims and planned[0].ndim and epilogue.fits(args, planned[0].shape):
            # the reader broadcasts the result back over the reduced rows (a softmax's gradient): one kernel
            x, axes, _ = planned
            outs = reduce_rows_over(call, kind, x, axes, out_dtype, epilogue,
                                    *epilogue.arguments(args, tuple(x.shape)))
            if outs is not None:
                return outs
        return epilogue.unfused(unfused, args, call)
    return step
