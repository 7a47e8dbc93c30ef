"""sg.draw: pictures of graphs (the matplotlib layered layout, DOT text for Graphviz, Jupyter's SVG)."""
import os
import re
import shutil
import struct

import numpy as np
import pytest

import symgraph as sg
from symgraph.draw import layered_layout, legend_entries, picture_of, to_dot
from symgraph.graph import count_nodes, toposort


def quiz_graph():
    x, z = sg.scalar("x"), sg.scalar("z")
    return x, z, sg.exp(x * z) + x * z / sg.log(x) + sg.sin(sg.log(x)) / (x * z)


def svg_texts(svg):
    """The text content of every <text> element (matplotlib keeps text as text: svg.fonttype none)."""
    return [re.sub(r"<[^>]+>", "", t) for t in re.findall(r"<text[^>]*>(.*?)</text>", svg, flags=re.S)]


def test_svg_text_names_every_op_and_variable():
    x, z, y = quiz_graph()
    svg = sg.draw(y, engine="matplotlib")
    assert svg.lstrip().startswith("<?xml") and "</svg>" in svg
    texts = svg_texts(svg)
    op_names = [node.op.name for node in toposort([y])]
    for name in set(op_names):
        assert texts.count(name) == op_names.count(name), name     # one rectangle label per op node
    assert texts.count("x") == 1 and texts.count("z") == 1          # each input drawn once, edges fan out
    assert "output" in texts and "float64[]" in texts      # an unnamed output: which one, and its type


def test_picture_matches_the_graph_structure():
    x, z, y = quiz_graph()
    picture = picture_of(y)
    ops = [k for k, a in picture.nodes.items() if a["kind"] == "op"]
    assert len(ops) == count_nodes(y)
    # one edge per op input plus the edge into the output marker
    assert len(picture.edges) == sum(len(n.inputs) for n in toposort([y])) + 1
    # the same counts as the lead's networkx export
    nx_graph = sg.to_networkx(y)
    assert len(ops) == sum(1 for _, d in nx_graph.nodes(data=True) if d["kind"] == "op")


@pytest.mark.parametrize("rankdir", ["TB", "BT", "LR"])
def test_layered_layout_follows_data_flow_without_overlaps(rankdir):
    x, z, y = quiz_graph()
    g = sg.grad(y, x)
    picture = picture_of([y, g])
    centres, sizes, routes, (width, height) = layered_layout(picture, rankdir)
    axis = {"TB": 1, "BT": 1, "LR": 0}[rankdir]
    sign = -1 if rankdir == "BT" else 1
    for source, target, _, _ in picture.edges:
        assert sign * (centres[target][axis] - centres[source][axis]) > 0, (source, target)
    boxes = [(centres[k], sizes[k]) for k in picture.nodes]
    for i, ((x1, y1), (w1, h1)) in enumerate(boxes):
        assert -1e-9 <= x1 - w1 / 2 and x1 + w1 / 2 <= width + 1e-9
        assert -1e-9 <= y1 - h1 / 2 and y1 + h1 / 2 <= height + 1e-9
        for (x2, y2), (w2, h2) in boxes[i + 1:]:
            overlap_x = abs(x1 - x2) < (w1 + w2) / 2 - 1e-9
            overlap_y = abs(y1 - y2) < (h1 + h2) / 2 - 1e-9
            assert not (overlap_x and overlap_y)
    for route, (source, target, _, _) in zip(routes, picture.edges):
        assert on_outline(route[0], centres[source], sizes[source], picture.nodes[source]["kind"])
        assert on_outline(route[-1], centres[target], sizes[target], picture.nodes[target]["kind"])


def inside(point, centre, size, kind, margin=1e-6):
    """Whether ``point`` lies strictly inside the node's shape (a box, or an ellipse for variables)."""
    dx, dy = (point[0] - centre[0]) / (size[0] / 2), (point[1] - centre[1]) / (size[1] / 2)
    if kind in ("op", "fused", "constant"):
        return max(abs(dx), abs(dy)) < 1 - margin
    return dx * dx + dy * dy < 1 - margin


def on_outline(point, centre, size, kind):
    dx, dy = (point[0] - centre[0]) / (size[0] / 2), (point[1] - centre[1]) / (size[1] / 2)
    measure = max(abs(dx), abs(dy)) if kind in ("op", "fused", "constant") else (dx * dx + dy * dy) ** 0.5
    return abs(measure - 1) < 1e-6


