"""The fused elementwise op: one node computing a small program of scalar ops over broadcast inputs.

The optimizer's fusion pass turns a connected group of ``Elemwise`` nodes into one
``Fused`` node, which a backend lowers to a single loop. The program is a tuple of
``(scalar_op, operand_indices, dtype)`` instructions in evaluation order: operand
``k < nin`` is the node's ``k``-th input, operand ``k >= nin`` the result of
instruction ``k - nin``. ``outputs`` lists the operand of each node output. Inputs
broadcast together with NumPy rules and every output has the broadcast shape;
elementwise functions commute with broadcasting, so evaluating the instructions on
the un-broadcast arrays and broadcasting at the end gives the same values.
"""
from __future__ import annotations

import numpy as np

from ..graph import Constant, Node
from ..types import TensorType, broadcast_shapes
from .base import Op, as_variable

# Infix spelling and precedence used by expression_strings (higher binds tighter).
_INFIX = {"add": ("+", 1), "sub": ("-", 1), "mul": ("*", 2), "true_div": ("/", 2), "pow": ("**", 4),
          "lt": ("<", 0), "le": ("<=", 0), "gt": (">", 0), "ge": (">=", 0), "eq": ("==", 0),
          "ne": ("!=", 0), "and": ("&", 0), "or": ("|", 0)}
_ATOM = 9


