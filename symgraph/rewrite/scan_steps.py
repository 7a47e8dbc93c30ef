"""The graphs inside loops: each scan's step is optimized like an outer graph, and what nobody reads goes.

``optimize_scan_steps`` (a stage of the pipeline, after the outer graph's own rewrites) gives every
``Scan`` node a new op whose step graph went through the same optimizer, in the same mode (merge,
canonicalize, stability, fusion: the rewrites fire inside the loop and appear in the function's rewrite
log under ``step of scan``). Before that, outputs of the scan that no node reads are removed, with the
parts of the step that only they needed: outputs not fed back, and recurrent outputs whose values no
other output of the step reads either (as ``remove_unused_scan_outputs`` in the log). Loop-invariant
parts of a step never reach it: ``sg.scan`` computes them outside the loop when it builds the node.
"""
from __future__ import annotations

from ..graph import toposort
from ..ops.scan import Scan


def _needed_outputs(op, used):
    """Which inner outputs must stay: the used ones, the until condition, and (to a fixed point) every
    recurrent output whose taps a kept output reads."""
    keep = set(used)
    if op.has_until:
        keep.add(len(op.inner_outputs) - 1)
    taps = op.state_inputs()
    while True:
        reads = {id(v) for k in keep for node in toposort([op.inner_outputs[k]]) for v in node.inputs}
        reads |= {id(op.inner_outputs[k]) for k in keep}
        more = {k for k in range(op.n_states) if k not in keep and any(id(p) in reads for p in taps[k])}
        if not more:
            return keep
        keep |= more


def remove_unused_outputs(fg, node):
    """A scan without the outputs nobody reads (None when every output is read)."""
    op = node.op
    used = {k for k, out in enumerate(node.outputs) if fg.consumers(out) or fg.is_output(out)}
    keep = _needed_outputs(op, used)
    if len(keep) == len(op.inner_outputs):
        return None
    states = [k for k in range(op.n_states) if k in keep]
    frees = [j for j in range(op.n_free) if op.n_states + j in keep]
    taps = op.state_inputs()
    inner_inputs = op.inner_inputs[:op.n_seqs] + [p for k in states for p in taps[k]] + \
        op.inner_inputs[len(op.inner_inputs) - op.n_non_seqs:]
    inner_outputs = [op.inner_outputs[k] for k in states] + [op.inner_outputs[op.n_states + j] for j in frees] + \
        ([op.inner_outputs[-1]] if op.has_until else [])
    new_op = Scan(inner_inputs, inner_outputs, op.n_seqs, [op.taps[k] for k in states], len(frees), op.n_non_seqs,
                  op.has_until, [op.keep_last[k] for k in states], op.label, optimized=op.optimized,
                  reverse=op.reverse, advances=[(states.index(k), shared) for k, shared in op.advances if k in states])
    inits = node.inputs[1 + op.n_seqs:1 + op.n_seqs + op.n_states]
    args = node.inputs[:1 + op.n_seqs] + [inits[k] for k in states] + node.inputs[1 + op.n_seqs + op.n_states:]
    new_node = new_op.make_node(*args)
    new_node.sources = node.sources
    old_outputs = [node.outputs[k] for k in states] + [node.outputs[op.n_states + j] for j in frees]
    return list(zip(old_outputs, new_node.outputs))


def optimize_step(fg, node):
    """The scan with its step graph optimized (the inner rewrites recorded in ``fg.log``)."""
    from . import optimize_graph
    op = node.op
    outputs, log = optimize_graph(op.inner_outputs, fg.mode)
    if fg.log is not None:
        for entry in log.entries:
            fg.log.record(f"step of {op.label}: {entry.stage}", entry.rewrite, entry.before_snapshots,
                          entry.after_variables, entry.sources)
    new_op = op.with_inner_outputs(outputs, optimized=True)
    new_node = new_op.make_node(*node.inputs)
    new_node.sources = node.sources
    return list(zip(node.outputs, new_node.outputs))


def optimize_scan_steps(fg):
    """The pipeline stage: every scan without its unread outputs and with its step optimized."""
    for node in [n for n in fg.toposort() if isinstance(n.op, Scan)]:
        for rewrite in (remove_unused_outputs, optimize_step):
            if rewrite is optimize_step and node.op.optimized:
                continue
            pairs = rewrite(fg, node)
            if not pairs:
                continue
            for _, new in pairs:
                fg.import_variable(new)
            for old, new in pairs:
                fg.replace(old, new, rewrite.__name__, check=False)
            if fg.log is not None and rewrite is remove_unused_outputs:
                fg.log.record(fg.stage, "remove_unused_scan_outputs", None, [new for _, new in pairs], node.sources)
            node = pairs[0][1].owner
