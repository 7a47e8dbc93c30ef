"""The Python operators and array-like methods of ``Variable`` (``x + y``, ``x[1:]``, ``x.T``, ``x.sum()``).

``Variable`` (graph.py) inherits them from ``VariableOperators``, so they are defined in one visible
place and belong to the class from the start, rather than being attached at import time. ``graph.py``
comes before the ops in the import order (``types -> graph -> ops``), so each method imports the op it
builds when it is called (a lookup in ``sys.modules`` after the first call).
"""
from __future__ import annotations


class VariableOperators:
    """Mixin: NumPy-style operators and methods for symbolic variables; each builds a node, nothing computes."""

    __slots__ = ()

    # ------------------------------------------------------------ arithmetic and comparisons

    def __add__(self, other):
        return _binary("add", self, other)

    def __radd__(self, other):
        return _binary("add", other, self)

    def __sub__(self, other):
        return _binary("sub", self, other)

    def __rsub__(self, other):
        return _binary("sub", other, self)

    def __mul__(self, other):
        return _binary("mul", self, other)

    def __rmul__(self, other):
        return _binary("mul", other, self)

    def __truediv__(self, other):
        return _binary("true_div", self, other)

    def __rtruediv__(self, other):
        return _binary("true_div", other, self)

    def __floordiv__(self, other):
        return _binary("floor_divide", self, other)

    def __rfloordiv__(self, other):
        return _binary("floor_divide", other, self)

    def __mod__(self, other):
        return _binary("mod", self, other)

    def __rmod__(self, other):
        return _binary("mod", other, self)

    def __pow__(self, other):
        return _binary("pow", self, other)

    def __rpow__(self, other):
        return _binary("pow", other, self)

    def __lt__(self, other):
        return _binary("lt", self, other)

    def __le__(self, other):
        return _binary("le", self, other)

    def __gt__(self, other):
        return _binary("gt", self, other)

    def __ge__(self, other):
        return _binary("ge", self, other)

    def __and__(self, other):
        return _binary("logical_and", self, other)

    def __rand__(self, other):
        return _binary("logical_and", other, self)

    def __or__(self, other):
        return _binary("logical_or", self, other)

    def __ror__(self, other):
        return _binary("logical_or", other, self)

    def __invert__(self):
        from .ops import elemwise
        return elemwise.logical_not(self)

    def __neg__(self):
        from .ops import elemwise
        return elemwise.neg(self)

    def __pos__(self):
        return self

    def __abs__(self):
        from .ops import elemwise
        return elemwise.abs_(self)

    def __matmul__(self, other):
        from .ops.base import as_variables
        from .ops.linalg import matmul
        return matmul(*as_variables(self, other))

    def __rmatmul__(self, other):
        from .ops.base import as_variables
        from .ops.linalg import matmul
        return matmul(*as_variables(other, self))

    def dot(self, other):
        """``self @ other``."""
        return self.__matmul__(other)

    def astype(self, dtype):
        """``self`` cast to ``dtype`` (as NumPy's ``astype``)."""
        from .ops import elemwise
        return elemwise.cast(self, dtype)

    # ------------------------------------------------------------ indexing and length

    def __getitem__(self, key):
        from .ops.index import getitem
        return getitem(self, key)

    def __len__(self):
        if self.ndim == 0:
            raise TypeError(f"len() of 0-d symbolic variable {self.describe()}")
        n = self.type.shape[0]
        if n is None:
            raise TypeError(f"len() of {self.describe()}: its first length is known only at call time; "
                            "use x.shape[0]")
        return n

    def __iter__(self):
        """The rows ``self[0], self[1], ...`` when the first length is known when the graph is built."""
        return (self[i] for i in range(len(self)))    # len() raises for 0-d and call-time lengths

    # ------------------------------------------------------------ shapes

    @property
    def shape(self):
        """The symbolic shape: a tuple of int64 scalars (constants where the length is static)."""
        from .ops import shape
        return shape.shape_tuple(self)

    @property
    def T(self):  # noqa: N802 - NumPy's name
        """The transpose (axes reversed)."""
        from .ops import shape
        return shape.transpose(self)

    @property
    def size(self):
        """The number of elements, an int64 scalar."""
        from .ops import reduce, shape
        from .ops.base import as_variable
        return reduce.prod(shape.Shape()(self)) if self.ndim else as_variable(1, "int64")

    def reshape(self, *shape):
        """``self`` with a new shape, given as a tuple or as separate lengths (ints or int scalars)."""
        from .ops import shape as shapes
        from .graph import Variable
        if len(shape) == 1 and isinstance(shape[0], (tuple, list, Variable)):
            shape = shape[0]
        return shapes.reshape(self, shape)

    def transpose(self, *axes):
        """``self`` with its axes permuted (reversed when none are given)."""
        from .ops import shape
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = axes[0]
        return shape.transpose(self, axes or None)

    # ------------------------------------------------------------ reductions

    def sum(self, axis=None, keepdims=False):
        """``sg.sum(self, axis, keepdims)``."""
        from .ops import reduce
        return reduce.sum(self, axis, keepdims)

    def mean(self, axis=None, keepdims=False):
        """``sg.mean(self, axis, keepdims)``."""
        from .ops import reduce
        return reduce.mean(self, axis, keepdims)

    def max(self, axis=None, keepdims=False):
        """``sg.max(self, axis, keepdims)``."""
        from .ops import reduce
        return reduce.max(self, axis, keepdims)

    def min(self, axis=None, keepdims=False):
        """``sg.min(self, axis, keepdims)``."""
        from .ops import reduce
        return reduce.min(self, axis, keepdims)

    def prod(self, axis=None, keepdims=False):
        """``sg.prod(self, axis, keepdims)``."""
        from .ops import reduce
        return reduce.prod(self, axis, keepdims)

    def any(self, axis=None, keepdims=False):
        """``sg.any(self, axis, keepdims)``."""
        from .ops import reduce
        return reduce.any(self, axis, keepdims)

    def all(self, axis=None, keepdims=False):
        """``sg.all(self, axis, keepdims)``."""
        from .ops import reduce
        return reduce.all(self, axis, keepdims)

    def var(self, axis=None, ddof=0, keepdims=False):
        """``sg.var(self, axis, ddof, keepdims)``."""
        from .ops import arrays
        return arrays.var(self, axis, ddof, keepdims)

    def std(self, axis=None, ddof=0, keepdims=False):
        """``sg.std(self, axis, ddof, keepdims)``."""
        from .ops import arrays
        return arrays.std(self, axis, ddof, keepdims)

    def argmax(self, axis=None, keepdims=False):
        """``sg.argmax(self, axis, keepdims)``."""
        from .ops import sort
        return sort.argmax(self, axis, keepdims)

    def argmin(self, axis=None, keepdims=False):
        """``sg.argmin(self, axis, keepdims)``."""
        from .ops import sort
        return sort.argmin(self, axis, keepdims)

    def cumsum(self, axis=None):
        """``sg.cumsum(self, axis)``."""
        from .ops import sort
        return sort.cumsum(self, axis)

    def cumprod(self, axis=None):
        """``sg.cumprod(self, axis)``."""
        from .ops import sort
        return sort.cumprod(self, axis)

    def argsort(self, axis=-1):
        """``sg.argsort(self, axis)``."""
        from .ops import sort
        return sort.argsort(self, axis)

    # ------------------------------------------------------------ shapes and values

    def flatten(self):
        """``sg.flatten(self)``: the elements as a vector, in C order."""
        from .ops import arrays
        return arrays.flatten(self)

    def squeeze(self, axis=None):
        """``sg.squeeze(self, axis)``."""
        from .ops import shape
        return shape.squeeze(self, axis)

    def eval(self, values=None):
        """The value of this variable for the given inputs: compiled once per set of inputs (kept with the
        variable), Theano's way to look at a value while building a graph.

        Parameters
        ----------
        values : dict, optional
            ``{input variable: value}`` for every input the variable depends on (none for constants
            and shared variables).

        Returns
        -------
        numpy.ndarray
            The value.

        Examples
        --------
        >>> x = sg.vector("x")
        >>> (x * 2).eval({x: [1.0, 2.0]})
        array([2., 4.])
        """
        from .function import function
        values = dict(values or {})
        inputs = list(values)
        key = tuple(id(v) for v in inputs)
        cache = getattr(self, "_evaluations", None)
        if cache is None:
            cache = self._evaluations = {}
        compiled = cache.get(key)
        if compiled is None or any(a is not b for a, b in zip(compiled[0], inputs)):
            compiled = cache[key] = (inputs, function(inputs, self))
        return compiled[1](*[values[v] for v in inputs])

    def clip(self, lo, hi):
        """``sg.clip(self, lo, hi)``."""
        from .ops import arrays
        return arrays.clip(self, lo, hi)


def _binary(name, a, b):
    """The elementwise op ``name`` of ``a`` and ``b`` (either may be a Python number or an array)."""
    from .ops import elemwise
    from .ops.base import as_variables
    return getattr(elemwise, name)(*as_variables(a, b))
