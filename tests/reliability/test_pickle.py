"""Graphs, shared variables and compiled functions survive pickling, in this process and in a fresh one.

A pickled graph is a flat table (no recursion, so a 100,000-node chain pickles);
leaves pickled together stay shared; a shared variable keeps its value, and gets
a fresh lock and no device copies; a compiled function is stored as its original
inputs, outputs, updates and options and compiled again when loaded.
"""
from __future__ import annotations

import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

import symgraph as sg
from symgraph.graph import count_nodes, graph_inputs, toposort

from .helpers import available_backends, backend_options

BACKENDS = available_backends()
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def round_trip(obj):
    return pickle.loads(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))


def model():
    """A small regression model: inputs, a shared weight, constants, a named intermediate, a gradient."""
    x, target = sg.matrix("x"), sg.vector("target")
    w = sg.shared(np.array([0.5, -1.0, 2.0]), name="w")
    hidden = sg.tanh(x @ w + sg.constant(0.1, name="bias"))
    hidden.name = "hidden"
    loss = sg.mean((hidden - target) ** 2) + 0.01 * sg.sum(w * w)
    return x, target, w, hidden, loss


def sample():
    rng = np.random.default_rng(3)
    return rng.normal(size=(4, 3)), rng.normal(size=4)


def test_graph_round_trip_keeps_structure_names_sources_and_values():
    x, target, w, hidden, loss = model()
    g = sg.grad(loss, w)
    x2, target2, w2, hidden2, loss2, g2 = round_trip([x, target, w, hidden, loss, g])
    assert len(toposort([loss2, g2])) == len(toposort([loss, g]))
    # Leaves pickled together stay one object: the rebuilt graph reads the unpickled inputs.
    leaves = {id(v) for node in toposort([loss2, g2]) for v in node.inputs if v.owner is None}
    assert {id(x2), id(target2), id(w2)} <= leaves
    assert hidden2.name == "hidden" and w2.name == "w"
    assert [n.sources for n in toposort([loss2])] == [n.sources for n in toposort([loss])]
    xv, tv = sample()
    before = sg.function([x, target], [loss, g], backend="python")(xv, tv)
    after = sg.function([x2, target2], [loss2, g2], backend="python")(xv, tv)
    for a, b in zip(after, before):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_shared_and_constant_round_trip():
    w = sg.shared(np.arange(4.0), name="w")
    w.set_value(np.array([4.0, 3.0, 2.0, 1.0]))
    w2 = round_trip(w)
    np.testing.assert_array_equal(w2.get_value(), [4.0, 3.0, 2.0, 1.0])
    w2.set_value(np.zeros(4))              # a working lock, and independent of the original
    np.testing.assert_array_equal(w.get_value(), [4.0, 3.0, 2.0, 1.0])
    assert w2.device_copies == {} and w2.type == w.type
    c = round_trip(sg.constant(np.array([1.0, 2.0]), name="c"))
    assert not c.value.flags.writeable and c.name == "c"
    np.testing.assert_array_equal(c.value, [1.0, 2.0])


@pytest.mark.parametrize("backend", BACKENDS)
def test_compiled_function_round_trip_recompiles_with_state(backend):
    x = sg.matrix("x")
    w = sg.shared(np.array([0.5, -1.0, 2.0]), name="w")
    scores = sg.tanh(x @ w)
    step = sg.function([x], [sg.sum(scores), scores], updates=[(w, w + 0.1 * sg.sum(x, axis=0))],
                       backend=backend, name="train_step", **backend_options(backend))
    xv, _ = sample()
    step(xv)
    copy = round_trip(step)
    assert copy.backend == backend and copy.name == "train_step"
    (copy_w,) = [s for s in copy.program.shared if s.name == "w"]
    np.testing.assert_array_equal(copy_w.get_value(), w.get_value())
    # Both take the same next step; the copy's state is its own.
    for got, want in zip(copy(xv), step(xv)):
        np.testing.assert_allclose(got, want, rtol=1e-12)
    np.testing.assert_allclose(copy_w.get_value(), w.get_value(), rtol=1e-12)
    copy_w.set_value(np.zeros(3))
    assert not np.array_equal(w.get_value(), np.zeros(3))


def test_function_options_survive_pickling():
    x = sg.vector("x")
    f = sg.function([x], sg.exp(x), backend="python", trust_input=True, optimizer=None)
    g = round_trip(f)
    assert g.trust_input and g.backend == "python"
    np.testing.assert_allclose(g(np.array([0.0, 1.0])), np.exp([0.0, 1.0]))
    single = round_trip(sg.function([x], [x * 2], backend="python"))
    assert isinstance(single(np.ones(2)), list)


LOAD_IN_FRESH_PROCESS = """
import pickle, sys
import numpy as np
f = pickle.load(open(sys.argv[1], "rb"))
xv, tv = np.load(sys.argv[2])["x"], np.load(sys.argv[2])["t"]
loss, hidden = f(xv, tv)
np.savez(sys.argv[3], loss=loss, hidden=hidden, w=[s for s in f.program.shared if s.name == "w"][0].get_value())
"""


def test_compiled_function_loads_in_a_fresh_process(tmp_path):
    x, target, w, hidden, loss = model()
    step = sg.function([x, target], [loss, hidden], updates=[(w, w * 0.5)], backend="python")
    xv, tv = sample()
    (tmp_path / "f.pkl").write_bytes(pickle.dumps(step))
    np.savez(tmp_path / "in.npz", x=xv, t=tv)
    env = dict(os.environ, PYTHONPATH=REPO_ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    result = subprocess.run([sys.executable, "-c", LOAD_IN_FRESH_PROCESS, str(tmp_path / "f.pkl"),
                             str(tmp_path / "in.npz"), str(tmp_path / "out.npz")],
                            capture_output=True, text=True, timeout=300, env=env, cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    out = np.load(tmp_path / "out.npz")
    want_loss, want_hidden = step(xv, tv)
    np.testing.assert_allclose(out["loss"], want_loss, rtol=1e-12)
    np.testing.assert_allclose(out["hidden"], want_hidden, rtol=1e-12)
    np.testing.assert_allclose(out["w"], w.get_value(), rtol=1e-12)


def test_deep_chain_pickles_without_recursion():
    x = sg.scalar("x")
    y = x
    for i in range(5000):
        y = y * 1.0001 if i % 2 else y + 0.001
    y2, x2 = round_trip([y, x])
    f = sg.function([x2], y2, backend="python", optimizer=None)
    expected = 0.5
    for i in range(5000):
        expected = expected * 1.0001 if i % 2 else expected + 0.001
    np.testing.assert_allclose(f(0.5), expected, rtol=1e-10)


def test_lone_node_of_a_deep_chain_pickles_without_recursion_and_keeps_identity():
    x = sg.scalar("x")
    y = x
    for i in range(5000):
        y = y * 1.0001 if i % 2 else y + 0.001
    node, y2 = pickle.loads(pickle.dumps([y.owner, y]))
    assert y2.owner is node
    x2 = next(v for v in graph_inputs([y2]) if v.name == "x")
    f = sg.function([x2], node.outputs[0], backend="python", optimizer=None)
    expected = 0.5
    for i in range(5000):
        expected = expected * 1.0001 if i % 2 else expected + 0.001
    np.testing.assert_allclose(f(0.5), expected, rtol=1e-10)
    alone = pickle.loads(pickle.dumps(y.owner))
    assert count_nodes(alone.outputs) == count_nodes([y])
