"""The rewrite engine: a mutable view of a graph, the rewrite registry and the fixpoint driver.

``FunctionGraph`` clones the nodes computing some outputs (leaves - inputs, constants,
shared variables - stay the same objects) and keeps, for every variable, the list of
its consumers, so a variable can be replaced everywhere in time proportional to its
uses and dead nodes are pruned as they appear. Local rewrites are small named
functions ``node -> replacement variables or None`` registered with tags (those that read
the graph being rewritten - its shape facts, a value's consumers - take it as a second
argument, ``(node, graph)``; nothing reaches it through a global); the driver
applies them from a worklist until nothing changes (a replaced variable's consumers
are revisited, never the whole graph). Global passes (merge, fusion, SymPy) are
functions of the whole ``FunctionGraph`` run as named stages of one pipeline.
"""
from __future__ import annotations

import difflib
import inspect
import os
import time
import warnings
from collections import deque

from ..graph import Node, Variable, inherit_source
from ..ops.base import op_name
from .log import RewriteLog, snapshot

OUTPUT = "output"  # the consumer recorded for a graph output

#: re-raise errors inside rewrites (tests set it); otherwise a failing rewrite is skipped with a warning
STRICT = os.environ.get("SYMGRAPH_STRICT_REWRITES", "") not in ("", "0")


class LocalRewrite:
    """A named local rewrite: ``function(node)``, or ``function(node, graph)`` when it reads the
    FunctionGraph being rewritten (its shape facts, the consumers of a value); returns the
    replacement variables for ``node``'s outputs, or None."""

    def __init__(self, function, name, tags, ops):
        self.function, self.name, self.tags, self.ops = function, name, frozenset(tags), ops
        self.reads_graph = len(inspect.signature(function).parameters) == 2

    def __call__(self, node, graph):
        return self.function(node, graph) if self.reads_graph else self.function(node)

    def __repr__(self):
        return f"<rewrite {self.name} {sorted(self.tags)}>"


#: every local rewrite by name, in registration order
REGISTRY: dict[str, LocalRewrite] = {}


def register(*tags, ops=None, name=None):
    """Decorator: register a local rewrite under ``tags``; ``ops`` (op names) limits where it is tried."""
    def decorate(function):
        rewrite = LocalRewrite(function, name or function.__name__, tags,
                               None if ops is None else frozenset((ops,) if isinstance(ops, str) else ops))
        REGISTRY[rewrite.name] = rewrite
        return function
    return decorate


class FunctionGraph:
    """A private, mutable copy of the graph computing ``outputs``."""

    def __init__(self, outputs, clone=True):
        self.nodes: dict[Node, None] = {}
        # variable -> {(consumer node or OUTPUT, input index): None}: ordered, O(1) removal
        self.clients: dict[Variable, dict] = {}
        self.shape_cache = {}
        #: replaced variable -> its replacement (cached shape descriptions may name a replaced variable;
        #: its replacement has the same shape: ``live`` finds it)
        self.replaced = {}
        if clone:
            outputs = clone_graph(outputs)
        self.outputs = list(outputs)
        for node in fast_toposort(self.outputs):
            self._add_node(node)
        for j, var in enumerate(self.outputs):
            self.clients.setdefault(var, {})[(OUTPUT, j)] = None
        self.log = None
        self.mode = "fast_run"
        self.stage = ""
        #: variables that lost a consumer when a node died (the driver revisits their few remaining users:
        #: a value now read only for its shape can be replaced by a cheaper one)
        self.released = []

    # ------------------------------------------------------------ structure

    def _add_node(self, node):
        self.nodes[node] = None
        clients = self.clients
        for i, var in enumerate(node.inputs):
            uses = clients.get(var)
            if uses is None:
                clients[var] = {(node, i): None}
            else:
                uses[(node, i)] = None
        for var in node.outputs:
            if var not in clients:
                clients[var] = {}

    def contains(self, var) -> bool:
        return var.owner in self.nodes if var.owner is not None else bool(self.clients.get(var))

    def live(self, var):
        """``var`` if the graph computes it, else what replaced it (it has the same value and shape), else
        None (it died unreplaced)."""
        seen = set()
        while not self.contains(var):
            seen.add(var)
            var = self.replaced.get(var)
            if var is None or var in seen:   # died unreplaced (or a replacement later undone, then died)
                return None
        return var

    def import_variable(self, var) -> list[Node]:
        """Add the nodes computing ``var`` that are not in the graph yet; returns them in order."""
        if var.owner is None or var.owner in self.nodes:
            return []
        new_nodes = fast_toposort([var], stop=set(_frontier(var, self.nodes)))
        added = []
        for node in new_nodes:
            if node not in self.nodes:
                self._add_node(node)
                added.append(node)
        return added

    def toposort(self) -> list[Node]:
        return fast_toposort(self.outputs)

    def consumers(self, var) -> list:
        return [node for node, _ in self.clients.get(var, ()) if node is not OUTPUT]

    def is_output(self, var) -> bool:
        return any(node is OUTPUT for node, _ in self.clients.get(var, ()))

    def replace(self, old, new, reason="", check=True):
        """Make every consumer of ``old`` (and the outputs) use ``new`` instead; prune what died."""
        if old is new:
            return
        if check:
            check_replacement(old, new, reason)
        uses = self.clients.pop(old, {})
        self.clients[old] = {}
        self.replaced[old] = new
        targets = self.clients.setdefault(new, {})
        for node, i in uses:
            if node is OUTPUT:
                self.outputs[i] = new
            else:
                node.inputs[i] = new
            targets[(node, i)] = None
        if old.owner is not None:
            self._prune(old.owner)

    def _prune(self, node):
        stack = [node]
        while stack:
            node = stack.pop()
            if node not in self.nodes or any(self.clients.get(v) for v in node.outputs):
                continue
            del self.nodes[node]
            for v in node.outputs:
                self.clients.pop(v, None)
            for i, var in enumerate(node.inputs):
                uses = self.clients.get(var)
                if uses is not None:
                    uses.pop((node, i), None)
                    if not uses and var.owner is not None:
                        stack.append(var.owner)
                    elif uses:
                        self.released.append(var)

    def __len__(self):
        return len(self.nodes)


