"""NumPy's array functions built from the core ops: construction (``zeros``, ``eye``, ``linspace``...),
rearrangement (``split``, ``vstack``, ``moveaxis``, ``tile``, ``pad``...) and ``tensordot``.

Each function is a composition of ops that already have their shape rules, gradients and lowerings on
every backend (broadcasting, indexing, joining, reshaping, ``where``, ``dot``), so it needs nothing more:
its derivative, its fusion and its code come from its parts. Lengths may be symbolic (0-d integer
variables, such as ``x.shape[0]``) wherever NumPy accepts an int, unless a docstring says otherwise.
"""
from __future__ import annotations

import numpy as np

from ..graph import Constant, Variable
from . import elemwise as ew
from .base import as_variable, as_variables
from .index import arange
from .join import concatenate
from .shape import alloc, dimshuffle, expand_dims, reshape, shape_tuple, transpose


def _length(value, what):
    """An int64 length: a Python int (checked) or a 0-d integer variable (cast to int64)."""
    if isinstance(value, Variable):
        if value.ndim != 0 or np.dtype(value.dtype).kind not in "iu":
            raise TypeError(f"{what}: a symbolic length must be a 0-d integer variable, got {value.describe()}")
        return ew.cast(value, "int64")
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{what}: lengths must be ints or 0-d integer variables, got {value!r}")
    if value < 0:
        raise ValueError(f"{what}: negative dimensions are not allowed, got {value}")
    return int(value)


def _shape(shape, what):
    if isinstance(shape, (int, np.integer, Variable)) and not (isinstance(shape, Variable) and shape.ndim):
        shape = (shape,)
    return tuple(_length(d, what) for d in shape)


def _axis(axis, ndim, what):
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{what}: axis must be an int, got {axis!r}")
    if not -ndim <= axis < ndim:
        raise ValueError(f"{what}: axis {axis} is out of bounds for an array of dimension {ndim}")
    return int(axis) % ndim


# ---------------------------------------------------------------- statistics and clipping

def clip(x, lo, hi):
    """``x`` limited to ``[lo, hi]``, elementwise, as ``np.clip``: ``minimum(maximum(x, lo), hi)``.

    Parameters
    ----------
    x : Variable or array_like
        The values.
    lo, hi : Variable or array_like
        The bounds (broadcast against ``x``).

    Returns
    -------
    Variable
        The clipped values. The gradient flows to ``x`` where ``lo <= x <= hi``.

    Examples
    --------
    >>> x = sg.vector("x")
    >>> sg.function([x], sg.clip(x, 0.0, 1.0), backend="python")([-0.5, 0.25, 3.0])
    array([0.  , 0.25, 1.  ])
    """
    return ew.minimum(ew.maximum(x, lo), hi)


def var(x, axis=None, ddof=0, keepdims=False):
    """The variance along ``axis``, as ``np.var``.

    Parameters
    ----------
    x : Variable or array_like
        The values.
    axis : int or tuple of ints, optional
        The axes to reduce; ``None`` (default) reduces all of them.
    ddof : int, default 0
        Delta degrees of freedom: the sum of squares is divided by ``n - ddof`` (1: the unbiased estimate).
    keepdims : bool, default False
        Keep the reduced axes with length 1.

    Returns
    -------
    Variable
        ``sum((x - mean(x)) ** 2) / (n - ddof)`` along ``axis`` (``n`` the number of elements reduced;
        inf or NaN where ``n <= ddof``, as NumPy).

    Examples
    --------
    >>> x = sg.vector("x")
    >>> sg.function([x], sg.var(x), backend="python")([1.0, 2.0, 3.0, 4.0])
    array(1.25)
    """
    from .reduce import mean, normalize_axis, sum as total
    centred = ew.sub(x, mean(x, axis, keepdims=True))
    squares = ew.mul(centred, centred)
    if not ddof:
        return mean(squares, axis, keepdims)
    x = as_variable(x)
    lengths = shape_tuple(x)
    count = Constant(1, dtype="int64")
    for a in normalize_axis(axis, x.ndim, "var"):
        count = ew.mul(count, lengths[a])
    return ew.true_div(total(squares, axis, keepdims), ew.cast(ew.sub(count, int(ddof)), squares.dtype))


