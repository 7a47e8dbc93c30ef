"""Ops that exist for differentiation: ``stop_gradient``."""
from __future__ import annotations

import numpy as np

from ..graph import Node
from .base import Op, as_variable


class StopGradient(Op):
    """Identity in the forward pass; no gradient flows through it. The optimizer removes it."""
    name = "stop_gradient"

    def make_node(self, x):
        x = as_variable(x)
        return Node(self, [x], [x.type])

    def perform(self, node, inputs):
        return [inputs[0]]

    def grad(self, inputs, outputs, output_grads):
        return [None]

    def connection_pattern(self, node):
        return [False]


def stop_gradient(x):
    return StopGradient()(x)