def fast_toposort(outputs, stop=frozenset()) -> list[Node]:
    """Nodes computing ``outputs`` in dependency order, not entering variables in ``stop``.

    The optimizer's own traversal: node-keyed sets and input iterators, no cycle check
    (the view is built from an acyclic graph and rewrites only use existing values).
    """
    order, done = [], set()
    for root in outputs:
        node = root.owner
        if node is None or node in done or root in stop:
            continue
        done.add(node)
        stack = [(node, iter(node.inputs))]
        while stack:
            current, pending = stack[-1]
            for var in pending:
                owner = var.owner
                if owner is not None and owner not in done and var not in stop:
                    done.add(owner)
                    stack.append((owner, iter(owner.inputs)))
                    break
            else:
                stack.pop()
                order.append(current)
    return order


def _frontier(var, known_nodes):
    """Variables of the graph that the new expression ``var`` reads (where the import stops)."""
    seen, stack, frontier = set(), [var], []
    while stack:
        v = stack.pop()
        if v in seen:
            continue
        seen.add(v)
        if v.owner is None or v.owner in known_nodes:
            frontier.append(v)
            continue
        stack.extend(v.owner.inputs)
    return frontier


def clone_graph(outputs):
    """Fresh copies of the nodes computing ``outputs``; leaves are kept as they are."""
    mapping = {}
    new_node = Node.__new__  # a plain copy: the op already checked these types when the user built it
    for node in fast_toposort(outputs):
        copy = new_node(Node)
        copy.op = node.op
        copy.inputs = [mapping.get(v, v) for v in node.inputs]
        copy.sources = node.sources
        copy.outputs = []
        for old in node.outputs:
            var = Variable(old.type, copy, old.index, old.name)
            copy.outputs.append(var)
            mapping[old] = var
    return [mapping.get(v, v) for v in outputs]


def check_replacement(old, new, reason=""):
    """A replacement must keep dtype and rank, and a static shape that can agree with the old one."""
    if not isinstance(new, Variable):
        raise TypeError(f"rewrite {reason}: replacement for {old!r} is {type(new).__name__}, not a Variable")
    if new.type.dtype != old.type.dtype or new.type.ndim != old.type.ndim or \
            not old.type.is_compatible(new.type):
        raise TypeError(f"rewrite {reason}: replacement {new.type} does not match {old.type} of {old!r}")


# ------------------------------------------------------------------ the fixpoint driver

