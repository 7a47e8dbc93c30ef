"""Docstrings of the shape, indexing, joining, product and neural-network functions, and ``sg.optimize``/``sg.latex``."""
from __future__ import annotations

from ..ops import index, join, linalg, nnet, shape
from ..rewrite import optimize
from ..rewrite.sympy_simplify import latex
from . import add_doc


# ---------------------------------------------------------------- shapes

add_doc(shape.transpose, """
    ``x`` with its axes permuted, as ``np.transpose(x, axes)`` (also ``x.T`` and ``x.transpose()``).

    Parameters
    ----------
    x : Variable or array_like
        The values.
    axes : sequence of ints, optional
        The new order of the axes; ``None`` (default) reverses them.

    Returns
    -------
    Variable
        A view-like node with the permuted shape.

    Examples
    --------
    >>> X = sg.matrix("X")
    >>> sg.function([X], sg.transpose(X), backend="python")([[1.0, 2.0]])
    array([[1.],
           [2.]])
    """)

add_doc(shape.reshape, """
    ``x`` with a new shape and the same values in C order, as ``np.reshape`` (also ``x.reshape(...)``).

    Parameters
    ----------
    x : Variable or array_like
        The values.
    shape : int, sequence of ints or 0-d int variables, or a 1-d int variable
        The new shape; one entry may be -1 (inferred). Lengths may be symbolic (``x.shape[0]``).

    Returns
    -------
    Variable
        The reshaped values; a size that does not match raises ``ValueError`` at call time.

    Examples
    --------
    >>> x = sg.vector("x")
    >>> sg.function([x], sg.reshape(x, (2, -1)), backend="python")([1.0, 2.0, 3.0, 4.0])
    array([[1., 2.],
           [3., 4.]])
    """)

add_doc(shape.zeros_like, """
    Zeros with the shape (and by default the dtype) of ``x``, as ``np.zeros_like``.

    Parameters
    ----------
    x : Variable or array_like
        The variable whose shape the result takes (computed at call time where not static).
    dtype : str or numpy.dtype, optional
        The dtype of the result (default: that of ``x``).

    Returns
    -------
    Variable
        An array of zeros.

    Examples
    --------
    >>> x = sg.vector("x")
    >>> sg.function([x], sg.zeros_like(x, dtype="int64"), backend="python")([5.0, 6.0])
    array([0, 0])
    """)

add_doc(shape.ones_like, """
    Ones with the shape (and by default the dtype) of ``x``, as ``np.ones_like``.

    Parameters
    ----------
    x : Variable or array_like
        The variable whose shape the result takes.
    dtype : str or numpy.dtype, optional
        The dtype of the result (default: that of ``x``).

    Returns
    -------
    Variable
        An array of ones.

    Examples
    --------
    >>> x = sg.vector("x")
    >>> sg.function([x], sg.ones_like(x), backend="python")([5.0, 6.0])
    array([1., 1.])
    """)

add_doc(shape.expand_dims, """
    ``x`` with length-1 axes inserted, as ``np.expand_dims(x, axis)``.

    Parameters
    ----------
    x : Variable or array_like
        The values.
    axis : int or tuple of ints
        The positions of the new axes in the result.

    Returns
    -------
    Variable
        ``x`` with ``ndim + len(axis)`` dimensions.

    Examples
    --------
    >>> x = sg.vector("x")
    >>> sg.function([x], sg.expand_dims(x, 0), backend="python")([1.0, 2.0])
    array([[1., 2.]])
    """)

add_doc(shape.squeeze, """
    ``x`` without length-1 axes, as ``np.squeeze(x, axis)``.

    Parameters
    ----------
    x : Variable or array_like
        The values.
    axis : int or tuple of ints, optional
        The axes to remove. ``None`` (default) removes the axes whose static length is 1.

    Returns
    -------
    Variable
        ``x`` with the axes removed.

    Examples
    --------
    >>> X = sg.matrix("X", shape=(None, 1))
    >>> sg.function([X], sg.squeeze(X, 1), backend="python")([[1.0], [2.0]])
    array([1., 2.])
    """)

add_doc(shape.broadcast_to, """
    ``x`` broadcast to ``shape`` by NumPy's rules, as ``np.broadcast_to``.

    Parameters
    ----------
    x : Variable or array_like
        The values.
    shape : sequence of ints or 0-d int variables
        The target shape (lengths may be symbolic).

    Returns
    -------
    Variable
        The broadcast values; the gradient sums back to the shape of ``x``.

    Examples
    --------
    >>> x, n = sg.vector("x"), sg.scalar("n", dtype="int64")
    >>> sg.function([x, n], sg.broadcast_to(x, (n, 2)), backend="python")([1.0, 2.0], 2)
    array([[1., 2.],
           [1., 2.]])
    """)


# ---------------------------------------------------------------- indexing and joining

