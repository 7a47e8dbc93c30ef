"""``sg.function``: optimize a graph, hand it to a backend, and run it with checked inputs and atomic updates.

The backend sees a ``Program`` (inputs, shared variables, outputs followed by the
update expressions) and returns an executor ``run(input_arrays, shared_arrays) ->
output_arrays``. This module owns what every backend shares: argument parsing,
validation and casting of values, and committing updates only after everything
was computed, so a call that raises leaves every shared variable as it was.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from .graph import (Constant, SharedVariable, Variable, graph_inputs, graph_to_table, table_to_graph,
                    toposort)
from .types import checked_cast, safe_cast_allowed

# SYMGRAPH_BACKEND lets a user (or a test run) pick the default backend for every sg.function call.
DEFAULT_BACKEND = os.environ.get("SYMGRAPH_BACKEND", "numba")


@dataclass
class Program:
    """What a backend compiles: ``outputs[:n_outputs]`` are returned, the rest are update values."""
    inputs: list
    shared: list
    outputs: list
    n_outputs: int
    updated: list                      # the shared variables receiving outputs[n_outputs:], in order
    options: dict = field(default_factory=dict)

    @property
    def nodes(self):
        return toposort(self.outputs)


class CompiledGraph:
    """The optimized graph of a compiled function: ``inputs``, ``outputs``, ``updates`` and ``nodes``."""

    def __init__(self, program: Program):
        self._program = program
        self.inputs = program.inputs
        self.outputs = program.outputs[:program.n_outputs]
        self.updates = list(zip(program.updated, program.outputs[program.n_outputs:]))

    @property
    def nodes(self):
        return self._program.nodes

    @property
    def variables(self):
        return self._program.outputs

    def dprint(self, **kwargs):
        from .printing import dprint
        return dprint(self, **kwargs)

    def __repr__(self):
        return self.dprint()


def _as_list(outputs):
    if isinstance(outputs, (list, tuple)):
        return list(outputs), True
    return [outputs], False


def _normalize_updates(updates):
    if updates is None:
        return []
    pairs = list(updates.items()) if isinstance(updates, dict) else list(updates)
    result, seen = [], set()
    for pair in pairs:
        try:
            target, expr = pair
        except (TypeError, ValueError):
            raise TypeError(f"updates must be (shared_variable, expression) pairs, got {pair!r}") from None
        if not isinstance(target, SharedVariable):
            label = target.describe() if isinstance(target, Variable) else repr(target)
            raise TypeError(f"update target {label} is not a shared variable (sg.shared)")
        if id(target) in seen:
            raise ValueError(f"shared variable {target.describe()} is updated twice")
        seen.add(id(target))
        from .ops.base import as_variable
        expr = as_variable(expr, like=target.dtype)
        if expr.ndim != target.ndim:
            raise TypeError(f"update of {target.describe()}: the new value {expr.describe()} has "
                            f"{expr.ndim} dimensions, the shared variable {target.ndim}")
        if expr.dtype != target.dtype:
            if not (isinstance(expr, Constant) and safe_cast_allowed(expr.dtype, target.dtype)):
                raise TypeError(f"update of {target.describe()}: the new value {expr.describe()} has dtype "
                                f"{expr.dtype}; cast it with sg.cast(expr, '{target.dtype}')")
            from .ops.elemwise import cast
            expr = cast(expr, target.dtype)
        if not target.type.is_compatible(expr.type):
            raise ValueError(f"update of {target.describe()}: the new value {expr.describe()} "
                             "cannot have the shared variable's shape")
        result.append((target, expr))
    return result


class Function:
    """A compiled function. Call it with values for its inputs (positional or by name)."""

    def __init__(self, inputs, outputs, updates=None, backend=None, optimizer="fast_run",
                 trust_input=False, name=None, rewrite_log=False, **backend_options):
        import time
        start = time.perf_counter()
        # Kept so a pickled function can be compiled again when it is loaded (see __getstate__).
        self._options = dict(backend_options, optimizer=optimizer, trust_input=trust_input, name=name,
                             rewrite_log=rewrite_log)
        if isinstance(inputs, Variable):
            inputs = [inputs]
        inputs = list(inputs)
        for v in inputs:
            if not isinstance(v, Variable):
                raise TypeError(f"function inputs must be symbolic variables, got {type(v).__name__} {v!r}")
            if isinstance(v, (Constant, SharedVariable)):
                raise TypeError(f"{v.describe()} is a {'constant' if isinstance(v, Constant) else 'shared variable'}"
                                " and cannot be a function input")
            if v.owner is not None:
                raise TypeError(f"function input {v.describe()} is computed by {v.owner.op}{v.owner.where()}; "
                                "inputs must be variables made by sg.scalar/vector/matrix/tensor")
        if len({id(v) for v in inputs}) != len(inputs):
            raise ValueError("the same variable is listed twice among the function inputs")
        names = [v.name for v in inputs if v.name]
        self._input_names = {v.name: i for i, v in enumerate(inputs) if v.name and names.count(v.name) == 1}

        output_list, self._returns_list = _as_list(outputs)
        from .ops.base import as_variable
        output_list = [as_variable(o) for o in output_list]
        update_pairs = _normalize_updates(updates)

        everything = output_list + [expr for _, expr in update_pairs]
        input_ids = {id(v) for v in inputs}
        for leaf in graph_inputs(everything):
            if isinstance(leaf, (Constant, SharedVariable)) or id(leaf) in input_ids:
                continue
            raise ValueError(f"the outputs depend on input {leaf.describe()}, which is not among the "
                             f"function's inputs {[v.name or repr(v) for v in inputs]}")

        self.rewrite_log = None
        if optimizer:
            from .rewrite import optimize_graph
            everything, self.rewrite_log = optimize_graph(everything, mode=optimizer, inputs=inputs)
        shared = [v for v in graph_inputs(everything) if isinstance(v, SharedVariable)]
        updated = [target for target, _ in update_pairs]
        for target in updated:
            if target not in shared:
                shared.append(target)
        self.program = Program(inputs, shared, everything, len(output_list), updated,
                               dict(backend_options, trust_input=trust_input))
        self.graph = CompiledGraph(self.program)
        self.inputs, self.outputs = inputs, output_list
        self.updates = update_pairs
        self.name = name
        self.trust_input = trust_input
        self.optimize_seconds = time.perf_counter() - start

        from codegen import get_backend
        self.backend = backend or os.environ.get("SYMGRAPH_BACKEND", DEFAULT_BACKEND)
        self._executor = get_backend(self.backend).compile(self.program)
        self._lock = state_lock(shared)
        # A backend may offer a specialised checked entry (the numba backend's fast call path).
        make_entry = getattr(self._executor, "make_entry", None)
        self._entry = make_entry(self) if make_entry is not None else None
        self.compile_seconds = time.perf_counter() - start

    # ------------------------------------------------------------ calling

    @property
    def __call__(self):
        # Calling f looks __call__ up on the class, and this property hands back the backend's
        # specialised entry itself: one Python frame per call instead of two (W2 call overhead).
        return self._entry if self._entry is not None else self._call

    def _call(self, *args, **kwargs):
        values = self._bind(args, kwargs)
        if not self.trust_input:
            values = [check_value(v, var) for v, var in zip(values, self.inputs)]
        if getattr(self._executor, "manages_shared", False):
            # The backend reads and updates shared variables itself (CUDA keeps them on the device).
            if self._lock is None:
                outputs = self._executor.run(values)
            else:
                with self._lock:
                    outputs = self._executor.run(values)
            return outputs if self._returns_list else outputs[0]
        # get_value(borrow=True): a value another backend updated on a device is copied back first.
        if self._lock is None:
            results = self._executor(values, [])
            return self._finish(results, values)
        with self._lock:
            results = self._executor(values, [s.get_value(borrow=True) for s in self.program.shared])
            n = self.program.n_outputs
            commit_updates(self.program.updated, results[n:], owned={id(v) for v in values})
            return self._finish(results, values)

    def _bind(self, args, kwargs):
        n = len(self.inputs)
        if not kwargs and len(args) == n:
            return list(args)
        if len(args) > n:
            raise TypeError(f"{self._label()} takes {n} argument(s) "
                            f"({', '.join(v.name or '?' for v in self.inputs)}), got {len(args)}")
        values = list(args) + [_MISSING] * (n - len(args))
        for key, value in kwargs.items():
            if key not in self._input_names:
                raise TypeError(f"{self._label()} got an unexpected keyword argument '{key}'; "
                                f"its inputs are {[v.name for v in self.inputs]}")
            i = self._input_names[key]
            if values[i] is not _MISSING:
                raise TypeError(f"{self._label()} got two values for input '{key}'")
            values[i] = value
        missing = [self.inputs[i].describe() for i, v in enumerate(values) if v is _MISSING]
        if missing:
            raise TypeError(f"{self._label()} is missing a value for input {', '.join(missing)}")
        return values

    def _finish(self, results, values):
        n = self.program.n_outputs
        outputs = results[:n]
        # Never hand back an array the caller (or a shared variable) owns.
        owned = {id(v) for v in values}
        owned.update(id(s._host_value()) for s in self.program.shared)
        # Constants folded into outputs are read-only: the caller gets a writable copy of those too.
        outputs = [np.array(o, copy=True) if id(o) in owned or not isinstance(o, np.ndarray) or
                   not o.flags.writeable or
                   not o.flags.owndata and o.base is not None and id(o.base) in owned else o
                   for o in outputs]
        return outputs if self._returns_list else outputs[0]

    # ------------------------------------------------------------ pickling

    def __getstate__(self):
        """The original inputs, outputs, updates and options; the function is compiled again on load."""
        targets = [target for target, _ in self.updates]
        roots = self.inputs + self.outputs + [expr for _, expr in self.updates]
        return {"graph": graph_to_table(roots), "n_inputs": len(self.inputs), "n_outputs": len(self.outputs),
                "targets": targets, "returns_list": self._returns_list,
                "options": dict(self._options, backend=self.backend)}

    def __setstate__(self, state):
        variables = table_to_graph(state["graph"])
        n_in, n_out = state["n_inputs"], state["n_outputs"]
        inputs, outputs, exprs = variables[:n_in], variables[n_in:n_in + n_out], variables[n_in + n_out:]
        self.__init__(inputs, outputs if state["returns_list"] else outputs[0],
                      updates=list(zip(state["targets"], exprs)), **state["options"])

    def _label(self):
        return f"function {self.name!r}" if self.name else "the compiled function"

    # ------------------------------------------------------------ inspection

    def dprint(self, **kwargs):
        from .printing import dprint
        return dprint(self, **kwargs)

    @property
    def source(self):
        return getattr(self._executor, "source", None)

    @property
    def cache_info(self):
        return getattr(self._executor, "cache_info", None)


_MISSING = object()


def check_value(value, var: Variable):
    """``value`` as an array of ``var``'s dtype, or a TypeError/ValueError naming ``var``."""
    if isinstance(value, Variable):
        raise TypeError(f"input {var.describe()} got a symbolic variable {value.describe()}; "
                        "pass a NumPy array or a number")
    if type(value) is np.ndarray and value.dtype.name == var.type.dtype and value.dtype.isnative:
        array = value
    else:
        if (hasattr(value, "__cuda_array_interface__") or getattr(type(value), "__cuda_ndarray__", False)) \
                and not isinstance(value, np.ndarray):
            return value  # device arrays are checked by the CUDA backend
        array = checked_cast(value, var.type.dtype, f"input {var.describe()}")
    if array.ndim != var.type.ndim:
        raise TypeError(f"input {var.describe()} expects a {var.type.ndim}-d value, got shape {array.shape}")
    for axis, (want, got) in enumerate(zip(var.type.shape, array.shape)):
        if want is not None and want != got:
            raise ValueError(f"input {var.describe()} has static length {want} on axis {axis}, "
                             f"got shape {array.shape}")
    return array


