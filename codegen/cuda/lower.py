"""Lower a Program to a sequence of CUDA steps and run it, keeping shared variables on the device.

Every node gets a step from the lowering table when the function is compiled (an op
without a lowering is an error then, naming the op and the user's line). Values
are device arrays except *host values* (0-d constants and inputs, shapes, and the
small arithmetic on them), which become kernel arguments rather than transfers.
Shared variables live on the device in a ``DeviceCopy`` holder: a training step
copies its inputs in and its outputs out, and the parameters stay where they are;
``get_value()`` copies them back on demand.
"""
from __future__ import annotations

import numpy as np

from symgraph.graph import Constant, toposort
from symgraph.ops.ifelse import lazy_branches

from . import runtime
from .planning import plan_steps
from .runtime import contiguous_copy, is_device_array, to_device, to_host
from .table import LOWERINGS, label, plan_node

class DeviceCopy:
    """The device copy of one shared variable (``shared.device_copies["cuda"]``).

    After a CUDA call updates the variable, the device array is the truth and the host
    value is stale until ``sync_to_host`` (called by ``get_value``) copies it back;
    ``set_value`` calls ``invalidate`` and the next call uploads the new host value.
    """

    def __init__(self):
        self.array = None
        self.host_stale = False

    def device_array(self, shared):
        if self.array is None:
            self.array = to_device(shared._host_value())
        return self.array

    def commit(self, shared, array):
        self.array = array
        self.host_stale = True

    def sync_to_host(self, shared):
        if self.host_stale:
            shared._replace_host_value(to_host(self.array).astype(shared.dtype, copy=False))
            self.host_stale = False

    def invalidate(self, shared):
        self.array = None
        self.host_stale = False


def device_copy(shared) -> DeviceCopy:
    holder = shared.device_copies.get("cuda")
    if holder is None:
        holder = shared.device_copies.setdefault("cuda", DeviceCopy())
    return holder