add_doc(index.arange, """
    Evenly spaced values in ``[start, stop)``, as ``np.arange``.

    Parameters
    ----------
    start : int or 0-d variable
        The first value; with ``stop`` omitted, the (exclusive) end, starting from 0.
    stop : int or 0-d variable, optional
        The end (exclusive).
    step : int or 0-d variable, default 1
        The spacing.
    dtype : str, default "int64"
        The dtype of the values.

    Returns
    -------
    Variable
        A 1-d variable; its length is static when all bounds are constants.

    Examples
    --------
    >>> n = sg.scalar("n", dtype="int64")
    >>> sg.function([n], sg.arange(n), backend="python")(4)
    array([0, 1, 2, 3])
    """)

add_doc(index.inc_subtensor, """
    ``x`` with ``y`` added at the entries ``x[key]`` reads (Theano's ``inc_subtensor``).

    The functional form of ``x[key] += y``: ``x`` itself is not modified. Repeated indices
    accumulate, as ``np.add.at``.

    Parameters
    ----------
    indexed : Variable
        An indexed variable ``x[key]`` (basic or advanced indexing).
    y : Variable or array_like
        The values to add (broadcast to the shape of ``x[key]``).
    set_instead_of_inc : bool, default False
        Write ``y`` instead of adding it (see ``set_subtensor``).

    Returns
    -------
    Variable
        A new variable with the shape of ``x``.

    Raises
    ------
    TypeError
        If ``indexed`` is not an indexed variable.

    Examples
    --------
    >>> x = sg.vector("x")
    >>> sg.function([x], sg.inc_subtensor(x[[0, 0, 2]], 1.0), backend="python")([0.0, 0.0, 0.0])
    array([2., 0., 1.])
    """)

add_doc(index.set_subtensor, """
    ``x`` with ``y`` written at the entries ``x[key]`` reads (the functional ``x[key] = y``).

    Parameters
    ----------
    indexed : Variable
        An indexed variable ``x[key]``.
    y : Variable or array_like
        The values to write (broadcast to the shape of ``x[key]``).

    Returns
    -------
    Variable
        A new variable with the shape of ``x``; ``x`` itself is not modified.

    Examples
    --------
    >>> x = sg.vector("x")
    >>> sg.function([x], sg.set_subtensor(x[1:], 9.0), backend="python")([1.0, 2.0, 3.0])
    array([1., 9., 9.])
    """)

add_doc(join.concatenate, """
    The variables joined along an existing axis, as ``np.concatenate(tensors, axis)``.

    Parameters
    ----------
    tensors : sequence of Variable or array_like
        Variables of equal ndim whose lengths agree except along ``axis``.
    axis : int, default 0
        The axis to join along.

    Returns
    -------
    Variable
        The joined values, with the promoted dtype.

    Examples
    --------
    >>> a, b = sg.vector("a"), sg.vector("b")
    >>> sg.function([a, b], sg.concatenate([a, b, [0.0]]), backend="python")([1.0], [2.0, 3.0])
    array([1., 2., 3., 0.])
    """)

add_doc(join.stack, """
    The variables (of equal shape) joined along a new axis, as ``np.stack(tensors, axis)``.

    Parameters
    ----------
    tensors : sequence of Variable or array_like
        Variables of the same shape.
    axis : int, default 0
        The position of the new axis in the result.

    Returns
    -------
    Variable
        The stacked values, with one more dimension and the promoted dtype.

    Examples
    --------
    >>> a, b = sg.vector("a"), sg.vector("b")
    >>> sg.function([a, b], sg.stack([a, b], axis=1), backend="python")([1.0, 2.0], [3.0, 4.0])
    array([[1., 3.],
           [2., 4.]])
    """)


# ---------------------------------------------------------------- products

add_doc(linalg.dot, """
    The dot product, as ``np.dot(a, b)``.

    1-d by 1-d is the inner product, 2-d by 2-d the matrix product; a 0-d operand multiplies;
    for n-d operands it sums over the last axis of ``a`` and the second-to-last of ``b``.

    Parameters
    ----------
    a, b : Variable or array_like
        The operands; their inner lengths must agree (checked when the graph is built where the
        lengths are static, else at call time).

    Returns
    -------
    Variable
        The product, with the promoted dtype.

    Raises
    ------
    ValueError
        If the inner lengths differ; the message shows both shapes.

    Examples
    --------
    >>> X, w = sg.matrix("X"), sg.vector("w")
    >>> sg.function([X, w], sg.dot(X, w), backend="python")([[1.0, 2.0], [3.0, 4.0]], [1.0, 1.0])
    array([3., 7.])
    """)

add_doc(linalg.matmul, """
    The matrix product, as ``np.matmul(a, b)`` (also ``a @ b``).

    Leading (batch) axes broadcast; a 1-d operand is treated as a row (``a``) or column (``b``)
    and that axis is dropped from the result. 0-d operands are not allowed, as in NumPy.

    Parameters
    ----------
    a, b : Variable or array_like
        The operands (at least 1-d).

    Returns
    -------
    Variable
        The product, with the promoted dtype.

    Examples
    --------
    >>> A, B = sg.tensor("A"), sg.matrix("B")
    >>> sg.function([A, B], sg.matmul(A, B), backend="python")(np.ones((2, 1, 2)), np.eye(2)).shape
    (2, 1, 2)
    """)