class _RewriteIndex:
    """Which rewrites to try on a node: those registered for its op name, for any elementwise op
    (``ops="elemwise"``), or for every op (``ops=None``), in registration order."""

    def __init__(self, rewrites):
        self.rewrites = list(rewrites)
        self.cache = {}

    def for_node(self, node):
        op = node.op
        key = (op_name(op), hasattr(op, "scalar_op"))
        found = self.cache.get(key)
        if found is None:
            name, elementwise = key
            found = [r for r in self.rewrites
                     if r.ops is None or name in r.ops or (elementwise and "elemwise" in r.ops)]
            self.cache[key] = found
        return found


def apply_local_rewrites(fg: FunctionGraph, rewrites, max_steps=None):
    """Apply ``rewrites`` until none fires; returns how many replacements were made."""
    if not rewrites:
        return 0
    index = _RewriteIndex(rewrites)
    fg.released = []
    queue = deque(fg.toposort())
    queued = set(queue)
    max_steps = max_steps or 50 * (len(fg) + 100)
    steps = fired = 0
    while queue and steps < max_steps:
        node = queue.popleft()
        queued.discard(node)
        steps += 1
        if node not in fg.nodes:
            continue
        with inherit_source(node.sources):
            for rewrite in index.for_node(node):
                try:
                    result = rewrite(node, fg)
                    if result is None:
                        continue
                    changed = _apply_result(fg, node, result, rewrite.name)
                except Exception as exc:  # a broken rewrite must not break the user's compile
                    if STRICT:
                        raise
                    warnings.warn(f"rewrite {rewrite.name} failed on {node.op}{node.where()}: {exc!r}; "
                                  "skipped", RuntimeWarning, stacklevel=2)
                    continue
                if not changed:
                    continue
                fired += 1
                changed = changed + _revisit_released(fg)
                for var in changed:
                    # new nodes are rewritten too, then everything that now reads a new value
                    owner = var.owner
                    if owner is not None and owner not in queued and owner in fg.nodes:
                        queued.add(owner)
                        queue.append(owner)
                    for consumer in fg.consumers(var):
                        if consumer not in queued:
                            queued.add(consumer)
                            queue.append(consumer)
                break
    return fired


def _revisit_released(fg, few=2):
    """Variables whose consumers to revisit: those left with ``few`` or fewer users when a node died."""
    released, fg.released = fg.released, []
    return [var for var in released if 0 < len(fg.clients.get(var, ())) <= few]


def _apply_result(fg, node, result, rewrite_name):
    """Install a rewrite's replacements; returns the new variables now in use (empty if none)."""
    if isinstance(result, Variable):
        result = [result]
    if len(result) != len(node.outputs):
        raise ValueError(f"rewrite {rewrite_name} returned {len(result)} variables for {len(node.outputs)} outputs")
    pairs = [(old, new) for old, new in zip(node.outputs, result)
             if new is not None and new is not old and fg.clients.get(old)]
    if not pairs:
        return []
    for old, new in pairs:
        check_replacement(old, new, rewrite_name)
    log = fg.log
    before = [snapshot(old) for old, _ in pairs] if log is not None and log.detailed else None
    changed = []
    for old, new in pairs:
        added = fg.import_variable(new)
        fg.replace(old, new, rewrite_name, check=False)
        changed.append(new)
        for added_node in added:
            changed.extend(added_node.outputs)
    if log is not None:
        log.record(fg.stage, rewrite_name, before, [new for _, new in pairs], node.sources)
    return changed


# ------------------------------------------------------------------ the pipeline

class Stage:
    """One named step of the pipeline: either local rewrites with ``tags`` or a global ``pass_function``."""

    def __init__(self, name, tags=(), pass_function=None, modes=("fast_run",), optional=False, after=None):
        self.name, self.tags, self.pass_function, self.modes = name, tuple(tags), pass_function, modes
        #: an optional stage runs only when its name or a tag is in the mode's "include" list
        self.optional = optional
        #: the name of a stage this one follows up: it runs only when that stage changed the graph
        self.after = after

    def selected(self, mode, included, excluded):
        if mode not in self.modes or self.name in excluded:
            return False
        if self.pass_function is not None and set(self.tags) & excluded:
            return False  # (a local stage stays: excluding a tag removes just those rewrites)
        return not self.optional or self.name in included or bool(set(self.tags) & included)

    def rewrites(self, excluded, included=frozenset()):
        # an opt-in rewrite asked for by name runs although its tag stays off
        return [r for r in REGISTRY.values()
                if r.tags & set(self.tags) and r.name not in excluded
                and (not (r.tags & excluded) or r.name in included)]