class CudaExecutor:
    """``run(inputs)`` (used by sg.function: reads and updates shared variables itself) or the generic
    ``executor(input_arrays, shared_arrays) -> host arrays`` contract of every backend."""

    manages_shared = True

    def __init__(self, program):
        self.program = program
        self.return_device_arrays = bool(program.options.get("return_device_arrays", False))
        self.cache_info = None
        self._spare = {}          # (shape, dtype) -> device arrays of the last call, free for reuse
        self.kernel_keys = {}     # the kernels this function has run, in order (filled by calls)
        self.constants = {}       # id(constant) -> its value (host for 0-d, uploaded once otherwise)
        self.host = {id(var) for var in program.inputs if var.ndim == 0}
        self.steps = []
        missing = []
        nodes = toposort(program.outputs)
        # the nodes only one branch of an ifelse needs run when it is chosen (symgraph/ops/ifelse.py)
        deferred, branches = lazy_branches(nodes, program.outputs)
        planned = {}
        # products, reductions and elementwise nodes computed inside the kernel of their one reader (fusion.py)
        steps = plan_steps(nodes, program.outputs, self.host, self._plan)
        for node in nodes:
            step = steps[id(node)]
            if step is None:
                reason = LOWERINGS.reason_unsupported(type(node.op))
                missing.append(label(node) + (f": {reason}" if reason else ""))
            else:
                planned[id(node)] = step
                if id(node) not in deferred:
                    self.steps.append((node, step))
        self.branches = {key: tuple([(n, planned[id(n)]) for n in side if id(n) in planned] for side in sides)
                         for key, sides in branches.items()}
        if missing:
            raise NotImplementedError("backend='cuda' has no lowering for " + "; ".join(missing) +
                                      " (use backend='numba' or 'python' for this function)")
        for var in program.outputs:
            self._add_constant(var)

    def _add_constant(self, var):
        if isinstance(var, Constant) and id(var) not in self.constants:
            if var.ndim == 0:
                self.constants[id(var)] = var.value
                self.host.add(id(var))
            else:
                self.constants[id(var)] = to_device(var.value)

    def _plan(self, node):
        """The step computing ``node`` (None when the op has no lowering); notes its constants and marks
        host-valued outputs."""
        for var in node.inputs:
            self._add_constant(var)
        return plan_node(node, self.host)

    def enable_profile(self, profile):
        """Time every step (one node: its kernel launches, synchronised) into ``profile``."""
        from symgraph.profiling import node_label, timed
        self.steps = [(node, timed(runtime.synchronized(step), profile, node_label(index, node)))
                      for index, (node, step) in enumerate(self.steps)]

    @property
    def source(self):
        """The generated source of every kernel this function has launched so far."""
        return "\n".join(runtime.SOURCES[key] for key in self.kernel_keys if key in runtime.SOURCES)

    # ------------------------------------------------------------ inputs

    def _input_value(self, var, value):
        if is_device_array(value):
            array = runtime.as_numba_device_array(value)
            if array.dtype.name != var.dtype:
                raise TypeError(f"input {var.describe()}: got a device array of dtype {array.dtype}; "
                                f"device arrays are used without a copy, so pass one of dtype {var.dtype}")
            if array.ndim != var.ndim:
                raise TypeError(f"input {var.describe()} expects a {var.ndim}-d value, "
                                f"got a device array of shape {tuple(array.shape)}")
            if not var.type.accepts_shape(tuple(array.shape)):
                raise ValueError(f"input {var.describe()} has static shape {var.type.shape}, "
                                 f"got a device array of shape {tuple(array.shape)}")
            return to_host(array) if id(var) in self.host else array
        array = np.asarray(value, dtype=var.dtype)
        return array if id(var) in self.host else to_device(array)

    # ------------------------------------------------------------ running

    def _evaluate(self, input_values, shared_values, call):
        values = dict(self.constants)
        for var, value in zip(self.program.inputs, input_values):
            values[id(var)] = self._input_value(var, value)
        for var, value in zip(self.program.shared, shared_values):
            values[id(var)] = value
        self._run(self.steps, values, call)
        return [values[id(v)] for v in self.program.outputs]

    def _run(self, steps, values, call):
        for node, step in steps:
            args = [values[id(v)] for v in node.inputs] if id(node) not in self.branches else \
                self._branch_args(node, values, call)
            results = step(args, call)
            for var, result in zip(node.outputs, results):
                values[id(var)] = result

    def _branch_args(self, node, values, call):
        """An ifelse's arguments after running the chosen branch's own steps (the chosen values twice)."""
        condition = values[id(node.inputs[0])]
        condition = condition if isinstance(condition, np.ndarray) else to_host(condition)
        then_steps, else_steps = self.branches[id(node)]
        self._run(then_steps if bool(condition) else else_steps, values, call)
        chosen = [values[id(v)] for v in node.inputs[node.op.choose(condition)]]
        return [condition] + chosen * 2

    def __call__(self, input_values, shared_values):
        results = self._evaluate(input_values, [to_device(np.asarray(s)) for s in shared_values], runtime.Call())
        return [to_host(r) if not isinstance(r, np.ndarray) else r for r in results]

    def run(self, input_values):
        """One call: outputs (host arrays, or device arrays on request); updates committed atomically."""
        from symgraph.function import check_update_shape
        program = self.program
        shared = sorted(program.shared, key=id)
        for s in shared:
            s._lock.acquire()
        # The previous call's arrays that nobody outside this executor holds (taken, so a call
        # running at the same time in another thread gets none of them).
        recycle, self._spare = self._spare, {}
        call = runtime.Call(recycle, used=self.kernel_keys)
        try:
            results = self._evaluate(input_values,
                                     [device_copy(s).device_array(s) for s in program.shared], call)
            n = program.n_outputs
            updates = []
            for target, value in zip(program.updated, results[n:]):
                if isinstance(value, np.ndarray):
                    value = to_device(np.asarray(value, dtype=target.dtype))
                elif not runtime.is_fresh(value, call.token):
                    value = contiguous_copy(call, value)     # never alias an input or another variable's state
                check_update_shape(target, value.shape)
                updates.append((target, value))
            committed = {id(value) for _, value in updates}
            outputs = [self._output(value, call, committed) for value in results[:n]]
            for target, value in updates:             # nothing above raised: commit all at once
                device_copy(target).commit(target, value)
            # Every other array of this call is dead once it returns; kernels still reading them run
            # on the same stream before any kernel of the next call that rewrites them.
            if not runtime.per_thread_default_stream():
                self._spare = runtime.spare_arrays(call.allocated, outputs + [value for _, value in updates])
            return outputs
        finally:
            for s in reversed(shared):
                s._lock.release()

    def _output(self, value, call, committed):
        if self.return_device_arrays:
            if isinstance(value, np.ndarray):
                return to_device(value)
            if runtime.is_fresh(value, call.token) and id(value) not in committed:
                return value
            return contiguous_copy(call, value)     # never hand out an input's or a shared variable's memory
        if isinstance(value, np.ndarray):
            return np.array(value, copy=True)
        return to_host(value)


def load_lowerings():
    """Import the op-family modules, which fill the lowering table."""
    from . import (conv_ops, decomp_ops, draw_ops, elemwise_ops, factor_ops, index_ops, linalg_ops,  # noqa: F401
                   loop_ops, nnet_ops, reduce_ops, shape_ops, sort_ops, spectral_ops)


def compile(program):  # noqa: A001 - the backend interface
    runtime.require_cuda()
    load_lowerings()
    return CudaExecutor(program)


__all__ = ["compile", "CudaExecutor", "DeviceCopy", "load_lowerings"]
