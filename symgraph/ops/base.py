"""The Op base class and the op registry.

An op is a stateless description of a computation, identified by its class and
the values of its ``__props__`` (so two ``Sum(axis=(0,))`` are equal and nodes
applying them to the same inputs can be merged). Each op keeps together its
type/shape inference (``make_node``), its NumPy reference (``perform``) and its
symbolic derivative (``grad``).
"""
from __future__ import annotations

import numbers

import numpy as np

from ..graph import Constant, Node, Variable, user_source_location
from ..types import TensorType, dtype_for_python_scalar

# Every concrete Op class of symgraph's catalogue, by class name; backends test that each has a lowering.
OP_REGISTRY: dict[str, type] = {}


class Op:
    """The base class of every op; subclass it to add your own.

    An op is a stateless description of a computation, identified by its class and the values of its
    ``__props__``. A subclass defines ``make_node(*inputs)`` (check the inputs, return a ``Node`` with the
    output types), ``perform(node, inputs)`` (the NumPy computation: arrays in, a list of arrays out) and,
    to be differentiable, ``grad(inputs, outputs, output_grads)`` (symbolic: one variable, or None, per
    input). Such an op runs on every backend: natively where a lowering is registered, else through its
    ``perform``, called back from the compiled code (numba: one object-mode block in the kernel; cuda: the
    node on the host between kernels), with a one-time warning naming it. A graph of existing ops is simpler still: ``sg.OpFromGraph``.

    Parameters
    ----------
    *props
        Whatever the subclass's ``__init__`` takes (stored under the names in ``__props__``).

    Examples
    --------
    >>> from symgraph.graph import Node
    >>> from symgraph.types import TensorType
    >>> class Cube(sg.Op):
    ...     name = "cube"
    ...     def make_node(self, x):
    ...         return Node(self, [x], [TensorType(x.dtype, x.type.shape)])
    ...     def perform(self, node, inputs):
    ...         return [inputs[0] ** 3]
    ...     def grad(self, inputs, outputs, output_grads):
    ...         return [output_grads[0] * 3 * inputs[0] ** 2]
    >>> x = sg.vector("x")
    >>> sg.function([x], sg.grad(Cube()(x).sum(), x), backend="python")([1.0, 2.0])
    array([ 3., 12.])
    """

    __props__: tuple = ()
    #: the short name used in printing, to_networkx and rewrites ("exp", "dot", ...)
    name: str = ""
    #: facts the rewrites read (see ScalarOp for elementwise ops): every output is >= 0, > 0 (exactly)
    nonnegative = False
    positive = False
    #: the positions of the inputs whose values the op never reads, only their shapes (``shape_of``'s input,
    #: ``sum_to_shape``'s ``like``): a backend may hand it any array of that shape, so a lowering that fuses the
    #: input's producer away need not compute it
    shape_only_inputs: tuple = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # The catalogue is symgraph's own ops; ops users (or tests) define elsewhere are not listed.
        if not cls.__dict__.get("abstract", False) and cls.__module__.startswith("symgraph."):
            OP_REGISTRY[cls.__name__] = cls

    def _props(self):
        return tuple(getattr(self, p) for p in self.__props__)

    def __eq__(self, other):
        return type(self) is type(other) and self._props() == other._props()

    def __hash__(self):
        return hash((type(self), self._props()))

    def __str__(self):
        name = self.name or type(self).__name__.lower()
        props = ", ".join(f"{p}={getattr(self, p)!r}" for p in self.__props__)
        return f"{name}{{{props}}}" if props else name

    __repr__ = __str__

    def make_node(self, *inputs) -> Node:
        raise NotImplementedError

    def __call__(self, *inputs):
        try:
            node = self.make_node(*inputs)
        except (TypeError, ValueError) as exc:
            _point_at_user_line(exc)
            raise
        return node.outputs[0] if len(node.outputs) == 1 else node.outputs

    def perform(self, node: Node, inputs: list) -> list:
        """NumPy reference: input arrays in, a list of output arrays out."""
        raise NotImplementedError

    def grad(self, inputs, outputs, output_grads) -> list:
        """Symbolic vector-Jacobian product: one variable (or None for 'no gradient') per input.

        ``output_grads`` holds a variable for every output (zeros where the cost does not depend on it).
        """
        raise NotImplementedError(f"op {self} has no gradient")

    #: inputs through which no gradient flows (indices, shapes); grad returns None for them
    def connection_pattern(self, node) -> list[bool]:
        return [True] * len(node.inputs)

    def default_updates(self, node) -> list:
        """``(shared variable, new value)`` pairs every function computing ``node`` applies without being
        asked (a random draw advancing its state; see symgraph/ops/random.py). None for most ops."""
        return []


