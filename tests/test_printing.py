"""dprint and to_networkx: structure, attributes, shared subtrees, very deep graphs."""
import networkx as nx
import numpy as np

import symgraph as sg


def test_dprint_prints_a_shared_subtree_once_and_references_it():
    x = sg.vector("x")
    e = sg.exp(x)
    y = (e * 2.0 + e.sum()).sum()
    text = sg.dprint(y)
    exp_lines = [line for line in text.splitlines() if "exp [id" in line]
    assert len(exp_lines) == 2 and exp_lines[1].endswith("···")  # printed once, then referenced
    assert text.count(" x [id") == 1
    assert "···" in text
    first = text.splitlines()[0]
    assert first.startswith("sum") and "float64[]" in first


def test_dprint_of_function_names_outputs_and_updates():
    x = sg.vector("x")
    w = sg.shared(np.zeros(3), "w")
    f = sg.function([x], (x * w).sum(), updates=[(w, w + x)], backend="python", optimizer=None)
    text = f.dprint()
    assert "output 0:" in text and "update of w:" in text
    assert text == sg.dprint(f) == sg.dprint(f.graph)


def test_dprint_show_source_names_this_file():
    x = sg.scalar("x")
    y = sg.sin(x)
    assert "test_printing.py:" in sg.dprint(y, show_source=True)


def test_dprint_and_networkx_handle_a_100k_deep_chain():
    x = sg.scalar("x")
    y = x
    for _ in range(100_000):
        y = y + 1.0
    text = sg.dprint(y, depth=3)
    assert len(text.splitlines()) == 7  # root, then (add, constant) at each of 3 levels
    graph = sg.to_networkx(y)
    assert sum(1 for _, d in graph.nodes(data=True) if d["kind"] == "op") == 100_000


def test_to_networkx_attributes_and_data_flow():
    a, b = sg.matrix("a"), sg.matrix("b")
    out = sg.exp(sg.dot(a, b)) if hasattr(sg, "dot") else sg.exp(a + b)
    graph = sg.to_networkx(out)
    assert isinstance(graph, nx.DiGraph) and nx.is_directed_acyclic_graph(graph)
    kinds = {d["kind"] for _, d in graph.nodes(data=True)}
    assert kinds == {"variable", "op"}
    ops = [d["op"] for _, d in graph.nodes(data=True) if d["kind"] == "op"]
    assert "exp" in ops
    named = {d["name"]: n for n, d in graph.nodes(data=True) if d["kind"] == "variable" and d["name"]}
    exp_node = next(n for n, d in graph.nodes(data=True) if d.get("op") == "exp")
    assert nx.has_path(graph, named["a"], exp_node)
    # Every edge joins a variable and an op.
    for u, v in graph.edges:
        assert {graph.nodes[u]["kind"], graph.nodes[v]["kind"]} == {"variable", "op"}
