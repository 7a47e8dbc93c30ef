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


# ---------------------------------------------------------------- the rewrite log

def _rewrite_lines(log):
    text = str(log)
    return text.split("rewrites, in order:\n", 1)[1].splitlines() if "rewrites, in order:" in text else []


def test_rewrite_log_says_how_many_identical_constants_and_nodes_were_merged():
    x = sg.vector("x")
    out = sg.exp(x) * 1.5 + sg.sin(x) * 1.5 + sg.cos(x) * 1.5 + sg.tanh(x) * 1.5 + sg.exp(x)
    f = sg.function([x], out, backend="python", optimizer={"mode": "fast_run", "exclude": ["fusion"]})
    lines = _rewrite_lines(f.rewrite_log)
    constants = [line for line in lines if "merge_constants" in line]
    assert len(constants) == 1 and constants[0].strip().startswith("merge  merge_constants: merged 4 identical "
                                                                    "constants 1.5")
    nodes = [line for line in lines if "merge_nodes" in line]
    assert len(nodes) == 1 and "merged 2 identical exp(x)" in nodes[0]
    assert not any("->" in line for line in constants + nodes)
    # The data keeps every merge: three constants and one node were replaced.
    assert f.rewrite_log.fired("merge_constants") == 3 and f.rewrite_log.fired("merge_nodes") == 1


def test_rewrite_log_shows_op_parameters():
    X = sg.matrix("X")
    out = X.sum(axis=1) / X.shape[0] + X.sum(axis=1) / X.shape[0]
    f = sg.function([X], out, backend="python", optimizer={"mode": "fast_run", "exclude": ["fusion"]})
    text = "\n".join(_rewrite_lines(f.rewrite_log))
    assert "shape_of{axis=0}" in text and "sum{axis=1}" in text


def test_rewrite_log_abbreviates_large_fused_groups():
    x = sg.vector("x")
    y = x
    for i in range(60):
        y = sg.tanh(y * (i + 2.0) + sg.sin(x) / (i + 3.0))
    f = sg.function([x], y, backend="python")
    lines = _rewrite_lines(f.rewrite_log)
    fusion = [line for line in lines if "fuse_elementwise" in line]
    assert fusion and max(len(line) for line in lines) < 250
    assert "...}(" in fusion[0] and "more)" in fusion[0]
    assert len(f.graph.nodes[0].inputs) > 60  # each operand used to be listed


def test_rewrite_log_names_a_multi_output_fused_node_once():
    x = sg.vector("x")
    n = sg.cast(x.shape[0], "float64")
    f = sg.function([x], [x * n, 1.0 / n], backend="python")
    fusion = [line for line in _rewrite_lines(f.rewrite_log) if "fuse_elementwise" in line]
    assert any("(2 outputs)" in line for line in fusion)
    for line in fusion:
        change = line.split("fuse_elementwise: ", 1)[1]
        assert change.count("  ->  ") == 1 and change.count("fused{") == 1


# ---------------------------------------------------------------- what a shape error says

import pytest  # noqa: E402


@pytest.mark.parametrize("backend", ["python", "numba", "cuda"])
@pytest.mark.parametrize("named_left", [True, False])
def test_a_misaligned_product_names_both_operands_and_their_shapes(backend, named_left):
    # The right operand is a shared variable, so the call's input shapes alone do not show it.
    X = sg.matrix("X")
    W = sg.shared(np.ones((5, 2)), name="W")
    left = X if named_left else sg.tanh(X)
    f = sg.function([X], sg.tanh(left @ W), backend=backend)
    with pytest.raises(ValueError) as info:
        f(np.ones((3, 4)))
    message = str(info.value)
    assert "(5, 2)" in message and "(3, 4)" in message
    if backend != "cuda":  # the cuda kernels' message shows the shapes, not which operands they are
        assert "'W'" in message and ("'X'" in message if named_left else "tanh" in message)
