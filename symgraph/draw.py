"""Pictures of graphs: ``sg.draw`` and the inline SVG that Jupyter shows for variables and functions.

The picture follows the computation-graph convention of the backpropagation
lectures: operations are rectangles labelled with the op (a fused node shows its
scalar expression), inputs and shared variables are named ellipses, constants are
plain labels, and edges follow the data flow; a legend explains the shapes and
colours, and an unnamed output shows its position and type; a loop's step graph is a cluster of its own
beside the graph. Graphviz's ``dot``
renders it when that program is installed; otherwise the layered layout of
``symgraph/layout.py`` is drawn with matplotlib, so a fresh ``pip install`` draws
graphs too.
"""
from __future__ import annotations

import io
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from .graph import Constant, SharedVariable, Variable, toposort
from .layout import CHAR_WIDTH as _CHAR_WIDTH
from .layout import FONT_SIZE as _FONT_SIZE
from .layout import layered_layout

# Colours shared by both renderers (what kind of thing a node is, at a glance).
_FILL = {"op": "#dde8f7", "fused": "#fde7c4", "input": "#ffffff", "variable": "#f4f4f4", "shared": "#e3f3e0",
         "constant": "none", "output": "#f6dede", "update": "#e3f3e0"}
_ADDED_FILL = {"op": "#f9c9c9", "fused": "#f9c9c9"}
# What the legend says each kind of node is, in the legend's order ("added": ops outside ``base``).
_LEGEND = [("input", "input"), ("shared", "shared variable"), ("constant", "constant"),
           ("variable", "named intermediate value"), ("op", "operation"),
           ("fused", "fused loop (iN: its operand N)"), ("added", "added to the base graph"),
           ("output", "output"), ("update", "shared variable's new value")]
_MAX_PIXELS_PER_SIDE = 8000             # PNG size cap; SVG has none
_MAX_REPR_NODES = 200                    # Jupyter falls back to the text repr above this


@dataclass
class Picture:
    """The drawable form of one graph: display nodes (id -> attributes) and data-flow edges."""
    nodes: dict = field(default_factory=dict)
    edges: list = field(default_factory=list)   # (source id, target id, label or "", dashed)
    title: str | None = None

    def add_node(self, key, label, kind, added=False):
        self.nodes[key] = {"label": label, "kind": kind, "added": added}


# ---------------------------------------------------------------- graph -> picture

def _outputs_of(obj):
    """(outputs, updates) for a variable, a list of variables, a compiled function or its graph."""
    graph = getattr(obj, "graph", obj)
    if hasattr(graph, "outputs") and hasattr(graph, "updates") and not isinstance(graph, Variable):
        return list(graph.outputs), list(graph.updates)
    if isinstance(obj, Variable):
        return [obj], []
    if isinstance(obj, (list, tuple)) and all(isinstance(v, Variable) for v in obj):
        return list(obj), []
    raise TypeError(f"sg.draw needs a variable, a list of variables or a compiled function, "
                    f"got {type(obj).__name__}")


def op_label(op, width=40, input_names=None):
    """The text inside an op's rectangle: the op name (and its parameters), or a fused node's expression."""
    if hasattr(op, "expression_strings"):
        lines = ["fused"]
        if hasattr(op, "expression_lines") and len(getattr(op, "outputs", ())) > 1:
            texts = [t.replace("o", "out", 1) if t.startswith("o") else t for t in op.expression_lines(input_names)]
        else:
            texts = op.expression_strings(input_names) if input_names is not None else op.expression_strings()
        for text in texts:
            lines.extend(_wrap(str(text), width))
        return "\n".join(lines)
    text = str(op)
    name = getattr(op, "name", "") or type(op).__name__.lower()
    if text.startswith(name + "{") and text.endswith("}"):
        params = text[len(name) + 1:-1]
        return name if not params else name + "\n" + "\n".join(_wrap(params, width))
    return "\n".join(_wrap(text, width))