def std(x, axis=None, ddof=0, keepdims=False):
    """Standard deviation, ``sqrt(var(x, axis))``, differentiable where the variance is 0.

    Where the variance is 0 (one element, or equal elements) the derivative of sqrt is infinite
    and the variance's is 0; the derivatives are taken as 0 there (as PyTensor and autograd give
    for one element) by evaluating sqrt at 1 on that branch, so every order stays finite. The
    value is NumPy's: sqrt(+0.0) is the +0.0 chosen.

    Parameters
    ----------
    x : Variable or array_like
        The values.
    axis : int or tuple of ints, optional
        The axes to reduce; ``None`` (default) reduces all of them.
    ddof : int, default 0
        Delta degrees of freedom, as for ``var``.
    keepdims : bool, default False
        Keep the reduced axes with length 1.

    Returns
    -------
    Variable
        The standard deviation.

    Examples
    --------
    >>> X = sg.matrix("X")
    >>> sg.function([X], sg.std(X, axis=0), backend="python")([[1.0, 0.0], [3.0, 0.0]])
    array([1., 0.])
    """
    variance = var(x, axis, ddof, keepdims)
    zero = ew.eq(variance, 0)
    return ew.where(zero, 0, ew.sqrt(ew.where(zero, 1, variance)))


# ---------------------------------------------------------------- construction

def full(shape, fill_value, dtype=None):
    """An array of ``shape`` filled with ``fill_value``, as ``np.full``.

    Parameters
    ----------
    shape : int, 0-d integer Variable, or sequence of them
        The lengths (symbolic lengths allowed: ``x.shape[0]``).
    fill_value : scalar or 0-d Variable
        The value of every element.
    dtype : str, optional
        The dtype; by default the dtype NumPy gives ``fill_value`` (int64 for a Python int, float64 for a float).

    Returns
    -------
    Variable
        The filled array (a broadcast: no memory is written until something needs it).

    Examples
    --------
    >>> n = sg.scalar("n", dtype="int64")
    >>> sg.function([n], sg.full((2, n), 7.5), backend="python")(3)
    array([[7.5, 7.5, 7.5],
           [7.5, 7.5, 7.5]])
    """
    value = as_variable(fill_value)
    if value.ndim:
        raise ValueError(f"full: fill_value must be a scalar, got {value.describe()}")
    return alloc(value, _shape(shape, "full"), dtype=dtype)


def zeros(shape, dtype="float64"):
    """An array of ``shape`` filled with 0, as ``np.zeros``.

    Parameters
    ----------
    shape : int, 0-d integer Variable, or sequence of them
        The lengths (symbolic lengths allowed).
    dtype : str, default "float64"
        The dtype.

    Returns
    -------
    Variable
        The array of zeros.

    Examples
    --------
    >>> sg.function([], sg.zeros((2, 3), dtype="int32"), backend="python")()
    array([[0, 0, 0],
           [0, 0, 0]], dtype=int32)
    """
    return alloc(Constant(0, dtype=dtype), _shape(shape, "zeros"))


def ones(shape, dtype="float64"):
    """An array of ``shape`` filled with 1, as ``np.ones``.

    Parameters
    ----------
    shape : int, 0-d integer Variable, or sequence of them
        The lengths (symbolic lengths allowed).
    dtype : str, default "float64"
        The dtype.

    Returns
    -------
    Variable
        The array of ones.

    Examples
    --------
    >>> sg.function([], sg.ones(3), backend="python")()
    array([1., 1., 1.])
    """
    return alloc(Constant(1, dtype=dtype), _shape(shape, "ones"))


def eye(n, m=None, k=0, dtype="float64"):
    """A 2-d array with ones on the ``k``-th diagonal and zeros elsewhere, as ``np.eye``.

    Parameters
    ----------
    n : int or 0-d integer Variable
        The number of rows.
    m : int or 0-d integer Variable, optional
        The number of columns (default ``n``).
    k : int, default 0
        The diagonal: 0 the main one, positive above it, negative below.
    dtype : str, default "float64"
        The dtype.

    Returns
    -------
    Variable
        The ``(n, m)`` array.

    Examples
    --------
    >>> sg.function([], sg.eye(2, 3, k=1), backend="python")()
    array([[0., 1., 0.],
           [0., 0., 1.]])
    """
    n = _length(n, "eye")
    m = n if m is None else _length(m, "eye")
    return ew.cast(_diagonal_mask(n, m, k, ew.eq), dtype)


