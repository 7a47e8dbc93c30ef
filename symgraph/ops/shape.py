"""Ops on shapes and layouts: shape queries, dimshuffle (transpose / add / drop axes), broadcasting, reshape.

Shapes of symbolic variables are themselves symbolic: ``shape_of(x, i)`` is an
int64 scalar node, folded to a constant by the optimizer when the length is
static, so gradients work for inputs whose lengths are known only at call time.
"""
from __future__ import annotations

import math

import numpy as np

from ..graph import Constant, Node, Variable
from ..types import TensorType
from .base import Op, as_variable, pointing_at_user_line


INT64_MAX = 2 ** 63 - 1


def check_size(lengths, dtype, what):
    """A ValueError when an array of ``lengths`` (Python ints >= 0) and ``dtype`` cannot exist: as NumPy, the
    product of the nonzero lengths times the item size must fit in int64.

    Parameters
    ----------
    lengths : sequence of int
        The known lengths of the shape.
    dtype : str or numpy.dtype
        The element type (its item size counts).
    what : str
        How the error names the operation.

    Returns
    -------
    int
        The number of elements.

    Examples
    --------
    >>> check_size([3, 4], "float64", "reshape")
    12
    """
    nonzero = math.prod(n for n in lengths if n != 0) * np.dtype(dtype).itemsize
    if nonzero > INT64_MAX:
        raise ValueError(f"{what}: the shape is too large (its size, {nonzero} bytes, overflows int64)")
    return math.prod(lengths)


class Shape(Op):
    """The shape of ``x`` as an int64 vector."""
    name = "shape"
    shape_only_inputs = (0,)

    def make_node(self, x):
        x = as_variable(x)
        return Node(self, [x], [TensorType("int64", (x.ndim,))])

    def perform(self, node, inputs):
        return [np.array(inputs[0].shape, dtype=np.int64)]

    def grad(self, inputs, outputs, output_grads):
        return [None]

    def connection_pattern(self, node):
        return [False]


class ShapeOf(Op):
    """The length of axis ``axis`` of ``x`` as an int64 scalar."""
    __props__ = ("axis",)
    name = "shape_of"
    shape_only_inputs = (0,)

    def __init__(self, axis):
        self.axis = int(axis)

    def make_node(self, x):
        x = as_variable(x)
        if not 0 <= self.axis < x.ndim:
            raise ValueError(f"shape_of: axis {self.axis} out of range for {x.describe()}")
        return Node(self, [x], [TensorType("int64", ())])

    def perform(self, node, inputs):
        return [np.array(inputs[0].shape[self.axis], dtype=np.int64)]

    def grad(self, inputs, outputs, output_grads):
        return [None]

    def connection_pattern(self, node):
        return [False]


def shape_of(x, axis):
    """Length of ``axis`` of ``x``: a constant when static, else a ``ShapeOf`` node."""
    x = as_variable(x)
    axis = axis % x.ndim if x.ndim else axis
    static = x.type.shape[axis]
    if static is not None:
        return Constant(static, dtype="int64")
    return ShapeOf(axis)(x)


def shape_tuple(x):
    return tuple(shape_of(x, i) for i in range(x.ndim))


class DimShuffle(Op):
    """Reorder axes and insert/drop length-1 axes.

    ``new_order`` lists, for each output axis, the input axis it takes or ``'x'``
    for a new length-1 axis; input axes not listed must have static length 1.
    Transpose and expand_dims are special cases.
    """
    __props__ = ("new_order",)
    name = "dimshuffle"

    def __init__(self, new_order):
        self.new_order = tuple(new_order)

    def make_node(self, x):
        x = as_variable(x)
        used = [a for a in self.new_order if a != "x"]
        if len(set(used)) != len(used) or any(not 0 <= a < x.ndim for a in used):
            raise ValueError(f"dimshuffle: invalid order {self.new_order} for {x.describe()}")
        for a in range(x.ndim):
            if a not in used and x.type.shape[a] != 1:
                raise ValueError(f"dimshuffle: cannot drop axis {a} of {x.describe()}: "
                                 "only axes of static length 1 can be dropped")
        shape = tuple(1 if a == "x" else x.type.shape[a] for a in self.new_order)
        return Node(self, [x], [TensorType(x.dtype, shape)])

    @property
    def is_transpose(self):
        return "x" not in self.new_order

    def perform(self, node, inputs):
        (x,) = inputs
        used = [a for a in self.new_order if a != "x"]
        dropped = [a for a in range(x.ndim) if a not in used]
        if dropped:
            x = x.reshape([n for i, n in enumerate(x.shape) if i not in dropped])
            remap = {a: i for i, a in enumerate(a for a in range(node.inputs[0].ndim) if a not in dropped)}
            used = [remap[a] for a in used]
        y = np.transpose(x, used) if used else x.reshape(())
        shape = []
        it = iter(y.shape)
        for a in self.new_order:
            shape.append(1 if a == "x" else next(it))
        return [y.reshape(shape)]

    def grad(self, inputs, outputs, output_grads):
        (x,), (gy,) = inputs, output_grads
        # Drop inserted axes, then invert the permutation; dropped input axes come back as 'x'.
        kept = [(pos, a) for pos, a in enumerate(self.new_order) if a != "x"]
        inserted = tuple(pos for pos, a in enumerate(self.new_order) if a == "x")
        from .reduce import Reduce
        g = gy
        if inserted:
            g = Reduce("sum", inserted, False)(g)  # the inserted axes have length 1: sum is a squeeze
        order_in_g = [a for _, a in kept]
        inverse = []
        for axis in range(x.ndim):
            inverse.append(order_in_g.index(axis) if axis in order_in_g else "x")
        if tuple(inverse) != tuple(range(g.ndim)):
            g = DimShuffle(inverse)(g)
        return [g]