def training_step():
    w = sg.shared(np.zeros(3), name="w")
    X, t = sg.matrix("X"), sg.vector("t")
    loss = (sg.softplus(X @ w) - t * (X @ w)).mean()
    return sg.function([X, t], loss, updates=[(w, w - 0.5 * sg.grad(loss, w))], backend="python")


@pytest.mark.parametrize("rankdir", ["TB", "BT", "LR"])
@pytest.mark.parametrize("graph", ["step", "quiz_gradient"])
def test_no_edge_passes_behind_a_box(rankdir, graph):
    if graph == "step":
        picture = picture_of(training_step())
    else:
        x, z, y = quiz_graph()
        picture = picture_of([y, sg.grad(y, x), sg.grad(y, z)])
    centres, sizes, routes, _ = layered_layout(picture, rankdir)
    crossings = []
    for route, (source, target, _, _) in zip(routes, picture.edges):
        for (x0, y0), (x1, y1) in zip(route, route[1:]):
            for step in range(1, 40):
                point = (x0 + (x1 - x0) * step / 40, y0 + (y1 - y0) * step / 40)
                crossings += [(source, target, key) for key, attrs in picture.nodes.items()
                              if inside(point, centres[key], sizes[key], attrs["kind"])]
    assert crossings == []


def png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_writes_png_and_svg_by_suffix(tmp_path):
    x, z, y = quiz_graph()
    png = sg.draw(y, tmp_path / "quiz.png", engine="matplotlib")
    assert png == tmp_path / "quiz.png"
    width, height = png_size(png)
    assert width > 100
    wide, low = png_size(sg.draw(y, tmp_path / "quiz_lr.png", engine="matplotlib", rankdir="LR"))
    assert wide > width and low < height     # left to right: wider and lower than top to bottom
    svg = sg.draw(y, tmp_path / "nested" / "quiz.svg", engine="matplotlib")
    assert "exp" in svg_texts(svg.read_text())
    with pytest.raises(ValueError, match=r"\.svg or \.png"):
        sg.draw(y, tmp_path / "quiz.txt")
    with pytest.raises(ValueError, match="rankdir"):
        sg.draw(y, rankdir="RL")
    with pytest.raises(TypeError, match="sg.draw needs"):
        sg.draw(3.0)


def test_compiled_function_shows_fused_expression_and_updates():
    x = sg.vector("x")
    w = sg.shared(np.ones(3), name="w")
    cost = ((sg.exp(x * w) + 1.0) * sg.sin(x)).sum()
    f = sg.function([x], cost, updates=[(w, w - 0.1 * sg.grad(cost, w))], backend="python")
    fused = [n for n in f.graph.nodes if hasattr(n.op, "expression_strings")]
    assert fused, "the optimizer should fuse this elementwise chain"
    texts = svg_texts(sg.draw(f, engine="matplotlib"))
    assert "fused" in texts
    assert "w (updated)" in texts
    # the expression is spelled with the operands' names where they have one
    picture = picture_of(f)
    labels = [a["label"] for a in picture.nodes.values() if a["kind"] == "fused"]
    assert any("exp(" in label and ("x" in label or "w" in label) for label in labels)
    assert len(labels) == len(fused)
    dashed = [e for e in picture.edges if e[3]]
    assert len(dashed) == 1 and picture.nodes[dashed[0][1]]["label"] == "w (updated)"


def test_side_by_side_panels_and_highlighting_of_added_nodes():
    w = sg.scalar("w")
    z = sg.sin(sg.sin(w))
    g = sg.grad(z, w)
    svg = sg.draw({"forward": z, "with gradient": [z, g]}, base=z, engine="matplotlib")
    texts = svg_texts(svg)
    assert "forward" in texts and "with gradient" in texts
    picture = picture_of([z, g], base=z)
    added = [a for a in picture.nodes.values() if a["added"]]
    assert len(added) == count_nodes([z, g]) - count_nodes(z)


def test_dot_text_is_deterministic_and_complete():
    _, _, y1 = quiz_graph()
    _, _, y2 = quiz_graph()
    dot = to_dot(y1)
    assert dot == to_dot(y2)                      # ids do not depend on memory addresses
    graph_part, legend = dot.split("subgraph cluster_legend")
    assert graph_part.count("shape=box") == count_nodes(y1)
    assert graph_part.count("->") == len(picture_of(y1).edges)
    assert legend.count("[label=") == len(legend_entries([picture_of(y1)]))
    assert dot.startswith("digraph") and dot.rstrip().endswith("}")
    panels = to_dot({"a": y1, "b": y2})
    assert panels.count("subgraph cluster_") == 3     # two panels and the legend