add_doc(linalg.outer, """
    The outer product, as ``np.outer(a, b)``: ``a.ravel()[:, None] * b.ravel()[None, :]``.

    Parameters
    ----------
    a, b : Variable or array_like
        The operands (flattened first).

    Returns
    -------
    Variable
        A 2-d variable of shape ``(a.size, b.size)``.

    Examples
    --------
    >>> a, b = sg.vector("a"), sg.vector("b")
    >>> sg.function([a, b], sg.outer(a, b), backend="python")([1.0, 2.0], [1.0, 10.0])
    array([[ 1., 10.],
           [ 2., 20.]])
    """)


# ---------------------------------------------------------------- neural networks

add_doc(nnet.softmax, """
    The softmax ``exp(x) / sum(exp(x))`` along ``axis``, computed without overflow.

    Parameters
    ----------
    x : Variable or array_like
        Float values (logits).
    axis : int or None, default -1
        The axis along which the result sums to 1; None: over every element.

    Returns
    -------
    Variable
        Probabilities with the shape and dtype of ``x``.

    Examples
    --------
    >>> x = sg.vector("x")
    >>> sg.function([x], sg.softmax(x), backend="python")([0.0, 0.0, 1000.0])
    array([0., 0., 1.])
    """)

add_doc(nnet.log_softmax, """
    ``log(softmax(x))`` along ``axis``, computed stably: ``x - logsumexp(x, axis, keepdims=True)``.

    Parameters
    ----------
    x : Variable or array_like
        Float values (logits).
    axis : int or None, default -1
        The axis of the softmax; None: over every element.

    Returns
    -------
    Variable
        Log-probabilities with the shape and dtype of ``x``; finite for logits of any size.

    Examples
    --------
    >>> x = sg.vector("x")
    >>> sg.function([x], sg.log_softmax(x), backend="python")([0.0, 1000.0])
    array([-1000.,     0.])
    """)

add_doc(nnet.logsumexp, """
    ``log(sum(exp(x)))`` along ``axis``, computed without overflow, as ``scipy.special.logsumexp``.

    Parameters
    ----------
    x : Variable or array_like
        Float values.
    axis : int or tuple of ints, optional
        The axes to reduce; ``None`` (default) reduces all of them.
    keepdims : bool, default False
        Keep the reduced axes with length 1.

    Returns
    -------
    Variable
        The reduced values, with the dtype of ``x``.

    Examples
    --------
    >>> x = sg.vector("x")
    >>> sg.function([x], sg.logsumexp(x), backend="python")([1000.0, 1000.0])
    array(1000.69314718)
    """)

add_doc(nnet.one_hot, """
    One-hot rows: ``out[..., k] = (indices[...] == k)`` for ``k`` in ``range(n)``.

    Parameters
    ----------
    indices : Variable or array_like
        Integer class labels in ``[0, n)``; a label out of range is a ``ValueError`` at call time.
    n : int or 0-d int variable
        The number of classes.
    dtype : str, default "float64"
        The dtype of the result.

    Returns
    -------
    Variable
        ``indices.shape + (n,)`` zeros and ones. Not differentiable in ``indices``.

    Examples
    --------
    >>> y = sg.vector("y", dtype="int64")
    >>> sg.function([y], sg.one_hot(y, 3), backend="python")([2, 0])
    array([[0., 0., 1.],
           [1., 0., 0.]])
    """)


# ---------------------------------------------------------------- the optimizer and SymPy

add_doc(optimize, """
    The outputs as ``sg.function`` would compute them after optimization, for inspection.

    The user's graph is not modified: the result is a rewritten copy whose leaves are the same
    input and shared variables.

    Parameters
    ----------
    outputs : Variable or list of Variable
        The expressions to optimize.
    mode : str or dict, default "fast_run"
        ``"fast_run"``, ``"fast_compile"``, ``None`` (no rewrites) or a dict such as
        ``{"mode": "fast_run", "exclude": ["fusion"], "include": ["sympy"]}``.

    Returns
    -------
    Variable or list of Variable
        The optimized outputs, in the structure given.

    Examples
    --------
    >>> x = sg.vector("x")
    >>> print(sg.dprint(sg.optimize(sg.log(1 + sg.exp(x))), show_types=False).strip())
    softplus [id A]
     └─ x [id B]
    """)

add_doc(latex, """
    The LaTeX formula of an elementwise expression (through ``sg.to_sympy``).

    Parameters
    ----------
    expr : Variable
        A scalar elementwise expression of inputs and constants (a derivative, for example).
    symbols : dict, optional
        ``{variable: sympy.Symbol}`` to use instead of symbols named after the inputs.

    Returns
    -------
    str
        LaTeX source, as ``sympy.latex`` writes it.

    Examples
    --------
    >>> x = sg.scalar("x")
    >>> sg.latex(sg.grad(x ** 3, x))
    '3 x^{2}'
    """)