def _wrap(text, width):
    if len(text) <= width:
        return [text]
    lines, current = [], ""
    for piece in text.replace(", ", ",\x00").replace(" ", " \x00").split("\x00"):
        if current and len(current) + len(piece) > width:
            lines.append(current.rstrip())
            current = ""
        current += piece
        while len(current) > width:
            lines.append(current[:width])
            current = current[width:]
    if current:
        lines.append(current.rstrip())
    return lines


def _constant_label(const: Constant):
    if const.name:
        return const.name
    value = const.value
    if value.size == 1:
        item = value.reshape(()).item()
        if isinstance(item, float):
            text = f"{item:.4g}"
            return text + ".0" if text.lstrip("-").isdigit() else text     # 1.0 reads as a float, 1 as an int
        return str(item)
    return f"const {value.dtype}{list(value.shape)}"


def _leaf_label(var):
    if var.name:
        return var.name
    return "shared" if isinstance(var, SharedVariable) else "input"


def picture_of(obj, title=None, base=None, show_types=False) -> Picture:
    """Build the ``Picture`` of ``obj``; ops outside the graph of ``base`` are marked as added."""
    outputs, updates = _outputs_of(obj)
    roots = outputs + [expr for _, expr in updates]
    base_nodes = set()
    if base is not None:
        base_outputs, base_updates = _outputs_of(base)
        base_nodes = {id(n) for n in toposort(base_outputs + [e for _, e in base_updates])}
    picture = Picture(title=title)
    node_ids, numbers = {}, {}

    def number(thing):      # stable display ids (not id()), so DOT text is the same run to run
        return numbers.setdefault(id(thing), len(numbers))

    def source_of(var, consumer_key):
        """The display id data for ``var`` comes from (creating leaf displays on the way)."""
        if var.owner is not None:
            key = node_ids[id(var.owner)]
            if var.name:   # a named intermediate gets its own ellipse, as in the lectures' figures
                var_key = f"v{number(var)}"
                if var_key not in picture.nodes:
                    picture.add_node(var_key, var.name, "variable")
                    picture.edges.append((key, var_key, _edge_label(var, show_types), False))
                return var_key
            return key
        if isinstance(var, Constant):
            # One label per use keeps constants next to their consumer instead of a web of long edges.
            key = f"c{number(var)}-{consumer_key}"
            picture.add_node(key, _constant_label(var), "constant")
            return key
        key = f"v{number(var)}"
        if key not in picture.nodes:
            picture.add_node(key, _leaf_label(var), "shared" if isinstance(var, SharedVariable) else "input")
        return key

    for index, node in enumerate(toposort(roots)):
        key = f"n{index}"
        node_ids[id(node)] = key
        fused = hasattr(node.op, "expression_strings")
        # A fused expression names its operands: leaves by their names, scalar constants by value, others i<k>.
        input_names = [_operand_name(var, k) for k, var in enumerate(node.inputs)] if fused else None
        picture.add_node(key, op_label(node.op, input_names=input_names), "fused" if fused else "op",
                         added=base is not None and id(node) not in base_nodes)
        for position, var in enumerate(node.inputs):
            if fused and isinstance(var, Constant) and var.value.size == 1:
                continue        # spelled inside the expression
            source = source_of(var, key)
            label = _edge_label(var, show_types) if source.startswith("n") else ""
            if fused and var.owner is not None and not var.name:
                label = (f"i{position} " + label).strip()
            if var.owner is not None and len(var.owner.outputs) > 1 and not var.name:
                label = (label + f" out{var.index}").strip()
            picture.edges.append((source, key, label, False))

    for index, var in enumerate(outputs):
        if var.name and not isinstance(var, Constant):    # a named output is its own ellipse
            picture.nodes[source_of(var, f"o{index}")]["kind"] = "output"
            continue
        key = f"o{index}"
        # An unnamed output says which output it is and what it holds (its dtype and shape).
        heading = "output" if len(outputs) == 1 else f"output {index}"
        picture.add_node(key, f"{heading}\n{var.type!r}", "output")
        label = _edge_label(var, show_types)
        if var.owner is not None and len(var.owner.outputs) > 1:
            label = (label + f" out{var.index}").strip()
        picture.edges.append((source_of(var, key), key, label, False))
    for index, (target, expr) in enumerate(updates):
        key = f"u{index}"
        picture.add_node(key, f"{_leaf_label(target)} (updated)", "update")
        picture.edges.append((source_of(expr, key), key, "", True))
    return picture


