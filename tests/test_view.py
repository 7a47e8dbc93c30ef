"""sg.view: the self-contained HTML graph viewer.

The page is checked twice: as text and data (self-contained, user text escaped, gradient and
fused nodes described), and in a real browser: headless Chromium opens it with ``#selftest``, the
page's own script counts what it drew, steps the rewrite history to its last stage, clicks a node
and reports the side panel's file:line, the errors and any Content-Security-Policy violation.
Chromium is found on the PATH; without it the browser tests skip (and fail when CI=true).
"""
import html
import importlib
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

import symgraph as sg
from symgraph.graph import toposort

view_module = importlib.import_module("symgraph.view")   # sg.view is the function
THIS_FILE = os.path.abspath(__file__)
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _data(page: str) -> dict:
    match = re.search(r'<script type="application/json" id="sg-data">(.*?)</script>', page, re.S)
    return json.loads(match.group(1))


def _mlp(profile=False):
    """The digits-MLP training step: 64 inputs, a hidden ReLU layer, softmax cross-entropy, SGD."""
    rng = np.random.default_rng(0)
    X, labels = sg.matrix("X", dtype="float32"), sg.vector("labels", dtype="int64")
    W1 = sg.shared(rng.normal(0, 0.1, (64, 32)).astype(np.float32), name="W1")
    b1 = sg.shared(np.zeros(32, np.float32), name="b1")
    W2 = sg.shared(rng.normal(0, 0.1, (32, 10)).astype(np.float32), name="W2")
    b2 = sg.shared(np.zeros(10, np.float32), name="b2")
    first_layer = X @ W1
    line = sys._getframe().f_lineno - 1
    hidden = sg.relu(first_layer + b1)
    log_probabilities = sg.log_softmax(hidden @ W2 + b2, axis=1)
    loss = -sg.mean(log_probabilities[sg.arange(X.shape[0]), labels])
    params = [W1, b1, W2, b2]
    updates = [(p, p - 0.1 * g) for p, g in zip(params, sg.grad(loss, params))]
    f = sg.function([X, labels], loss, updates=updates, name="train_step", backend="python", profile=profile)
    if profile:
        f(rng.normal(size=(20, 64)).astype(np.float32), rng.integers(0, 10, 20))
    return f, loss, updates, line


def _chain(steps=250):
    """A long elementwise chain and its gradient: about 2,000 nodes."""
    x = sg.vector("x")
    y = x
    for _ in range(steps):
        y = sg.tanh(y) * 1.01
    cost = y.sum()
    return x, [cost, sg.grad(cost, x)]


# ---------------------------------------------------------------- the page as text and data

def test_the_page_is_self_contained_and_user_text_is_only_escaped_data(tmp_path):
    hostile = "</script><script>alert(1)</script>"
    x = sg.vector(hostile)
    y = sg.exp(x).sum()
    y.name = "<b>&\u2028\u2029"
    path = sg.view(y, tmp_path / "page.html")
    page = path.read_text()
    assert page.startswith("<!DOCTYPE html>")
    for forbidden in ("http://", "https://", "src=", "<link", "@import"):
        assert forbidden not in page
    assert hostile not in page and "alert(1)</script>" not in page
    assert page.count("<script") == 2 and page.count("</script>") == 2   # the data and the viewer's script
    assert "\\u003c/script\\u003e\\u003cscript\\u003ealert(1)" in page
    assert "\u2028" not in page and "\u2029" not in page
    assert ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:"
            in page)
    assert "innerHTML" not in page and "outerHTML" not in page and "eval(" not in page
    data = _data(page)      # the escapes are JSON escapes: the names come back exactly
    assert hostile in {facts["op"] for facts in data["nodes"].values()}
    assert data["nodes"]["o0"]["op"] == "<b>&\u2028\u2029"


def test_gradient_nodes_are_flagged_and_fused_nodes_carry_their_expression(tmp_path):
    x = sg.vector("x")
    cost = (sg.exp(x) * 2.0 + 1.0).sum()
    gx = sg.grad(cost, x)
    forward = toposort([cost])
    data = view_module.page_data([cost, gx])
    ops = {d: facts for d, facts in data["nodes"].items() if d.startswith("n")}
    assert len(ops) == len(toposort([cost, gx]))
    assert sum(facts["grad"] for facts in ops.values()) == len(toposort([cost, gx])) - len(forward)
    assert not any(facts["grad"] for facts in ops.values() if facts["op"] == "sum{axis=0}"
                   and facts["line"] != cost.owner.source.lineno)

    f = sg.function([x], [cost, gx], backend="python")
    data = view_module.page_data(f)
    built, last = data["stages"][0], data["stages"][-1]
    assert built["name"] == "as built" and built["n"] == len(toposort([cost, gx]))
    assert sum(data["nodes"][d]["grad"] for d in built["ids"] if d[0] == "n") > 0
    assert last.get("compiled") and last["n"] == len(f.graph.nodes) == len(data["optimized"])
    fused = [data["nodes"][d] for d in data["optimized"] if data["nodes"][d]["kind"] == "fused"]
    assert fused and any("exp(" in line for facts in fused for line in facts["expr"])
    assert all(facts["where"] and facts["line"] > 0 for facts in fused)   # provenance survives fusion
    assert sum(s["n"] for s in data["stages"] if s.get("compiled")) == len(f.graph.nodes)
    later = [s for s in data["stages"][1:] if "same" not in s]
    assert later and all(set(s["added"]) <= set(s["ids"]) for s in later)
    assert any(s["removed"] for s in later)


