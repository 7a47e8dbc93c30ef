"""Hypothesis strategies for random, well-typed symgraph graphs and the NumPy oracle that mirrors them.

A ``RandomGraph`` is a short straight-line program over the op catalogue
(elementwise ops with broadcasting, reductions, matrix products, indexing,
reshapes, joins, softmax-like ops). It is interpreted twice by the same code:
once with ``symgraph`` to build a graph and once with ``NumpyLib`` to compute
the expected values, so every property can compare against an independent
NumPy reference. The generator tracks each value's concrete shape (so every
step is well typed) and a bound on its magnitude (so ``exp``, ``pow`` and
products stay finite); ops whose derivative has kinks are marked non-smooth and
left out when a property needs finite differences.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import numpy as np
import pytest
pytest.importorskip("hypothesis", reason="hypothesis comes with the test extra: pip install -e '.[test]'")
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

import symgraph as sg

# ---------------------------------------------------------------- example counts

SOAK = os.environ.get("SYMGRAPH_SOAK", "") not in ("", "0")
SOAK_FACTOR = int(os.environ.get("SYMGRAPH_SOAK_FACTOR", "30"))


def examples(ci_count: int) -> settings:
    """Hypothesis settings: ``ci_count`` derandomized examples in CI, ``SOAK_FACTOR`` times more (random) in a soak."""
    return settings(
        max_examples=ci_count * SOAK_FACTOR if SOAK else ci_count,
        derandomize=not SOAK,
        deadline=None,
        database=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


# ---------------------------------------------------------------- the NumPy mirror of the API


class NumpyLib:
    """The subset of the symgraph API the generator uses, computed with NumPy (the oracle)."""
    exp, log, sin, cos, tanh, sqrt, log1p, expm1 = np.exp, np.log, np.sin, np.cos, np.tanh, np.sqrt, np.log1p, np.expm1
    abs, sign, maximum, minimum, where = np.abs, np.sign, np.maximum, np.minimum, np.where

    @staticmethod
    def sigmoid(x):
        return 1.0 / (1.0 + np.exp(-x))

    @staticmethod
    def softplus(x):
        return np.logaddexp(0.0, x)

    @staticmethod
    def relu(x):
        return np.maximum(x, 0.0)

    @staticmethod
    def sum(x, axis=None, keepdims=False):
        return np.sum(x, axis=axis, keepdims=keepdims)

    @staticmethod
    def mean(x, axis=None, keepdims=False):
        return np.mean(x, axis=axis, keepdims=keepdims)

    @staticmethod
    def prod(x, axis=None, keepdims=False):
        return np.prod(x, axis=axis, keepdims=keepdims)

    @staticmethod
    def max(x, axis=None, keepdims=False):
        return np.max(x, axis=axis, keepdims=keepdims)

    @staticmethod
    def min(x, axis=None, keepdims=False):
        return np.min(x, axis=axis, keepdims=keepdims)

    @staticmethod
    def logsumexp(x, axis=None, keepdims=False):
        peak = np.max(x, axis=axis, keepdims=True)
        out = np.log(np.sum(np.exp(x - peak), axis=axis, keepdims=True)) + peak
        return out if keepdims else np.squeeze(out, axis=axis)

    @staticmethod
    def softmax(x, axis=-1):
        e = np.exp(x - np.max(x, axis=axis, keepdims=True))
        return e / np.sum(e, axis=axis, keepdims=True)

    @staticmethod
    def dot(a, b):
        return np.dot(a, b)

    @staticmethod
    def transpose(x, axes=None):
        return np.transpose(x, axes)

    @staticmethod
    def reshape(x, shape):
        return np.reshape(x, shape)

    @staticmethod
    def concatenate(xs, axis=0):
        return np.concatenate(xs, axis=axis)

    @staticmethod
    def stack(xs, axis=0):
        return np.stack(xs, axis=axis)


# ---------------------------------------------------------------- the op table

@dataclass(frozen=True)
class Step:
    """``values.append(OPS[op].apply(lib, *values[args], **params))``."""
    op: str
    args: tuple
    params: tuple = ()            # (name, value) pairs, hashable and printable

    def __str__(self):
        extra = "".join(f", {k}={v!r}" for k, v in self.params)
        return f"{self.op}({', '.join(f'v{i}' for i in self.args)}{extra})"


def _unary(fn, bound, smooth=True, allowed=lambda b: True):
    return dict(arity=1, apply=fn, bound=bound, smooth=smooth, allowed=allowed)


# Elementwise ops safe on every real number (domain-restricted ones are composed to stay in domain).
UNARY = {
    "neg": _unary(lambda L, x: -x, lambda b: b),
    "tanh": _unary(lambda L, x: L.tanh(x), lambda b: 1.0),
    "sin": _unary(lambda L, x: L.sin(x), lambda b: 1.0),
    "cos": _unary(lambda L, x: L.cos(x), lambda b: 1.0),
    "sigmoid": _unary(lambda L, x: L.sigmoid(x), lambda b: 1.0),
    "softplus": _unary(lambda L, x: L.softplus(x), lambda b: b + 1.0),
    "exp": _unary(lambda L, x: L.exp(x), lambda b: math.exp(b), allowed=lambda b: b <= 4),
    "expm1": _unary(lambda L, x: L.expm1(x), lambda b: math.exp(b), allowed=lambda b: b <= 4),
    "square": _unary(lambda L, x: x * x, lambda b: b * b, allowed=lambda b: b <= 10),
    "log_1_plus_square": _unary(lambda L, x: L.log(1.0 + x * x), lambda b: math.log1p(b * b)),
    "log1p_square": _unary(lambda L, x: L.log1p(x * x), lambda b: math.log1p(b * b)),
    "sqrt_1_plus_square": _unary(lambda L, x: L.sqrt(x * x + 1.0), lambda b: math.sqrt(1 + b * b)),
    "scale": _unary(lambda L, x: 0.5 * x - 1.5, lambda b: 0.5 * b + 1.5),
    "pow_const": _unary(lambda L, x: (x * x + 0.5) ** 1.5, lambda b: (b * b + 0.5) ** 1.5,
                        allowed=lambda b: b <= 5),
    "abs": _unary(lambda L, x: L.abs(x), lambda b: b, smooth=False),
    "relu": _unary(lambda L, x: L.relu(x), lambda b: b, smooth=False),
    "sign_times": _unary(lambda L, x: L.sign(x) * x, lambda b: b, smooth=False),
}

BINARY = {
    "add": dict(apply=lambda L, a, b: a + b, bound=lambda p, q: p + q, smooth=True),
    "sub": dict(apply=lambda L, a, b: a - b, bound=lambda p, q: p + q, smooth=True),
    "mul": dict(apply=lambda L, a, b: a * b, bound=lambda p, q: p * q, smooth=True),
    "div_safe": dict(apply=lambda L, a, b: a / (1.0 + b * b), bound=lambda p, q: p, smooth=True),
    "pow_safe": dict(apply=lambda L, a, b: (a * a + 1.0) ** L.tanh(b), bound=lambda p, q: p * p + 1, smooth=True),
    "maximum": dict(apply=lambda L, a, b: L.maximum(a, b), bound=max, smooth=False),
    "minimum": dict(apply=lambda L, a, b: L.minimum(a, b), bound=max, smooth=False),
    "where_gt": dict(apply=lambda L, a, b: L.where(a > b, a * b, a - b), bound=lambda p, q: p * q + p + q,
                     smooth=False),
}

REDUCTIONS = ("sum", "mean", "prod", "max", "min", "logsumexp")
SMOOTH_REDUCTIONS = ("sum", "mean", "prod", "logsumexp")
MAX_BOUND = 1e3               # values are kept below this so exp/pow/products stay well conditioned


@dataclass
class RandomGraph:
    """Inputs (their shapes and whether each length is static), steps, and which values are outputs."""
    input_shapes: list
    static: list                  # per input, per axis: True when the symbolic type knows the length
    steps: list = field(default_factory=list)
    outputs: list = field(default_factory=list)
    seed: int = 0

    def __repr__(self):
        lines = [f"v{i} = input{shape}{' static' if all(s) and shape else ''}"
                 for i, (shape, s) in enumerate(zip(self.input_shapes, self.static))]
        n = len(self.input_shapes)
        lines += [f"v{n + i} = {step}" for i, step in enumerate(self.steps)]
        lines.append(f"outputs: {', '.join(f'v{i}' for i in self.outputs)}; seed={self.seed}")
        return "RandomGraph:\n  " + "\n  ".join(lines)

    # -- building

    def symbolic_inputs(self, prefix="x"):
        return [sg.tensor(f"{prefix}{i}", "float64", tuple(d if known else None for d, known in zip(shape, s)))
                for i, (shape, s) in enumerate(zip(self.input_shapes, self.static))]

    def interpret(self, lib, inputs):
        values = list(inputs)
        for step in self.steps:
            spec = OP_TABLE[step.op]
            result = spec["apply"](lib, *[values[i] for i in step.args], **dict(step.params))
            values.append(np.asarray(result) if lib is NumpyLib else result)
        return [values[i] for i in self.outputs]

    def build(self, prefix="x"):
        """(symbolic inputs, symbolic outputs)."""
        inputs = self.symbolic_inputs(prefix)
        return inputs, self.interpret(sg, inputs)

    def input_values(self, seed_offset=0):
        rng = np.random.default_rng(self.seed + seed_offset)
        return [rng.uniform(-2.0, 2.0, size=shape) for shape in self.input_shapes]

    def expected(self, values):
        with np.errstate(all="ignore"):
            return self.interpret(NumpyLib, [np.asarray(v, dtype=np.float64) for v in values])

    @property
    def is_smooth(self):
        return all(OP_TABLE[s.op]["smooth"] for s in self.steps)


# ---------------------------------------------------------------- structural ops (shape rules inline)

def _apply_reduce(L, x, kind, axis, keepdims):
    return getattr(L, kind)(x, axis=axis, keepdims=keepdims)


def _apply_index(L, x, key):
    return x[_decode_key(key)]


def _decode_key(key):
    parts = []
    for entry in key:
        if isinstance(entry, tuple) and entry[0] == "slice":
            parts.append(slice(*entry[1:]))
        elif isinstance(entry, tuple) and entry[0] == "list":
            parts.append(list(entry[1:]))
        else:
            parts.append(entry)
    return tuple(parts)


OP_TABLE = {name: dict(spec, arity=1) for name, spec in UNARY.items()}
OP_TABLE.update({name: dict(spec, arity=2) for name, spec in BINARY.items()})
OP_TABLE.update({
    "reduce": dict(arity=1, apply=_apply_reduce, smooth=True),
    "matmul": dict(arity=2, apply=lambda L, a, b: a @ b, smooth=True),
    "dot": dict(arity=2, apply=lambda L, a, b: L.dot(a, b), smooth=True),
    "gram": dict(arity=1, apply=lambda L, x: x @ x.T, smooth=True),
    "transpose": dict(arity=1, apply=lambda L, x: L.transpose(x), smooth=True),
    "reshape": dict(arity=1, apply=lambda L, x, shape: L.reshape(x, shape), smooth=True),
    "index": dict(arity=1, apply=_apply_index, smooth=True),
    "concatenate": dict(arity=2, apply=lambda L, a, b, axis: L.concatenate([a, b], axis=axis), smooth=True),
    "stack": dict(arity=2, apply=lambda L, a, b, axis: L.stack([a, b], axis=axis), smooth=True),
    "softmax": dict(arity=1, apply=lambda L, x, axis: L.softmax(x, axis=axis), smooth=True),
})


# ---------------------------------------------------------------- the strategy

@st.composite
def random_graphs(draw, smooth=False, max_steps=8, max_outputs=2):
    """A ``RandomGraph``: 1-3 float64 inputs of broadcast-compatible shapes and up to ``max_steps`` steps."""
    m, n = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    shape_choices = [(), (n,), (m, n), (m, 1), (1, n), (n, m)]
    n_inputs = draw(st.integers(1, 3))
    input_shapes = [draw(st.sampled_from(shape_choices)) for _ in range(n_inputs)]
    # A 1-length axis must be static for NumPy-style broadcasting against a longer one to be typed right.
    static = [[draw(st.booleans()) or d == 1 for d in shape] for shape in input_shapes]
    graph = RandomGraph(input_shapes, static, seed=draw(st.integers(0, 2**31 - 1)))
    shapes = list(input_shapes)
    bounds = [2.0] * n_inputs

    def add(step, shape, bound):
        graph.steps.append(step)
        shapes.append(tuple(shape))
        bounds.append(bound)

    n_steps = draw(st.integers(2, max_steps))
    kinds = ["unary", "binary", "binary", "reduce", "matmul", "index", "reshape", "transpose", "join",
             "softmax"]
    for _ in range(3 * n_steps):       # a step that does not fit the drawn value is skipped
        if len(graph.steps) >= n_steps:
            break
        kind = draw(st.sampled_from(kinds))
        # Prefer recent values so graphs grow deep, not only wide.
        i = len(shapes) - 1 - draw(st.integers(0, len(shapes) - 1))
        shape, bound = shapes[i], bounds[i]
        if kind == "unary":
            names = [k for k, v in UNARY.items() if v["allowed"](bound) and (v["smooth"] or not smooth)]
            name = draw(st.sampled_from(names))
            add(Step(name, (i,)), shape, UNARY[name]["bound"](bound))
        elif kind == "binary":
            partners = [j for j, s in enumerate(shapes) if _broadcastable(shape, s)]
            j = draw(st.sampled_from(partners))
            names = [k for k, v in BINARY.items() if v["smooth"] or not smooth]
            name = draw(st.sampled_from(names))
            new_bound = BINARY[name]["bound"](bound, bounds[j])
            if new_bound > MAX_BOUND:
                name, new_bound = "add", bound + bounds[j]
            add(Step(name, (i, j)), np.broadcast_shapes(shape, shapes[j]), new_bound)
        elif kind == "reduce" and shape:
            kinds_allowed = SMOOTH_REDUCTIONS if smooth else REDUCTIONS
            reduction = draw(st.sampled_from(kinds_allowed))
            axis = draw(st.sampled_from([None] + list(range(-len(shape), len(shape)))))
            keepdims = draw(st.booleans())
            size = int(np.prod(shape)) if axis is None else shape[axis]
            new_bound = {"sum": bound * size, "prod": bound ** size}.get(reduction, bound + math.log(size + 1))
            if new_bound > MAX_BOUND:
                reduction, new_bound = "mean", bound
            out = np.sum(np.zeros(shape), axis=axis, keepdims=keepdims).shape
            add(Step("reduce", (i,), (("kind", reduction), ("axis", axis), ("keepdims", keepdims))), out, new_bound)
        elif kind == "matmul" and 1 <= len(shape) <= 2:
            partners = [j for j, s in enumerate(shapes) if 1 <= len(s) <= 2 and s[0] == shape[-1]]
            inner = shape[-1]
            if not partners:          # x @ x.T always fits
                if bound * bound * inner <= MAX_BOUND:
                    add(Step("gram", (i,)), np.matmul(np.zeros(shape), np.zeros(shape).T).shape,
                        bound * bound * inner)
                continue
            j = draw(st.sampled_from(partners))
            if bound * bounds[j] * inner > MAX_BOUND:
                continue
            op = draw(st.sampled_from(["matmul", "dot"]))
            out = np.matmul(np.zeros(shape), np.zeros(shapes[j])).shape
            add(Step(op, (i, j)), out, bound * bounds[j] * inner)
        elif kind == "index" and shape:
            key, out = draw(_index_keys(shape))
            if 0 in out:
                continue              # empty results are covered by test_bad_inputs, not here
            add(Step("index", (i,), (("key", key),)), out, bound)
        elif kind == "reshape" and shape:
            size = int(np.prod(shape))
            targets = [(size,), (-1,)] + [(a, size // a) for a in range(1, size + 1) if size % a == 0]
            target = draw(st.sampled_from(targets))
            add(Step("reshape", (i,), (("shape", target),)), np.zeros(shape).reshape(target).shape, bound)
        elif kind == "transpose" and len(shape) == 2:
            add(Step("transpose", (i,)), shape[::-1], bound)
        elif kind == "join" and shape:
            same = [j for j, s in enumerate(shapes) if s == shape]
            j = draw(st.sampled_from(same))
            if draw(st.booleans()):
                axis = draw(st.integers(-len(shape), len(shape) - 1))
                out = np.concatenate([np.zeros(shape)] * 2, axis=axis).shape
                add(Step("concatenate", (i, j), (("axis", axis),)), out, max(bound, bounds[j]))
            else:
                axis = draw(st.integers(-len(shape) - 1, len(shape)))
                out = np.stack([np.zeros(shape)] * 2, axis=axis).shape
                add(Step("stack", (i, j), (("axis", axis),)), out, max(bound, bounds[j]))
        elif kind == "softmax" and shape:
            axis = draw(st.integers(-len(shape), len(shape) - 1))
            add(Step("softmax", (i,), (("axis", axis),)), shape, 1.0)
    if not graph.steps:
        add(Step("tanh", (0,)), shapes[0], 1.0)
    last = len(shapes) - 1
    extra = draw(st.lists(st.integers(n_inputs, last), max_size=max_outputs - 1))
    graph.outputs = [last] + [j for j in extra if j != last]
    return graph


def _broadcastable(a, b):
    try:
        np.broadcast_shapes(a, b)
        return True
    except ValueError:
        return False


@st.composite
def _index_keys(draw, shape):
    """A basic or advanced index into an array of ``shape``, encoded hashably, and the result's shape."""
    key = []
    for length in shape[:draw(st.integers(1, len(shape)))]:
        choice = draw(st.sampled_from(["int", "slice", "full", "list"]))
        if choice == "int":
            key.append(draw(st.integers(-length, length - 1)))
        elif choice == "slice":
            start = draw(st.one_of(st.none(), st.integers(-length, length)))
            stop = draw(st.one_of(st.none(), st.integers(-length, length)))
            step = draw(st.sampled_from([None, 1, 2, -1]))
            key.append(("slice", start, stop, step))
        elif choice == "full":
            key.append(("slice", None, None, None))
        else:
            key.append(("list",) + tuple(draw(st.lists(st.integers(-length, length - 1), min_size=1, max_size=3))))
    # At most one advanced (list) index, so NumPy's result layout stays the simple case.
    lists = [k for k, e in enumerate(key) if isinstance(e, tuple) and e[0] == "list"]
    for k in lists[1:]:
        key[k] = ("slice", None, None, None)
    out = np.zeros(shape)[_decode_key(tuple(key))].shape
    return tuple(key), out