def dimshuffle(x, new_order):
    x = as_variable(x)
    new_order = tuple(new_order)
    if new_order == tuple(range(x.ndim)):
        return x
    return DimShuffle(new_order)(x)


def transpose(x, axes=None):
    x = as_variable(x)
    if axes is None:
        axes = tuple(reversed(range(x.ndim)))
    axes = tuple(int(a) % x.ndim for a in axes) if x.ndim else ()
    if sorted(axes) != list(range(x.ndim)):
        with pointing_at_user_line():
            raise ValueError(f"transpose: axes {axes} are not a permutation of the {x.ndim} axes of {x.describe()}")
    return dimshuffle(x, axes)


def expand_dims(x, axis):
    """Insert length-1 axes at the (output) positions ``axis``."""
    x = as_variable(x)
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out_ndim = x.ndim + len(axes)
    if any(isinstance(a, bool) or not isinstance(a, (int, np.integer)) or not -out_ndim <= a < out_ndim
           for a in axes):
        with pointing_at_user_line():
            raise ValueError(f"expand_dims: axis {axis!r} is out of bounds for the {out_ndim}-d result "
                             f"(from {x.describe()})")
    axes = sorted(int(a) % out_ndim for a in axes)
    if len(set(axes)) != len(axes):
        with pointing_at_user_line():
            raise ValueError(f"expand_dims: repeated axis in {axis!r}")
    order, it = [], iter(range(x.ndim))
    for pos in range(out_ndim):
        order.append("x" if pos in axes else next(it))
    return dimshuffle(x, order)


class SpecifyShape(Op):
    """``x`` unchanged, its lengths ``shape`` (an int per axis, or None for any) checked at call time and
    static afterwards (PyTensor's ``specify_shape``); ``squeeze(x, axis)`` uses it for axes whose length is
    known only at call time. ``caller`` names the user's function in messages."""
    __props__ = ("shape", "caller")
    name = "specify_shape"

    def __init__(self, shape, caller="specify_shape"):
        self.shape = tuple(None if n is None else int(n) for n in shape)
        self.caller = str(caller)

    def message(self, axis, length, x=None):
        """Why a value of ``length`` (None: not known here) on ``axis`` is refused."""
        what = f" of {x.describe()}" if x is not None else ""
        has = f"is {length}, not" if length is not None else "is not"
        if self.caller == "squeeze":
            return f"squeeze: cannot remove axis {axis}{what}: its length {has} 1 (only length-1 axes can be squeezed)"
        return f"{self.caller}: the length of axis {axis}{what} {has} {self.shape[axis]}"

    def make_node(self, x):
        x = as_variable(x)
        if len(self.shape) != x.ndim:
            raise ValueError(f"{self.caller}: {len(self.shape)} lengths given for the {x.ndim} axes of {x.describe()}")
        for axis, (want, have) in enumerate(zip(self.shape, x.type.shape)):
            if want is not None and have is not None and want != have:
                raise ValueError(self.message(axis, have, x))
        shape = tuple(have if want is None else want for want, have in zip(self.shape, x.type.shape))
        return Node(self, [x], [TensorType(x.dtype, shape)])

    def perform(self, node, inputs):
        (x,) = inputs
        for axis, want in enumerate(self.shape):
            if want is not None and x.shape[axis] != want:
                raise ValueError(self.message(axis, x.shape[axis], node.inputs[0]) + node.where())
        return [x]

    def grad(self, inputs, outputs, output_grads):
        return [output_grads[0]]


