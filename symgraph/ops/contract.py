"""``einsum`` and ``norm``, built from the core ops.

``einsum`` contracts its operands two at a time, left to right: a label in both operands and needed
later (in the output or a later operand) is a batch axis, one in both and needed nowhere else is summed
by the product, the others are kept. Each pairwise contraction is one ``matmul`` after a transpose and a
reshape, so contractions that are matrix products take the same BLAS path as ``@``; a repeated label in
one operand takes its diagonal, and a label in one operand only (and not in the output) is summed first.
Derivatives come from the parts (transposes, reshapes, products, sums, indexing), to any order.
"""
from __future__ import annotations

import string

import numpy as np

from . import elemwise as ew
from .base import as_variable, as_variables


def _parse(subscripts, operands):
    """``(input label strings, output label string)`` with ``...`` replaced by capital letters."""
    if not isinstance(subscripts, str):
        raise TypeError(f"einsum: subscripts must be a string, got {subscripts!r}")
    text = subscripts.replace(" ", "")
    inputs, arrow, output = text.partition("->")
    terms = inputs.split(",")
    if len(terms) != len(operands):
        raise ValueError(f"einsum: {len(terms)} operand(s) in {subscripts!r}, {len(operands)} given")
    for term in terms + ([output] if arrow else []):
        letters = term.replace("...", "")
        if "." in letters or not all(c in string.ascii_letters for c in letters):
            raise ValueError(f"einsum: invalid subscripts {subscripts!r} (letters and one '...' per term)")
    spare = iter(c for c in string.ascii_uppercase if c not in text)
    widest = 0
    labelled = []
    for term, x in zip(terms, operands):
        explicit = len(term.replace("...", ""))
        if "..." in term:
            width = x.ndim - explicit
            if width < 0:
                raise ValueError(f"einsum: term {term!r} has more labels than {x.describe()} has axes")
            widest = max(widest, width)
            labelled.append((term, width))
        elif explicit != x.ndim:
            raise ValueError(f"einsum: term {term!r} names {explicit} axes, {x.describe()} has {x.ndim}")
        else:
            labelled.append((term, 0))
    ellipsis = "".join(next(spare) for _ in range(widest))
    # broadcast axes align on the right, as in NumPy
    terms = [term.replace("...", ellipsis[widest - width:]) for term, width in labelled]
    if arrow:
        output = output.replace("...", ellipsis)
        if len(set(output)) != len(output):
            raise ValueError(f"einsum: output subscripts {output!r} repeat a label")
        missing = set(output) - set("".join(terms))
        if missing:
            raise ValueError(f"einsum: output labels {sorted(missing)} appear in no operand")
    else:
        counts = {c: "".join(terms).count(c) for c in set("".join(terms))}
        output = ellipsis + "".join(sorted(c for c, n in counts.items() if n == 1 and c not in ellipsis))
    return terms, output


def _diagonal(x, labels):
    """Take diagonals until no label repeats in ``labels`` (``'ii' -> 'i'``)."""
    from .index import arange
    from .arrays import moveaxis
    from .shape import shape_tuple
    while True:
        repeated = next((c for c in labels if labels.count(c) > 1), None)
        if repeated is None:
            return x, labels
        first = labels.index(repeated)
        second = labels.index(repeated, first + 1)
        x = moveaxis(x, [first, second], [-2, -1])
        rest = [c for k, c in enumerate(labels) if k not in (first, second)]
        first_length, second_length = x.type.shape[-2:]
        if None not in (first_length, second_length) and first_length != second_length:
            raise ValueError(f"einsum: label {repeated!r} repeats over axes of lengths {first_length} and "
                             f"{second_length}")
        i = arange(shape_tuple(x)[-2])
        x = x[..., i, i]
        labels = "".join(rest) + repeated


def _sum_labels(x, labels, keep):
    """Sum the axes of ``x`` whose label is not in ``keep``."""
    from .reduce import sum as total
    axes = tuple(k for k, c in enumerate(labels) if c not in keep)
    if not axes:
        return x, labels
    return total(x, axes), "".join(c for c in labels if c in keep)