def _diagonal_mask(n, m, k, compare):
    """``compare(row + k, column)`` over an (n, m) grid: eq gives the k-th diagonal, ge/le the triangles."""
    rows = expand_dims(ew.add(arange(n), int(k)), 1)
    return compare(rows, expand_dims(arange(m), 0))


def linspace(start, stop, num=50, endpoint=True, dtype=None):
    """``num`` evenly spaced values from ``start`` to ``stop``, as ``np.linspace``.

    Parameters
    ----------
    start, stop : scalar or 0-d Variable
        The first value and the last (or the bound past the last, with ``endpoint=False``).
    num : int or 0-d integer Variable, default 50
        How many values.
    endpoint : bool, default True
        Whether ``stop`` is the last value (it is then exactly ``stop``, as in NumPy).
    dtype : str, optional
        The dtype (default float64, or the float dtype of ``start`` and ``stop``).

    Returns
    -------
    Variable
        The 1-d array of ``num`` values.

    Examples
    --------
    >>> sg.function([], sg.linspace(0.0, 1.0, 5), backend="python")()
    array([0.  , 0.25, 0.5 , 0.75, 1.  ])
    """
    start, stop = as_variables(start, stop)
    num = _length(num, "linspace")
    computed = np.result_type(np.dtype(start.dtype), np.dtype(stop.dtype), np.float64).name \
        if not (start.type.is_float and stop.type.is_float) else np.result_type(start.dtype, stop.dtype).name
    start, stop = ew.cast(start, computed), ew.cast(stop, computed)
    div = ew.sub(num, 1) if endpoint else num
    steps = ew.cast(arange(num), computed)
    delta = ew.sub(stop, start)
    # NumPy: step = delta / div when div > 0; num = 1 gives [start]
    step = ew.true_div(delta, ew.cast(ew.maximum(div, 1), computed))
    values = ew.add(ew.mul(steps, step), start)
    if endpoint:
        last = ew.logical_and(ew.eq(arange(num), ew.sub(num, 1)), ew.gt(num, 1))
        values = ew.where(last, stop, values)
    return ew.cast(values, dtype) if dtype is not None else values


def diag(x, k=0):
    """The ``k``-th diagonal of a matrix, or a square matrix with the vector ``x`` on its ``k``-th diagonal,
    as ``np.diag``.

    Parameters
    ----------
    x : Variable or array_like
        A vector (build a matrix) or a matrix (read a diagonal).
    k : int, default 0
        The diagonal: 0 the main one, positive above it, negative below.

    Returns
    -------
    Variable
        The matrix of side ``len(x) + abs(k)``, or the diagonal (empty when ``k`` is past the matrix).

    Examples
    --------
    >>> x = sg.vector("x")
    >>> sg.function([x], sg.diag(x, 1), backend="python")([1.0, 2.0])
    array([[0., 1., 0.],
           [0., 0., 2.],
           [0., 0., 0.]])
    >>> A = sg.matrix("A")
    >>> sg.function([A], sg.diag(A), backend="python")([[1.0, 2.0], [3.0, 4.0]])
    array([1., 4.])
    """
    x = as_variable(x)
    k = int(k)
    if x.ndim == 1:
        padded = concatenate([x, zeros(abs(k), dtype=x.dtype)]) if k else x
        n = ew.add(shape_tuple(x)[0], abs(k))
        along = expand_dims(padded, 1 if k >= 0 else 0)
        return ew.where(_diagonal_mask(n, n, k, ew.eq), along, Constant(0, dtype=x.dtype))
    if x.ndim == 2:
        rows, cols = shape_tuple(x)
        length = ew.maximum(ew.minimum(rows, ew.sub(cols, k)) if k >= 0 else ew.minimum(ew.add(rows, k), cols), 0)
        i = arange(length)
        return x[i, ew.add(i, k)] if k >= 0 else x[ew.sub(i, k), i]
    raise ValueError(f"diag: expected a vector or a matrix, got {x.describe()}")