# Rewrites with these tags change IEEE results, so they run only when asked for:
# "assumes_finite" (x * 0 -> 0 is wrong for x = inf or NaN) and "fast_math" (re-association, signed
# zeros, one rounding for two, A @ b + A @ c -> A @ (b + c)), e.g. optimizer={"mode": "fast_run", "include": ["fast_math"]};
# including "fast_math" includes "assumes_finite" too.
OPT_IN_TAGS = frozenset({"assumes_finite", "fast_math"})


def parse_mode(mode):
    """``"fast_run"``, ``"fast_compile"``, ``None`` or ``{"mode": ..., "exclude": [...], "include": [...]}``
    -> (mode, included, excluded); names in the lists are rewrite names, tags or stage names."""
    excluded, included = set(), set()
    if isinstance(mode, dict):
        unknown = set(mode) - {"mode", "exclude", "include"}
        if unknown:
            raise ValueError(f"unknown optimizer option(s) {sorted(unknown)}; use 'mode', 'exclude', 'include'")
        excluded, included = (_name_set(mode, key) for key in ("exclude", "include"))
        mode = mode.get("mode", "fast_run")
    if mode is True:
        mode = "fast_run"
    if "fast_math" in included:
        included |= OPT_IN_TAGS
    excluded |= OPT_IN_TAGS - included
    if mode not in ("fast_run", "fast_compile", None, False):
        raise ValueError(f"unknown optimizer mode {mode!r}; use 'fast_run', 'fast_compile' or None")
    return (mode or None), included, excluded


def _name_set(mode, key) -> set:
    names = mode.get(key, ())
    return {names} if isinstance(names, str) else set(names)


def check_rewrite_names(mode, stages):
    """ValueError naming every unknown rewrite, tag or stage in ``mode``'s include/exclude lists.

    A misspelt name would otherwise switch nothing off (or on) without a word; the message lists
    the closest known names.
    """
    if not isinstance(mode, dict):
        return
    known = set(REGISTRY) | OPT_IN_TAGS
    for rewrite in REGISTRY.values():
        known |= rewrite.tags
    for stage in stages:
        known |= {stage.name, *stage.tags}
    for key in ("exclude", "include"):
        for name in sorted(_name_set(mode, key), key=str):
            if name not in known:
                close = difflib.get_close_matches(str(name), sorted(known), n=5, cutoff=0.5)
                hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
                raise ValueError(f"optimizer {key!r} names an unknown rewrite, tag or stage {name!r}{hint} "
                                 f"(the known names: {', '.join(sorted(known))})")


def run_pipeline(outputs, stages, mode="fast_run", detailed_log=True, on_stage=None):
    """Run the selected ``stages`` on a copy of ``outputs``: (optimized outputs, RewriteLog).

    ``on_stage(name, fg)``, when given, is called with the working graph before the first stage
    (name ``""``) and after each stage that ran (``sg.view`` records the rewrite history with it).
    """
    check_rewrite_names(mode, stages)
    original_mode = mode
    mode, included, excluded = parse_mode(mode)
    log = RewriteLog(mode, detailed=detailed_log)
    if mode is None:
        return list(outputs), log
    fg = FunctionGraph(outputs)
    fg.log = log
    fg.mode = original_mode        # the mode as given, for the graphs inside loops (scan_steps.py)
    log.start(len(fg))
    if on_stage is not None:
        on_stage("", fg)
    changed = set()           # the stages that changed the number of nodes
    for stage in stages:
        if not stage.selected(mode, included, excluded) or (stage.after and stage.after not in changed):
            continue
        fg.stage = stage.name
        before, start = len(fg), time.perf_counter()
        if stage.pass_function is not None:
            try:
                stage.pass_function(fg)
            except Exception as exc:  # each replacement is atomic: keep what the pass finished
                if STRICT:
                    raise
                warnings.warn(f"optimizer stage {stage.name} failed: {exc!r}; continuing without it",
                              RuntimeWarning, stacklevel=2)
            finally:
                fg.released = []
        else:
            apply_local_rewrites(fg, stage.rewrites(excluded, included))
        log.stage_done(stage.name, before, len(fg), time.perf_counter() - start)
        if on_stage is not None:
            on_stage(stage.name, fg)
        if len(fg) != before:
            changed.add(stage.name)
    return fg.outputs, log
