"""Loops: ``sg.scan`` (Theano's, with taps, non-sequences, ``n_steps``, ``go_backwards`` and updates) and
``sg.until`` (a while loop), built as one ``Scan`` node holding the step's graph.

The step is traced once on placeholders (one per sequence slice, per tap of each recurrent output and per
non-sequence) into an inner graph. Whatever it reads that does not change from step to step (outer
variables it closes over, shared variables, expressions of the non-sequences alone) is cut out of the
inner graph and becomes an input of the node, computed once before the loop.

Each recurrent output keeps a buffer: its ``L`` initial values (``L`` the largest lag of its taps) then
one row per step; tap ``-k`` at step ``t`` reads row ``L + t - k``. The node returns the rows past the
initial ones (or, for an output marked ``keep_last``, only the final value).

The derivative (``Scan.grad``) is another scan running backwards in time over the steps that ran
(backpropagation through time), built from the step graph's own symbolic derivative, so it can be
differentiated, optimized and compiled like any graph. Its state per recurrent output is the window of
gradient contributions still pending for the ``L`` rows before the current one; its accumulators sum the
non-sequences' gradients over the steps.
"""
from __future__ import annotations

import numpy as np

from ..graph import Constant, Node, SharedVariable, Variable, toposort
from ..types import TensorType
from .base import GraphOp, as_variable, pointing_at_user_line


class until:  # noqa: N801 - Theano's name
    """The stopping condition of a scan step: ``fn`` returns ``outputs, sg.until(condition)`` and the loop
    ends after the first step whose condition is true (a while loop).

    Parameters
    ----------
    condition : Variable or bool
        A 0-d boolean (or number: nonzero is true), computed by the step.

    Examples
    --------
    >>> x0 = sg.scalar("x0")
    >>> xs, _ = sg.scan(lambda x: (x * 2, sg.until(x * 2 > 10)), outputs_info=x0, n_steps=100)
    >>> sg.function([x0], xs, backend="python")(1.0)
    array([ 2.,  4.,  8., 16.])
    """

    def __init__(self, condition):
        condition = as_variable(condition)
        if condition.ndim != 0:
            raise TypeError(f"until: the condition must be 0-d, got {condition.describe()}")
        self.condition = condition


