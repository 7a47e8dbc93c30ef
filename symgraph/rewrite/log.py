"""The rewrite trace: which rewrite replaced what, in order, and node counts around each stage.

``str(log)`` is the readable report (``print(f.rewrite_log)``); ``log.entries`` and
``log.stages`` hold the same facts as data for tests and tools.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from ..graph import Constant


@dataclass
class RewriteEntry:
    stage: str
    rewrite: str
    before_snapshots: list  # each replaced variable's node as it was (op, inputs), see ``snapshot``
    after_variables: list   # each replacement variable
    sources: tuple          # the user's source locations of the replaced node

    # Text is made on demand: a 10,000-node graph fires thousands of rewrites and is rarely printed.
    @property
    def before(self) -> list:
        return [render_snapshot(s) for s in self.before_snapshots]

    @property
    def after(self) -> list:
        return [describe_variable(v) for v in self.after_variables]

    def __str__(self):
        where = f"  [{self.sources[0]}]" if self.sources else ""
        pairs = "; ".join(f"{b}  ->  {a}" for b, a in zip(self.before, self.after))
        return f"{self.stage:>12}  {self.rewrite}: {pairs}{where}"


@dataclass
class StageRecord:
    name: str
    nodes_before: int
    nodes_after: int
    seconds: float

    def __str__(self):
        return f"{self.name:>12}  {self.nodes_before:6d} -> {self.nodes_after:6d} nodes  ({self.seconds * 1e3:.1f} ms)"


class RewriteLog:
    """Every replacement made by one optimizer run, in order, and the node count around each stage."""

    #: entries beyond this are counted but not kept (a 10,000-node graph can fire tens of thousands)
    max_entries = 20000

    def __init__(self, mode, detailed=True):
        self.mode = mode
        self.detailed = detailed
        self.entries: list[RewriteEntry] = []
        self.stages: list[StageRecord] = []
        self.counts = Counter()
        self.dropped = 0
        self.nodes_before = self.nodes_after = 0

    def start(self, node_count):
        self.nodes_before = self.nodes_after = node_count

    def record(self, stage, rewrite, before, after_variables, sources):
        self.counts[rewrite] += 1
        if not self.detailed or len(self.entries) >= self.max_entries:
            self.dropped += 1
            return
        after = list(after_variables)
        self.entries.append(RewriteEntry(stage, rewrite, before or ["?"] * len(after), after, tuple(sources)))

    def stage_done(self, name, before, after, seconds):
        self.stages.append(StageRecord(name, before, after, seconds))
        self.nodes_after = after

    def fired(self, name) -> int:
        """How many times the rewrite (or global pass) ``name`` replaced something."""
        return self.counts[name]

    def __iter__(self):
        return iter(self.entries)

    def __len__(self):
        return len(self.entries)

    def __str__(self):
        lines = [f"optimizer {self.mode!r}: {self.nodes_before} -> {self.nodes_after} nodes"]
        if self.stages:
            lines.append("stages:")
            lines += [f"  {s}" for s in self.stages]
        if self.entries:
            lines.append("rewrites, in order:")
            lines += [f"  {e}" for e in self.entries]
        if self.dropped:
            lines.append(f"  ... and {self.dropped} more (not kept)")
        return "\n".join(lines)

    __repr__ = __str__


def describe_variable(var, depth=2) -> str:
    """A compact one-line view of the expression computing ``var`` (``depth`` levels of nodes)."""
    if isinstance(var, Constant):
        return repr(var.value.item()) if var.value.size == 1 else f"<const {var.type}>"
    if var.owner is None or depth == 0:
        return var.name or ("..." if var.owner is not None else f"<{var.type}>")
    node = var.owner
    from ..ops.base import op_name
    name = op_name(node.op)
    if name == "fused":
        name = str(node.op)
    args = ", ".join(describe_variable(v, depth - 1) for v in node.inputs)
    index = f"[{var.index}]" if len(node.outputs) > 1 else ""
    return f"{name}({args}){index}"


def snapshot(var):
    """What ``var``'s node looked like now (its op and inputs), to render later as the 'before' view."""
    if var.owner is None:
        return var
    return (var.owner.op, tuple(var.owner.inputs), var.index, len(var.owner.outputs))


def render_snapshot(snap) -> str:
    if isinstance(snap, str):
        return snap
    if not isinstance(snap, tuple):
        return describe_variable(snap)
    op, inputs, index, n_outputs = snap
    from ..ops.base import op_name
    name = op_name(op)
    if name == "fused":
        name = str(op)
    args = ", ".join(describe_variable(v, 1) for v in inputs)
    return f"{name}({args})" + (f"[{index}]" if n_outputs > 1 else "")