def squeeze(x, axis=None):
    """Remove length-1 axes, as ``np.squeeze``.

    A graph's number of axes is fixed when it is built, so ``squeeze(x)`` without ``axis`` needs every
    length of ``x`` known then (it removes the axes of static length 1); with lengths known only at call
    time it raises and asks for ``axis``. ``squeeze(x, axis)`` removes exactly those axes; one whose
    length is known only at call time is checked then (a length other than 1 raises, naming squeeze).

    Parameters
    ----------
    x : Variable
        The tensor.
    axis : int or tuple of int, optional
        The axes to remove (negative values count from the end).

    Returns
    -------
    Variable
        ``x`` without those axes.

    Examples
    --------
    >>> x = sg.tensor("x", shape=(None, None, None))
    >>> sg.function([x], sg.squeeze(x, axis=1))(np.zeros((5, 1, 4))).shape
    (5, 4)
    """
    x = as_variable(x)
    if axis is None:
        unknown = [a for a, n in enumerate(x.type.shape) if n is None]
        if unknown:
            with pointing_at_user_line():
                raise ValueError(
                    f"squeeze: the lengths of axes {unknown} of {x.describe()} are known only at call time, so "
                    "which axes squeeze() removes, and how many axes the result has, would depend on the call; "
                    "pass axis= with the axes to remove (their length is checked at call time), or give the "
                    "input a static shape")
        axes = [a for a, n in enumerate(x.type.shape) if n == 1]
    else:
        axes = []
        for a in ((axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)):
            if not -x.ndim <= int(a) < x.ndim or int(a) % x.ndim in axes:
                with pointing_at_user_line():
                    raise ValueError(f"squeeze: axis {axis} is out of range or repeated for {x.describe()}")
            axes.append(int(a) % x.ndim)
        for a in axes:
            if x.type.shape[a] not in (None, 1):
                with pointing_at_user_line():
                    raise ValueError(SpecifyShape((None,) * x.ndim, "squeeze").message(a, x.type.shape[a], x))
        if any(x.type.shape[a] is None for a in axes):
            x = SpecifyShape([1 if a in axes and n is None else None for a, n in enumerate(x.type.shape)],
                             "squeeze")(x)
    return dimshuffle(x, [a for a in range(x.ndim) if a not in axes])


class BroadcastTo(Op):
    """``x`` broadcast to the shape given by int64 scalar inputs (NumPy broadcasting rules)."""
    name = "broadcast_to"

    def make_node(self, x, *dims):
        x = as_variable(x)
        dims = [as_variable(d) for d in dims]
        for d in dims:
            if d.ndim != 0 or d.type.kind not in "iu":
                raise TypeError(f"broadcast_to: shape entries must be integer scalars, got {d.describe()}")
        if len(dims) < x.ndim:
            raise ValueError(f"broadcast_to: cannot broadcast {x.describe()} to {len(dims)} dimensions")
        static = []
        lead = len(dims) - x.ndim
        for i, d in enumerate(dims):
            n = int(d.value) if isinstance(d, Constant) else None
            xn = x.type.shape[i - lead] if i >= lead else 1
            if n is not None and xn not in (None, 1, n):
                raise ValueError(f"broadcast_to: cannot broadcast {x.describe()} to length {n} on axis {i}")
            static.append(n if n is not None else (xn if xn not in (None, 1) else None))
        if any(n is not None and n < 0 for n in static):
            raise ValueError(f"broadcast_to: negative length in shape {tuple(static)}")
        check_size([n for n in static if n is not None], x.dtype, f"broadcast_to {tuple(static)}")
        return Node(self, [x, *dims], [TensorType(x.dtype, static)])

    def perform(self, node, inputs):
        x, *dims = inputs
        shape = tuple(int(d) for d in dims)
        if min(shape, default=0) >= 0:
            check_size(shape, x.dtype, f"broadcast_to {shape}{node.where()}")
        try:
            return [np.broadcast_to(x, shape)]
        except ValueError:
            raise ValueError(f"broadcast_to: cannot broadcast shape {x.shape} to "
                             f"{tuple(int(d) for d in dims)}{node.where()}") from None

    def grad(self, inputs, outputs, output_grads):
        from .reduce import sum_to
        return [sum_to(output_grads[0], inputs[0])] + [None] * (len(inputs) - 1)

    def connection_pattern(self, node):
        return [True] + [False] * (len(node.inputs) - 1)


def broadcast_to(x, shape):
    x = as_variable(x)
    dims = [as_variable(d, like="int64") if not isinstance(d, Variable) else d for d in shape]
    if x.ndim == len(dims) and all(isinstance(d, Constant) and x.type.shape[i] == int(d.value)
                                   for i, d in enumerate(dims)):
        return x
    return BroadcastTo()(x, *dims)