def trace(x, offset=0):
    """The sum along the ``offset``-th diagonal of a matrix, as ``np.trace``.

    Parameters
    ----------
    x : Variable or array_like
        A matrix.
    offset : int, default 0
        The diagonal: 0 the main one, positive above it, negative below.

    Returns
    -------
    Variable
        The 0-d sum.

    Examples
    --------
    >>> A = sg.matrix("A")
    >>> sg.function([A], sg.trace(A), backend="python")([[1.0, 2.0], [3.0, 4.0]])
    array(5.)
    """
    from .reduce import sum as total
    x = as_variable(x)
    if x.ndim != 2:
        raise ValueError(f"trace: expected a matrix, got {x.describe()}")
    return total(diag(x, offset))


def tril(x, k=0):
    """``x`` with the elements above its ``k``-th diagonal set to zero (last two axes), as ``np.tril``.

    Parameters
    ----------
    x : Variable or array_like
        An array with at least two axes.
    k : int, default 0
        The diagonal kept last.

    Returns
    -------
    Variable
        The lower triangle, of ``x``'s shape and dtype.

    Examples
    --------
    >>> A = sg.matrix("A")
    >>> sg.function([A], sg.tril(A), backend="python")([[1.0, 2.0], [3.0, 4.0]])
    array([[1., 0.],
           [3., 4.]])
    """
    return _triangle(x, k, ew.ge, "tril")


def triu(x, k=0):
    """``x`` with the elements below its ``k``-th diagonal set to zero (last two axes), as ``np.triu``.

    Parameters
    ----------
    x : Variable or array_like
        An array with at least two axes.
    k : int, default 0
        The diagonal kept first.

    Returns
    -------
    Variable
        The upper triangle, of ``x``'s shape and dtype.

    Examples
    --------
    >>> A = sg.matrix("A")
    >>> sg.function([A], sg.triu(A), backend="python")([[1.0, 2.0], [3.0, 4.0]])
    array([[1., 2.],
           [0., 4.]])
    """
    return _triangle(x, k, ew.le, "triu")


def _triangle(x, k, compare, what):
    x = as_variable(x)
    if x.ndim < 2:
        raise ValueError(f"{what}: expected an array with at least two axes, got {x.describe()}")
    rows, cols = shape_tuple(x)[-2:]
    return ew.where(_diagonal_mask(rows, cols, k, compare), x, Constant(0, dtype=x.dtype))


# ---------------------------------------------------------------- rearranging

def flatten(x):
    """``x`` as a vector (C order), as ``x.flatten()``.

    Parameters
    ----------
    x : Variable or array_like
        The array.

    Returns
    -------
    Variable
        The 1-d array of ``x.size`` elements.

    Examples
    --------
    >>> A = sg.matrix("A")
    >>> sg.function([A], sg.flatten(A), backend="python")([[1.0, 2.0], [3.0, 4.0]])
    array([1., 2., 3., 4.])
    """
    return reshape(as_variable(x), (-1,))


def moveaxis(x, source, destination):
    """``x`` with axes moved from ``source`` to ``destination`` (the others keep their order), as
    ``np.moveaxis``.

    Parameters
    ----------
    x : Variable or array_like
        The array.
    source, destination : int or sequence of ints
        The original positions of the axes to move and their new positions (negative counts from the end).

    Returns
    -------
    Variable
        A view with the axes permuted.

    Examples
    --------
    >>> x = sg.tensor("x", shape=(2, 3, 4))
    >>> sg.moveaxis(x, 0, -1).type.shape
    (3, 4, 2)
    """
    x = as_variable(x)
    source = [_axis(a, x.ndim, "moveaxis") for a in np.atleast_1d(source).tolist()]
    destination = [_axis(a, x.ndim, "moveaxis") for a in np.atleast_1d(destination).tolist()]
    if len(source) != len(destination) or len(set(source)) != len(source) or len(set(destination)) != len(source):
        raise ValueError("moveaxis: source and destination must be distinct axes, as many of each")
    order = [a for a in range(x.ndim) if a not in source]
    for dest, src in sorted(zip(destination, source)):
        order.insert(dest, src)
    return transpose(x, order)