def _operand_name(var, position):
    if isinstance(var, Constant) and var.value.size == 1:
        return _constant_label(var)
    return var.name if var.name else f"i{position}"


def _edge_label(var, show_types):
    return repr(var.type) if show_types else ""


def legend_entries(pictures):
    """(kind, text) for each kind of node the pictures contain, in the legend's order."""
    kinds = {attrs["kind"] for picture in pictures for attrs in picture.nodes.values()}
    if any(attrs["added"] for picture in pictures for attrs in picture.nodes.values()):
        kinds.add("added")
    return [(kind, text) for kind, text in _LEGEND if kind in kinds]


def _pictures(obj, base, show_types):
    if isinstance(obj, dict):
        pictures = [picture_of(value, title=str(title), base=base, show_types=show_types)
                    for title, value in obj.items()]
        graphs = list(obj.values())
    else:
        pictures = [picture_of(obj, base=base, show_types=show_types)]
        graphs = [obj]
    return pictures + _step_pictures(graphs, show_types)


def _step_pictures(graphs, show_types):
    """A picture of each loop's step graph (a cluster of its own, titled after its loop), nested ones too."""
    roots = []
    for graph in graphs:
        outputs, updates = _outputs_of(graph)
        roots += outputs + [expr for _, expr in updates]
    pictures, seen, pending = [], set(), [roots]
    while pending:
        for node in toposort(pending.pop()):
            inner = getattr(node.op, "inner_outputs", None)
            if inner is None or id(node.op) in seen:
                continue
            seen.add(id(node.op))
            label = op_label(node.op).split("\n")[0]
            pictures.append(picture_of(list(inner), title=f"step of {label} #{len(pictures) + 1}",
                                       show_types=show_types))
            pending.append(list(inner))
    return pictures


# ---------------------------------------------------------------- Graphviz

def _dot_quote(text):
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(obj, rankdir="TB", base=None, show_types=False) -> str:
    """Graphviz DOT text of ``obj`` (a dict {title: graph} gives side-by-side clusters)."""
    pictures = _pictures(obj, base, show_types)
    lines = ["digraph symgraph {", f"  rankdir={rankdir};",
             '  node [fontname="Helvetica", fontsize=10]; edge [fontname="Helvetica", fontsize=8];']
    for number, picture in enumerate(pictures):
        indent = "  "
        if len(pictures) > 1:
            lines.append(f"  subgraph cluster_{number} {{ label={_dot_quote(picture.title or '')};")
            indent = "    "
        prefix = f"p{number}_"
        for key, attrs in picture.nodes.items():
            kind = attrs["kind"]
            fill = _ADDED_FILL.get(kind, _FILL[kind]) if attrs["added"] else _FILL[kind]
            if kind in ("op", "fused"):
                style = f'shape=box, style="filled", fillcolor="{fill}"'
            elif kind == "constant":
                style = "shape=plaintext"
            else:
                style = f'shape=ellipse, style="filled", fillcolor="{fill}"'
            lines.append(f"{indent}{_dot_quote(prefix + key)} [label={_dot_quote(attrs['label'])}, {style}];")
        for source, target, label, dashed in picture.edges:
            extras = [f"label={_dot_quote(label)}"] if label else []
            if dashed:
                extras.append("style=dashed")
            suffix = f" [{', '.join(extras)}]" if extras else ""
            lines.append(f"{indent}{_dot_quote(prefix + source)} -> {_dot_quote(prefix + target)}{suffix};")
        if len(pictures) > 1:
            lines.append("  }")
    lines += _dot_legend(pictures)
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dot_legend(pictures):
    """A dashed cluster with one example node per kind of node drawn, chained invisibly into a column."""
    entries = legend_entries(pictures)
    lines = ['  subgraph cluster_legend { label="legend"; style=dashed; fontsize=9;']
    for kind, text in entries:
        fill = _ADDED_FILL["op"] if kind == "added" else _FILL[kind]
        if kind in ("op", "fused", "added"):
            style = f'shape=rect, style="filled", fillcolor="{fill}"'
        elif kind == "constant":
            style = "shape=plaintext"
        else:
            style = f'shape=ellipse, style="filled", fillcolor="{fill}"'
        lines.append(f"    {_dot_quote('legend_' + kind)} [label={_dot_quote(text)}, fontsize=8, {style}];")
    for (first, _), (second, _) in zip(entries, entries[1:]):
        lines.append(f"    {_dot_quote('legend_' + first)} -> {_dot_quote('legend_' + second)} [style=invis];")
    lines.append("  }")
    return lines