def test_shared_variables_and_their_updates_are_distinct():
    f, _, updates, _ = _mlp()
    data = view_module.page_data(f)
    last = data["stages"][-1]
    last = data["stages"][last["same"]] if "same" in last else last    # unchanged stages share geometry
    kinds = [data["nodes"][d]["kind"] for d in last["ids"]]
    assert kinds.count("update") == len(updates) == 4
    shared = [facts for facts in data["nodes"].values() if facts["kind"] == "shared"]
    assert {s["op"] for s in shared} >= {"W1", "b1", "W2", "b2"} and all(s.get("updated") for s in shared)
    dashed = [e for e in last["edges"] if e[3]]
    assert len(dashed) == 4


def test_a_bad_object_is_a_type_error_naming_it():
    with pytest.raises(TypeError, match=r"sg.view needs a variable.*got int 42"):
        sg.view(42)
    with pytest.raises(TypeError, match=r"got list \[1, 2\]"):
        sg.view([1, 2])
    with pytest.raises(TypeError, match=r"got str 'x'"):
        sg.view("x")


def test_default_path_browser_and_jupyter(tmp_path, monkeypatch):
    x = sg.scalar("x")
    path = sg.view(x * 2)
    try:
        assert path.exists() and path.suffix == ".html" and str(path).startswith(str(path.parent))
    finally:
        path.unlink()
    opened, shown = [], []
    monkeypatch.setattr(view_module.webbrowser, "open", opened.append)
    monkeypatch.setattr(view_module, "_in_jupyter", lambda: True)
    monkeypatch.setattr(view_module, "_display_inline", shown.append)
    path = sg.view(x * 2, tmp_path / "sub" / "g.html", open_browser=True)
    assert path == tmp_path / "sub" / "g.html" and path.exists()
    assert opened == [path.resolve().as_uri()] and shown == [path.read_text()]


def test_two_thousand_nodes_write_in_well_under_two_seconds(tmp_path):
    _, roots = _chain()
    n = len(toposort(roots))
    assert 1800 <= n <= 2300
    start = time.perf_counter()
    path = sg.view(roots, tmp_path / "big.html")
    seconds = time.perf_counter() - start
    assert seconds < 2.0, f"{n} nodes took {seconds:.2f} s"
    data = _data(path.read_text())
    assert data["stages"][0]["n"] == n


def test_the_python_layout_runs_left_to_right_without_overlaps(monkeypatch):
    monkeypatch.setattr(view_module.shutil, "which", lambda name: None)     # no Graphviz
    _, roots = _chain(20)
    data = view_module.page_data(roots)
    stage = data["stages"][0]
    pos, facts = stage["pos"], data["nodes"]
    for source, target, *_ in stage["edges"]:        # every edge goes rightwards
        assert pos[source][0] < pos[target][0]
    columns = {}
    for d, (x, y) in pos.items():
        columns.setdefault(x, []).append((y - facts[d]["h"] / 2, y + facts[d]["h"] / 2))
    for boxes in columns.values():
        boxes.sort()
        assert all(a[1] <= b[0] + 1e-6 for a, b in zip(boxes, boxes[1:]))


# ---------------------------------------------------------------- in a browser

def _chromium():
    if CHROMIUM is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed (.ci/run installs it)")
        pytest.skip("chromium is not installed")
    return CHROMIUM


def _run_chromium(tmp_path, *arguments):
    command = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
               f"--user-data-dir={tmp_path / 'chromium-profile'}", *arguments]
    return subprocess.run(command, capture_output=True, text=True, timeout=180)


def _selftest(tmp_path, page, query=""):
    fragment = "#selftest" + (f"&search={query}" if query else "")
    result = _run_chromium(tmp_path, "--virtual-time-budget=5000", "--dump-dom", page.resolve().as_uri() + fragment)
    match = re.search(r'<pre id="selftest">(.*?)</pre>', result.stdout, re.S)
    assert match and match.group(1).strip(), f"no self-test output; stderr: {result.stderr[-2000:]}"
    return json.loads(html.unescape(match.group(1)))