def swapaxes(x, axis1, axis2):
    """``x`` with two axes exchanged, as ``np.swapaxes``.

    Parameters
    ----------
    x : Variable or array_like
        The array.
    axis1, axis2 : int
        The axes (negative counts from the end).

    Returns
    -------
    Variable
        A view with the two axes exchanged.

    Examples
    --------
    >>> x = sg.tensor("x", shape=(2, 3, 4))
    >>> sg.swapaxes(x, 0, 2).type.shape
    (4, 3, 2)
    """
    x = as_variable(x)
    a, b = _axis(axis1, x.ndim, "swapaxes"), _axis(axis2, x.ndim, "swapaxes")
    order = list(range(x.ndim))
    order[a], order[b] = b, a
    return transpose(x, order)


def _at_least(x, ndim, where):
    """``x`` with length-1 axes added (``where``: "front" or, for vstack's vectors, as NumPy's atleast_2d)."""
    x = as_variable(x)
    while x.ndim < ndim:
        x = expand_dims(x, 0 if where == "front" else x.ndim)
    return x


def vstack(tup):
    """Arrays joined along their first axis, vectors as rows, as ``np.vstack``.

    Parameters
    ----------
    tup : sequence of Variables or array_likes
        The arrays (vectors of one length, or arrays whose shapes agree except on the first axis).

    Returns
    -------
    Variable
        The joined array (at least 2-d).

    Examples
    --------
    >>> a, b = sg.vector("a"), sg.vector("b")
    >>> sg.function([a, b], sg.vstack([a, b]), backend="python")([1.0, 2.0], [3.0, 4.0])
    array([[1., 2.],
           [3., 4.]])
    """
    return concatenate([_at_least(v, 2, "front") for v in _sequence(tup, "vstack")], axis=0)


def hstack(tup):
    """Arrays joined along their second axis (vectors along their only one), as ``np.hstack``.

    Parameters
    ----------
    tup : sequence of Variables or array_likes
        The arrays.

    Returns
    -------
    Variable
        The joined array.

    Examples
    --------
    >>> a, b = sg.vector("a"), sg.vector("b")
    >>> sg.function([a, b], sg.hstack([a, b]), backend="python")([1.0, 2.0], [3.0])
    array([1., 2., 3.])
    """
    arrays = [_at_least(v, 1, "front") for v in _sequence(tup, "hstack")]
    return concatenate(arrays, axis=0 if arrays[0].ndim == 1 else 1)


def column_stack(tup):
    """Vectors as the columns of a matrix (and matrices joined along their columns), as ``np.column_stack``.

    Parameters
    ----------
    tup : sequence of Variables or array_likes
        Vectors of one length, or 2-d arrays with that many rows.

    Returns
    -------
    Variable
        The 2-d array.

    Examples
    --------
    >>> a, b = sg.vector("a"), sg.vector("b")
    >>> sg.function([a, b], sg.column_stack([a, b]), backend="python")([1.0, 2.0], [3.0, 4.0])
    array([[1., 3.],
           [2., 4.]])
    """
    arrays = [expand_dims(v, 1) if v.ndim == 1 else _at_least(v, 2, "front")
              for v in as_variables(*_sequence(tup, "column_stack"))]
    return concatenate(arrays, axis=1)


def _sequence(tup, what):
    if not isinstance(tup, (list, tuple)) or not tup:
        raise TypeError(f"{what}: expected a non-empty list of arrays, got {tup!r}")
    return list(tup)


