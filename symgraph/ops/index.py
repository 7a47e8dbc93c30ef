"""Indexing: basic (ints, slices, newaxis, Ellipsis) and advanced (integer arrays) subtensors, their
increment/set counterparts used by the gradients, and ``arange``.

``getitem`` turns a Python key into an index *pattern*, a hashable tuple stored in the op's props,
plus the symbolic parts of the key (scalar indices, slice bounds, index arrays) as extra inputs.
A pattern entry is ``("i", v)`` for an integer index, ``("s", start, stop, step)`` for a slice and
``("a",)`` for an index array; ``v``/``start``/... are a constant int, ``None`` or ``"?"`` (the next
extra input). ``None`` entries of the key become length-1 axes inserted before indexing, which is
what NumPy does with them; so the index ops themselves never see newaxis or Ellipsis.
"""
from __future__ import annotations

import numpy as np

from ..graph import Constant, Node, Variable
from ..types import TensorType, broadcast_shapes
from .base import Op, as_variable

SYMBOLIC = "?"


class IndexOutOfRange(IndexError, ValueError):
    """An index outside an axis: an IndexError as in NumPy, and a ValueError like other shape errors."""


# ---------------------------------------------------------------- key parsing

def _const_int(value):
    """The int a key part stands for, or the 0-d int Variable, or raise TypeError."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"indexing: a boolean scalar {value!r} is not a valid index (use sg.where)")
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, Variable):
        if value.ndim != 0 or value.type.kind not in "iu":
            raise TypeError(f"indexing: slice bounds and scalar indices must be integer scalars, "
                            f"got {value.describe()}")
        if isinstance(value, Constant):
            return int(value.value)
        return value
    raise TypeError(f"indexing: {type(value).__name__} {value!r} is not a valid index")


def _classify(entry):
    """One key entry -> a list of ('newaxis'|'ellipsis'|'int'|'slice'|'array', payload)."""
    if entry is None:
        return [("newaxis", None)]
    if entry is Ellipsis:
        return [("ellipsis", None)]
    if isinstance(entry, slice):
        parts = tuple(None if p is None else _const_int(p) for p in (entry.start, entry.stop, entry.step))
        if parts[2] == 0:
            raise ValueError("indexing: slice step cannot be zero")
        return [("slice", parts)]
    if isinstance(entry, Variable):
        if entry.type.kind == "b":
            if entry.ndim == 0:
                raise TypeError(f"indexing: a boolean scalar {entry.describe()} is not a valid index")
            if isinstance(entry, Constant):
                return [("array", Constant(a)) for a in np.nonzero(entry.value)]
            raise TypeError(f"indexing with a symbolic boolean mask {entry.describe()} is not supported: "
                            "its result length is data dependent; use sg.where(mask, x, 0) instead")
        if entry.type.kind not in "iu":
            raise TypeError(f"indexing: indices must be integers, got {entry.describe()}")
        if entry.ndim == 0:
            return [("int", _const_int(entry))]
        return [("array", entry)]
    if isinstance(entry, (bool, np.bool_, int, np.integer)):
        return [("int", _const_int(entry))]
    if isinstance(entry, (list, tuple, np.ndarray)):
        array = np.asarray(entry)
        if array.dtype == object:
            raise TypeError("indexing: a list of symbolic indices is not supported; use sg.stack(list)")
        if array.size == 0 and array.dtype.kind == "f":
            array = array.astype(np.int64)
        if array.dtype.kind == "b":
            if array.ndim == 0:
                raise TypeError("indexing: a boolean scalar is not a valid index (use sg.where)")
            return [("array", Constant(a)) for a in np.nonzero(array)]
        if array.dtype.kind not in "iu":
            raise TypeError(f"indexing: index arrays must hold integers, got dtype {array.dtype}")
        if array.ndim == 0:
            return [("int", int(array))]
        return [("array", Constant(array))]
    raise TypeError(f"indexing: {type(entry).__name__} {entry!r} is not a valid index")


def _spec_part(value, extra_inputs):
    if isinstance(value, Variable):
        extra_inputs.append(value)
        return SYMBOLIC
    return value


def getitem(x, key):
    """``x[key]`` with NumPy semantics: a ``Subtensor`` or, with index arrays, an ``AdvancedSubtensor``."""
    from .shape import expand_dims
    x = as_variable(x)
    entries = []
    for entry in (key if isinstance(key, tuple) else (key,)):
        entries.extend(_classify(entry))
    consuming = sum(1 for kind, _ in entries if kind in ("int", "slice", "array"))
    if consuming > x.ndim:
        raise IndexError(f"indexing: too many indices ({consuming}) for {x.describe()}")
    ellipses = [i for i, (kind, _) in enumerate(entries) if kind == "ellipsis"]
    if len(ellipses) > 1:
        raise IndexError("indexing: an index can only have a single ellipsis ('...')")
    fill = [("slice", (None, None, None))] * (x.ndim - consuming)
    if ellipses:
        before, after = entries[:ellipses[0]], entries[ellipses[0] + 1:]
        if not fill and _is_advanced_key(entries) and _has_index(before) and _has_index(after):
            # NumPy: even an empty '...' separates advanced indices (their axes then go first);
            # a length-1 axis stands in for it and is dropped after indexing.
            fill = [("newaxis", "separator")]
        entries = before + fill + after
    else:
        entries = entries + fill
    # A newaxis is a full slice over a length-1 axis inserted at that position.
    separator = next((i for i, e in enumerate(entries) if e == ("newaxis", "separator")), None)
    new_axes = [i for i, (kind, _) in enumerate(entries) if kind == "newaxis"]
    if new_axes:
        x = expand_dims(x, new_axes)
        entries = [("slice", (None, None, None)) if kind == "newaxis" else (kind, p) for kind, p in entries]
    advanced = _is_advanced_key(entries)
    extra, spec = [], []
    for kind, payload in entries:
        if kind == "slice":
            spec.append(("s",) + tuple(_spec_part(p, extra) for p in payload))
        elif advanced:  # ints next to index arrays are 0-d index arrays (NumPy's rule)
            extra.append(payload if isinstance(payload, Variable) else Constant(payload, dtype="int64"))
            spec.append(("a",))
        else:
            spec.append(("i", _spec_part(payload, extra)))
    if not advanced and all(s == ("s", None, None, None) for s in spec):
        return x
    op = AdvancedSubtensor(tuple(spec)) if advanced else Subtensor(tuple(spec))
    out = op(x, *extra)
    if separator is not None:
        from .shape import dimshuffle
        slices_before = sum(1 for e in spec[:separator] if e[0] == "s")
        drop = out.ndim - sum(1 for e in spec if e[0] == "s") + slices_before
        out = dimshuffle(out, [a for a in range(out.ndim) if a != drop])
    return out


def _is_advanced_key(entries):
    return any(kind == "array" for kind, _ in entries)


def _has_index(entries):
    return any(kind in ("array", "int") for kind, _ in entries)


def subtensor_index(vector_var, i):
    """``vector_var[i]`` as an int scalar (used by ``reshape`` with a symbolic shape vector).

    Entries of ``sg.shape(x)`` become ``shape_of(x, i)``: a constant where the length is static.
    """
    from .shape import Shape, shape_of
    owner = getattr(vector_var, "owner", None)
    if owner is not None and isinstance(owner.op, Shape) and isinstance(i, (int, np.integer)):
        return shape_of(owner.inputs[0], int(i))
    return getitem(vector_var, i)


# ---------------------------------------------------------------- shared machinery

def _static_slice_length(n, parts):
    if n is None or any(p == SYMBOLIC for p in parts):
        return None
    return len(range(*slice(*parts).indices(n)))


def _numpy_key(spec, index_values):
    """The NumPy key for ``spec`` with the run-time values of its symbolic parts."""
    values = iter(index_values)

    def part(p):
        return int(next(values)) if p == SYMBOLIC else p

    key = []
    for entry in spec:
        if entry[0] == "i":
            key.append(part(entry[1]))
        elif entry[0] == "s":
            key.append(slice(*(part(p) for p in entry[1:])))
        else:
            key.append(np.asarray(next(values)))
    return tuple(key)


def _check_index_inputs(op, x, spec, indices):
    expected = sum(1 for e in spec for p in (e[1:] if e[0] != "a" else (SYMBOLIC,)) if p == SYMBOLIC)
    if len(indices) != expected:
        raise TypeError(f"{op.name}: pattern {spec} takes {expected} index inputs, got {len(indices)}")
    if len(spec) != x.ndim:
        raise ValueError(f"{op.name}: pattern {spec} has {len(spec)} entries for {x.describe()}")
    for v in indices:
        if v.type.kind not in "iu":
            raise TypeError(f"{op.name}: index inputs must be integers, got {v.describe()}")


def _check_constant_index(op, x, axis, value, what="index"):
    n = x.type.shape[axis]
    values = np.asarray(value)
    if n is not None and values.size and (values.min() < -n or values.max() >= n):
        bad = values.min() if values.min() < -n else values.max()
        raise IndexOutOfRange(f"{op.name}: {what} {bad} is out of bounds for axis {axis} with length {n} "
                              f"of {x.describe()}")


def _perform_index(op, node, x, key, action):
    try:
        with np.errstate(all="ignore"):
            return action(x, key)
    except IndexError as exc:
        raise IndexOutOfRange(f"{op.name}: {exc} (indexing an array of shape {x.shape}){node.where()}") from None
    except ValueError as exc:
        raise ValueError(f"{op.name}: {exc} (array of shape {x.shape}){node.where()}") from None


def _spec_str(spec):
    def show(p):
        return "" if p is None else ("?" if p == SYMBOLIC else str(p))
    parts = []
    for e in spec:
        if e[0] == "i":
            parts.append(show(e[1]))
        elif e[0] == "a":
            parts.append("[..]")
        else:
            text = f"{show(e[1])}:{show(e[2])}" + (f":{show(e[3])}" if e[3] is not None else "")
            parts.append(text)
    return ", ".join(parts)


class _Indexing(Op):
    abstract = True
    __props__ = ("spec",)

    def __init__(self, spec):
        self.spec = tuple(tuple(e) for e in spec)

    def __str__(self):
        return f"{self.name}[{_spec_str(self.spec)}]"

    __repr__ = __str__


# ---------------------------------------------------------------- basic indexing

class _Reading(_Indexing):
    """The reading ops: ``x[key]``; the gradient scatters into zeros with the matching increment op."""
    abstract = True

    def increment_op(self):
        raise NotImplementedError

    def perform(self, node, inputs):
        x, *indices = inputs
        key = _numpy_key(self.spec, indices)
        return [np.asarray(_perform_index(self, node, x, key, lambda a, k: a[k]))]

    def grad(self, inputs, outputs, output_grads):
        from .shape import zeros_like
        x, *indices = inputs
        if not x.type.is_float:
            return [None] * len(inputs)
        gx = self.increment_op()(zeros_like(x), output_grads[0], *indices)
        return [gx] + [None] * len(indices)

    def connection_pattern(self, node):
        return [True] + [False] * (len(node.inputs) - 1)


class Subtensor(_Reading):
    """``x[ints and slices]``; the extra inputs are the symbolic scalar indices and slice bounds."""
    name = "subtensor"

    def output_shape(self, x):
        shape = []
        for axis, entry in enumerate(self.spec):
            if entry[0] == "s":
                shape.append(_static_slice_length(x.type.shape[axis], entry[1:]))
            elif entry[1] != SYMBOLIC:
                _check_constant_index(self, x, axis, entry[1])
        return tuple(shape)

    def make_node(self, x, *indices):
        x = as_variable(x)
        indices = [as_variable(i, like="int64") for i in indices]
        _check_index_inputs(self, x, self.spec, indices)
        if any(v.ndim for v in indices):
            raise TypeError(f"{self.name}: scalar indices expected, got {[v.describe() for v in indices]}")
        return Node(self, [x, *indices], [TensorType(x.dtype, self.output_shape(x))])

    def increment_op(self):
        return IncSubtensor(self.spec)


class IncSubtensor(_Indexing):
    """A copy of ``x`` with ``y`` added to (or, with ``set_instead_of_inc``, written into) ``x[pattern]``."""
    __props__ = ("spec", "set_instead_of_inc")

    def __init__(self, spec, set_instead_of_inc=False):
        super().__init__(spec)
        self.set_instead_of_inc = bool(set_instead_of_inc)

    @property
    def name(self):
        return "set_subtensor" if self.set_instead_of_inc else "inc_subtensor"

    slot_op = Subtensor

    def make_node(self, x, y, *indices):
        x, y = as_variable(x), as_variable(y, like=getattr(x, "dtype", None))
        indices = [as_variable(i, like="int64") for i in indices]
        _check_index_inputs(self, x, self.spec, indices)
        slot = self.slot_op(self.spec).output_shape(x)
        if y.ndim > len(slot):
            raise ValueError(f"{self.name}: {y.describe()} has more dimensions than the indexed "
                             f"region of shape {slot} of {x.describe()}")
        broadcast_shapes(slot, y.type.shape, op_name=self.name)
        return Node(self, [x, y, *indices], [x.type])

    def perform(self, node, inputs):
        x, y, *indices = inputs
        key = _numpy_key(self.spec, indices)
        out = np.array(x, copy=True)
        _perform_index(self, node, out, key, self._write(y))
        return [out]

    def _write(self, y):
        def write(out, key):
            if self.set_instead_of_inc:
                out[key] = y
            else:
                out[key] += y
        return write

    def grad(self, inputs, outputs, output_grads):
        from .elemwise import cast
        from .reduce import sum_to
        x, y, *indices = inputs
        (g,) = output_grads
        gx = None
        if x.type.is_float:
            gx = type(self)(self.spec, True)(g, Constant(0, dtype=g.dtype), *indices) \
                if self.set_instead_of_inc else g
        gy = None
        if y.type.is_float:
            gy = sum_to(self.slot_op(self.spec)(g, *indices), y)
            gy = cast(gy, y.dtype)
        return [gx, gy] + [None] * len(indices)

    def connection_pattern(self, node):
        return [True, True] + [False] * (len(node.inputs) - 2)


# ---------------------------------------------------------------- advanced indexing

class AdvancedSubtensor(_Reading):
    """``x[key]`` where the key holds integer arrays (NumPy advanced indexing), possibly with slices."""
    name = "advanced_subtensor"

    def output_shape(self, x, indices):
        it = iter(indices)
        slice_shapes, array_shapes, array_axes = [], [], []
        for axis, entry in enumerate(self.spec):
            if entry[0] == "a":
                index = next(it)
                array_axes.append(axis)
                array_shapes.append(index.type.shape)
                if isinstance(index, Constant):
                    _check_constant_index(self, x, axis, index.value)
                slice_shapes.append(None)
            else:
                for p in entry[1:]:
                    if p == SYMBOLIC:
                        next(it)
                slice_shapes.append(_static_slice_length(x.type.shape[axis], entry[1:]))
        broadcast = broadcast_shapes(*array_shapes, op_name=f"{self.name} (index arrays)")
        adjacent = array_axes == list(range(array_axes[0], array_axes[-1] + 1))
        others = [n for axis, n in enumerate(slice_shapes) if axis not in array_axes]
        if adjacent:
            before = [n for axis, n in enumerate(slice_shapes) if axis < array_axes[0]]
            return tuple(before) + broadcast + tuple(others[len(before):])
        return broadcast + tuple(others)

    def make_node(self, x, *indices):
        x = as_variable(x)
        indices = [as_variable(i, like="int64") for i in indices]
        _check_index_inputs(self, x, self.spec, indices)
        return Node(self, [x, *indices], [TensorType(x.dtype, self.output_shape(x, indices))])

    def increment_op(self):
        return AdvancedIncSubtensor(self.spec)


class AdvancedIncSubtensor(IncSubtensor):
    """``x`` with ``y`` added at ``x[key]`` (``np.add.at``: repeated indices accumulate) or written there."""

    @property
    def name(self):
        return "advanced_set_subtensor" if self.set_instead_of_inc else "advanced_inc_subtensor"

    def make_node(self, x, y, *indices):
        x, y = as_variable(x), as_variable(y, like=getattr(x, "dtype", None))
        indices = [as_variable(i, like="int64") for i in indices]
        _check_index_inputs(self, x, self.spec, indices)
        slot = AdvancedSubtensor(self.spec).output_shape(x, indices)
        if y.ndim > len(slot):
            raise ValueError(f"{self.name}: {y.describe()} has more dimensions than the indexed "
                             f"region of shape {slot} of {x.describe()}")
        broadcast_shapes(slot, y.type.shape, op_name=self.name)
        return Node(self, [x, y, *indices], [x.type])

    def _write(self, y):
        def write(out, key):
            if self.set_instead_of_inc:
                out[key] = y
            else:
                np.add.at(out, key, y)
        return write

    def slot_op(self, spec):
        return AdvancedSubtensor(spec)


def inc_subtensor(indexed, y, set_instead_of_inc=False):
    """``x`` with ``y`` added at the entries that ``indexed = x[key]`` reads (Theano's inc_subtensor)."""
    node = getattr(indexed, "owner", None)
    if node is None or not isinstance(node.op, (Subtensor, AdvancedSubtensor)):
        raise TypeError("inc_subtensor/set_subtensor: the first argument must be an indexed variable x[key]")
    op_class = AdvancedIncSubtensor if isinstance(node.op, AdvancedSubtensor) else IncSubtensor
    x, *indices = node.inputs
    return op_class(node.op.spec, set_instead_of_inc)(x, y, *indices)


def set_subtensor(indexed, y):
    """``x`` with ``y`` written at the entries that ``indexed = x[key]`` reads."""
    return inc_subtensor(indexed, y, set_instead_of_inc=True)


# ---------------------------------------------------------------- arange

class ARange(Op):
    """``np.arange(start, stop, step)`` of ``dtype``; the length is static when all three are constants."""
    __props__ = ("dtype",)
    name = "arange"

    def __init__(self, dtype="int64"):
        self.dtype = np.dtype(dtype).name

    def make_node(self, start, stop, step):
        parts = [as_variable(p, like=self.dtype) for p in (start, stop, step)]
        for p in parts:
            if p.ndim != 0 or p.type.kind not in "iufb":
                raise TypeError(f"arange: start, stop and step must be real scalars, got {p.describe()}")
        length = None
        if all(isinstance(p, Constant) for p in parts):
            values = [p.value.item() for p in parts]
            if values[2] == 0:
                raise ValueError("arange: step cannot be zero")
            length = len(np.arange(*values, dtype=self.dtype))
        return Node(self, parts, [TensorType(self.dtype, (length,))])

    def perform(self, node, inputs):
        start, stop, step = (np.asarray(v).item() for v in inputs)
        if step == 0:
            raise ValueError(f"arange: step cannot be zero{node.where()}")
        return [np.arange(start, stop, step, dtype=self.dtype)]

    def grad(self, inputs, outputs, output_grads):
        return [None, None, None]

    def connection_pattern(self, node):
        return [False, False, False]


def arange(start, stop=None, step=1, dtype="int64"):
    """Evenly spaced values in [start, stop), like ``np.arange``; bounds may be symbolic scalars."""
    if stop is None:
        start, stop = 0, start
    return ARange(dtype)(start, stop, step)