Op.abstract = True


class GraphOp(Op):
    """An op that holds a graph of its own (``OpFromGraph``, a loop's ``Scan``): identified by the object,
    since two such ops with equal-looking graphs are not known to be the same; printed as its ``label``."""

    abstract = True
    label = ""

    def __eq__(self, other):
        return self is other

    def __hash__(self):
        return id(self)

    def __str__(self):
        return self.label


def _point_at_user_line(exc):
    """Append the user's file:line to a make_node error (in place, keeping its type), once."""
    location = user_source_location()
    if location is None or not exc.args or not isinstance(exc.args[0], str):
        return
    if f"{location.filename}:{location.lineno}" not in exc.args[0]:
        exc.args = (f"{exc.args[0]} (at {location})",) + exc.args[1:]


class pointing_at_user_line:
    """For argument checks done outside ``make_node``: their TypeError/ValueError gets the user's line."""

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, traceback):
        if exc_type is not None and issubclass(exc_type, (TypeError, ValueError)):
            _point_at_user_line(exc)
        return False


def as_variable(value, like=None, name=None) -> Variable:
    """A Variable for ``value``: variables pass through, Python numbers become weak-typed constants.

    ``like`` is the dtype of the array a Python number meets (NumPy 2: ``float32 * 2.0`` stays float32).
    """
    if isinstance(value, Variable):
        return value
    if isinstance(value, (bool, numbers.Number)) and not isinstance(value, np.generic):
        return Constant(value, name=name, dtype=dtype_for_python_scalar(value, like))
    if isinstance(value, (np.ndarray, np.generic, list, tuple)):
        array = np.asarray(value)
        if array.dtype == object:
            raise TypeError(f"cannot turn {type(value).__name__} {value!r} into a symbolic constant "
                            "(it holds symbolic variables or mixed objects; use sg.stack for variables)")
        return Constant(array, name=name)
    raise TypeError(f"cannot use {type(value).__name__} {value!r} as a symbolic value")


def as_variables(*values) -> list[Variable]:
    """Convert a group of operands together so Python numbers take the dtype of the arrays they meet."""
    if all(isinstance(v, Variable) for v in values):
        return list(values)
    dtypes = [v.dtype for v in values if isinstance(v, Variable)]
    dtypes += [np.asarray(v).dtype.name for v in values
               if isinstance(v, (np.ndarray, np.generic))]
    like = np.result_type(*dtypes).name if dtypes else None
    return [as_variable(v, like) for v in values]


def is_op(node, name_or_class) -> bool:
    """True when ``node`` applies an op with this name (or of this class); tolerant of ``None``."""
    if node is None:
        return False
    op = node.op
    if isinstance(name_or_class, str):
        return op_name(op) == name_or_class
    return isinstance(op, name_or_class)


def op_facts(op):
    """What declares an op's facts (``nonnegative``, ``positive``, ``transcendental``): an elementwise op's
    scalar op, otherwise the op itself."""
    return getattr(op, "scalar_op", None) or op


def op_name(op) -> str:
    """The public name of an op: elementwise ops are named after their scalar op ('exp', 'add')."""
    scalar = getattr(op, "scalar_op", None)
    if scalar is not None:
        return scalar.name
    return op.name or type(op).__name__.lower()


def tensor_type(dtype, shape) -> TensorType:
    return TensorType(dtype, shape)
