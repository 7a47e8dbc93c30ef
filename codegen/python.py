"""The NumPy reference backend: evaluate the graph node by node with each op's ``perform``.

It is the yardstick every other backend is tested against, so it stays plain.
"""
from __future__ import annotations

import time

import numpy as np

from symgraph.graph import Constant, toposort
from symgraph.profiling import node_label


class PythonExecutor:
    def __init__(self, program):
        self.program = program
        self.nodes = toposort(program.outputs)
        self.source = None
        self.cache_info = None
        self.profile = None        # a symgraph.profiling.Profile when sg.function(..., profile=True)

    def __call__(self, input_values, shared_values):
        program = self.program
        values = {id(v): x for v, x in zip(program.inputs, input_values)}
        values.update((id(v), x) for v, x in zip(program.shared, shared_values))
        profile = self.profile
        for index, node in enumerate(self.nodes):
            args = []
            for var in node.inputs:
                if isinstance(var, Constant):
                    args.append(var.value)
                else:
                    args.append(values[id(var)])
            if profile is None:
                results = run_node(node, args)
            else:
                start = time.perf_counter()
                results = run_node(node, args)
                profile.add(node_label(index, node), time.perf_counter() - start)
            for var, result in zip(node.outputs, results):
                values[id(var)] = result
        return [var.value if isinstance(var, Constant) else values[id(var)] for var in program.outputs]

    def enable_profile(self, profile):
        """Time every node's ``perform`` into ``profile`` (symgraph.profiling.Profile)."""
        self.profile = profile


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