class Scan(GraphOp):
    """A loop over an inner graph (``sg.scan`` builds it; see the module docstring for the layout).

    Inputs: ``n_steps`` (0-d int64), the sequences, one buffer of initial values per recurrent output
    (``(L, ...)``), the non-sequences. Outputs: per recurrent output its rows (``(steps, ...)``) or, when
    ``keep_last``, its final value; then the outputs that are not fed back (``(steps, ...)``). Inner inputs:
    the sequence slices, the taps of each recurrent output (oldest first), the non-sequences. Inner outputs:
    the new value of each recurrent output, the outputs not fed back, and the ``until`` condition if any.
    """

    __props__ = ()
    name = "scan"

    def __init__(self, inner_inputs, inner_outputs, n_seqs, taps, n_free, n_non_seqs, has_until,
                 keep_last=None, label="scan", optimized=False, reverse=False, advances=()):
        self.inner_inputs = list(inner_inputs)
        self.inner_outputs = list(inner_outputs)
        self.n_seqs = int(n_seqs)
        self.taps = tuple(tuple(int(t) for t in ts) for ts in taps)
        self.n_free = int(n_free)
        self.n_non_seqs = int(n_non_seqs)
        self.has_until = bool(has_until)
        self.keep_last = tuple(bool(k) for k in (keep_last or (False,) * len(self.taps)))
        self.label = label
        #: the step graph went through the optimizer already (rewrite/scan_steps.py)
        self.optimized = bool(optimized)
        #: step t reads row ``n_steps - 1 - t`` of each sequence (the derivative's scans run backwards in
        #: time over sequences kept in forward order: their slices stay contiguous)
        self.reverse = bool(reverse)
        #: ``(k, shared variable)``: recurrent output ``k`` (kept last) is the state of random draws in the
        #: step, and its final value advances that shared variable in every function computing the loop
        self.advances = tuple((int(k), shared) for k, shared in advances)
        assert all(self.keep_last[k] for k, _ in self.advances)
        self.inner_nodes = toposort(self.inner_outputs)
        assert len(self.inner_inputs) == self.n_seqs + sum(len(t) for t in self.taps) + self.n_non_seqs
        assert len(self.inner_outputs) == len(self.taps) + self.n_free + int(self.has_until)

    def with_inner_outputs(self, inner_outputs, optimized=None):
        """The same loop with another step graph on the same inner inputs (the optimizer's, say)."""
        return Scan(self.inner_inputs, inner_outputs, self.n_seqs, self.taps, self.n_free, self.n_non_seqs,
                    self.has_until, self.keep_last, self.label,
                    optimized=self.optimized if optimized is None else optimized, reverse=self.reverse,
                    advances=self.advances)

    @property
    def n_states(self):
        return len(self.taps)

    def lags(self):
        """``L`` per recurrent output: how many initial rows its buffer holds."""
        return [-min(ts) for ts in self.taps]

    def state_inputs(self):
        """Per recurrent output, its tap placeholders (oldest first)."""
        start, result = self.n_seqs, []
        for ts in self.taps:
            result.append(self.inner_inputs[start:start + len(ts)])
            start += len(ts)
        return result

    def make_node(self, n_steps, *inputs):
        n_steps = as_variable(n_steps, like="int64")
        inputs = [as_variable(x) for x in inputs]
        inits = inputs[self.n_seqs:self.n_seqs + self.n_states]
        static_steps = None
        if isinstance(n_steps, Constant) and not self.has_until:
            static_steps = int(n_steps.value)
        outputs = []
        for k, (init, ts) in enumerate(zip(inits, self.taps)):
            state = self.inner_outputs[k].type
            if self.keep_last[k]:
                outputs.append(TensorType(state.dtype, init.type.shape[1:]))
            else:
                outputs.append(TensorType(state.dtype, (static_steps,) + init.type.shape[1:]))
        for out in self.inner_outputs[self.n_states:self.n_states + self.n_free]:
            outputs.append(TensorType(out.dtype, (static_steps,) + out.type.shape))
        return Node(self, [n_steps] + inputs, outputs)

    # ------------------------------------------------------------ the reference loop

    def perform(self, node, inputs):
        n_steps = int(inputs[0])
        seqs = inputs[1:1 + self.n_seqs]
        inits = inputs[1 + self.n_seqs:1 + self.n_seqs + self.n_states]
        non_seqs = inputs[1 + self.n_seqs + self.n_states:]
        if n_steps < 0:
            raise ValueError(f"{self.label}: n_steps must be >= 0, got {n_steps}{node.where()}")
        for i, seq in enumerate(seqs):
            if seq.shape[0] < n_steps:
                raise ValueError(f"{self.label}: sequence {i} ({node.inputs[1 + i].describe()}) has {seq.shape[0]} "
                                 f"entries, fewer than the {n_steps} steps{node.where()}")
        lags = self.lags()
        buffers = []
        for k, (init, lag) in enumerate(zip(inits, lags)):
            if init.shape[0] != lag:
                raise ValueError(f"{self.label}: the initial value of recurrent output {k} has {init.shape[0]} "
                                 f"rows for taps {list(self.taps[k])}, which need {lag}{node.where()}")
            buffer = np.empty((lag + n_steps,) + init.shape[1:], dtype=node.outputs[k].dtype)
            buffer[:lag] = init
            buffers.append(buffer)
        free = [[] for _ in range(self.n_free)]
        ran = n_steps
        for t in range(n_steps):
            row = n_steps - 1 - t if self.reverse else t
            values = [seq[row] for seq in seqs]
            for buffer, lag, ts in zip(buffers, lags, self.taps):
                values += [buffer[lag + t + tap] for tap in ts]
            values += list(non_seqs)
            results = evaluate(self.inner_nodes, self.inner_inputs, values, self.inner_outputs)
            for k, (buffer, lag) in enumerate(zip(buffers, lags)):
                value = results[k]
                if np.shape(value) != buffer.shape[1:]:
                    raise ValueError(f"{self.label}: step {t} gave recurrent output {k} the shape {np.shape(value)}, "
                                     f"but its state has shape {buffer.shape[1:]}{node.where()}")
                buffer[lag + t] = value
            for j in range(self.n_free):
                free[j].append(np.asarray(results[self.n_states + j], dtype=node.outputs[self.n_states + j].dtype))
            if self.has_until and bool(results[-1]):
                ran = t + 1
                break
        outputs = []
        for k, (buffer, lag) in enumerate(zip(buffers, lags)):
            outputs.append(np.array(buffer[lag + ran - 1]) if self.keep_last[k] else buffer[lag:lag + ran].copy())
        for j, rows in enumerate(free):
            out = node.outputs[self.n_states + j]
            if rows:
                outputs.append(np.stack(rows).astype(out.dtype, copy=False))
            else:
                inner = self.inner_outputs[self.n_states + j].type.shape
                outputs.append(np.zeros((0,) + tuple(0 if n is None else n for n in inner), dtype=out.dtype))
        return outputs

    # ------------------------------------------------------------ backpropagation through time

    def grad(self, inputs, outputs, output_grads):
        return scan_grad(self, inputs, outputs, output_grads)

    def connection_pattern(self, node):
        return [False] + [True] * (len(node.inputs) - 1)

    def default_updates(self, node):
        return [(shared, node.outputs[k]) for k, shared in self.advances]