def _render_with_dot(dot_text, fmt, dpi):
    command = [shutil.which("dot"), f"-T{fmt}"] + ([f"-Gdpi={dpi}"] if fmt == "png" else [])
    result = subprocess.run(command, input=dot_text.encode(), capture_output=True, timeout=120)
    if result.returncode != 0:
        raise RuntimeError(f"Graphviz dot failed: {result.stderr.decode(errors='replace').strip()}")
    return result.stdout


def _render_with_matplotlib(pictures, fmt, rankdir, dpi):
    try:
        import matplotlib
        from matplotlib.figure import Figure     # a bare Figure: no pyplot, no GUI backend involved
        from matplotlib.patches import Ellipse, FancyArrowPatch, FancyBboxPatch
        from matplotlib.path import Path as MplPath
    except ImportError:
        raise ImportError("sg.draw needs matplotlib (pip install 'symgraph[examples]') or Graphviz's "
                          "dot program on the PATH") from None

    layouts = [layered_layout(p, rankdir) for p in pictures]
    title_char = (_FONT_SIZE + 2) * 0.68 / 72          # bold and larger than node text
    for number, (picture, layout) in enumerate(zip(pictures, layouts)):
        needed = len(picture.title or "") * title_char
        centres, sizes, routes, (width, height) = layout
        if needed > width:                              # widen the panel so titles never overlap
            pad = (needed - width) / 2
            centres = {k: (x + pad, y) for k, (x, y) in centres.items()}
            routes = [[(x + pad, y) for x, y in route] for route in routes]
            layouts[number] = (centres, sizes, routes, (needed, height))
    margin, panel_gap = 0.2, 0.6
    title_room = 0.35 if any(p.title for p in pictures) else 0.0
    entries = legend_entries(pictures)
    legend_width = _LEGEND_GLYPH[0] + 0.15 + max(len(text) for _, text in entries) * _CHAR_WIDTH * 0.9
    panels_width = sum(size[0] for *_, size in layouts) + panel_gap * (len(layouts) - 1)
    width = panels_width + panel_gap + legend_width + 2 * margin
    height = max(max(size[1] for *_, size in layouts), _LEGEND_ROW * (len(entries) + 1)) + 2 * margin + title_room
    figure = Figure(figsize=(max(width, 1.0), max(height, 0.6)))
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_xlim(0, max(width, 1.0))
    axes.set_ylim(max(height, 0.6), 0)      # y grows downward, as in the layout
    axes.set_axis_off()

    x_offset = margin
    for picture, (centres, sizes, routes, size) in zip(pictures, layouts):
        shift = lambda p: (p[0] + x_offset, p[1] + margin + title_room)  # noqa: E731
        if picture.title:
            axes.text(x_offset + size[0] / 2, margin + title_room / 2, picture.title, ha="center",
                      va="center", fontsize=_FONT_SIZE + 2, fontweight="bold")
        for (source, target, label, dashed), route in zip(picture.edges, routes):
            points = [shift(p) for p in route]
            codes = [MplPath.MOVETO] + [MplPath.LINETO] * (len(points) - 1)
            axes.add_patch(FancyArrowPatch(path=MplPath(points, codes), arrowstyle="-|>", mutation_scale=9,
                                           color="#444444", linewidth=0.8, linestyle="--" if dashed else "-"))
            if label:       # near the consumer, where it is read, on a segment long enough to hold it
                long_enough = [i for i in range(1, len(points)) if _distance(points[i - 1], points[i]) > 0.2]
                last = long_enough[-1] if long_enough else len(points) - 1
                (x0, y0), (x1, y1) = points[last - 1], points[last]
                axes.text(x0 + 0.65 * (x1 - x0), y0 + 0.65 * (y1 - y0), " " + label,
                          fontsize=_FONT_SIZE - 2, color="#555555", ha="left", va="center")
        for key, attrs in picture.nodes.items():
            (cx, cy), (w, h) = shift(centres[key]), sizes[key]
            kind = attrs["kind"]
            fill = _ADDED_FILL.get(kind, _FILL[kind]) if attrs["added"] else _FILL[kind]
            if kind in ("op", "fused"):
                axes.add_patch(FancyBboxPatch((cx - w / 2, cy - h / 2), w, h, boxstyle="square,pad=0",
                                              facecolor=fill, edgecolor="#1f3b66", linewidth=1.0))
            elif kind != "constant":
                axes.add_patch(Ellipse((cx, cy), w, h, facecolor=fill, edgecolor="#333333", linewidth=1.0))
            axes.text(cx, cy, attrs["label"], ha="center", va="center", fontsize=_FONT_SIZE,
                      family="monospace" if kind == "fused" else "sans-serif",
                      color="#555555" if kind == "constant" else "black")
        x_offset += size[0] + panel_gap
    _draw_legend(axes, entries, (margin + panels_width + panel_gap, margin + title_room),
                 (Ellipse, FancyArrowPatch, FancyBboxPatch))

    if fmt in ("png", "jpg"):   # a huge graph would make a gigapixel image: cap the longer side
        dpi = min(dpi, _MAX_PIXELS_PER_SIDE / max(width, height, 1.0))
    buffer = io.BytesIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "symgraph"}):
        figure.savefig(buffer, format=fmt, dpi=dpi)
    return buffer.getvalue()


