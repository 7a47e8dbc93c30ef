"""Lowering of ``Scan`` (symgraph/ops/scan.py): a native ``for`` loop inside the one generated kernel.

Before the loop, each recurrent output gets its buffer (its ``L`` initial rows, then one row per step)
and each output that is not fed back a placeholder of its rank. In the loop, the step's inner graph is
lowered like any other nodes (nested scans included), serially, reading the current slice of each
sequence (a view), its taps (views of buffer rows) and the non-sequences (the outer values, never
written): written in the loop's body when it is short (``INLINE_STEP_LINES``), else into its own jitted
function ``stepN``, which the loop calls. The new values are copied into row ``L + t``; an ``until``
condition breaks out after the row is written.
The outputs are views of the buffers: the rows past the initial ones, up to the steps that ran. Inner loops
stay serial (no ``prange`` inside a step: one step is too little work to share out).
"""
from __future__ import annotations

import ast
import re

import numpy as np

from symgraph.graph import Constant, toposort
from symgraph.ops.scan import Scan
from symgraph.ops.shape import BroadcastTo, DimShuffle

from ..guard import GENERATED_NAME
from .kernel import INNER_FUNCTION_OPTIONS, SHAPE_ONLY_READS, literal, register
from .split import _Uses


def _bind_inner_constants(kernel, nodes, outputs):
    """The step graph's constants: 0-d ones as literals, arrays as kernel arguments (outputs included: a
    step may return a constant)."""
    for var in [v for node in nodes for v in node.inputs] + list(outputs):
        if isinstance(var, Constant) and id(var) not in kernel.values:
            if var.ndim == 0:
                kernel.bind(var, literal(var.value, var.dtype))
            else:
                # (a writable copy: the kernel's array parameters are typed writable)
                kernel.bind(var, kernel.array_argument(np.array(var.value, copy=True)), contiguous=True, owned=False)


#: A step of at most this many lines is written in the loop's body. Numba then compiles the step once, as
#: part of the kernel: a separate function is compiled on its own (typing, lowering, LLVM's optimization
#: and machine code) and then again inside the kernel, whose module links it in (W7's cold compile: ~10%
#: less inline, the same machine code speed). A longer step keeps its own function, which Numba compiles
#: as straight-line code: its passes grow faster than linearly with the length of one function.
INLINE_STEP_LINES = 400


def _call_step(node, kernel):
    """Lower the step's inner graph in the loop's body, or into its own jitted function ``stepN`` whose call
    is emitted (``INLINE_STEP_LINES``); returns the codes of the step's results (one per inner output).

    A step function receives the names its body reads that the kernel defines (the current slices and
    taps, the non-sequences and their lengths, constants) and returns the inner outputs.
    """
    op = node.op
    inner_nodes = toposort(op.inner_outputs)
    with kernel.separate_function() as body:
        _bind_inner_constants(kernel, inner_nodes, op.inner_outputs)
        kernel.note_shape_only(inner_nodes, op.inner_outputs)
        for inner in inner_nodes:
            kernel.lower_node(inner)
        kernel.node = node
        returned = [kernel.code(out) for out in op.inner_outputs]
    if len(body) <= INLINE_STEP_LINES:
        # (lowered at depth 1 as for a function: the same lines, indented to the loop's body)
        kernel.lines += ["    " * (kernel.depth - 1) + line for line in body]
        return returned
    reads = _Uses()
    statements = ast.parse("\n".join(line[4:] for line in body) + "\n" + f"({', '.join(returned)},)").body
    for statement in statements:
        reads.visit(statement)
    # the module's functions (the steps of nested scans) are globals the step calls, not arguments: a
    # function passed as an argument is a dynamic global, and Numba will not cache the kernel then
    functions = {re.search(r"^def (\w+)\(", source, re.M).group(1) for source in kernel.functions}
    arguments = sorted(name for name in reads.exposed if GENERATED_NAME.match(name) and name not in functions)
    name = kernel.fresh("step")
    cached = not any("nb.objmode" in line for line in body)
    kernel.functions.append("\n".join(
        [f"@nb.njit(cache={cached}, error_model='numpy', pipeline_class=KernelCompiler, {INNER_FUNCTION_OPTIONS})",
         f"def {name}({', '.join(arguments)}):", *body,
         f"    return ({', '.join(returned)},)"]))
    results = [kernel.fresh("r") for _ in op.inner_outputs]
    kernel.emit(f"({', '.join(results)},) = {name}({', '.join(arguments)})")
    return results