def evaluate(nodes, inner_inputs, values, inner_outputs):
    """The values of ``inner_outputs`` given ``values`` of ``inner_inputs``: each node's ``perform``."""
    known = {id(v): x for v, x in zip(inner_inputs, values)}
    for node in nodes:
        args = [known[id(v)] if id(v) in known else v.value if isinstance(v, Constant) else v.get_value(borrow=True)
                for v in node.inputs]
        for out, value in zip(node.outputs, node.op.perform(node, args)):
            known[id(out)] = value
    return [known[id(v)] if id(v) in known else v.value if isinstance(v, Constant) else v.get_value(borrow=True)
            for v in inner_outputs]


# ---------------------------------------------------------------- building the node

def _placeholder(type_, name):
    return Variable(TensorType(type_.dtype, type_.shape), name=name)


def _hoist(outputs, per_step, non_seq_inner, non_seq_outer):
    """Cut the inner graph of ``outputs`` where it stops depending on ``per_step`` placeholders.

    Returns ``(inner_outputs, cut_inner, cut_outer)``: the outputs rebuilt on new placeholders
    ``cut_inner`` for each loop-invariant variable the loop reads, and the outer expressions
    ``cut_outer`` computing them (non-sequence placeholders replaced by the non-sequences themselves).
    """
    from ..givens import rebuild
    varying = {id(v) for v in per_step}
    nodes = toposort(outputs)
    for node in nodes:
        if any(id(v) in varying for v in node.inputs):
            varying.update(id(o) for o in node.outputs)
    cut = {}

    def consider(v):
        if id(v) in varying or isinstance(v, Constant) or id(v) in cut:
            return
        cut[id(v)] = v

    for node in nodes:
        if any(id(o) in varying for o in node.outputs):
            for v in node.inputs:
                consider(v)
    for v in outputs:
        consider(v)
    invariant = list(cut.values())
    to_outer = {id(p): x for p, x in zip(non_seq_inner, non_seq_outer)}
    outer = rebuild(invariant, to_outer, strict=False) if invariant else []
    inner = [_placeholder(v.type, v.name) for v in invariant]
    mapping = {id(v): p for v, p in zip(invariant, inner)}
    rebuilt = rebuild(list(outputs), mapping, strict=False, stop=invariant) if invariant else list(outputs)
    return rebuilt, inner, outer


def _split_result(result, what):
    """``fn``'s return value as (outputs list, updates dict, until or None)."""
    updates, stop = {}, None
    items = list(result) if isinstance(result, (list, tuple)) else [result]
    outputs = []
    for item in items:
        if isinstance(item, until):
            if stop is not None:
                raise ValueError(f"{what}: fn returned two sg.until conditions")
            stop = item
        elif isinstance(item, dict):
            updates.update(item)
        elif isinstance(item, (list, tuple)) and len(items) <= 3 and not outputs and \
                any(isinstance(i, (until, dict)) for i in items):
            outputs.extend(item)
        else:
            outputs.append(item)
    return outputs, updates, stop