def _distance(p, q):
    return ((p[0] - q[0]) ** 2 + (p[1] - q[1]) ** 2) ** 0.5


_LEGEND_GLYPH = (0.42, 0.2)     # inches: the example shape drawn for each kind
_LEGEND_ROW = 0.3


def _draw_legend(axes, entries, corner, patches):
    """The legend column: a heading, then an example shape and its meaning for each kind drawn."""
    Ellipse, FancyArrowPatch, FancyBboxPatch = patches
    x, y = corner
    (w, h), size = _LEGEND_GLYPH, _FONT_SIZE - 1
    axes.text(x, y + _LEGEND_ROW / 2, "legend", ha="left", va="center", fontsize=size, fontweight="bold")
    for row, (kind, text) in enumerate(entries, start=1):
        cy, cx = y + (row + 0.5) * _LEGEND_ROW, x + w / 2
        fill = _ADDED_FILL["op"] if kind == "added" else _FILL[kind]
        if kind in ("op", "fused", "added"):
            axes.add_patch(FancyBboxPatch((cx - w / 2, cy - h / 2), w, h, boxstyle="square,pad=0",
                                          facecolor=fill, edgecolor="#1f3b66", linewidth=1.0))
        elif kind == "constant":
            axes.text(cx, cy, "1.0", ha="center", va="center", fontsize=size, color="#555555")
        else:
            axes.add_patch(Ellipse((cx, cy), w, h, facecolor=fill, edgecolor="#333333", linewidth=1.0))
        axes.text(x + w + 0.12, cy, text, ha="left", va="center", fontsize=size)