def array_split(x, indices_or_sections, axis=0):
    """``x`` cut into pieces along ``axis``, as ``np.array_split``: ``sections`` pieces of lengths that differ
    by at most one (the first ones longer), or pieces between the given indices.

    Parameters
    ----------
    x : Variable or array_like
        The array.
    indices_or_sections : int or sequence of ints
        The number of pieces, or the sorted indices where the pieces start.
    axis : int, default 0
        The axis cut (its length may be symbolic).

    Returns
    -------
    list of Variable
        The pieces (views of ``x``).

    Examples
    --------
    >>> x = sg.vector("x")
    >>> f = sg.function([x], sg.array_split(x, 3), backend="python")
    >>> [piece.tolist() for piece in f([1.0, 2.0, 3.0, 4.0])]
    [[1.0, 2.0], [3.0], [4.0]]
    """
    x = as_variable(x)
    axis = _axis(axis, x.ndim, "array_split")
    if isinstance(indices_or_sections, (int, np.integer)) and not isinstance(indices_or_sections, bool):
        sections = int(indices_or_sections)
        if sections <= 0:
            raise ValueError(f"array_split: the number of sections must be positive, got {sections}")
        n = shape_tuple(x)[axis]
        each, extra = ew.floor_divide(n, sections), ew.mod(n, sections)
        bounds = [ew.add(ew.mul(each, i), ew.minimum(extra, i)) for i in range(sections + 1)]
    else:
        bounds = [None] + [int(i) for i in indices_or_sections] + [None]
    return [x[(slice(None),) * axis + (slice(bounds[i], bounds[i + 1]),)] for i in range(len(bounds) - 1)]


def split(x, indices_or_sections, axis=0):
    """``x`` cut into pieces along ``axis``, as ``np.split``: ``sections`` pieces of equal length (an error at
    call time when the length is not a multiple), or pieces between the given indices.

    Parameters
    ----------
    x : Variable or array_like
        The array.
    indices_or_sections : int or sequence of ints
        The number of equal pieces, or the sorted indices where the pieces start.
    axis : int, default 0
        The axis cut (its length may be symbolic).

    Returns
    -------
    list of Variable
        The pieces.

    Raises
    ------
    ValueError
        At build time for a static length that is not a multiple of ``sections``; at call time (a reshape
        that cannot be done, naming this line) for a symbolic one.

    Examples
    --------
    >>> x = sg.vector("x")
    >>> f = sg.function([x], sg.split(x, 2), backend="python")
    >>> [piece.tolist() for piece in f([1.0, 2.0, 3.0, 4.0])]
    [[1.0, 2.0], [3.0, 4.0]]
    """
    x = as_variable(x)
    axis = _axis(axis, x.ndim, "split")
    if not (isinstance(indices_or_sections, (int, np.integer)) and not isinstance(indices_or_sections, bool)):
        return array_split(x, indices_or_sections, axis)
    sections = int(indices_or_sections)
    if sections <= 0:
        raise ValueError(f"split: the number of sections must be positive, got {sections}")
    static = x.type.shape[axis]
    if static is not None and static % sections:
        raise ValueError(f"split: array split does not result in an equal division ({static} into {sections})")
    # (sections, length / sections, ...) along the axis: a reshape, which refuses an unequal division
    moved = moveaxis(x, axis, 0)
    pieces = reshape(moved, (sections, -1) + shape_tuple(moved)[1:])
    return [moveaxis(pieces[i], 0, axis) for i in range(sections)]


def tensordot(a, b, axes=2):
    """Sum of products over the last ``axes`` axes of ``a`` and the first of ``b`` (or over the given
    pairs of axes), as ``np.tensordot``: one matrix product (BLAS) after transposing and reshaping.

    Parameters
    ----------
    a, b : Variable or array_like
        The arrays.
    axes : int or (sequence of ints, sequence of ints), default 2
        How many trailing axes of ``a`` meet as many leading axes of ``b``, or the two lists of axes that meet.

    Returns
    -------
    Variable
        The free axes of ``a`` followed by those of ``b``.

    Examples
    --------
    >>> A, B = sg.matrix("A"), sg.matrix("B")
    >>> sg.function([A, B], sg.tensordot(A, B, axes=1), backend="python")([[1.0, 2.0]], [[3.0], [4.0]])
    array([[11.]])
    """
    from .linalg import dot
    a, b = as_variables(a, b)
    if isinstance(axes, (int, np.integer)):
        if not 0 <= axes <= min(a.ndim, b.ndim):
            raise ValueError(f"tensordot: axes={axes} does not fit arrays of {a.ndim} and {b.ndim} axes")
        summed_a, summed_b = list(range(a.ndim - axes, a.ndim)), list(range(axes))
    else:
        summed_a, summed_b = ([int(i) for i in np.atleast_1d(s)] for s in axes)
        if len(summed_a) != len(summed_b):
            raise ValueError(f"tensordot: axes {axes} pair unequal numbers of axes")
        summed_a = [_axis(i, a.ndim, "tensordot") for i in summed_a]
        summed_b = [_axis(i, b.ndim, "tensordot") for i in summed_b]
    free_a = [i for i in range(a.ndim) if i not in summed_a]
    free_b = [i for i in range(b.ndim) if i not in summed_b]
    shape_a, shape_b = shape_tuple(a), shape_tuple(b)
    inner = _product([shape_a[i] for i in summed_a])
    left = reshape(transpose(a, free_a + summed_a), (_product([shape_a[i] for i in free_a]), inner))
    right = reshape(transpose(b, summed_b + free_b), (inner, _product([shape_b[i] for i in free_b])))
    return reshape(dot(left, right), tuple(shape_a[i] for i in free_a) + tuple(shape_b[i] for i in free_b))