def _constant_fill(init):
    """The 0-d constant a scan's initial value is a broadcast of, under a new leading axis (the zero states
    of ``sg.grad``'s backward scans: ``alloc(0, shape)[None]``), else None."""
    node = init.owner
    if node is None or not isinstance(node.op, DimShuffle) or \
            tuple(node.op.new_order) != ("x",) + tuple(range(init.ndim - 1)):
        return None
    source = node.inputs[0].owner
    if source is None or not isinstance(source.op, BroadcastTo):
        return None
    value = source.inputs[0]
    return value if isinstance(value, Constant) and value.ndim == 0 else None


def _scan_shape_only_reads(node, shape_only):
    """A constant-filled initial value is read only for its lengths: its buffer is made filled."""
    op = node.op
    return [1 + op.n_seqs + k for k, init in enumerate(node.inputs[1 + op.n_seqs:1 + op.n_seqs + op.n_states])
            if _constant_fill(init) is not None]


SHAPE_ONLY_READS[Scan] = _scan_shape_only_reads


def _row(op, k, lag, step, tap=0):
    """The buffer row of step ``step`` (code) plus ``tap`` of recurrent output ``k``: ``lag + step + tap``,
    modulo ``lag + 1`` in the ring of a state kept only at its last value; the constant part folded (each
    operation is one more for Numba to type and lower at every read of the row)."""
    offset = lag + tap
    row = step if offset == 0 else f"{step} + {offset}" if offset > 0 else f"{step} - {-offset}"
    if op.keep_last[k]:
        return f"{row} % {lag + 1}" if offset == 0 else f"({row}) % {lag + 1}"
    return row


def _row_checks(kernel, ndim, message) -> int:
    """Register the checks of a step's result against its buffer's rows, one per axis (``message(axis)``),
    numbered consecutively for ``store_row_checked``; returns the first number."""
    numbers = [kernel.check_number(message(axis)) for axis in range(ndim)]
    return numbers[0]


def _rows(kernel, op):
    """``_row`` through a memo of locals: each distinct row expression is computed once where it is first
    needed (one memo per scope: in the loop, after it)."""
    made = {}

    def row(k, lag, step, tap=0):
        text = _row(op, k, lag, step, tap)
        if text.isidentifier():
            return text
        if text not in made:
            made[text] = kernel.let(text, "r")
        return made[text]
    return row


def _view(kernel, var, code, dims, contiguous):
    """Bind ``var`` to a row read (a scalar for 0-d, else a view the step must not write)."""
    if var.ndim == 0:
        kernel.bind(var, kernel.let(code, "x"))
    else:
        kernel.bind(var, kernel.let(code, "x"), list(dims), contiguous=contiguous, owned=False)