# ---------------------------------------------------------------- the entry point

def draw(obj, path=None, *, engine="auto", rankdir="TB", base=None, show_types=False, dpi=150, format=None):
    """Draw a graph as a picture (SVG, PNG, PDF or JPG).

    Operations are rectangles (a fused elementwise loop shows its expression), inputs, shared
    variables and outputs are ellipses, constants plain labels; edges follow the data flow, and a
    legend explains the shapes and colours.

    Parameters
    ----------
    obj : Variable, list of Variable, Function, or dict
        What to draw: a compiled function draws its optimized graph (updates dashed); a dict
        ``{title: obj}`` draws the graphs as panels side by side.
    path : str or pathlib.Path, optional
        Where to write the picture (its suffix picks the format).
    engine : {"auto", "dot", "matplotlib"}, default "auto"
        ``"dot"`` needs Graphviz's ``dot`` program; ``"auto"`` uses it when installed.
    rankdir : {"TB", "BT", "LR"}, default "TB"
        Inputs at the top, at the bottom (as the Deep Learning book's figures) or on the left.
    base : Variable or list of Variable, optional
        A graph whose ops are drawn plain while the others are highlighted, for example the
        forward graph when drawing it with its gradient.
    show_types : bool, default False
        Label the edges with dtypes and shapes.
    dpi : int, default 150
        The resolution of PNG and JPG pictures.
    format : str, optional
        The format when there is no ``path`` (default ``"svg"``).

    Returns
    -------
    pathlib.Path, str or bytes
        The path when ``path`` is given; else the SVG text, or the bytes of other formats.

    Examples
    --------
    >>> x = sg.vector("x")
    >>> svg = sg.draw(sg.exp(x).sum(), engine="matplotlib")
    >>> svg.lstrip().startswith("<?xml")
    True
    """
    if format is None:
        format = Path(path).suffix.lower().lstrip(".") if path is not None else "svg"
    format = {"jpeg": "jpg"}.get(format, format)
    if format not in ("svg", "png", "pdf", "jpg"):
        raise ValueError(f"sg.draw writes .svg or .png files (also .pdf, .jpg), got {format!r} from {path!r}")
    if rankdir not in ("TB", "BT", "LR"):
        raise ValueError(f"sg.draw: rankdir must be 'TB', 'BT' or 'LR', got {rankdir!r}")
    if engine not in ("auto", "dot", "matplotlib"):
        raise ValueError(f"sg.draw: engine must be 'auto', 'dot' or 'matplotlib', got {engine!r}")
    if engine == "dot" and shutil.which("dot") is None:
        raise RuntimeError("sg.draw(engine='dot') needs Graphviz's dot program on the PATH; "
                           "engine='matplotlib' works without it")
    use_dot = engine == "dot" or (engine == "auto" and shutil.which("dot") is not None)
    if use_dot:
        data = _render_with_dot(to_dot(obj, rankdir, base, show_types), format, dpi)
    else:
        data = _render_with_matplotlib(_pictures(obj, base, show_types), format, rankdir, dpi)
    if path is None:
        return data.decode() if format == "svg" else data
    path = Path(path)
    if path.parent and not path.parent.exists():
        os.makedirs(path.parent, exist_ok=True)
    path.write_bytes(data)
    return path


def _repr_svg_(self):
    """Jupyter's inline picture; None (the text repr) for graphs too big to be readable."""
    try:
        outputs, updates = _outputs_of(self)
        if len(toposort(outputs + [e for _, e in updates])) > _MAX_REPR_NODES:
            return None
        return draw(self)
    except Exception:       # a picture must never break printing a variable
        return None


def _install_repr_hooks():
    from .function import CompiledGraph, Function
    for cls in (Variable, Function, CompiledGraph):
        cls._repr_svg_ = _repr_svg_


_install_repr_hooks()
