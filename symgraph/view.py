"""``sg.view``: a graph as one self-contained HTML page to explore in a browser.

The page holds everything it needs (its script, its styles and the graph as JSON data) and
asks for nothing over the network; its Content-Security-Policy forbids every request. The graph
is laid out left to right in layers (Graphviz's ``dot`` when installed and the graph is not
huge, else the linear-time layered layout below), drawn as SVG, and can be panned (drag), zoomed
(wheel) and searched (by name or op). Clicking a node shows the user's file:line where it was
built, its inputs and consumers, and a fused node's scalar expression. For a compiled function
the page also replays the optimizer: a slider steps from the graph as built (with the gradient
nodes ``sg.grad`` made) through each stage of the rewrite pipeline to ``f.graph``, with the node
count of each stage and the nodes each stage added and removed highlighted.

Security: user text (names, op parameters, file names) only ever travels as JSON inside a
``<script type="application/json">`` element, with ``<``, ``>``, ``&``, U+2028 and U+2029
escaped, and the page's script inserts it with ``textContent``, never as markup.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import webbrowser
from pathlib import Path

from .draw import _FILL, _constant_label, _leaf_label, _operand_name, op_label
from .graph import Constant, SharedVariable, Variable, toposort

_CHAR = 6.6          # px per character of the 11px monospace-ish label font
_LINE = 14           # px per label line
_LABEL_WIDTH = 30    # characters per label line inside a node box
_MAX_EXPR = 4000     # characters of a fused expression kept for the side panel
_DOT_MAX_NODES = 1500  # above this the Python layout is used even when dot is installed
_KIND_FILL = dict(_FILL, constant="#ffffff", output="#f6dede", update="#e3f3e0")


# ---------------------------------------------------------------- graph -> JSON data

class _Encoder:
    """Display ids and facts for the nodes and leaves of one or more graphs (stages)."""

    def __init__(self, gradient_nodes=()):
        self.nodes = {}        # display id -> facts shown by the page
        self._ids = {}         # id(object) -> display id
        self._keep = []        # the objects behind ids, kept alive so id() values are not reused
        self._gradient = gradient_nodes
        self._updated = set()  # id() of shared variables that receive updates

    # ------------------------------------------------------------ ids and facts

    def node_id(self, node):
        display = self._ids.get(id(node))
        if display is None:
            display = self._ids[id(node)] = f"n{len(self._ids)}"
            self._keep.append(node)
            self.nodes[display] = self._node_facts(node)
        return display

    def alias(self, obj, display):
        """Show ``obj`` (a copy of a node already shown) under the existing ``display`` id."""
        self._ids[id(obj)] = display
        self._keep.append(obj)

    def leaf_id(self, var):
        display = self._ids.get(id(var))
        if display is None:
            display = self._ids[id(var)] = f"v{len(self._ids)}"
            self._keep.append(var)
            kind = ("constant" if isinstance(var, Constant) else
                    "shared" if isinstance(var, SharedVariable) else "input")
            label = _constant_label(var) if kind == "constant" else _leaf_label(var)
            self.nodes[display] = _facts(kind, [_short(label), repr(var.type)], label, var,
                                         updated=id(var) in self._updated)
        return display

    def _node_facts(self, node):
        fused = hasattr(node.op, "expression_strings")
        names = [_operand_name(v, k) for k, v in enumerate(node.inputs)] if fused else None
        try:
            text = op_label(node.op, width=_LABEL_WIDTH, input_names=names)
        except Exception:       # a user op whose str() fails must not stop the page
            text = type(node.op).__name__
        lines = text.split("\n")
        label = lines[:2] if len(lines) <= 2 else [lines[0], lines[1][:_LABEL_WIDTH - 1] + "…"]
        named = [v.name for v in node.outputs if v.name]
        if named:
            label[0] = _short(f"{named[0]} = {label[0]}")
        types = ", ".join(repr(v.type) for v in node.outputs[:2]) + (" …" if len(node.outputs) > 2 else "")
        label.append(_short(types))
        try:
            op_text = str(node.op)
        except Exception:
            op_text = type(node.op).__name__
        out = node.outputs[0] if node.outputs else None
        facts = _facts("fused" if fused else "op", label, op_text[:500], out)
        facts["names"] = named
        facts["where"] = [str(s) for s in node.sources[:5]]
        if node.sources:
            facts["file"], facts["line"] = node.sources[0].filename, node.sources[0].lineno
        facts["grad"] = node in self._gradient
        facts["nout"] = len(node.outputs)
        if fused:
            try:
                expression = op_label(node.op, width=100, input_names=names).split("\n")[1:]
            except Exception:
                expression = []
            facts["expr"] = [line[:_MAX_EXPR] for line in expression[:200]]
        return facts

    # ------------------------------------------------------------ one stage

    def stage(self, name, outputs, updates):
        """The ids and edges of the graph computing ``outputs`` and the update values."""
        self._updated.update(id(target) for target, _ in updates)
        ids, seen, edges = [], set(), []

        def show(display):
            if display not in seen:
                seen.add(display)
                ids.append(display)

        def source(var, consumer):
            if var.owner is not None:
                return self.node_id(var.owner)
            if isinstance(var, Constant):   # one label per use keeps constants beside their consumer
                leaf = self.leaf_id(var)
                display = f"c{leaf[1:]}_{consumer}"
                if display not in self.nodes:
                    self.nodes[display] = dict(self.nodes[leaf])
                show(display)
                return display
            display = self.leaf_id(var)
            if id(var) in self._updated:
                self.nodes[display]["updated"] = True
            show(display)
            return display

        for node in toposort(list(outputs) + [expr for _, expr in updates]):
            display = self.node_id(node)
            show(display)
            fused = self.nodes[display]["kind"] == "fused"
            for position, var in enumerate(node.inputs):
                if fused and isinstance(var, Constant) and var.value.size == 1:
                    continue        # spelled inside the expression
                label = f"i{position}" if fused else ""
                if var.owner is not None and len(var.owner.outputs) > 1:
                    label = (label + f" out{var.index}").strip()
                edges.append([source(var, display), display, label, 0])
        for index, var in enumerate(outputs):
            marker = f"o{index}"
            if marker not in self.nodes:
                heading = var.name or ("output" if len(outputs) == 1 else f"output {index}")
                self.nodes[marker] = _facts("output", [_short(heading), repr(var.type)], heading, var)
            show(marker)
            edges.append([source(var, marker), marker, "", 0])
        for index, (target, expr) in enumerate(updates):
            marker = f"u{index}"
            if marker not in self.nodes:
                text = f"{_leaf_label(target)} (new value)"
                self.nodes[marker] = _facts("update", [_short(text), repr(target.type)], text, target)
            show(marker)
            edges.append([source(expr, marker), marker, "", 1])
        n_ops = sum(1 for d in ids if d[0] == "n")
        return {"name": name, "ids": ids, "edges": edges, "n": n_ops}


def _short(text, width=_LABEL_WIDTH):
    return text if len(text) <= width else text[:width - 1] + "…"


def _facts(kind, label, op, var, updated=False):
    facts = {"kind": kind, "label": label, "op": op}
    if var is not None:
        facts["dtype"] = var.dtype
        facts["shape"] = "(" + ", ".join("?" if s is None else str(s) for s in var.type.shape) + \
                         ("," if len(var.type.shape) == 1 else "") + ")"
    if kind == "constant" and var is not None and var.value.size <= 16:
        facts["value"] = repr(var.value.tolist())
    if updated:
        facts["updated"] = True
    width = max(len(line) for line in label) * _CHAR + (18 if kind in ("op", "fused") else 28)
    facts["w"] = round(max(width, 40), 1)
    facts["h"] = len(label) * _LINE + 10
    return facts


def _structural_keys(nodes, interned):
    """A number per node, equal for nodes applying the same op to the same (structurally equal) inputs."""
    keys = {}
    for node in nodes:
        inputs = tuple((keys[id(v.owner)], v.index) if v.owner is not None and id(v.owner) in keys
                       else _leaf_key(v) for v in node.inputs)
        try:
            keys[id(node)] = interned.setdefault((node.op, inputs), len(interned))
        except TypeError:       # an unhashable op: only itself
            keys[id(node)] = interned.setdefault(("node", id(node)), len(interned))
    return keys


def _leaf_key(var):
    if isinstance(var, Constant):   # constant folding makes new constants each run: equal by value
        try:
            return ("constant", var.signature())
        except Exception:
            pass
    return ("leaf", id(var))


def _alias_copies(encoder, shown_nodes, copies):
    """Give each node of ``copies`` the display id of the structurally equal node of ``shown_nodes``."""
    interned, pending = {}, {}
    for node, key in zip(shown_nodes, _structural_keys(shown_nodes, interned).values()):
        pending.setdefault(key, []).append(node)
    copy_keys = _structural_keys(copies, interned)
    for node in copies:
        matches = pending.get(copy_keys[id(node)])
        if matches:
            encoder.alias(node, encoder.node_id(matches.pop(0)))


def _variable_data(outputs, updates):
    from .grad import GRADIENT_NODES
    encoder = _Encoder(GRADIENT_NODES)
    stage = encoder.stage("graph", outputs, updates)
    return encoder, [stage], [d for d in stage["ids"] if d[0] == "n"]


def _function_data(f):
    """Stages from the graph as built to ``f.graph``: the optimizer is run again with a hook that
    records the working graph after each stage (its nodes keep their identity from stage to stage,
    so what a stage added and removed is exact)."""
    from .grad import GRADIENT_NODES
    from .rewrite import PIPELINE, collector_paused
    from .rewrite.engine import run_pipeline
    encoder = _Encoder(GRADIENT_NODES)
    outputs, updates = list(f.outputs), list(f.updates)
    targets = [target for target, _ in updates]
    stages = [encoder.stage("as built", outputs, updates)]
    built_nodes = toposort(outputs + [expr for _, expr in updates])
    counts = {}
    mode = getattr(f, "_options", {}).get("optimizer", "fast_run")
    last = None

    def on_stage(name, fg):
        nonlocal last
        n_out = len(outputs)
        current_outputs = list(fg.outputs[:n_out])
        current_updates = list(zip(targets, fg.outputs[n_out:]))
        if name == "":      # the optimizer's private copy of the graph as built: same display ids
            _alias_copies(encoder, built_nodes, toposort(current_outputs + [e for _, e in current_updates]))
        else:
            stages.append(encoder.stage(name, current_outputs, current_updates))
        last = (current_outputs, current_updates)

    if mode:
        try:
            with collector_paused():
                _, log = run_pipeline(outputs + [expr for _, expr in updates], PIPELINE, mode, on_stage=on_stage)
            for entry in log.entries:
                stage_counts = counts.setdefault(entry.stage, {})
                stage_counts[entry.rewrite] = stage_counts.get(entry.rewrite, 0) + 1
        except Exception as exc:    # the history is a bonus: the compiled graph is still shown
            stages[0]["note"] = f"rewrite history unavailable: {exc!r}"[:300]
            del stages[1:]
            last = None
    # f.graph itself: its nodes are matched to the last stage's; a difference (OpFromGraph inlining,
    # or an optimizer that ran differently) becomes a final stage of its own.
    compiled_roots = list(f.graph.outputs) + [expr for _, expr in f.graph.updates]
    compiled_nodes = toposort(compiled_roots)
    previous_nodes = toposort(last[0] + [e for _, e in last[1]]) if last else built_nodes
    _alias_copies(encoder, previous_nodes, compiled_nodes)
    compiled = encoder.stage("compiled (f.graph)", list(f.graph.outputs), list(f.graph.updates))
    _add_profile_times(f, encoder, compiled_nodes)
    if compiled["ids"] == stages[-1]["ids"] and compiled["edges"] == stages[-1]["edges"]:
        stages[-1]["compiled"] = True
    else:
        compiled["compiled"] = True
        stages.append(compiled)
    for stage in stages:
        stage["rewrites"] = counts.get(stage["name"], {})
    return encoder, stages, [d for d in compiled["ids"] if d[0] == "n"]


def _profile_labels(executor):
    """{id(node): row label of ``f.profile()``} for the backends that time each node, else None.

    The python backend keeps that table itself; the numba backend's rows are its kernel's node
    blocks in program order (``#k op -> types``), matched to the program's nodes by that text.
    """
    labels = getattr(executor, "labels", None)
    if isinstance(labels, dict):
        return labels
    rows, program = getattr(executor, "_profile_labels", None), getattr(executor, "program", None)
    if not rows or program is None or getattr(executor, "_profile_counters", None) is None:
        return None
    labels, nodes = {}, iter(program.nodes)
    for row in rows:
        text = row.split(" ", 1)[1] if " " in row else row
        for node in nodes:
            if text == f"{node.op} -> " + ", ".join(str(v.type) for v in node.outputs):
                labels[id(node)] = row
                break
    return labels


def _add_profile_times(f, encoder, compiled_nodes):
    """Seconds per node from ``f.profile()`` where a backend times each node (the python backend;
    the numba backend's cycle counters, one per node block of its kernel)."""
    labels = _profile_labels(getattr(f, "_executor", None))
    if getattr(f, "_profile", None) is None or not labels:
        return
    try:
        rows = f.profile().rows
    except Exception:
        return
    seconds = {row["label"]: row["seconds"] for row in rows}
    total = sum(seconds.values()) or 1.0
    for node in compiled_nodes:
        label = labels.get(id(node))
        if label in seconds:
            facts = encoder.nodes[encoder.node_id(node)]
            facts["seconds"] = seconds[label]
            facts["percent"] = round(100.0 * seconds[label] / total, 2)


# ---------------------------------------------------------------- layout

def _layout(ids, edges, facts):
    """Centre (x, y) in px of each id, left to right: dot when available, else the layered layout."""
    if shutil.which("dot") and len(ids) <= _DOT_MAX_NODES:
        try:
            return _dot_layout(ids, edges, facts)
        except Exception:
            pass
    return _layered_layout(ids, edges, facts)


def _dot_layout(ids, edges, facts):
    lines = ["digraph g {", "rankdir=LR; nodesep=0.15; ranksep=0.5;",
             "node [shape=box, fixedsize=true, label=\"\"];"]
    for index, display in enumerate(ids):
        lines.append(f"n{index} [width={facts[display]['w'] / 72:.3f}, height={facts[display]['h'] / 72:.3f}];")
    number = {d: i for i, d in enumerate(ids)}
    for source, target, *_ in edges:
        if source in number and target in number:
            lines.append(f"n{number[source]} -> n{number[target]};")
    lines.append("}")
    result = subprocess.run([shutil.which("dot"), "-Tplain"], input="\n".join(lines).encode(),
                            capture_output=True, timeout=10, check=True)
    positions = {}
    for line in result.stdout.decode().splitlines():
        parts = line.split()
        if parts and parts[0] == "node":
            positions[ids[int(parts[1][1:])]] = [round(float(parts[2]) * 72, 1), round(-float(parts[3]) * 72, 1)]
    if len(positions) != len(ids):
        raise RuntimeError("dot left nodes out")
    return positions


def _layered_layout(ids, edges, facts, sweeps=4, gap_x=50.0, gap_y=14.0):
    """Longest-path layers (then each node pulled next to its first consumer), a few barycentre
    ordering sweeps, and rows packed along y: O(E log E) per sweep, no dummy nodes."""
    n = len(ids)
    index = {d: i for i, d in enumerate(ids)}
    preds, succs = [[] for _ in range(n)], [[] for _ in range(n)]
    for source, target, *_ in edges:
        s, t = index.get(source), index.get(target)
        if s is not None and t is not None and s != t:
            preds[t].append(s)
            succs[s].append(t)
    # Kahn's order (a cycle cannot happen in one graph, but a stage drawn with the previous stage's
    # removed nodes mixes two graphs: whatever is left in a cycle goes last).
    indegree = [len(p) for p in preds]
    order = [i for i in range(n) if indegree[i] == 0]
    head = 0
    while head < len(order):
        for t in succs[order[head]]:
            indegree[t] -= 1
            if indegree[t] == 0:
                order.append(t)
        head += 1
    if len(order) < n:
        placed = set(order)
        order += [i for i in range(n) if i not in placed]
    rank = {i: r for r, i in enumerate(order)}
    layer = [0] * n
    for i in order:
        layer[i] = max((layer[p] + 1 for p in preds[i] if rank[p] < rank[i]), default=0)
    for i in reversed(order):
        later = [layer[s] for s in succs[i] if rank[s] > rank[i]]
        if later:
            layer[i] = max(layer[i], min(later) - 1)
    n_layers = 1 + max(layer, default=0)
    rows = [[] for _ in range(n_layers)]
    for i in order:
        rows[layer[i]].append(i)
    position = [0.0] * n
    for row in rows:
        for p, i in enumerate(row):
            position[i] = p
    for sweep in range(sweeps):
        forward = sweep % 2 == 0
        for row in (rows[1:] if forward else rows[-2::-1]):
            neighbours = preds if forward else succs
            keyed = []
            for p, i in enumerate(row):
                near = neighbours[i]
                keyed.append((sum(position[j] for j in near) / len(near) if near else position[i], p, i))
            keyed.sort()
            row[:] = [i for _, _, i in keyed]
            for p, i in enumerate(row):
                position[i] = p
    # Coordinates: x by layer; y packed in row order, each node aimed at the mean y of its inputs.
    widths = [max((facts[ids[i]]["w"] for i in row), default=0) for row in rows]
    xs, x = [], 0.0
    for width in widths:
        xs.append(x + width / 2)
        x += width + gap_x
    y = [0.0] * n
    for depth, row in enumerate(rows):
        wanted, placed, bottom = [], [], None
        for i in row:
            near = [p for p in preds[i] if layer[p] < depth] or [s for s in succs[i] if layer[s] < depth]
            target = sum(y[p] for p in near) / len(near) if near else (bottom or 0.0)
            half = facts[ids[i]]["h"] / 2
            top = target if bottom is None else max(target, bottom + gap_y + half)
            placed.append(top)
            wanted.append(target)
            bottom = top + half
        shift = sum(w - p for w, p in zip(wanted, placed)) / len(row) if row else 0.0
        for i, p in zip(row, placed):
            y[i] = p + shift
    return {ids[i]: [round(xs[layer[i]], 1), round(y[i], 1)] for i in range(n)}


def _lay_out_stages(stages, facts):
    """Positions per stage; a stage also draws the previous stage's removed nodes (faded) where they were."""
    previous = None
    for number, stage in enumerate(stages):
        if previous is not None and stage["ids"] == previous["ids"] and stage["edges"] == previous["edges"]:
            stage["same"] = stages.index(previous) if "same" not in previous else previous["same"]
            del stage["ids"], stage["edges"]
            stage["added"], stage["removed"] = [], []
            continue
        if previous is None:
            stage["added"], stage["removed"], stage["gedges"] = [], [], []
            ghosts = []
        else:
            now = set(stage["ids"])
            before = set(previous["ids"])
            stage["added"] = [d for d in stage["ids"] if d not in before]
            ghosts = [d for d in previous["ids"] if d not in now]
            stage["removed"] = ghosts
            gone = set(ghosts)
            stage["gedges"] = [e for e in previous["edges"] if e[0] in gone or e[1] in gone]
        stage["pos"] = _layout(stage["ids"] + ghosts, stage["edges"] + stage["gedges"], facts)
        previous = stage


# ---------------------------------------------------------------- the page

def _json_for_script(data) -> str:
    """JSON that cannot end its ``<script>`` element or be read as markup: < > & U+2028 U+2029 escaped."""
    text = json.dumps(data, separators=(",", ":"))
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                         ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escape)
    return text


def _describe(obj):
    text = repr(obj)
    return text if len(text) <= 80 else text[:77] + "..."


def page_data(obj) -> dict:
    """The data the page draws: node facts, stages (ids, edges, positions), the optimized ids."""
    from .function import CompiledGraph, Function
    if isinstance(obj, Function):
        encoder, stages, optimized = _function_data(obj)
        title = obj.name or "compiled function"
    elif isinstance(obj, CompiledGraph):
        encoder, stages, optimized = _variable_data(list(obj.outputs), list(obj.updates))
        title = "compiled graph"
    elif isinstance(obj, Variable):
        encoder, stages, optimized = _variable_data([obj], [])
        title = obj.name or "graph"
    elif isinstance(obj, (list, tuple)) and obj and all(isinstance(v, Variable) for v in obj):
        encoder, stages, optimized = _variable_data(list(obj), [])
        title = ", ".join(v.name or "?" for v in obj[:6]) + (", …" if len(obj) > 6 else "")
    else:
        raise TypeError(f"sg.view needs a variable, a list of variables or a compiled function "
                        f"(sg.function), got {type(obj).__name__} {_describe(obj)}")
    _lay_out_stages(stages, encoder.nodes)
    return {"title": title, "nodes": encoder.nodes, "stages": stages, "optimized": optimized,
            "initial": len(stages) - 1, "fill": _KIND_FILL}


def render_html(obj) -> str:
    """The viewer page of ``obj`` as one HTML string."""
    return _PAGE.replace("__DATA__", _json_for_script(page_data(obj)))


def _in_jupyter():
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    try:
        shell = ipython.get_ipython()
    except Exception:
        return False
    return shell is not None and getattr(shell, "kernel", None) is not None


def _display_inline(page):
    import html
    from IPython.display import HTML, display
    display(HTML(f'<iframe srcdoc="{html.escape(page, quote=True)}" '
                 'style="width:100%;height:640px;border:1px solid #ccc"></iframe>'))


def view(obj, path=None, open_browser=False):
    """Write an interactive HTML page of a graph: pan, zoom, search, provenance, rewrite history.

    The page is one self-contained file (no network needed, none allowed): the graph is laid out
    left to right, drag pans and the wheel zooms, the search box finds nodes by name or op, and
    each node shows its op, dtype and shape; clicking one shows the file:line where it was built,
    its inputs and consumers, and a fused node's scalar expression. Gradient nodes (built by
    ``sg.grad``) have a purple border, shared variables and their new values are green. For a
    compiled function a slider steps from the graph as built to the optimized graph (``f.graph``),
    stage by stage, with each stage's node count and the nodes it added and removed highlighted.
    A function compiled with ``profile=True`` on a backend that times each node (python, and numba
    through its kernel's cycle counters) has its nodes coloured by their share of ``f.profile()``'s
    time. Inside Jupyter the page is also
    displayed inline.

    Parameters
    ----------
    obj : Variable, list of Variable, or Function
        What to show; a compiled function (``sg.function``) also shows its rewrite history.
    path : str or pathlib.Path, optional
        Where to write the page (default: a new file in the temporary directory).
    open_browser : bool, default False
        Open the page with the ``webbrowser`` module.

    Returns
    -------
    pathlib.Path
        The path of the page.

    Raises
    ------
    TypeError
        If ``obj`` is not a variable, a list of variables or a compiled function.

    Examples
    --------
    >>> x = sg.vector("x")
    >>> page = sg.view(sg.grad(sg.exp(x).sum(), x))
    >>> page.read_text().startswith("<!DOCTYPE html>")
    True
    >>> page.unlink()
    """
    page = render_html(obj)
    if path is None:
        handle, name = tempfile.mkstemp(prefix="symgraph-view-", suffix=".html")
        os.close(handle)
        path = Path(name)
    else:
        path = Path(path)
        if path.parent and not path.parent.exists():
            os.makedirs(path.parent, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    if open_browser:
        webbrowser.open(path.resolve().as_uri())
    if _in_jupyter():
        try:
            _display_inline(page)
        except Exception:
            pass
    return path


_PAGE = r"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>symgraph graph</title>
<style>
html, body { margin: 0; height: 100%; font: 13px system-ui, -apple-system, "Segoe UI", sans-serif; color: #222; }
body { display: flex; flex-direction: column; }
#bar { display: flex; align-items: center; gap: 10px; padding: 6px 10px; background: #f1f3f6; border-bottom: 1px solid #d5d9e0; flex-wrap: wrap; }
#title { font-weight: 600; }
#search { width: 220px; padding: 3px 6px; }
#hits { color: #666; min-width: 70px; }
#history { display: flex; align-items: center; gap: 6px; }
#history[hidden] { display: none; }
#stage { width: 260px; }
#stageinfo { color: #333; }
#main { flex: 1; display: flex; min-height: 0; position: relative; }
#svg { flex: 1; background: #fbfbfc; cursor: grab; user-select: none; }
#svg.dragging { cursor: grabbing; }
#panel { width: 340px; border-left: 1px solid #d5d9e0; padding: 10px 12px; overflow: auto; background: #fff; }
#panel h3 { margin: 0 0 6px; font-size: 14px; word-break: break-all; }
#panel .row { margin: 3px 0; }
#panel .key { color: #666; display: inline-block; min-width: 64px; }
#panel pre { white-space: pre-wrap; word-break: break-all; background: #fdf3e1; padding: 6px; font-size: 11px; }
#panel ul { margin: 2px 0 6px; padding-left: 18px; }
#panel a { color: #1f4fa0; cursor: pointer; text-decoration: underline; }
#where { font-family: ui-monospace, Menlo, monospace; font-size: 12px; word-break: break-all; }
#stages { position: absolute; left: 8px; bottom: 8px; background: rgba(255,255,255,.92); border: 1px solid #d5d9e0; padding: 4px 8px; font-size: 11px; max-height: 40%; overflow: auto; }
#stages div { cursor: pointer; white-space: nowrap; }
#stages div.current { font-weight: 700; color: #1f4fa0; }
#legend { position: absolute; right: 352px; top: 8px; background: rgba(255,255,255,.92); border: 1px solid #d5d9e0; padding: 4px 8px; font-size: 11px; }
#legend span.sw { display: inline-block; width: 14px; height: 10px; border: 1px solid #555; margin: 0 4px 0 8px; vertical-align: middle; }
.node text { font: 11px ui-monospace, Menlo, Consolas, monospace; pointer-events: none; }
.node { cursor: pointer; }
.node .shape { stroke: #1f3b66; stroke-width: 1; }
.node.kind-input .shape, .node.kind-output .shape, .node.kind-update .shape, .node.kind-shared .shape { stroke: #333; }
.node.kind-constant .shape { stroke: #bbb; stroke-dasharray: 2 2; }
.node.grad .shape { stroke: #7b2fbf; stroke-width: 2.2; }
.node.updated .shape { stroke: #2e7d32; stroke-width: 2.2; }
.node.added .shape { fill: #c8f0c8 !important; stroke: #1b8a1b; stroke-width: 2.5; }
.node.removed { opacity: .45; }
.node.removed .shape { fill: #f7caca !important; stroke: #b71c1c; stroke-dasharray: 4 3; stroke-width: 2; }
.node.match .shape { stroke: #ff8f00; stroke-width: 3.5; }
.node.selected .shape { stroke: #d81b60; stroke-width: 3.5; }
.edge { fill: none; stroke: #8a8f98; stroke-width: 1; }
.edge.dashed { stroke-dasharray: 5 3; stroke: #2e7d32; }
.edge.ghost { stroke: #d88; stroke-dasharray: 3 3; }
.edge.hot { stroke: #d81b60; stroke-width: 2; }
#selftest { display: none; }
</style>
</head>
<body>
<div id="bar">
  <span id="title"></span>
  <input id="search" type="search" placeholder="search by name or op (Enter: next)" autocomplete="off">
  <span id="hits"></span>
  <span id="history" hidden>
    <button id="prev" type="button" title="previous stage">&#9664;</button>
    <input id="stage" type="range" min="0" max="0" value="0" step="1">
    <button id="next" type="button" title="next stage">&#9654;</button>
    <span id="stageinfo"></span>
  </span>
</div>
<div id="main">
  <svg id="svg"><defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#8a8f98"></path></marker></defs><g id="viewport"><g id="edges"></g><g id="nodes"></g></g></svg>
  <div id="panel"><h3>symgraph</h3><div class="row">Click a node to see where it was built, its inputs and its consumers. Drag to pan, wheel to zoom.</div></div>
  <div id="stages" hidden></div>
  <div id="legend"></div>
</div>
<pre id="selftest"></pre>
<script type="application/json" id="sg-data">__DATA__</script>
<script>
(function () {
"use strict";
var errors = [], violations = [];
window.addEventListener("error", function (e) { errors.push(String(e.message || e)); });
window.addEventListener("securitypolicyviolation", function (e) { violations.push(e.violatedDirective + " " + e.blockedURI); });
var originalError = console.error;
console.error = function () { errors.push(Array.prototype.map.call(arguments, String).join(" ")); return originalError.apply(console, arguments); };

function $(id) { return document.getElementById(id); }
var svg = $("svg"), viewport = $("viewport"), gEdges = $("edges"), gNodes = $("nodes");
var NS = svg.namespaceURI;
var data = JSON.parse($("sg-data").textContent);
var facts = data.nodes, stages = data.stages, fill = data.fill;
var view = { x: 0, y: 0, k: 1 }, current = -1, drawn = {}, selected = null, matches = [], matchIndex = 0;

function el(tag, attrs, parent) {
  var e = document.createElementNS(NS, tag);
  for (var k in attrs) { if (Object.prototype.hasOwnProperty.call(attrs, k)) e.setAttribute(k, attrs[k]); }
  if (parent) parent.appendChild(e);
  return e;
}
function html(tag, text, parent, cls) {
  var e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = text;
  if (cls) e.className = cls;
  if (parent) parent.appendChild(e);
  return e;
}
var maxSeconds = 0;
for (var pid in facts) { if (Object.prototype.hasOwnProperty.call(facts, pid) && facts[pid].seconds > maxSeconds) maxSeconds = facts[pid].seconds; }
function heat(t) {   // white -> orange -> red, by a node's share of the profiled time
  t = Math.sqrt(Math.max(0, Math.min(1, t)));
  return "rgb(255," + Math.round(255 - 165 * t) + "," + Math.round(255 - 225 * t) + ")";
}
function applyView() { viewport.setAttribute("transform", "translate(" + view.x + "," + view.y + ") scale(" + view.k + ")"); }
function geometry(i) { var s = stages[i]; return s.same !== undefined ? stages[s.same] : s; }
function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

function drawEdge(e, pos, ghost) {
  var a = pos[e[0]], b = pos[e[1]];
  if (!a || !b) return;
  var fa = facts[e[0]], fb = facts[e[1]];
  var sx = a[0] + fa.w / 2, sy = a[1], tx = b[0] - fb.w / 2, ty = b[1], mx = (sx + tx) / 2;
  var cls = "edge" + (e[3] ? " dashed" : "") + (ghost ? " ghost" : "");
  var p = el("path", { d: "M" + sx + "," + sy + " C" + mx + "," + sy + " " + mx + "," + ty + " " + tx + "," + ty,
                       "class": cls, "marker-end": "url(#arrow)" }, gEdges);
  p.setAttribute("data-s", e[0]); p.setAttribute("data-t", e[1]);
  if (e[2]) { var t = el("title", {}, p); t.textContent = e[2]; }
}
function drawNode(id, p, state) {
  var f = facts[id];
  if (!p || !f) return;
  var cls = "node kind-" + f.kind + (f.grad ? " grad" : "") + (f.updated ? " updated" : "") + (state ? " " + state : "");
  var g = el("g", { "class": cls, transform: "translate(" + (p[0] - f.w / 2) + "," + (p[1] - f.h / 2) + ")" }, gNodes);
  g.setAttribute("data-id", id);
  var round = (f.kind === "op" || f.kind === "fused") ? 3 : f.h / 2;
  var colour = fill[f.kind] === "none" ? "#fff" : (fill[f.kind] || "#eee");
  if (f.seconds !== undefined && maxSeconds > 0) colour = heat(f.seconds / maxSeconds);
  el("rect", { "class": "shape", width: f.w, height: f.h, rx: round, ry: round, fill: colour }, g);
  var text = el("text", { x: f.w / 2, y: 5 + 11, "text-anchor": "middle" }, g);
  f.label.forEach(function (line, n) {
    var t = el("tspan", { x: f.w / 2, dy: n === 0 ? 0 : 14 }, text);
    t.textContent = line;
    if (n === f.label.length - 1 && f.label.length > 1) t.setAttribute("fill", "#666");
  });
  if (f.grad) { var badge = el("text", { x: f.w - 2, y: 10, "text-anchor": "end", fill: "#7b2fbf" }, g); badge.textContent = "\u2207"; }
  g.addEventListener("click", function (ev) { if (!moved) { select(id); } ev.stopPropagation(); });
  drawn[id] = g;
}

function render(i) {
  current = i;
  var s = stages[i], g = geometry(i), pos = g.pos;
  clear(gEdges); clear(gNodes); drawn = {};
  var same = s.same !== undefined;
  var added = {};
  (s.added || []).forEach(function (id) { added[id] = true; });
  g.edges.forEach(function (e) { drawEdge(e, pos, false); });
  if (!same) (s.gedges || []).forEach(function (e) { drawEdge(e, pos, true); });
  g.ids.forEach(function (id) { drawNode(id, pos[id], added[id] ? "added" : ""); });
  if (!same) (s.removed || []).forEach(function (id) { drawNode(id, pos[id], "removed"); });
  $("stage").value = String(i);
  if (stages.length > 1) {
    var plus = (s.added || []).filter(isOp).length, minus = (s.removed || []).filter(isOp).length;
    var info = "stage " + i + "/" + (stages.length - 1) + ": " + s.name + (s.compiled ? " (= f.graph)" : "") + " \u2014 " + s.n + " nodes";
    if (i > 0) info += " (+" + plus + " \u2212" + minus + ")";
    $("stageinfo").textContent = info;
    var rows = $("stages").children;
    for (var r = 1; r < rows.length; r++) rows[r].className = r - 1 === i ? "current" : "";
  }
  if (selected && drawn[selected]) select(selected); else if (selected) { selected = null; }
  runSearch(false);
}
function isOp(id) { var f = facts[id]; return f && (f.kind === "op" || f.kind === "fused"); }
function drawnIds(onlyOps) {
  var out = [];
  for (var id in drawn) {
    if (!Object.prototype.hasOwnProperty.call(drawn, id)) continue;
    if (drawn[id].getAttribute("class").indexOf("removed") >= 0) continue;
    if (!onlyOps || isOp(id)) out.push(id);
  }
  return out;
}

function fit() {
  var pos = geometry(current).pos, minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
  for (var id in pos) {
    if (!Object.prototype.hasOwnProperty.call(pos, id)) continue;
    var f = facts[id], p = pos[id];
    minX = Math.min(minX, p[0] - f.w / 2); maxX = Math.max(maxX, p[0] + f.w / 2);
    minY = Math.min(minY, p[1] - f.h / 2); maxY = Math.max(maxY, p[1] + f.h / 2);
  }
  if (minX === Infinity) return;
  var r = svg.getBoundingClientRect(), W = r.width || 800, H = r.height || 600;
  view.k = Math.min(1.2, Math.max(0.02, Math.min((W - 40) / (maxX - minX + 1), (H - 40) / (maxY - minY + 1))));
  // A long graph fitted whole would be unreadably small: keep the text legible and start at the inputs.
  var legible = Math.min(0.75, (H - 80) / (maxY - minY + 1));
  if (view.k < legible) view.k = legible;
  view.x = Math.max(20 - minX * view.k, (W - (maxX - minX) * view.k) / 2 - minX * view.k);
  view.y = (H - (maxY - minY) * view.k) / 2 - minY * view.k;
  applyView();
}
function centreOn(id) {
  var p = geometry(current).pos[id];
  if (!p) return;
  var r = svg.getBoundingClientRect();
  if (view.k < 0.6) view.k = 0.9;
  view.x = (r.width || 800) / 2 - p[0] * view.k;
  view.y = (r.height || 600) / 2 - p[1] * view.k;
  applyView();
}

// ------------------------------------------------------------ side panel
function row(parent, key, value, id) {
  var d = html("div", null, parent, "row");
  html("span", key, d, "key");
  var v = html("span", value, d);
  if (id) v.id = id;
  return d;
}
function link(parent, id) {
  var li = html("li", null, parent);
  var a = html("a", (facts[id] ? facts[id].label.slice(0, -1).join(" ") || facts[id].label[0] : id), li);
  a.addEventListener("click", function () { select(id); centreOn(id); });
  var f = facts[id];
  if (f && f.dtype) html("span", "  " + f.dtype + f.shape, li);
}
function select(id) {
  if (selected && drawn[selected]) drawn[selected].classList.remove("selected");
  selected = id;
  var g = drawn[id];
  if (g) g.classList.add("selected");
  var paths = gEdges.children;
  for (var i = 0; i < paths.length; i++) {
    var hot = paths[i].getAttribute("data-s") === id || paths[i].getAttribute("data-t") === id;
    paths[i].classList.toggle("hot", hot);
  }
  var f = facts[id], panel = $("panel");
  clear(panel);
  html("h3", f.op, panel);
  row(panel, "kind", f.kind + (f.grad ? " \u2014 gradient (built by sg.grad)" : "") +
      (f.updated ? " \u2014 updated by the function" : ""));
  if (f.names && f.names.length) row(panel, "name", f.names.join(", "));
  if (f.dtype) row(panel, "dtype", f.dtype);
  if (f.shape) row(panel, "shape", f.shape);
  if (f.value) row(panel, "value", f.value);
  if (f.seconds !== undefined) row(panel, "time", (f.seconds * 1e3).toFixed(3) + " ms (" + f.percent + "% of the profiled calls)");
  if (f.where !== undefined) {
    row(panel, "built at", f.where.length ? f.where[0] : "(unknown)", "where");
    if (f.where.length > 1) { var more = html("ul", null, panel); f.where.slice(1).forEach(function (w) { html("li", w, more); }); }
  }
  if (f.expr && f.expr.length) { html("div", "scalar expression", panel, "key"); html("pre", f.expr.join("\n"), panel); }
  var g2 = geometry(current), ins = [], outs = [];
  g2.edges.forEach(function (e) { if (e[1] === id) ins.push(e[0]); if (e[0] === id) outs.push(e[1]); });
  if (ins.length) { html("div", "inputs", panel, "key"); var ul = html("ul", null, panel); ins.forEach(function (x) { link(ul, x); }); }
  if (outs.length) { html("div", "consumers", panel, "key"); var ul2 = html("ul", null, panel); outs.forEach(function (x) { link(ul2, x); }); }
  if (drawn[id] && drawn[id].classList.contains("removed")) html("div", "removed by this stage", panel, "key");
  if (drawn[id] && drawn[id].classList.contains("added")) html("div", "added by this stage", panel, "key");
}

// ------------------------------------------------------------ search
function runSearch(centre) {
  var q = $("search").value.trim().toLowerCase();
  matches = [];
  for (var id in drawn) {
    if (!Object.prototype.hasOwnProperty.call(drawn, id)) continue;
    var f = facts[id], hay = (f.op + " " + f.label.join(" ") + " " + (f.names || []).join(" ")).toLowerCase();
    var hit = q !== "" && hay.indexOf(q) >= 0;
    drawn[id].classList.toggle("match", hit);
    if (hit) matches.push(id);
  }
  $("hits").textContent = q === "" ? "" : matches.length + " match" + (matches.length === 1 ? "" : "es");
  if (centre && matches.length) { matchIndex = 0; centreOn(matches[0]); }
}
$("search").addEventListener("input", function () { runSearch(true); });
$("search").addEventListener("keydown", function (e) {
  if (e.key === "Enter" && matches.length) { matchIndex = (matchIndex + 1) % matches.length; centreOn(matches[matchIndex]); select(matches[matchIndex]); }
});

// ------------------------------------------------------------ pan and zoom
var dragging = false, moved = false, last = null;
svg.addEventListener("mousedown", function (e) { dragging = true; moved = false; last = [e.clientX, e.clientY]; svg.classList.add("dragging"); });
window.addEventListener("mousemove", function (e) {
  if (!dragging) return;
  var dx = e.clientX - last[0], dy = e.clientY - last[1];
  if (Math.abs(dx) + Math.abs(dy) > 2) moved = true;
  view.x += dx; view.y += dy; last = [e.clientX, e.clientY]; applyView();
});
window.addEventListener("mouseup", function () { dragging = false; svg.classList.remove("dragging"); setTimeout(function () { moved = false; }, 0); });
svg.addEventListener("wheel", function (e) {
  e.preventDefault();
  var r = svg.getBoundingClientRect(), mx = e.clientX - r.left, my = e.clientY - r.top;
  var factor = Math.exp(-e.deltaY * 0.0015), k = Math.min(8, Math.max(0.01, view.k * factor));
  view.x = mx - (mx - view.x) * (k / view.k); view.y = my - (my - view.y) * (k / view.k); view.k = k;
  applyView();
}, { passive: false });

// ------------------------------------------------------------ history controls and legend
function setStage(i) { i = Math.max(0, Math.min(stages.length - 1, i)); if (i !== current) render(i); }
$("prev").addEventListener("click", function () { setStage(current - 1); });
$("next").addEventListener("click", function () { setStage(current + 1); });
$("stage").addEventListener("input", function () { setStage(parseInt($("stage").value, 10)); });
if (stages.length > 1) {
  $("history").hidden = false;
  $("stage").max = String(stages.length - 1);
  var list = $("stages");
  list.hidden = false;
  html("b", "rewrite history (nodes)", list);
  stages.forEach(function (s, i) {
    var names = Object.keys(s.rewrites || {});
    var d = html("div", i + "  " + s.name + (s.compiled ? " (= f.graph)" : "") + "  " + s.n + (names.length ? "  [" + names.slice(0, 3).join(", ") + (names.length > 3 ? ", \u2026" : "") + "]" : ""), list);
    d.addEventListener("click", function () { setStage(i); });
  });
}
(function legend() {
  var kinds = {}, grad = false;
  for (var id in facts) { if (Object.prototype.hasOwnProperty.call(facts, id)) { kinds[facts[id].kind] = true; grad = grad || !!facts[id].grad; } }
  var names = { input: "input", shared: "shared", constant: "constant", op: "op", fused: "fused loop", output: "output", update: "new value of a shared" };
  var box = $("legend");
  Object.keys(names).forEach(function (k) {
    if (!kinds[k]) return;
    var sw = html("span", null, box, "sw"); sw.style.background = fill[k] === "none" ? "#fff" : fill[k];
    html("span", names[k], box);
  });
  if (maxSeconds > 0) { var h = html("span", null, box, "sw"); h.style.background = heat(1); html("span", "time (profile)", box); }
  if (grad) { var s = html("span", null, box, "sw"); s.style.borderColor = "#7b2fbf"; s.style.borderWidth = "2px"; html("span", "gradient (\u2207)", box); }
  if (stages.length > 1) {
    var a = html("span", null, box, "sw"); a.style.background = "#c8f0c8"; html("span", "added", box);
    var r = html("span", null, box, "sw"); r.style.background = "#f7caca"; html("span", "removed", box);
  }
})();

$("title").textContent = data.title;
document.title = data.title + " \u2014 symgraph";
// #stage=N and #search=text (also together: #stage=2&search=dot) open the page at a stage / a match.
var hashStage = /stage=(\d+)/.exec(location.hash), hashSearch = /search=([^&]*)/.exec(location.hash);
render(hashStage && location.hash.indexOf("#selftest") !== 0 ? Math.min(stages.length - 1, parseInt(hashStage[1], 10)) : data.initial);
fit();
if (hashSearch && location.hash.indexOf("#selftest") !== 0) {
  $("search").value = decodeURIComponent(hashSearch[1]); runSearch(true);
  if (matches.length) select(matches[0]);
}

// ------------------------------------------------------------ self-test (#selftest)
function selftest() {
  var r = {}, m = /search=([^&]*)/.exec(location.hash), query = m ? decodeURIComponent(m[1]) : "";
  r.stages = stages.length; r.stage_names = stages.map(function (s) { return s.name; });
  r.stage_counts = stages.map(function (s) { return s.n; });
  r.initial_stage = current; r.drawn_ops = drawnIds(true).length; r.drawn_total = drawnIds(false).length;
  r.drawn_ids = drawnIds(true).sort();
  setStage(0); r.stage0_drawn_ops = drawnIds(true).length;
  var steps = 0;
  while (current < stages.length - 1 && steps < 1000) { $("next").click(); steps++; }
  r.steps = steps; r.last_stage = current; r.last_drawn_ops = drawnIds(true).length;
  var lastIds = drawnIds(true).sort(), optimized = data.optimized.slice().sort();
  r.last_matches_optimized = JSON.stringify(lastIds) === JSON.stringify(optimized);
  r.optimized_count = optimized.length;
  var target = null;
  if (query) {
    $("search").value = query; $("search").dispatchEvent(new Event("input"));
    r.search_hits = matches.length; target = matches[0] || null;
  }
  if (!target) target = drawnIds(true)[0] || null;
  if (target) {
    drawn[target].dispatchEvent(new MouseEvent("click", { bubbles: true }));
    r.clicked = target; r.clicked_op = facts[target].op;
    r.panel_where = $("where") ? $("where").textContent : null;
    r.panel_heading = $("panel").querySelector("h3").textContent;
  }
  r.gradient_drawn = stages.length ? (function () { setStage(0); return drawnIds(true).filter(function (id) { return facts[id].grad; }).length; })() : 0;
  setTimeout(function () {
    r.errors = errors; r.csp_violations = violations;
    $("selftest").textContent = JSON.stringify(r);
  }, 100);
}
if (location.hash.indexOf("#selftest") === 0) setTimeout(function () {
  try { selftest(); } catch (e) { errors.push("selftest: " + e); $("selftest").textContent = JSON.stringify({ errors: errors, csp_violations: violations }); }
}, 50);
})();
</script>
</body>
</html>
"""