def _contract(a, la, b, lb, keep):
    """``a`` (labels ``la``) times ``b`` (``lb``), summing the shared labels not in ``keep``: one matmul."""
    from .arrays import _product
    from .linalg import matmul
    from .shape import reshape, shape_tuple, transpose
    batch = [c for c in la if c in lb and c in keep]
    summed = [c for c in la if c in lb and c not in keep]
    free_a = [c for c in la if c not in lb]
    free_b = [c for c in lb if c not in la]
    a = transpose(a, [la.index(c) for c in batch + free_a + summed])
    b = transpose(b, [lb.index(c) for c in batch + summed + free_b])
    nb = len(batch)
    sa, sb = shape_tuple(a), shape_tuple(b)
    # (batch..., rows, inner) @ (batch..., inner, columns): reshaped only where a group is not one axis,
    # so 'bij,bjk->bik' is exactly a @ b
    if len(free_a) != 1 or len(summed) != 1:
        a = reshape(a, sa[:nb] + (_product(sa[nb:nb + len(free_a)]), _product(sa[nb + len(free_a):])))
    if len(summed) != 1 or len(free_b) != 1:
        b = reshape(b, sb[:nb] + (_product(sb[nb:nb + len(summed)]), _product(sb[nb + len(summed):])))
    product = matmul(a, b)
    if len(free_a) != 1 or len(free_b) != 1:
        product = reshape(product, shape_tuple(product)[:nb] + sa[nb:nb + len(free_a)] + sb[nb + len(summed):])
    return product, "".join(batch + free_a + free_b)


def einsum(subscripts, *operands):
    """Sums of products of ``operands`` over the labels of ``subscripts``, as ``np.einsum``.

    Parameters
    ----------
    subscripts : str
        NumPy's notation: comma-separated labels per operand, ``...`` for broadcast axes, and ``->`` with
        the output labels (implicit: the labels used once, in alphabetical order).
    *operands : Variable or array_like
        The arrays (dtypes promote as in NumPy).

    Returns
    -------
    Variable
        The result. Contractions run as matrix products (the BLAS path of ``@``), the rest as sums and
        elementwise products; the derivative comes from those parts.

    Examples
    --------
    >>> A, B = sg.tensor("A", shape=(None, None, None)), sg.tensor("B", shape=(None, None, None))
    >>> f = sg.function([A, B], sg.einsum("bij,bjk->bik", A, B), backend="python")
    >>> f(np.ones((2, 3, 4)), np.ones((2, 4, 5))).shape
    (2, 3, 5)
    >>> x = sg.matrix("x")
    >>> sg.function([x], sg.einsum("ii", x), backend="python")([[1.0, 2.0], [3.0, 4.0]])
    array(5.)
    """
    from .shape import transpose
    if not operands:
        raise ValueError("einsum: at least one operand is needed")
    operands = list(as_variables(*operands))
    dtype = np.result_type(*[np.dtype(x.dtype) for x in operands]).name
    operands = [ew.cast(x, dtype) for x in operands]
    terms, output = _parse(subscripts, operands)
    pieces = []
    for x, labels in zip(operands, terms):
        pieces.append(_diagonal(x, labels))
    # sum, in each operand, the labels no other operand and not the output uses
    for k, (x, labels) in enumerate(pieces):
        elsewhere = set(output).union(*[set(l) for j, (_, l) in enumerate(pieces) if j != k])
        pieces[k] = _sum_labels(x, labels, elsewhere)
    result, labels = pieces[0]
    for k in range(1, len(pieces)):
        x, lx = pieces[k]
        later = set(output).union(*[set(l) for _, l in pieces[k + 1:]])
        result, labels = _contract(result, labels, x, lx, later)
    result, labels = _sum_labels(result, labels, set(output))
    return transpose(result, [labels.index(c) for c in output]) if result.ndim else result


