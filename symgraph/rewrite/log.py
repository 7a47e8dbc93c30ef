"""The rewrite trace: which rewrite replaced what, in order, and node counts around each stage.

``str(log)`` is the readable report (``print(f.rewrite_log)``); ``log.entries`` and
``log.stages`` hold the same facts as data for tests and tools. The report shows each op with
its parameters (``shape_of{axis=0}``), says "merged 3 identical ..." once for each group of merged
duplicates, and abbreviates what would make a line unreadable: op labels beyond ``LABEL_WIDTH``
characters (a fused group's expression), operands beyond ``MAX_OPERANDS``, and the outputs of a
rewrite beyond ``MAX_PAIRS``.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from ..graph import Constant

LABEL_WIDTH = 60    # characters of an op's label (a fused group's expression can run to thousands)
MAX_OPERANDS = 4    # operands shown per node; the others are counted
MAX_PAIRS = 3       # replaced variables shown per entry (a fused group may replace many); the others counted
MERGE_REWRITES = ("merge_nodes", "merge_constants")


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
        return self.text()

    def text(self, merged=2):
        """One line. A merge entry says what was merged (``merged`` copies in all), not ``a -> a``."""
        where = f"  [{self.sources[0]}]" if self.sources else ""
        if self.rewrite in MERGE_REWRITES:
            kind = "constants " if self.rewrite == "merge_constants" else ""
            return f"{self.stage:>12}  {self.rewrite}: merged {merged} identical {kind}{self.after[0]}{where}"
        owners = {id(v.owner) for v in self.after_variables}
        if len(self.after_variables) > 1 and len(owners) == 1 and None not in owners:
            # One new node replaced several variables (a fused group with several outputs): name it once.
            node = self.after_variables[0].owner
            change = (f"{_listed(self.before, '; ')}  ->  {render_snapshot((node.op, tuple(node.inputs), 0, 1))}"
                      f" ({len(node.outputs)} outputs)")
        else:
            change = _listed([f"{b}  ->  {a}" for b, a in zip(self.before, self.after)], "; ")
        return f"{self.stage:>12}  {self.rewrite}: {change}{where}"


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
            lines += [f"  {line}" for line in self._entry_lines()]
        if self.dropped:
            lines.append(f"  ... and {self.dropped} more (not kept)")
        return "\n".join(lines)

    __repr__ = __str__

    def _entry_lines(self):
        """One line per entry, except that merges into the same survivor share one line."""
        lines, merged, slot = [], {}, {}
        for entry in self.entries:
            if entry.rewrite in MERGE_REWRITES and entry.after_variables:
                key = (entry.stage, entry.rewrite, id(entry.after_variables[0]))
                if key in slot:
                    merged[key] += 1
                    continue
                slot[key], merged[key] = len(lines), 2
                lines.append((entry, key))
            else:
                lines.append((entry, None))
        return [entry.text(merged[key]) if key else entry.text() for entry, key in lines]


def op_label(op) -> str:
    """An op as the log shows it: its name and parameters (``sum{axis=0}``), cut at ``LABEL_WIDTH``."""
    text = str(op)
    if len(text) <= LABEL_WIDTH:
        return text
    closing = "}" if text.endswith("}") else ""
    return text[:LABEL_WIDTH - 3 - len(closing)] + "..." + closing


def _operands(inputs, depth) -> str:
    shown = [describe_variable(v, depth) for v in inputs[:MAX_OPERANDS]]
    if len(inputs) > MAX_OPERANDS:
        shown.append(f"+{len(inputs) - MAX_OPERANDS} more")
    return ", ".join(shown)


def _listed(parts, separator) -> str:
    shown = list(parts[:MAX_PAIRS])
    if len(parts) > MAX_PAIRS:
        shown.append(f"and {len(parts) - MAX_PAIRS} more")
    return separator.join(shown)


def describe_variable(var, depth=2) -> str:
    """A compact one-line view of the expression computing ``var`` (``depth`` levels of nodes)."""
    if isinstance(var, Constant):
        return repr(var.value.item()) if var.value.size == 1 else f"<const {var.type}>"
    if var.owner is None or depth == 0:
        return var.name or ("..." if var.owner is not None else f"<{var.type}>")
    node = var.owner
    name = op_label(node.op)
    args = _operands(node.inputs, depth - 1)
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
    return f"{op_label(op)}({_operands(list(inputs), 1)})" + (f"[{index}]" if n_outputs > 1 else "")