def _product(lengths):
    if not lengths:
        return Constant(1, dtype="int64")
    result = lengths[0]
    for n in lengths[1:]:
        result = ew.mul(result, n)
    return result


def take(x, indices, axis=None):
    """Elements of ``x`` at ``indices`` along ``axis`` (of the flattened ``x`` when None), as ``np.take``;
    negative indices count from the end and an index out of range is an error.

    Parameters
    ----------
    x : Variable or array_like
        The array.
    indices : Variable or array_like of ints
        The indices (any shape: it replaces the indexed axis).
    axis : int, optional
        The axis indexed.

    Returns
    -------
    Variable
        The gathered elements; the derivative scatters (adds) back to ``x``.

    Examples
    --------
    >>> x = sg.vector("x")
    >>> sg.function([x], sg.take(x, [2, 0, -1]), backend="python")([1.0, 2.0, 3.0])
    array([3., 1., 3.])
    """
    x = as_variable(x)
    indices = as_variable(indices, like="int64") if not isinstance(indices, Variable) else indices
    if axis is None:
        return flatten(x)[indices]
    axis = _axis(axis, x.ndim, "take")
    return x[(slice(None),) * axis + (indices,)]


def repeat(x, repeats, axis=None):
    """Each element of ``x`` repeated ``repeats`` times along ``axis`` (of the flattened ``x`` when None),
    as ``np.repeat``.

    Parameters
    ----------
    x : Variable or array_like
        The array.
    repeats : int, 0-d integer Variable, or array_like of ints
        The count for every element, or one count per element along ``axis`` (a constant array).
    axis : int, optional
        The axis repeated.

    Returns
    -------
    Variable
        The repeated array.

    Examples
    --------
    >>> x = sg.vector("x")
    >>> sg.function([x], sg.repeat(x, 2), backend="python")([1.0, 2.0])
    array([1., 1., 2., 2.])
    """
    x = as_variable(x)
    if axis is None:
        x, axis = flatten(x), 0
    axis = _axis(axis, x.ndim, "repeat")
    if (repeats.ndim if isinstance(repeats, Variable) else np.ndim(repeats)) == 0:
        count = _length(repeats if isinstance(repeats, Variable) else int(repeats), "repeat")
        shape = shape_tuple(x)
        expanded = expand_dims(x, axis + 1)
        from .shape import broadcast_to
        spread = broadcast_to(expanded, shape[:axis + 1] + (count,) + shape[axis + 1:])
        return reshape(spread, shape[:axis] + (ew.mul(shape[axis], count),) + shape[axis + 1:])
    if isinstance(repeats, Variable):
        raise TypeError("repeat: per-element counts must be a constant array (a symbolic count must be 0-d)")
    counts = np.asarray(repeats)
    if counts.ndim != 1 or counts.dtype.kind not in "iu" or (counts < 0).any():
        raise ValueError(f"repeat: counts must be a vector of non-negative ints, got {repeats!r}")
    if x.type.shape[axis] is not None and x.type.shape[axis] != len(counts):
        raise ValueError(f"repeat: {len(counts)} counts for an axis of length {x.type.shape[axis]}")
    return take(x, np.repeat(np.arange(len(counts)), counts), axis=axis)