class Fused(Op):
    """A fused group of elementwise scalar ops; see the module docstring for the encoding."""

    __props__ = ("nin", "instructions", "outputs")
    name = "fused"

    def __init__(self, nin, instructions, outputs):
        self.nin = int(nin)
        self.instructions = tuple((op, tuple(int(k) for k in operands), str(dtype))
                                  for op, operands, dtype in instructions)
        self.outputs = tuple(int(k) for k in outputs)
        for position, (op, operands, _) in enumerate(self.instructions):
            if len(operands) != op.nin or any(not 0 <= k < self.nin + position for k in operands):
                raise ValueError(f"fused: instruction {position} ({op}) has invalid operands {operands}")
        if not self.outputs or any(not 0 <= k < self.nin + len(self.instructions) for k in self.outputs):
            raise ValueError(f"fused: invalid outputs {self.outputs}")
        self._hash = None

    def scalar_program(self, node):
        """``(nin, instructions, outputs)``: the program itself (``Elemwise`` gives the same for one op)."""
        return self.nin, self.instructions, self.outputs

    def __hash__(self):
        # The instruction tuple can be long; hash it once.
        if self._hash is None:
            self._hash = hash((Fused, self.nin, self.instructions, self.outputs))
        return self._hash

    def __eq__(self, other):
        return self is other or (type(other) is Fused and hash(self) == hash(other)
                                 and self._props() == other._props())

    def __str__(self):
        text = "; ".join(self.expression_strings())
        return f"fused{{{text if len(text) <= 80 else text[:77] + '...'}}}"

    __repr__ = __str__

    def operand_dtypes(self, input_dtypes):
        return list(input_dtypes) + [dtype for _, _, dtype in self.instructions]

    def make_node(self, *inputs):
        if len(inputs) != self.nin:
            raise TypeError(f"fused: expected {self.nin} inputs, got {len(inputs)}")
        inputs = [as_variable(v) for v in inputs]
        shape = broadcast_shapes(*[v.type.shape for v in inputs], op_name="fused elementwise",
                                 describe=lambda: ", ".join(v.describe() for v in inputs))
        dtypes = self.operand_dtypes([v.dtype for v in inputs])
        return Node(self, inputs, [TensorType(dtypes[k], shape) for k in self.outputs])

    def perform(self, node, inputs):
        shape = np.broadcast_shapes(*[np.shape(a) for a in inputs])
        values = list(inputs)
        with np.errstate(all="ignore"):
            for op, operands, dtype in self.instructions:
                values.append(np.asarray(op.impl(*[values[k] for k in operands]), dtype=dtype))
        results = []
        for k, var in zip(self.outputs, node.outputs):
            value = values[k]
            if k < self.nin or value.shape != shape:
                # Never alias an input; give every output the full broadcast shape.
                value = np.array(np.broadcast_to(value, shape), dtype=var.dtype)
            results.append(np.asarray(value, dtype=var.dtype))
        return results

    # ---------------------------------------------------------------- symbolic views

    def rebuild(self, inputs):
        """Every operand as an ordinary ``Elemwise`` variable built on ``inputs`` (inputs first)."""
        from .elemwise import Elemwise
        operands = list(inputs)
        for op, indices, dtype in self.instructions:
            operands.append(Elemwise(op)(*[operands[k] for k in indices]))
        return operands

    def grad(self, inputs, outputs, output_grads):
        # Fused nodes exist after differentiation; for a second derivative, backpropagate
        # through the equivalent Elemwise graph instruction by instruction.
        from .elemwise import add, cast
        from .reduce import sum_to
        operands = self.rebuild(inputs)
        grads = {}

        def accumulate(k, g):
            grads[k] = g if k not in grads else add(grads[k], g)

        for k, g in zip(self.outputs, output_grads):
            if g is not None:
                accumulate(k, sum_to(g, operands[k]))
        for position in reversed(range(len(self.instructions))):
            k = self.nin + position
            if k not in grads:
                continue
            node = operands[k].owner
            indices = self.instructions[position][1]
            for index, g in zip(indices, node.op.grad(node.inputs, node.outputs, [grads[k]])):
                if g is not None:
                    accumulate(index, g)
        result = []
        for i, x in enumerate(inputs):
            g = grads.get(i)
            if g is None or not x.type.is_float:
                result.append(None)
            else:
                result.append(cast(g, x.dtype) if g.dtype != x.dtype else g)
        return result

    def expression_strings(self, input_names=None):
        """One readable infix string per output, e.g. ``"exp(i0) * i1 + 1.0"``.

        ``input_names`` (optional) replaces ``i0, i1, ...``; an instruction used more than
        once and too long to repeat is printed once as ``t<k>`` and spelled out by
        ``expression_lines``.
        """
        texts, _ = self._render(input_names)
        return [texts[k][0] for k in self.outputs]

    def expression_lines(self, input_names=None):
        """``t<k> = ...`` lines for shared temporaries, then ``o<j> = ...`` for each output."""
        texts, shared = self._render(input_names)
        lines = [f"t{k - self.nin} = {full}" for k, full in shared]
        lines += [f"o{j} = {texts[k][0]}" for j, k in enumerate(self.outputs)]
        return lines

    def _render(self, input_names=None):
        names = list(input_names) if input_names is not None else [f"i{k}" for k in range(self.nin)]
        uses = [0] * (self.nin + len(self.instructions))
        for _, operands, _ in self.instructions:
            for k in operands:
                uses[k] += 1
        texts = [(name, _ATOM) for name in names]
        shared = []

        def wrap(k, precedence):
            text, own = texts[k]
            return f"({text})" if own < precedence else text

        for position, (op, operands, dtype) in enumerate(self.instructions):
            k = self.nin + position
            name = getattr(op, "name", str(op))
            if name in _INFIX and len(operands) == 2:
                symbol, precedence = _INFIX[name]
                right_precedence = precedence + 1 if name in ("sub", "true_div", "pow") else precedence
                left_precedence = precedence + 1 if name == "pow" else precedence
                text = f"{wrap(operands[0], left_precedence)} {symbol} {wrap(operands[1], right_precedence)}"
            elif name == "neg":
                text, precedence = f"-{wrap(operands[0], 3)}", 3
            elif name == "cast":
                text, precedence = f"{op.dtype}({texts[operands[0]][0]})", _ATOM
            else:
                text, precedence = f"{name}({', '.join(texts[j][0] for j in operands)})", _ATOM
            if name not in _INFIX and name != "neg":
                precedence = _ATOM
            if uses[k] > 1 and len(text) > 40:
                shared.append((k, text))
                text, precedence = f"t{position}", _ATOM
            texts.append((text, precedence))
        return texts, shared


def input_labels(node):
    """Names for a fused node's inputs: constants by value, named variables by name, else ``i<k>``."""
    labels = []
    for k, var in enumerate(node.inputs):
        if isinstance(var, Constant) and var.value.size == 1:
            labels.append(repr(var.value.item()))
        elif var.name:
            labels.append(var.name)
        else:
            labels.append(f"i{k}")
    return labels