@pytest.mark.skipif(shutil.which("dot") is not None, reason="Graphviz is installed here")
def test_engine_dot_without_graphviz_says_what_to_do():
    _, _, y = quiz_graph()
    with pytest.raises(RuntimeError, match="engine='matplotlib'"):
        sg.draw(y, engine="dot")
    assert "<svg" in sg.draw(y)                   # auto falls back to matplotlib


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot program is not installed")
def test_engine_dot_renders(tmp_path):
    _, _, y = quiz_graph()
    assert "<svg" in sg.draw(y, engine="dot")
    assert png_size(sg.draw(y, tmp_path / "g.png", engine="dot"))[0] > 0


def test_jupyter_inline_svg():
    x, z, y = quiz_graph()
    assert "<svg" in y._repr_svg_()
    f = sg.function([x, z], y, backend="python")
    assert "<svg" in f._repr_svg_()
    long_chain = x
    for _ in range(450):
        long_chain = sg.sin(long_chain)
    assert long_chain._repr_svg_() is None        # too big to read: Jupyter falls back to the text repr


def test_auto_engine_pipes_dot_text_to_graphviz_when_present(tmp_path, monkeypatch):
    # A stand-in for Graphviz's dot: echoes its format argument and the DOT text it was given.
    fake = tmp_path / "bin" / "dot"
    fake.parent.mkdir()
    fake.write_text('#!/bin/sh\necho "<svg format=$1>"\ncat\necho "</svg>"\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    _, _, y = quiz_graph()
    svg = sg.draw(y)
    assert svg.startswith("<svg format=-Tsvg>") and to_dot(y) in svg
    fake.write_text("#!/bin/sh\necho 'syntax error' >&2\nexit 1\n")
    with pytest.raises(RuntimeError, match="syntax error"):
        sg.draw(y, engine="dot")


def test_named_intermediate_gets_its_own_ellipse_between_ops():
    w = sg.scalar("w")
    x = sg.sin(w)
    x.name = "x"
    z = sg.sin(x) * x
    picture = picture_of(z)
    [x_key] = [k for k, a in picture.nodes.items() if a["label"] == "x"]
    assert picture.nodes[x_key]["kind"] == "variable"
    into = [s for s, t, _, _ in picture.edges if t == x_key]
    out_of = [t for s, t, _, _ in picture.edges if s == x_key]
    assert [picture.nodes[s]["label"] for s in into] == ["sin"]
    assert sorted(picture.nodes[t]["label"] for t in out_of) == ["mul", "sin"]


def test_unnamed_outputs_say_which_output_and_their_type_named_ones_their_name():
    x = sg.vector("x")
    total = x.sum()
    picture = picture_of([total, x * 2.0])
    labels = sorted(a["label"] for a in picture.nodes.values() if a["kind"] == "output")
    assert labels == ["output 0\nfloat64[]", "output 1\nfloat64[?]"]
    assert [a["label"] for a in picture_of(total).nodes.values() if a["kind"] == "output"] == ["output\nfloat64[]"]
    total.name = "total"
    assert [a["label"] for a in picture_of(total).nodes.values() if a["kind"] == "output"] == ["total"]


def test_the_legend_explains_each_kind_of_node_drawn_and_only_those():
    f = training_step()
    kinds = [kind for kind, _ in legend_entries([picture_of(f)])]
    assert kinds == ["input", "shared", "op", "fused", "output", "update"]
    texts = svg_texts(sg.draw(f, engine="matplotlib"))
    assert "legend" in texts
    for _, text in legend_entries([picture_of(f)]):
        assert text in texts
    w = sg.scalar("w")
    z = sg.sin(sg.sin(w))
    with_gradient = legend_entries([picture_of([z, sg.grad(z, w)], base=z)])
    assert ("added", "added to the base graph") in with_gradient
    assert "constant" in [kind for kind, _ in with_gradient] and "fused" not in [kind for kind, _ in with_gradient]
    dot = to_dot(f)
    assert "cluster_legend" in dot and all(f'"legend_{kind}"' in dot for kind in kinds)


def test_a_loop_step_is_a_cluster_of_its_own():
    from symgraph.draw import to_dot
    x = sg.vector("x")
    ys, _ = sg.scan(lambda v, acc: acc * 2.0 + sg.exp(v), sequences=x, outputs_info=sg.constant(0.0))
    text = to_dot(sg.grad(sg.sum(ys), x))
    assert 'label="step of scan #1"' in text and 'label="step of grad of scan #2"' in text
    step = text.split('label="step of scan #1"')[1].split("}")[0]
    assert '"exp"' in step and '"x[t]"' in step