def _advanced_by_draws(outputs, updates, stop):
    """``{shared state: new state}`` of the random draws the step computes (``Op.default_updates``): the
    loop carries each state from step to step, and its final value advances the stream."""
    roots = [v for v in list(outputs) + list(updates.values()) + ([stop.condition] if stop else [])
             if isinstance(v, Variable)]
    drawn = {}
    for node in toposort(roots):
        for shared, new in node.op.default_updates(node):
            drawn.setdefault(shared, new)
    return drawn


def build_scan(step, seqs, states, non_seqs, n_steps, kinds, keep_last=None, label="scan", reverse=False):
    """The ``Scan`` node for ``step`` and its outputs, in ``kinds`` order.

    ``states``: per recurrent output ``(buffer of initial rows (L, ...), taps)``; ``kinds``: per output of
    ``step`` the index of its recurrent state, or None for an output that is not fed back. ``step``
    receives the placeholders (sequence slices, taps, non-sequences) and returns its outputs (plus
    updates and an ``until``). Returns ``(outputs in kinds order, updates {shared: new value})``.
    """
    seq_inner = [_placeholder(TensorType(s.dtype, s.type.shape[1:]), f"{s.name}[t]" if s.name else None)
                 for s in seqs]
    origins = [state[2] if len(state) > 2 else state[0] for state in states]
    states = [(state[0], state[1]) for state in states]
    tap_inner = []
    for k, (init, taps) in enumerate(states):
        tap_inner.append([_placeholder(TensorType(init.dtype, init.type.shape[1:]),
                                       f"{init.name or f'state{k}'}[t{tap}]") for tap in taps])
    non_seq_inner = [_placeholder(v.type, v.name) for v in non_seqs]
    arguments = seq_inner + [p for ps in tap_inner for p in ps] + non_seq_inner
    with pointing_at_user_line():
        result = step(*arguments)
        outputs, updates, stop = _split_result(result, label)
        drawn = _advanced_by_draws(outputs, updates, stop)
        for shared, new in drawn.items():
            updates.setdefault(shared, new)
        if len(outputs) != len(kinds):
            raise ValueError(f"{label}: fn returned {len(outputs)} outputs, but outputs_info describes {len(kinds)}")
        outputs = [as_variable(o, like=states[k][0].dtype if k is not None else None) for o, k in zip(outputs, kinds)]
        for i, (out, k) in enumerate(zip(outputs, kinds)):
            if k is None:
                continue
            init = states[k][0]
            want = TensorType(init.dtype, init.type.shape[1:])
            if out.dtype != want.dtype or out.ndim != want.ndim or not want.is_compatible(out.type):
                raise TypeError(f"{label}: output {i} of fn is {out.describe()}, but its recurrent state "
                                f"(initial value {origins[k].describe()}) is {want}: a step must return the "
                                "state's dtype and shape")
    # shared variables the step updates become recurrent outputs read at tap -1, kept last
    update_states = []
    for shared, new in updates.items():
        if not isinstance(shared, SharedVariable):
            raise TypeError(f"{label}: fn's updates must map shared variables to new values, got {shared!r}")
        new = as_variable(new, like=shared.dtype)
        if new.dtype != shared.dtype or new.ndim != shared.ndim:
            raise TypeError(f"{label}: the update of {shared.describe()} is {new.describe()}: same dtype and ndim")
        update_states.append((shared, new))
    from ..givens import rebuild
    if update_states:
        shared_inner = [_placeholder(s.type, f"{s.name}[t-1]") for s, _ in update_states]
        mapping = {id(s): p for (s, _), p in zip(update_states, shared_inner)}
        roots = outputs + [n for _, n in update_states] + ([stop.condition] if stop else [])
        roots = rebuild(roots, mapping, strict=False, stop=[s for s, _ in update_states])
        outputs, new_values = roots[:len(outputs)], roots[len(outputs):len(outputs) + len(update_states)]
        if stop:
            stop = until(roots[-1])
    else:
        shared_inner, new_values = [], []
    n_states = len(states) + len(update_states)
    state_outputs = [None] * len(states)
    free_outputs = []
    for out, k in zip(outputs, kinds):
        if k is None:
            free_outputs.append(out)
        else:
            state_outputs[k] = out
    if any(o is None for o in state_outputs):
        raise ValueError(f"{label}: every recurrent state needs an output of fn")
    state_outputs += new_values
    all_taps = [tuple(t) for _, t in states] + [(-1,)] * len(update_states)
    state_taps = [ps for ps in tap_inner] + [[p] for p in shared_inner]
    inner_outputs = state_outputs + free_outputs + ([stop.condition] if stop else [])
    per_step = seq_inner + [p for ps in state_taps for p in ps]
    inner_outputs, cut_inner, cut_outer = _hoist(inner_outputs, per_step, non_seq_inner, non_seqs)
    from ..ops.shape import expand_dims
    inits = [init for init, _ in states] + [expand_dims(s, 0) for s, _ in update_states]
    keep = list(keep_last or [False] * len(states)) + [True] * len(update_states)
    advances = [(len(states) + i, shared) for i, (shared, new) in enumerate(update_states)
                if drawn.get(shared) is updates[shared]]
    op = Scan(seq_inner + [p for ps in state_taps for p in ps] + cut_inner, inner_outputs, len(seqs), all_taps,
              len(free_outputs), len(cut_inner), stop is not None, keep, label, reverse=reverse, advances=advances)
    with pointing_at_user_line():
        results = op(n_steps, *seqs, *inits, *cut_outer)
    results = list(results) if isinstance(results, (list, tuple)) else [results]
    state_results = results[:n_states]
    free_results = results[n_states:]
    ordered, free_iter = [], iter(free_results)
    for k in kinds:
        ordered.append(state_results[k] if k is not None else next(free_iter))
    new_updates = {shared: state_results[len(states) + i] for i, (shared, _) in enumerate(update_states)}
    return ordered, new_updates, op


