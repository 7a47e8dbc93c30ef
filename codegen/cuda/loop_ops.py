"""Lowering of control flow: ``IfElse`` (the executor, lower.py, runs only the chosen branch's steps) and
``Scan`` (symgraph/ops/scan.py): a host loop running the step's inner graph as steps of
its own (each inner node lowered by the table like any node), on device arrays.

Each recurrent output has a device buffer (its ``L`` initial rows, then one row per step); the step reads
the current slice of each sequence and its taps as views, and its new value is copied into row ``L + t``
on the device. Values of 0-d inner variables are host values, as in the outer program. An ``until``
condition is read back to the host after each step (one transfer per step).
"""
from __future__ import annotations

import numpy as np

from symgraph.graph import Constant, toposort
from symgraph.ops.ifelse import IfElse
from symgraph.ops.scan import Scan

from .elemwise import copy_into
from .runtime import host_int, is_c_contiguous, to_device, to_host
from .planning import plan_steps
from .table import device, label, plan_node, register


def _row(array, index):
    """Row ``index`` of a device (or host) array: a view, or a host scalar of a 1-d array."""
    if array.ndim == 1:
        value = array[index:index + 1]
        return to_host(value).reshape(()) if not isinstance(value, np.ndarray) else value.reshape(())
    return array[index]


def _store(call, buffer, index, value):
    """``buffer[index] = value`` on the device, broadcasting as NumPy's assignment does (an initial value may
    hold a length-1 axis where the state has more); ``value``: a device array, a host array or scalar.
    (numba-cuda's ``copy_to_device`` does not broadcast on a real GPU, though the simulator's does.)"""
    target = buffer[index:index + 1] if buffer.ndim == 1 else buffer[index]
    if isinstance(value, np.ndarray) or np.isscalar(value):
        host = np.broadcast_to(np.asarray(value, dtype=buffer.dtype), target.shape)
        target.copy_to_device(np.ascontiguousarray(host))
    elif tuple(value.shape) == tuple(target.shape) and value.dtype == buffer.dtype and is_c_contiguous(value):
        target.copy_to_device(value)
    else:
        copy_into(call, target, value)


@register(Scan)
def lower_scan(node, host):
    op = node.op
    inner_nodes = toposort(op.inner_outputs)
    inner_host = {id(v) for v in op.inner_inputs if v.ndim == 0}
    constants = {}

    def plan(inner):
        for var in inner.inputs:
            if isinstance(var, Constant) and id(var) not in constants:
                constants[id(var)] = var.value if var.ndim == 0 else to_device(var.value)
                if var.ndim == 0:
                    inner_host.add(id(var))
        return plan_node(inner, inner_host)

    # (products and reductions computed in their reader's kernel, as in a function's graph: planning.py)
    planned = plan_steps(inner_nodes, op.inner_outputs, inner_host, plan)
    steps = []
    for inner in inner_nodes:
        if planned[id(inner)] is None:
            raise NotImplementedError(f"backend='cuda' has no lowering for {label(inner)} "
                                      f"(in the step of {label(node)})")
        steps.append((inner, planned[id(inner)]))
    lags = op.lags()
    state_dtypes = [out.dtype for out in node.outputs[:op.n_states]]
    free_dtypes = [out.dtype for out in node.outputs[op.n_states:]]

    def run_step(values, call):
        known = dict(constants)
        known.update((id(v), x) for v, x in zip(op.inner_inputs, values))
        for inner, step in steps:
            for var, result in zip(inner.outputs, step([known[id(v)] for v in inner.inputs], call)):
                known[id(var)] = result
        return [known[id(v)] if id(v) in known else v.value for v in op.inner_outputs]

    def step(args, call):
        n = host_int(args[0], f"{label(node)}: n_steps")
        seqs = [device(a) for a in args[1:1 + op.n_seqs]]
        inits = [device(a) for a in args[1 + op.n_seqs:1 + op.n_seqs + op.n_states]]
        non_seqs = [to_host(a) if getattr(a, "ndim", 1) == 0 else a for a in args[1 + op.n_seqs + op.n_states:]]
        if n < 0:
            raise ValueError(f"{label(node)}: n_steps must be >= 0, got {n}")
        for i, seq in enumerate(seqs):
            if seq.shape[0] < n:
                raise ValueError(f"{label(node)}: sequence {i} has {seq.shape[0]} entries, fewer than the {n} steps")
        buffers = []
        for k, (init, lag) in enumerate(zip(inits, lags)):
            if init.shape[0] != lag:
                raise ValueError(f"{label(node)}: the initial value of recurrent output {k} has {init.shape[0]} "
                                 f"rows for taps {list(op.taps[k])}, which need {lag}")
            buffer = call.empty((lag + n,) + tuple(init.shape[1:]), state_dtypes[k])
            for row in range(lag):
                _store(call, buffer, row, _row(init, row))
            buffers.append(buffer)
        free = [None] * op.n_free
        ran = n
        for t in range(n):
            values = [_row(seq, n - 1 - t if op.reverse else t) for seq in seqs]
            for buffer, lag, taps in zip(buffers, lags, op.taps):
                values += [_row(buffer, lag + t + tap) for tap in taps]
            values += non_seqs
            results = run_step(values, call)
            for k, (buffer, lag) in enumerate(zip(buffers, lags)):
                if tuple(np.shape(results[k])) != tuple(buffer.shape[1:]):
                    raise ValueError(f"{label(node)}: step {t} gave recurrent output {k} the shape "
                                     f"{tuple(np.shape(results[k]))}, but its state has shape {tuple(buffer.shape[1:])}")
                _store(call, buffer, lag + t, results[k])
            for j in range(op.n_free):
                value = results[op.n_states + j]
                if free[j] is None:
                    free[j] = call.empty((n,) + tuple(np.shape(value)), free_dtypes[j])
                elif tuple(np.shape(value)) != tuple(free[j].shape[1:]):
                    raise ValueError(f"{label(node)}: output {op.n_states + j} changed its shape between steps")
                _store(call, free[j], t, value)
            if op.has_until and bool(to_host(results[-1]) if not isinstance(results[-1], np.ndarray)
                                     else results[-1]):
                ran = t + 1
                break
        outputs = []
        for k, (buffer, lag) in enumerate(zip(buffers, lags)):
            outputs.append(_row(buffer, lag + ran - 1) if op.keep_last[k] else buffer[lag:lag + ran])
        for j, array in enumerate(free):
            if array is None:
                inner = op.inner_outputs[op.n_states + j].type.shape
                array = to_device(np.zeros((0,) + tuple(0 if m is None else m for m in inner), free_dtypes[j]))
            outputs.append(array[:ran])
        return outputs
    return step


@register(IfElse)
def lower_ifelse(node, host):
    """The chosen values (the executor runs only the chosen branch's own steps first: lower.py)."""
    op = node.op

    def step(args, call):
        condition = args[0] if isinstance(args[0], np.ndarray) else to_host(args[0])
        return list(args[op.choose(condition)])
    return step