def test_in_a_browser_the_training_step_and_its_rewrite_history(tmp_path):
    f, loss, updates, line = _mlp(profile=True)      # profiled: nodes coloured by time too
    page = sg.view(f, tmp_path / "mlp.html")
    assert '"seconds":' in page.read_text()
    report = _selftest(tmp_path, page, "dot")
    assert report["errors"] == [] and report["csp_violations"] == []
    built = len(toposort([loss] + [expr for _, expr in updates]))
    assert report["stage_counts"][0] == report["stage0_drawn_ops"] == built
    assert report["initial_stage"] == report["stages"] - 1 == report["last_stage"] >= 2
    assert report["drawn_ops"] == report["last_drawn_ops"] == len(f.graph.nodes) == report["stage_counts"][-1]
    assert report["last_matches_optimized"] and report["optimized_count"] == len(f.graph.nodes)
    assert report["gradient_drawn"] > 10
    assert report["search_hits"] >= 2 and report["clicked_op"] == "dot"
    assert report["panel_where"] == f"{THIS_FILE}:{line} (in _mlp)"


def test_in_a_browser_two_thousand_nodes_and_a_screenshot(tmp_path):
    _, roots = _chain()
    n = len(toposort(roots))
    page = sg.view(roots, tmp_path / "big.html")
    report = _selftest(tmp_path, page)
    assert report["errors"] == [] and report["csp_violations"] == []
    assert report["drawn_ops"] == n == report["optimized_count"] and report["last_matches_optimized"]
    assert report["gradient_drawn"] == n - 2 * 250 - 1      # all but the forward chain and its sum
    assert report["panel_where"].startswith(f"{THIS_FILE}:")

    f, _, _, _ = _mlp()
    page = sg.view(f, tmp_path / "mlp.html")
    # The screenshot is the test's artefact: kept where SYMGRAPH_TEST_ARTEFACTS points (a CI job can upload
    # that folder), else in pytest's temporary directory (the last three runs' are kept).
    artefacts = pathlib.Path(os.environ.get("SYMGRAPH_TEST_ARTEFACTS") or tmp_path)
    artefacts.mkdir(parents=True, exist_ok=True)
    picture = artefacts / "view.png"
    _run_chromium(tmp_path, f"--screenshot={picture}", "--window-size=1400,900", "--virtual-time-budget=3000",
                  page.resolve().as_uri())
    data = picture.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000


def test_graphviz_plain_output_becomes_positions(monkeypatch):
    """With dot on the PATH its -Tplain answer is read (inches, y up -> px, y down); a failure falls back."""
    calls = []

    def fake_run(command, input, capture_output, timeout, check):
        calls.append(input.decode())
        numbers = re.findall(r"^n(\d+) \[", input.decode(), re.M)
        lines = ["graph 1 10 10"] + [f"node n{k} {int(k) + 1} 2.5 1 0.5 \"\" solid box black lightgrey"
                                     for k in numbers] + ["stop"]
        return subprocess.CompletedProcess(command, 0, "\n".join(lines).encode(), b"")

    monkeypatch.setattr(view_module.shutil, "which", lambda name: "/usr/bin/dot")
    monkeypatch.setattr(view_module.subprocess, "run", fake_run)
    x = sg.vector("x")
    data = view_module.page_data(sg.exp(x).sum())
    pos = data["stages"][0]["pos"]
    assert calls and "rankdir=LR" in calls[0]
    assert sorted(p[0] for p in pos.values()) == [72.0 * (k + 1) for k in range(len(pos))]
    assert {p[1] for p in pos.values()} == {-180.0}

    def failing_run(*args, **kwargs):
        raise subprocess.CalledProcessError(1, "dot")

    monkeypatch.setattr(view_module.subprocess, "run", failing_run)
    pos = view_module.page_data(sg.exp(x).sum())["stages"][0]["pos"]
    assert len({p[0] for p in pos.values()}) == len(pos)     # the Python layout: one node per layer here


@pytest.mark.parametrize("backend", ["python", "numba"])
def test_profiled_functions_colour_nodes_by_time(backend):
    x, W = sg.vector("x"), sg.shared(np.ones((1000, 3)), name="W")
    cost = (sg.tanh(sg.exp(x) @ W) ** 2).sum()
    f = sg.function([x], [cost, sg.grad(cost, W)], backend=backend, profile=True)
    f(np.ones(1000))
    data = view_module.page_data(f)
    timed = [data["nodes"][d] for d in data["optimized"] if "seconds" in data["nodes"][d]]
    assert len(timed) == len(f.graph.nodes) and all(t["seconds"] >= 0 for t in timed)
    rows = {row["label"]: row["seconds"] for row in f.profile().rows}
    assert sorted(t["seconds"] for t in timed) == sorted(s for label, s in rows.items() if label.startswith("#"))
    assert 0 < sum(t["percent"] for t in timed) <= 100.0 + 1e-6
    g = sg.function([x], x.sum(), backend="python")          # not profiled: no times
    assert not any("seconds" in facts for facts in view_module.page_data(g)["nodes"].values())
