"""The optimizer pauses the cyclic garbage collector only while it runs, and restores it as it found it."""
from __future__ import annotations

import gc
import threading

import numpy as np
import pytest

import symgraph as sg
from symgraph import rewrite


def _compile():
    x = sg.vector("x")
    f = sg.function([x], sg.exp(x) * 2 + 1, backend="python")
    np.testing.assert_allclose(f(np.arange(3.0)), np.exp(np.arange(3.0)) * 2 + 1)


@pytest.fixture
def restore_gc():
    was = gc.isenabled()
    yield
    (gc.enable if was else gc.disable)()


@pytest.mark.parametrize("enabled", [True, False])
def test_collector_state_is_restored(enabled, restore_gc):
    (gc.enable if enabled else gc.disable)()
    _compile()
    assert gc.isenabled() is enabled


def test_collector_is_paused_inside_and_restored_when_a_rewrite_raises(monkeypatch, restore_gc):
    gc.enable()
    seen = []

    def failing(outputs, pipeline, mode):
        seen.append(gc.isenabled())
        raise RuntimeError("a rewrite failed")

    monkeypatch.setattr(rewrite, "run_pipeline", failing)
    with pytest.raises(RuntimeError, match="a rewrite failed"):
        _compile()
    assert seen == [False]
    assert gc.isenabled()


def test_two_threads_do_not_turn_the_collector_back_on_early(restore_gc):
    gc.enable()
    inside, release = threading.Barrier(2), threading.Event()
    states = []

    def slow_thread():
        with rewrite.collector_paused():
            inside.wait()
            release.wait()
            states.append(("slow, after the fast one ended", gc.isenabled()))

    thread = threading.Thread(target=slow_thread)
    thread.start()
    with rewrite.collector_paused():
        inside.wait()
    states.append(("fast ended, slow still inside", gc.isenabled()))
    release.set()
    thread.join()
    assert states == [("fast ended, slow still inside", False), ("slow, after the fast one ended", False)]
    assert gc.isenabled()
