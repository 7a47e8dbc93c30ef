"""Shared helpers for the optimizer tests: compile with and without the optimizer, count ops."""
from __future__ import annotations

import numpy as np

import symgraph as sg
from symgraph.graph import toposort
from symgraph.ops.base import op_name


def run(inputs, outputs, values, optimizer="fast_run"):
    f = sg.function(inputs, outputs, backend="python", optimizer=optimizer)
    return f(*values), f


def compare(inputs, outputs, values, rtol=1e-7, atol=1e-10, optimizer="fast_run"):
    """Values of the optimized and unoptimized function agree; returns the optimized function."""
    expected, _ = run(inputs, outputs, values, optimizer=None)
    actual, f = run(inputs, outputs, values, optimizer=optimizer)
    if not isinstance(outputs, (list, tuple)):
        expected, actual = [expected], [actual]
    for e, a in zip(expected, actual):
        assert np.asarray(a).dtype == np.asarray(e).dtype
        np.testing.assert_allclose(a, e, rtol=rtol, atol=atol)
    return f


def op_names(outputs):
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    return [op_name(n.op) for n in toposort(list(outputs))]


def graph_ops(f):
    return [op_name(n.op) for n in f.graph.nodes]
