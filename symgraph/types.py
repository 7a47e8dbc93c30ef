"""Tensor types: a NumPy dtype plus a static shape, and the rules that combine them.

A dimension is an int when its length is known while the graph is built and
``None`` when it is known only at call time. Broadcasting and dtype promotion
follow NumPy 2, including weak Python scalars (``float32 * 2.0`` stays float32).
"""
from __future__ import annotations

import functools

import numpy as np


@functools.lru_cache(maxsize=None)
def _dtype_name(dtype) -> str:
    return np.dtype(dtype).name


def dtype_name(dtype) -> str:
    """The canonical name of a dtype ('float32'), cached: graph building calls this per node."""
    try:
        return _dtype_name(dtype)
    except TypeError:  # unhashable dtype-like
        return np.dtype(dtype).name


class TensorType:
    """The type of a variable: a NumPy dtype and a static shape.

    Parameters
    ----------
    dtype : str or numpy.dtype
        The dtype of the values (stored as its name, ``"float64"``).
    shape : tuple of (int or None), default ()
        One entry per axis: an int for a length known when the graph is built, ``None`` for a
        length known only at call time.

    Examples
    --------
    >>> t = sg.TensorType("float32", (None, 3))
    >>> t.ndim, t.dtype, t.accepts_shape((5, 3)), t.accepts_shape((5, 4))
    (2, 'float32', True, False)
    >>> sg.matrix("X").type == sg.TensorType("float64", (None, None))
    True
    """

    __slots__ = ("dtype", "shape")

    def __init__(self, dtype, shape=()):
        self.dtype = dtype_name(dtype)
        self.shape = shape = tuple(None if d is None else int(d) for d in shape)
        if shape and min((d for d in shape if d is not None), default=0) < 0:
            raise ValueError(f"negative static length in shape {shape}")

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def kind(self) -> str:
        return _dtype_kind(self.dtype)

    @property
    def is_float(self) -> bool:
        return self.kind in "fc"

    def __eq__(self, other):
        return isinstance(other, TensorType) and self.dtype == other.dtype and self.shape == other.shape

    def __hash__(self):
        return hash((self.dtype, self.shape))

    def __repr__(self):
        dims = ", ".join("?" if d is None else str(d) for d in self.shape)
        return f"{self.dtype}[{dims}]"

    def accepts_shape(self, shape) -> bool:
        return len(shape) == self.ndim and all(s is None or s == d for s, d in zip(self.shape, shape))

    def is_compatible(self, other: "TensorType") -> bool:
        """True when a value of ``other`` may stand where ``self`` is expected (same dtype, shapes that can agree)."""
        if self.dtype != other.dtype or self.ndim != other.ndim:
            return False
        return all(a is None or b is None or a == b for a, b in zip(self.shape, other.shape))


@functools.lru_cache(maxsize=None)
def _dtype_kind(name: str) -> str:
    return np.dtype(name).kind


def broadcast_shapes(*shapes, op_name="elementwise op", describe=None):
    """Static NumPy broadcasting of shapes whose dims may be None.

    Raises ValueError naming ``op_name`` when two known lengths differ and neither is 1.
    """
    ndim = max((len(s) for s in shapes), default=0)
    padded = [(1,) * (ndim - len(s)) + tuple(s) for s in shapes]
    out = []
    for axis in range(ndim):
        dims = [s[axis] for s in padded]
        known = {d for d in dims if d is not None and d != 1}
        if len(known) > 1:
            shown = describe() if describe else ", ".join(str(tuple(s)) for s in shapes)
            raise ValueError(
                f"{op_name}: shapes cannot be broadcast together (axis {axis} has lengths "
                f"{sorted(known)}): {shown}")
        if known:
            out.append(known.pop())
        elif all(d == 1 for d in dims):
            out.append(1)
        else:
            out.append(None)
    return tuple(out)


def promote_dtypes(*dtypes) -> str:
    return np.result_type(*[np.dtype(d) for d in dtypes]).name


def dtype_for_python_scalar(value, other_dtype) -> str:
    """The dtype a Python number takes when it meets an array of ``other_dtype`` (NumPy 2 weak scalars)."""
    if isinstance(value, (bool, np.bool_)):
        return "bool" if other_dtype is None else promote_dtypes(other_dtype, "bool")
    if other_dtype is None:
        return np.asarray(value).dtype.name
    try:
        return np.result_type(np.dtype(other_dtype), value).name
    except OverflowError:
        return np.asarray(value).dtype.name


def safe_cast_allowed(from_dtype, to_dtype) -> bool:
    """Whether an input value of ``from_dtype`` may be cast to ``to_dtype`` without losing information.

    Follows NumPy's "safe" rule with the relaxations users expect: float64 data
    passed to a float32 input and integers passed to any float input are accepted
    (as PyTensor does with floatX); integers narrow only when the caller checks the
    values fit. Float to int and complex to real are refused.
    """
    f, t = np.dtype(from_dtype), np.dtype(to_dtype)
    if np.can_cast(f, t, casting="safe"):
        return True
    if f.kind in "biuf" and t.kind == "f":
        return True
    if f.kind in "iu" and t.kind in "iu":
        return np.can_cast(f, t, casting="same_kind")
    return False