@register(Scan)
def lower_scan(node, kernel):
    op = node.op
    seqs = node.inputs[1:1 + op.n_seqs]
    inits = node.inputs[1 + op.n_seqs:1 + op.n_seqs + op.n_states]
    non_seqs = node.inputs[1 + op.n_seqs + op.n_states:]
    steps = kernel.int64_code(node.inputs[0], "n")
    kernel.check(f"{steps} < 0", f"{op}: n_steps must be >= 0")
    for i, seq in enumerate(seqs):
        kernel.check(f"{kernel.dims(seq)[0]} < {steps}",
                     f"{op}: sequence {i} has fewer entries than the number of steps")
    lags = op.lags()
    buffers = []
    for k, init in enumerate(inits):
        dims = kernel.dims(init)
        kernel.check(f"{dims[0]} != {lags[k]}",
                     f"{op}: the initial value of recurrent output {k} needs {lags[k]} rows for taps {list(op.taps[k])}")
        # a state kept only at its last value needs its last lag + 1 rows: a ring of them (row i % (lag + 1))
        rows = f"{lags[k] + 1}" if op.keep_last[k] else f"{lags[k]} + {steps}"
        fill = _constant_fill(init)
        if fill is not None:          # (the initial value itself is not made: _scan_shape_only_reads)
            value = literal(fill.value.item(), node.outputs[k].dtype)
            buffer = kernel.let(f"{kernel.runtime()}.full({kernel.int_tuple([rows] + list(dims[1:]))}, {value})",
                                "buf")
        else:
            buffer = kernel.let(kernel.new_array([rows] + list(dims[1:]), node.outputs[k].dtype), "buf")
            kernel.emit(f"{kernel.runtime()}.store_rows({buffer}, {kernel.code(init)})")
        buffers.append((buffer, list(dims[1:])))
    free_inner = op.inner_outputs[op.n_states:op.n_states + op.n_free]
    frees = []
    for out in free_inner:
        empty = ["0"] + [str(n) if n is not None else "0" for n in out.type.shape]
        frees.append(kernel.let(kernel.new_array(empty, out.dtype), "acc"))
    ran = kernel.let(steps, "ran")
    t = kernel.fresh("t")
    kernel.emit(f"for {t} in range({steps}):")
    kernel.depth += 1
    try:
        seq_inner = op.inner_inputs[:op.n_seqs]
        row = kernel.let(f"{steps} - 1 - {t}", "r") if op.reverse and seqs else t   # (once per step)
        for placeholder, seq in zip(seq_inner, seqs):
            value = kernel.value(seq)
            _view(kernel, placeholder, f"{value.code}[{row}]", value.dims[1:], value.contiguous)
        state_row = _rows(kernel, op)
        for k, ((buffer, dims), lag, ts, placeholders) in enumerate(zip(buffers, lags, op.taps, op.state_inputs())):
            for tap, placeholder in zip(ts, placeholders):
                _view(kernel, placeholder, f"{buffer}[{state_row(k, lag, t, tap)}]", dims, True)
        for placeholder, outer in zip(op.inner_inputs[len(op.inner_inputs) - op.n_non_seqs:], non_seqs):
            value = kernel.value(outer)
            kernel.bind(placeholder, value.code, list(value.dims), contiguous=value.contiguous, owned=False)
        results = _call_step(node, kernel)
        for k, ((buffer, dims), lag) in enumerate(zip(buffers, lags)):
            out, result = op.inner_outputs[k], results[k]
            if out.ndim:
                first = _row_checks(kernel, out.ndim, lambda axis: f"{op}: a step gave recurrent output {k} another "
                                                                     f"length on axis {axis} than its state")
                kernel.emit(f"{kernel.runtime()}.store_row_checked({buffer}, {state_row(k, lag, t)}, {result}, "
                            f"np.int64({first}))")
            else:
                kernel.emit(f"{buffer}[{state_row(k, lag, t)}] = {result}")
        for j, (acc, out) in enumerate(zip(frees, free_inner)):
            result = results[op.n_states + j]
            if not out.ndim:
                kernel.emit(f"if {t} == 0:")
                with kernel.indent():
                    kernel.emit(f"{acc} = {kernel.new_array([steps], out.dtype)}")
                kernel.emit(f"{acc}[{t}] = {result}")
                continue
            kernel.emit(f"if {t} == 0:")
            with kernel.indent():
                dims = [steps] + [f"{result}.shape[{axis}]" for axis in range(out.ndim)]
                kernel.emit(f"{acc} = {kernel.new_array(dims, out.dtype)}")
            first = _row_checks(kernel, out.ndim, lambda axis: f"{op}: output {op.n_states + j} changed its "
                                                                 f"length on axis {axis} between steps")
            kernel.emit(f"{kernel.runtime()}.store_row_checked({acc}, {t}, {result}, np.int64({first}))")
        if op.has_until:
            kernel.emit(f"if {results[-1]}:")
            with kernel.indent():
                kernel.emit(f"{ran} = {t} + 1")
                kernel.emit("break")
    finally:
        kernel.depth -= 1
        kernel.node = node
    last_row = _rows(kernel, op)
    for k, ((buffer, dims), lag) in enumerate(zip(buffers, lags)):
        out = node.outputs[k]
        if op.keep_last[k]:
            row = f"{buffer}[{last_row(k, lag, ran, -1)}]"
            if out.ndim == 0:
                kernel.bind(out, kernel.let(row, "v"))
            else:
                kernel.bind(out, kernel.let(row, "v"), dims, contiguous=True, owned=True)
        else:
            kernel.bind(out, kernel.let(f"{buffer}[{lag}:{lag} + {ran}]", "v"), [ran] + dims, contiguous=True,
                        owned=True)
            # rows 0 to lag - 1 hold the initial value, never written again (join.py reads the whole)
            kernel.scan_buffers[(id(inits[k]), id(out))] = (buffer, lag, ran, dims)
    for j, acc in enumerate(frees):
        out = node.outputs[op.n_states + j]
        dims = [ran] + [f"{acc}.shape[{axis}]" for axis in range(1, out.ndim)]
        kernel.bind(out, kernel.let(f"{acc}[:{ran}]", "v"), dims, contiguous=True, owned=True)