def broadcast_like(x, like):
    """``x`` broadcast to the shape of ``like`` (used by gradients of reductions)."""
    x = as_variable(x)
    if x.type.shape == like.type.shape and None not in x.type.shape:
        return x
    return broadcast_to(x, shape_tuple(like))


def alloc(value, shape, dtype=None):
    """An array of ``shape`` filled with ``value``."""
    value = as_variable(value)
    if dtype is not None:
        from .elemwise import cast
        value = cast(value, dtype)
    return BroadcastTo()(value, *[as_variable(d, like="int64") if not isinstance(d, Variable) else d
                                  for d in shape])


def zeros_like(x, dtype=None):
    x = as_variable(x)
    return alloc(Constant(0, dtype=dtype or x.dtype), shape_tuple(x))


def is_zeros_like(g) -> bool:
    """True for what ``zeros_like`` builds (a broadcast constant 0), such as the gradient ``sg.grad`` passes
    for an output the cost does not use: an op's ``grad`` may then skip the work for that output."""
    owner = g.owner
    if owner is not None and isinstance(owner.op, BroadcastTo):
        g = owner.inputs[0]
    return isinstance(g, Constant) and not np.any(g.value)


def ones_like(x, dtype=None):
    x = as_variable(x)
    return alloc(Constant(1, dtype=dtype or x.dtype), shape_tuple(x))


class Reshape(Op):
    """Reshape to a shape given by int64 scalar inputs; one entry may be -1."""
    __props__ = ("ndim",)
    name = "reshape"

    def __init__(self, ndim):
        self.ndim = int(ndim)

    def make_node(self, x, *dims):
        x = as_variable(x)
        dims = [as_variable(d, like="int64") for d in dims]
        if len(dims) != self.ndim:
            raise ValueError(f"reshape: expected {self.ndim} shape entries, got {len(dims)}")
        for d in dims:
            if d.ndim != 0 or d.type.kind not in "iu":
                raise TypeError(f"reshape: shape entries must be integer scalars, got {d.describe()}")
        static = [int(d.value) if isinstance(d, Constant) else None for d in dims]
        if sum(1 for n in static if n == -1) > 1:
            raise ValueError("reshape: only one dimension can be -1")
        if any(n is not None and n < -1 for n in static):
            raise ValueError(f"reshape: invalid shape {static}")
        # Python ints: a product in int64 would wrap (2**62 + 1 lengths of 4 look like 4 elements).
        size = math.prod(x.type.shape) if None not in x.type.shape else None
        known = [n for n in static if n not in (None, -1)]
        check_size(known, x.dtype, f"reshape to {tuple(static)}")
        if -1 in static and size is not None and None not in static:
            rest = math.prod(known)
            if rest == 0 or size % rest:
                raise ValueError(f"reshape: cannot reshape {x.describe()} to {tuple(static)}")
            static = [size // rest if n == -1 else n for n in static]
        elif size is not None and None not in static and -1 not in static and math.prod(static) != size:
            raise ValueError(f"reshape: cannot reshape {x.describe()} of size {size} to {tuple(static)}")
        static = [None if n == -1 else n for n in static]
        return Node(self, [x, *dims], [TensorType(x.dtype, static)])

    def perform(self, node, inputs):
        x, *dims = inputs
        shape = tuple(int(d) for d in dims)
        if min(shape, default=0) >= -1:
            check_size([n for n in shape if n != -1], x.dtype, f"reshape to {shape}{node.where()}")
        try:
            return [x.reshape(shape)]
        except ValueError:
            raise ValueError(f"reshape: cannot reshape an array of shape {x.shape} into shape {shape}"
                             f"{node.where()}") from None

    def grad(self, inputs, outputs, output_grads):
        x = inputs[0]
        return [reshape(output_grads[0], shape_tuple(x))] + [None] * (len(inputs) - 1)

    def connection_pattern(self, node):
        return [True] + [False] * (len(node.inputs) - 1)


def reshape(x, shape):
    x = as_variable(x)
    if isinstance(shape, Variable):
        if shape.ndim != 1 or shape.type.shape[0] is None:
            raise TypeError("reshape: a symbolic shape must be a vector of static length")
        from .index import subtensor_index
        shape = [subtensor_index(shape, i) for i in range(shape.type.shape[0])]
    elif isinstance(shape, (int, np.integer)):
        shape = (shape,)
    shape = tuple(shape)
    if all(not isinstance(d, Variable) for d in shape) and tuple(shape) == x.type.shape:
        return x
    return Reshape(len(shape))(x, *shape)