def commit_updates(targets, values, owned=()):
    """Assign all new values at once (after every one of them was computed and checked).

    Each value must fit its shared variable's static shape; one that does not is a ValueError
    naming the variable, raised before anything is assigned, so the call commits nothing (as
    ``set_value`` refuses such a value). A value that is one of the caller's arrays, or that is
    read-only (a folded constant, a broadcast view), is copied, so the caller cannot change the
    state later and every backend can read it.
    """
    arrays = []
    for target, value in zip(targets, values):
        array = np.asarray(value, dtype=target.dtype)
        check_update_shape(target, array.shape)
        if id(value) in owned or not array.flags.writeable:
            array = np.array(array, copy=True)
        arrays.append(array)
    for target, array in zip(targets, arrays):
        target._replace_host_value(array)
        for holder in target.device_copies.values():
            holder.invalidate(target)


def check_update_shape(target, shape):
    """ValueError naming ``target`` when an update's new value of ``shape`` breaks its static shape."""
    if not target.type.accepts_shape(tuple(shape)):
        raise ValueError(f"update of shared variable {target.describe()}: the new value has shape "
                         f"{tuple(shape)}, which does not fit its static shape {target.type.shape}; "
                         "no update of this call was committed")


class StateLock:
    """The locks of the shared variables a function reads or updates, taken in one global order.

    A call holds them from reading the state to committing its updates, so read-state, compute,
    commit is atomic per shared variable: two functions updating the same variable from two
    threads never lose an update, and a function that only reads a variable never sees it half
    committed (the numba backend may also accumulate an update into the variable's array in
    place). Every function takes its locks sorted by ``id`` of the variable (the order the cuda
    backend uses too), so two functions sharing variables cannot deadlock. The locks are the
    variables' own re-entrant locks, which ``get_value`` and ``set_value`` also hold.
    """

    __slots__ = ("_locks",)

    def __init__(self, shared):
        self._locks = tuple(s._lock for s in sorted(shared, key=id))

    def __enter__(self):
        taken = 0
        try:
            for lock in self._locks:
                lock.acquire()
                taken += 1
        except BaseException:  # interrupted half way (KeyboardInterrupt): give back what was taken
            for lock in reversed(self._locks[:taken]):
                lock.release()
            raise
        return self

    def __exit__(self, *exc_info):
        for lock in reversed(self._locks):
            lock.release()
        return False


def state_lock(shared):
    """The lock a call of a function over ``shared`` holds: None (no state), one variable's lock, or all."""
    if not shared:
        return None
    if len(shared) == 1:
        return shared[0]._lock
    return StateLock(shared)


def function(inputs, outputs, updates=None, backend=None, optimizer="fast_run", trust_input=False,
             name=None, **options):
    """Compile ``outputs`` as a function of ``inputs``; see API.md."""
    return Function(inputs, outputs, updates=updates, backend=backend, optimizer=optimizer,
                    trust_input=trust_input, name=name, **options)