def scan(fn, sequences=None, outputs_info=None, non_sequences=None, n_steps=None, go_backwards=False):
    """A loop as one node of the graph, Theano's ``scan``: ``fn`` computes one step from the current slice
    of each sequence, the previous values of the recurrent outputs and the non-sequences.

    Parameters
    ----------
    fn : callable
        Called once, on symbolic placeholders, in this order: the current slice of each sequence, the
        previous value(s) of each recurrent output (tap -1; oldest first for several taps), the
        non-sequences. Returns the new output(s), optionally with a dict of shared-variable updates and
        ``sg.until(condition)`` (stop after the first step where it is true).
    sequences : Variable or list, optional
        Arrays iterated over their first axis.
    outputs_info : list, optional
        One entry per output of ``fn``: the initial value of a recurrent output (its tap is -1),
        ``dict(initial=x0, taps=[-2, -1])`` for several taps (``x0`` holds the ``L`` values before the
        first step along a new axis 0, oldest first, ``L`` the largest lag; with ``taps=[-1]`` it is the
        state itself), or None for an output that is not fed back.
    non_sequences : Variable or list, optional
        Values every step reads unchanged (variables ``fn`` closes over work as well).
    n_steps : int or 0-d int Variable, optional
        The number of steps; default the length of the shortest sequence.
    go_backwards : bool, default False
        Iterate the sequences from their end.

    Returns
    -------
    (Variable or list of Variable, dict)
        Every step's value of each output stacked along a new axis 0 (``outputs[-1]`` is the final
        state; the initial values are not included), and the updates of shared variables ``fn``
        requested (their values after the last step), to pass to ``sg.function``. ``sg.grad`` through a
        scan is another scan (backpropagation through time), to any order; with ``until``, through the
        steps that ran.

    Examples
    --------
    >>> x = sg.vector("x")
    >>> sums, _ = sg.scan(lambda v, total: total + v, sequences=x, outputs_info=sg.constant(0.0))
    >>> sg.function([x], sums, backend="python")([1.0, 2.0, 3.0])
    array([1., 3., 6.])
    >>> fib, _ = sg.scan(lambda a, b: a + b, outputs_info=dict(initial=sg.constant([0, 1]), taps=[-2, -1]),
    ...                  n_steps=6)
    >>> sg.function([], fib, backend="python")()
    array([ 1,  2,  3,  5,  8, 13])
    """
    with pointing_at_user_line():
        seqs = _as_list(sequences, "sequences")
        non_seqs = _as_list(non_sequences, "non_sequences")
        for s in seqs:
            if s.ndim == 0:
                raise ValueError(f"scan: a sequence needs an axis to iterate over, got {s.describe()}")
        if go_backwards:
            seqs = [s[::-1] for s in seqs]
        infos = list(outputs_info) if isinstance(outputs_info, (list, tuple)) else \
            ([] if outputs_info is None else [outputs_info])
        states, kinds = [], []
        for entry in infos:
            if entry is None:
                kinds.append(None)
                continue
            if isinstance(entry, dict):
                unknown = set(entry) - {"initial", "taps"}
                if unknown:
                    raise TypeError(f"scan: unknown keys {sorted(unknown)} in an outputs_info dict (initial, taps)")
                initial = entry.get("initial")
                if initial is None:
                    kinds.append(None)
                    continue
                taps = sorted(int(t) for t in entry.get("taps", [-1]))
                if not taps or any(t >= 0 for t in taps):
                    raise ValueError(f"scan: taps must be negative (previous steps), got {entry.get('taps')}")
                initial = as_variable(initial)
                if taps == [-1]:            # Theano: with the single tap -1 the initial value is the state
                    buffer = _one_row(initial)
                else:
                    if initial.ndim == 0:
                        raise ValueError("scan: the initial value for taps needs an axis 0 holding the earlier values")
                    buffer = initial
                    lag = -taps[0]
                    n = initial.type.shape[0]
                    if n is not None and n != lag:
                        raise ValueError(f"scan: taps {taps} need {lag} initial values along axis 0, got {n} "
                                         f"({initial.describe()})")
                origin = initial
            else:
                origin = as_variable(entry)
                taps, buffer = [-1], _one_row(origin)
            kinds.append(len(states))
            states.append((buffer, taps, origin))
        if n_steps is None:
            if not seqs:
                raise ValueError("scan: give n_steps or at least one sequence (the number of steps is unknown)")
            from .shape import shape_tuple
            from .elemwise import minimum
            lengths = [shape_tuple(s)[0] for s in seqs]
            steps = lengths[0]
            for n in lengths[1:]:
                steps = minimum(steps, n)
        else:
            steps = as_variable(n_steps, like="int64")
            if steps.ndim != 0 or steps.type.kind not in "iu":
                raise TypeError(f"scan: n_steps must be an int or a 0-d integer variable, got {steps.describe()}")
            if isinstance(steps, Constant) and int(steps.value) < 0:
                raise ValueError(f"scan: n_steps must be >= 0, got {int(steps.value)}")
        if not infos:
            kinds = None                  # every output of fn is not fed back; how many is known after tracing
    if kinds is None:
        kinds = _count_free_outputs(fn, seqs, non_seqs)
    from .elemwise import cast
    steps = cast(steps, "int64") if steps.dtype != "int64" else steps
    outputs, updates, _ = build_scan(fn, seqs, states, non_seqs, steps, kinds)
    return (outputs[0] if len(outputs) == 1 else outputs), updates


