"""The NumPy reference backend: evaluate the graph node by node with each op's ``perform``.

It is the yardstick every other backend is tested against, so it stays plain.
"""
from __future__ import annotations

import time

import numpy as np

from symgraph.graph import Constant, toposort
from symgraph.ops.ifelse import lazy_branches
from symgraph.profiling import node_label


class PythonExecutor:
    def __init__(self, program):
        self.program = program
        nodes = toposort(program.outputs)
        # the nodes only one branch of an ifelse needs run when it is chosen (symgraph/ops/ifelse.py)
        deferred, self.branches = lazy_branches(nodes, program.outputs)
        self.nodes = [n for n in nodes if id(n) not in deferred]
        self.labels = {id(n): node_label(index, n) for index, n in enumerate(nodes)}
        self.source = None
        self.cache_info = None
        self.profile = None        # a symgraph.profiling.Profile when sg.function(..., profile=True)

    def __call__(self, input_values, shared_values):
        program = self.program
        values = {id(v): x for v, x in zip(program.inputs, input_values)}
        values.update((id(v), x) for v, x in zip(program.shared, shared_values))
        self._run(self.nodes, values)
        return [var.value if isinstance(var, Constant) else values[id(var)] for var in program.outputs]

    def _run(self, nodes, values):
        profile = self.profile
        for node in nodes:
            if id(node) in self.branches:          # an ifelse: run the chosen branch's own nodes first
                condition = _value(node.inputs[0], values)
                then_nodes, else_nodes = self.branches[id(node)]
                self._run(then_nodes if bool(condition) else else_nodes, values)
                chosen = node.inputs[node.op.choose(condition)]
                args = [condition] + [_value(v, values) for v in chosen] * 2
            else:
                args = [_value(var, values) for var in node.inputs]
            if profile is None:
                results = run_node(node, args)
            else:
                start = time.perf_counter()
                results = run_node(node, args)
                profile.add(self.labels[id(node)], time.perf_counter() - start)
            for var, result in zip(node.outputs, results):
                values[id(var)] = result

    def enable_profile(self, profile):
        """Time every node's ``perform`` into ``profile`` (symgraph.profiling.Profile)."""
        self.profile = profile


def _value(var, values):
    return var.value if isinstance(var, Constant) else values[id(var)]


def run_node(node, args):
    """``node.op.perform`` with errors re-raised to name the op, the input shapes and the user's line."""
    try:
        results = node.op.perform(node, args)
    except (ValueError, TypeError, IndexError, ZeroDivisionError) as exc:
        if node.where() and node.where() in str(exc):
            raise
        shapes = ", ".join(str(np.shape(a)) for a in args)
        raise type(exc)(f"{node.op} failed on inputs of shapes {shapes}{node.where()}: {exc}") from exc
    for var, result in zip(node.outputs, results):
        if not isinstance(result, np.ndarray) or result.dtype.name != var.dtype or result.ndim != var.ndim:
            raise AssertionError(f"internal error: {node.op} returned {type(result).__name__} "
                                 f"{getattr(result, 'dtype', '')}{np.shape(result)} for an output of type {var.type}")
    return results


def compile(program):  # noqa: A001 - the backend interface
    return PythonExecutor(program)