def norm(x, ord=None, axis=None, keepdims=False):  # noqa: A002 - NumPy's name
    """A vector or matrix norm, as ``np.linalg.norm``.

    Parameters
    ----------
    x : Variable or array_like
        The values.
    ord : {None, 'fro', inf, -inf, 0, 1, -1, 2, other numbers}, optional
        The order. Vectors: None/2 the Euclidean norm, inf/-inf the largest/smallest magnitude, 0 the
        number of non-zeros, p the p-norm. Matrices: None/'fro' Frobenius, 1/-1 the largest/smallest column
        sum of magnitudes, inf/-inf the largest/smallest row sum, 2/-2 the largest/smallest singular value,
        'nuc' the sum of the singular values (through ``sg.linalg.svdvals``).
    axis : int or (int, int), optional
        The vector axis, or the two matrix axes; None: the whole array (a vector norm of its elements
        for ord None, else ``x`` must be 1-d or 2-d).
    keepdims : bool, default False
        Keep the reduced axes with length 1.

    Returns
    -------
    Variable
        The norm. The Euclidean and Frobenius norms have derivative 0 at 0 (a subgradient), not NaN.

    Examples
    --------
    >>> x = sg.vector("x")
    >>> sg.function([x], sg.norm(x), backend="python")([3.0, 4.0])
    array(5.)
    >>> sg.function([x], sg.norm(x, ord=1), backend="python")([3.0, -4.0])
    array(7.)
    """
    from .arrays import _axis
    from .reduce import max as largest, min as smallest, sum as total
    x = as_variable(x)
    if not x.type.is_float:
        x = ew.cast(x, "float64")
    if axis is None:
        if ord is None:
            out = _euclidean(x, tuple(range(x.ndim)), keepdims)
            return out
        if x.ndim not in (1, 2):
            raise ValueError(f"norm: ord={ord!r} needs a 1-d or 2-d array or an axis, got {x.describe()}")
        axis = 0 if x.ndim == 1 else (0, 1)
    if isinstance(axis, (int, np.integer)):
        a = _axis(axis, x.ndim, "norm")
        magnitude = ew.abs_(x)
        if ord is None or ord == 2:
            return _euclidean(x, (a,), keepdims)
        if ord == np.inf:
            return largest(magnitude, a, keepdims)
        if ord == -np.inf:
            return smallest(magnitude, a, keepdims)
        if ord == 0:
            return total(ew.cast(ew.ne(x, 0), x.dtype), a, keepdims)
        if ord == 1:
            return total(magnitude, a, keepdims)
        if isinstance(ord, str):
            raise ValueError(f"norm: invalid order {ord!r} for a vector")
        p = float(ord)
        return ew.pow(total(ew.pow(magnitude, p), a, keepdims), 1.0 / p)
    axes = tuple(_axis(a, x.ndim, "norm") for a in axis)
    if len(axes) != 2 or axes[0] == axes[1]:
        raise ValueError(f"norm: axis must be an int or two distinct ints, got {axis!r}")
    rows, cols = axes
    magnitude = ew.abs_(x)
    if ord in (None, "fro"):
        return _euclidean(x, axes, keepdims)
    if ord in (1, -1, np.inf, -np.inf):
        summed_axis, then = (rows, cols) if ord in (1, -1) else (cols, rows)
        sums = total(magnitude, summed_axis, keepdims=True)
        pick = largest if ord in (1, np.inf) else smallest
        out = pick(sums, then, keepdims=True)
        return out if keepdims else _squeeze(out, axes)
    if ord in (2, -2, "nuc"):
        return _singular_norm(x, ord, rows, cols, keepdims)
    raise ValueError(f"norm: invalid order {ord!r} for a matrix")


def _singular_norm(x, ord, rows, cols, keepdims):  # noqa: A002 - NumPy's name
    """The spectral norm (2), the smallest singular value (-2) or the nuclear norm ('nuc') of the matrices
    spanned by axes ``rows`` and ``cols``."""
    from .reduce import max as largest, min as smallest, sum as total
    from .shape import expand_dims, transpose
    from .svd import svdvals
    others = [a for a in range(x.ndim) if a not in (rows, cols)]
    values = svdvals(transpose(x, others + [rows, cols]))
    out = {2: largest, -2: smallest, "nuc": total}[ord](values, -1)
    return expand_dims(out, tuple(sorted((rows, cols)))) if keepdims else out


def _squeeze(x, axes):
    from .shape import squeeze
    return squeeze(x, tuple(sorted(axes)))


def _euclidean(x, axes, keepdims):
    """``sqrt(sum(x**2))`` over ``axes``, with derivative 0 where the sum is 0 (as ``std``)."""
    from .reduce import sum as total
    squares = total(ew.mul(x, x), axes, keepdims)
    zero = ew.eq(squares, 0)
    return ew.where(zero, 0, ew.sqrt(ew.where(zero, 1, squares)))
