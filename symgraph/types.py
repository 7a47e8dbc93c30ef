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


def checked_cast(value, dtype, label, exact_kinds=True) -> np.ndarray:
    """``value`` as a native-byte-order array of ``dtype``, or an error naming ``label``.

    The cast may round (float64 data into float32, a large int64 into float64) but never change
    a value beyond rounding: a finite float that would become inf, an integer out of the target's
    range, a masked array's mask, a complex value's imaginary part or a NaN/inf cast to an integer
    is a ``ValueError``. With ``exact_kinds`` (function inputs, ``set_value``) the dtype pair must
    also pass ``safe_cast_allowed`` (a ``TypeError`` otherwise); without it (``sg.shared(...,
    dtype=...)``, where the caller named the dtype) float to int and complex to real are allowed
    for values that survive them. Non-native byte order (data read from a big-endian file) is
    converted to native order, as NumPy's ufuncs do.

    Parameters
    ----------
    value : array_like
        The value to convert.
    dtype : dtype-like or None
        The target dtype; ``None`` keeps the value's own dtype (in native order).
    label : str
        What the value is for, at the start of every message ("input 'x'").
    exact_kinds : bool
        Refuse dtype pairs that ``safe_cast_allowed`` refuses, whatever the values.

    Returns
    -------
    numpy.ndarray
        ``value`` itself when it already is a native array of ``dtype``, else a new array.

    Examples
    --------
    >>> checked_cast([1.0, 2.5], "float32", "input 'x'")
    array([1. , 2.5], dtype=float32)
    >>> checked_cast([1e300], "float32", "input 'x'")
    Traceback (most recent call last):
    ...
    ValueError: input 'x': 1e+300 does not fit in float32 (it would become inf)
    """
    if np.ma.isMaskedArray(value):
        if np.ma.is_masked(value):
            raise ValueError(f"{label}: got a masked array with masked elements; fill them first "
                             "(array.filled(...)), the mask cannot be kept")
        value = np.ma.getdata(value)
    try:
        array = np.asarray(value)
    except Exception as exc:
        raise TypeError(f"{label}: cannot convert {type(value).__name__} to an array: {exc}") from None
    if array.dtype == object:
        if array.size and all(isinstance(v, int) for v in array.flat):
            raise ValueError(f"{label}: integer value(s) out of range for "
                             f"{np.dtype(dtype).name if dtype is not None else 'int64'}")
        raise TypeError(f"{label}: got {type(value).__name__} of non-numeric objects")
    if not array.dtype.isnative:
        array = array.astype(array.dtype.newbyteorder("="))
    if dtype is None or array.dtype == np.dtype(dtype):
        return array
    source, target = array.dtype, np.dtype(dtype)
    if exact_kinds and not safe_cast_allowed(source, target):
        raise TypeError(f"{label}: cannot cast a {source} value to {target} without losing "
                        "information; cast it yourself")
    if source.kind == "c" and target.kind != "c":
        if array.size and np.any(array.imag != 0):
            raise ValueError(f"{label}: complex values with a nonzero imaginary part cannot become {target}")
        array = array.real
        source = array.dtype
    if not array.size or source.kind == "b":
        return array.astype(target)
    if target.kind == "b":
        if np.any((array != 0) & (array != 1)):
            raise ValueError(f"{label}: only 0 and 1 can become bool")
        return array.astype(target)
    if target.kind in "iu":
        _check_integer_range(array, target, label)
        return array.astype(target)
    with np.errstate(over="ignore", invalid="ignore"):
        result = array.astype(target)
    overflow = np.isinf(result) & np.isfinite(array)
    if np.any(overflow):
        shown = array[overflow].flat[0].item()
        raise ValueError(f"{label}: {shown!r} does not fit in {target} (it would become inf)")
    return result


def _check_integer_range(array, target, label):
    """ValueError unless every value of ``array`` (integer or float) is exactly an integer of ``target``."""
    info = np.iinfo(target)
    if array.dtype.kind == "f":
        if not np.all(np.isfinite(array)):
            raise ValueError(f"{label}: NaN or inf cannot become {target}")
        if np.any(array != np.trunc(array)):
            raise ValueError(f"{label}: values with a fractional part cannot become {target}")
        # float(info.max) rounds up to a power of two for 64-bit targets: compare with the next integer.
        too_low, too_high = array < float(info.min), array >= float(info.max) + 1.0
    else:
        too_low, too_high = array < info.min, array > info.max
    bad = too_low | too_high
    if np.any(bad):
        raise ValueError(f"{label}: values out of range for {target} (got {array[bad].flat[0].item()!r}; "
                         f"the range is [{info.min}, {info.max}])")