def _one_row(x):
    from .shape import expand_dims
    return expand_dims(x, 0)


def _as_list(values, what):
    if values is None:
        return []
    items = list(values) if isinstance(values, (list, tuple)) else [values]
    result = []
    for v in items:
        if isinstance(v, dict):
            raise TypeError(f"scan: {what} takes variables (taps on sequences are not supported), got a dict")
        result.append(as_variable(v))
    return result


def _count_free_outputs(fn, seqs, non_seqs):
    """Without ``outputs_info``, every output of ``fn`` is not fed back: trace it once to count them."""
    seq_inner = [_placeholder(TensorType(s.dtype, s.type.shape[1:]), None) for s in seqs]
    non_seq_inner = [_placeholder(v.type, None) for v in non_seqs]
    outputs, _, _ = _split_result(fn(*seq_inner, *non_seq_inner), "scan")
    return [None] * len(outputs)


# ---------------------------------------------------------------- the derivative

def scan_grad(op, inputs, outputs, output_grads):
    """Backpropagation through time as a backwards scan (see the module docstring)."""
    from . import elemwise as ew
    from ..grad import Lop
    from ..givens import rebuild
    from .join import concatenate, stack
    from .shape import alloc, is_zeros_like, shape_tuple, zeros_like
    n_steps, rest = inputs[0], inputs[1:]
    seqs = rest[:op.n_seqs]
    inits = rest[op.n_seqs:op.n_seqs + op.n_states]
    non_seqs = rest[op.n_seqs + op.n_states:]
    if any(op.keep_last):
        # the trajectories the derivative reads: the same loop, every row kept
        full = Scan(op.inner_inputs, op.inner_outputs, op.n_seqs, op.taps, op.n_free, op.n_non_seqs,
                    op.has_until, None, op.label, reverse=op.reverse)
        trajectories = full(*inputs)
        trajectories = list(trajectories) if isinstance(trajectories, (list, tuple)) else [trajectories]
    else:
        trajectories = list(outputs)
    if op.has_until or not op.n_states and not op.n_free:
        steps = shape_tuple(trajectories[0])[0] if trajectories else n_steps
    else:
        steps = n_steps
    lags = op.lags()
    float_states = [k for k in range(op.n_states) if op.inner_outputs[k].type.is_float]
    float_free = [j for j in range(op.n_free) if op.inner_outputs[op.n_states + j].type.is_float]
    float_seqs = [i for i in range(op.n_seqs) if seqs[i].type.is_float]
    float_non_seqs = [k for k in range(op.n_non_seqs) if non_seqs[k].type.is_float]
    # backward sequences, in the forward steps' order (the backward scan reads them from the end): output
    # gradients, the rows of the forward sequences each step read, forward tap values
    b_seqs, slots = [], {}

    def add_seq(key, x):
        slots[key] = len(b_seqs)
        if key[0] == "seq":
            x = x[:steps][::-1] if op.reverse else x[:steps]
        b_seqs.append(x)

    for k in float_states:
        g = output_grads[k]
        if not op.keep_last[k] and not is_zeros_like(g):
            add_seq(("gout", k), g)
    for j in float_free:
        g = output_grads[op.n_states + j]
        if not is_zeros_like(g):
            add_seq(("gfree", j), g)
    for i in range(op.n_seqs):
        add_seq(("seq", i), seqs[i])
    # the values each forward step computed, so the derivative reads them instead of computing them again
    for k in float_states:
        add_seq(("saved", k), trajectories[k])
    for j in float_free:
        add_seq(("saved", op.n_states + j), trajectories[op.n_states + j])
    for k in range(op.n_states):
        buffer = concatenate([inits[k], trajectories[k]], axis=0)
        for tap in op.taps[k]:
            start = lags[k] + tap
            add_seq(("tap", k, tap), buffer[start:start + steps] if start else buffer[:steps])
    # backward states: per float recurrent output its window of pending gradients; per float non-sequence
    # its running sum
    windows = []
    for k in float_states:
        state_shape = shape_tuple(inits[k])[1:]
        window = alloc(Constant(0, dtype=inits[k].dtype), (lags[k],) + tuple(state_shape))
        g = output_grads[k]
        if op.keep_last[k] and not is_zeros_like(g):
            from .index import set_subtensor
            window = set_subtensor(window[0], g)
        windows.append(window)
    sums = [zeros_like(non_seqs[k]) for k in float_non_seqs]
    b_states = [(_one_row(w), [-1]) for w in windows] + [(_one_row(s), [-1]) for s in sums]
    kinds = list(range(len(b_states))) + [None] * len(float_seqs)

    def step(*args):
        seq_args = args[:len(b_seqs)]
        window_args = args[len(b_seqs):len(b_seqs) + len(windows)]
        sum_args = args[len(b_seqs) + len(windows):len(b_seqs) + len(windows) + len(sums)]
        ns_args = args[len(b_seqs) + len(windows) + len(sums):]
        # the forward step on the backward placeholders
        forward_inputs = [seq_args[slots[("seq", i)]] for i in range(op.n_seqs)]
        for k in range(op.n_states):
            forward_inputs += [seq_args[slots[("tap", k, tap)]] for tap in op.taps[k]]
        forward_inputs += list(ns_args)
        forward = rebuild(op.inner_outputs, {id(p): x for p, x in zip(op.inner_inputs, forward_inputs)},
                          strict=False)
        cotangents, ys = [], []
        for n, k in enumerate(float_states):
            g = window_args[n][0]
            if ("gout", k) in slots:
                g = ew.add(g, seq_args[slots[("gout", k)]])
            ys.append(forward[k])
            cotangents.append(g)
        for j in float_free:
            if ("gfree", j) in slots:
                ys.append(forward[op.n_states + j])
                cotangents.append(seq_args[slots[("gfree", j)]])
        wrt = [forward_inputs[i] for i in float_seqs]
        tap_positions = {}
        start = op.n_seqs
        for k in range(op.n_states):
            for tap in op.taps[k]:
                if k in float_states:
                    tap_positions[(k, tap)] = len(wrt)
                    wrt.append(forward_inputs[start])
                start += 1
        ns_positions = {}
        for k in float_non_seqs:
            ns_positions[k] = len(wrt)
            wrt.append(ns_args[k])
        if ys and wrt:
            grads = Lop(ys, wrt, cotangents, disconnected="zero")
            grads = list(grads) if isinstance(grads, (list, tuple)) else [grads]
            # where the derivative reads an output of the step (tanh's reads its result), it reads the
            # value the forward loop saved: the step's own computation is not repeated
            saved = {id(forward[k]): seq_args[slots[("saved", k)]] for k in range(len(forward))
                     if ("saved", k) in slots and forward[k].owner is not None}
            if saved:
                stops = [v for v in forward if id(v) in saved]
                grads = rebuild(grads, saved, strict=False, stop=stops)
        else:
            grads = [zeros_like(w) for w in wrt]
        new_windows = []
        for n, k in enumerate(float_states):
            rows = []
            for row in range(lags[k]):
                pending = window_args[n][row + 1] if row + 1 < lags[k] else None
                contribution = grads[tap_positions[(k, -(row + 1))]] if (k, -(row + 1)) in tap_positions else None
                if pending is None and contribution is None:
                    rows.append(zeros_like(window_args[n][0]))
                elif pending is None:
                    rows.append(ew.cast(contribution, window_args[n].dtype))
                elif contribution is None:
                    rows.append(pending)
                else:
                    rows.append(ew.add(pending, ew.cast(contribution, window_args[n].dtype)))
            new_windows.append(stack(rows))
        new_sums = [ew.add(s, ew.cast(grads[ns_positions[k]], s.dtype)) for s, k in zip(sum_args, float_non_seqs)]
        seq_grads = [ew.cast(grads[n], seqs[i].dtype) for n, i in enumerate(float_seqs)]
        return new_windows + new_sums + seq_grads

    results, _, _ = build_scan(step, b_seqs, b_states, list(non_seqs), steps, kinds,
                               keep_last=[True] * len(b_states), label=f"grad of {op.label}", reverse=True)
    final_windows = results[:len(windows)]
    final_sums = results[len(windows):len(windows) + len(sums)]
    seq_grads = results[len(windows) + len(sums):]
    grads = [None] * len(inputs)
    from .index import set_subtensor
    for n, i in enumerate(float_seqs):
        # row s of the backward output belongs to forward step steps-1-s, which read row steps-1-s of the
        # sequence (row s, for a reverse scan)
        by_row = seq_grads[n] if op.reverse else seq_grads[n][::-1]
        grads[1 + i] = set_subtensor(zeros_like(seqs[i])[:steps], by_row)
    for n, k in enumerate(float_states):
        grads[1 + op.n_seqs + k] = final_windows[n][::-1]
    for n, k in enumerate(float_non_seqs):
        grads[1 + op.n_seqs + op.n_states + k] = final_sums[n]
    return grads