def tile(x, reps):
    """``x`` repeated ``reps`` times along each axis, as ``np.tile``.

    Parameters
    ----------
    x : Variable or array_like
        The array.
    reps : int, 0-d integer Variable, or sequence of them
        The repetitions per axis (aligned to the trailing axes, as in NumPy).

    Returns
    -------
    Variable
        The tiled array.

    Examples
    --------
    >>> x = sg.vector("x")
    >>> sg.function([x], sg.tile(x, (2, 2)), backend="python")([1.0, 2.0])
    array([[1., 2., 1., 2.],
           [1., 2., 1., 2.]])
    """
    from .shape import broadcast_to
    x = as_variable(x)
    reps = _shape(reps, "tile")
    ndim = max(x.ndim, len(reps))
    x = _at_least(x, ndim, "front")
    reps = (1,) * (ndim - len(reps)) + reps
    shape = shape_tuple(x)
    interleaved = dimshuffle(x, [p for a in range(ndim) for p in ("x", a)])      # (1, d0, 1, d1, ...)
    spread = broadcast_to(interleaved, [p for a in range(ndim) for p in (reps[a], shape[a])])
    return reshape(spread, tuple(ew.mul(reps[a], shape[a]) if not isinstance(reps[a], int) or reps[a] != 1
                                 else shape[a] for a in range(ndim)))


def pad(x, pad_width, mode="constant", constant_values=0):
    """``x`` padded on both sides of every axis, as ``np.pad`` with modes "constant", "edge" and "reflect".

    Parameters
    ----------
    x : Variable or array_like
        The array.
    pad_width : int, (before, after), or one (before, after) pair per axis
        How many values to add before and after each axis (Python ints).
    mode : {"constant", "edge", "reflect"}, default "constant"
        "constant" adds ``constant_values``; "edge" repeats the edge values; "reflect" mirrors the values
        about the edge without repeating it (``[1, 2, 3]`` padded by 2: ``[3, 2, 1, 2, 3, 2, 1]``).
    constant_values : scalar, default 0
        The value added in mode "constant".

    Returns
    -------
    Variable
        The padded array; the derivative sums the copies back onto ``x``.

    Examples
    --------
    >>> x = sg.vector("x")
    >>> sg.function([x], sg.pad(x, 2, mode="reflect"), backend="python")([1.0, 2.0, 3.0])
    array([3., 2., 1., 2., 3., 2., 1.])
    """
    x = as_variable(x)
    widths = np.broadcast_to(np.asarray(pad_width, dtype=object), (x.ndim, 2)).tolist() if x.ndim else []
    for before, after in widths:
        for w in (before, after):
            if isinstance(w, bool) or not isinstance(w, (int, np.integer)) or w < 0:
                raise ValueError(f"pad: widths must be non-negative ints, got {pad_width!r}")
    if mode not in ("constant", "edge", "reflect"):
        raise ValueError(f"pad: mode must be 'constant', 'edge' or 'reflect', got {mode!r}")
    for axis, (before, after) in enumerate(widths):
        if not before and not after:
            continue
        n = shape_tuple(x)[axis]
        if mode == "constant":
            fill = ew.cast(as_variable(constant_values), x.dtype)
            parts = []
            for width in (before, after):
                shape = list(shape_tuple(x))
                shape[axis] = width
                parts.append(alloc(fill, shape) if width else None)
            x = concatenate([p for p in (parts[0], x, parts[1]) if p is not None], axis=axis)
            continue
        positions = arange(-int(before), ew.add(n, int(after)))
        last = ew.sub(n, 1)
        if mode == "edge":
            index = ew.minimum(ew.maximum(positions, 0), last)
        else:   # reflect: period 2 (n - 1) about the first and last elements (n = 1: the edge)
            period = ew.maximum(ew.mul(last, 2), 1)
            folded = ew.mod(ew.abs_(positions), period)
            index = ew.where(ew.gt(folded, last), ew.sub(period, folded), folded)
        x = take(x, index, axis=axis)
    return x
