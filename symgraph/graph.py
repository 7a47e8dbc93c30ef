"""The graph IR: variables, the nodes that apply an op to them, constants and shared state.

A ``Variable`` is a typed value in the graph; its ``owner`` is the ``Node`` that
computes it (``None`` for inputs, constants and shared variables). A ``Node``
applies an op to input variables and owns its output variables, and remembers
where the user built it so every later error can point at that line. This
module knows nothing of particular ops, rewrites or backends; traversals are
iterative so a 100,000-node chain does not hit Python's recursion limit.
"""
from __future__ import annotations

import hashlib
import os
import sys
import threading
from dataclasses import dataclass

import numpy as np

from .operators import VariableOperators
from .types import TensorType, checked_cast

_PACKAGE_DIRS = tuple(
    os.path.dirname(os.path.abspath(p)) + os.sep
    for p in (__file__, os.path.join(os.path.dirname(__file__), "..", "codegen", "__init__.py"))
)


@dataclass(frozen=True)
class SourceLocation:
    """Where the user built a node: the first frame outside symgraph's own packages."""
    filename: str
    lineno: int
    function: str

    def __str__(self):
        return f"{self.filename}:{self.lineno} (in {self.function})"


_inside_package: dict[str, bool] = {}


def user_source_location() -> SourceLocation | None:
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        inside = _inside_package.get(filename)
        if inside is None:
            inside = _inside_package[filename] = os.path.abspath(filename).startswith(_PACKAGE_DIRS)
        # A user-defined op's make_node is op code, not where the user applied the op.
        if not inside and frame.f_code.co_name != "make_node":
            return SourceLocation(filename, frame.f_lineno, frame.f_code.co_name)
        frame = frame.f_back
    return None


# Rewrites set this so nodes they build inherit the location of the node they replace.
_location_override = threading.local()
# sg.grad sets ``nodes`` to a list while it builds, so the nodes it made can be told apart (sg.view).
_created_nodes = threading.local()


class inherit_source:
    """Context manager: nodes built inside carry ``sources`` instead of the current user line."""

    def __init__(self, sources):
        self.sources = tuple(s for s in sources if s is not None)

    def __enter__(self):
        self.previous = getattr(_location_override, "sources", None)
        _location_override.sources = self.sources
        return self

    def __exit__(self, *exc):
        _location_override.sources = self.previous


class Variable(VariableOperators):
    """A typed symbolic value: an input, a constant, shared state, or the output of a node.

    Users make variables with ``sg.scalar``/``vector``/``matrix``/``tensor``, ``sg.constant``
    and ``sg.shared``, and by applying operations. Variables support NumPy's operators
    (``+ - * / ** @``, comparisons, ``&``, ``|``, ``~``, indexing and slicing) and the methods
    ``.sum() .mean() .max() .min() .prod() .reshape() .transpose() .astype() .dot()``, plus
    ``.T``, ``.shape`` (a tuple of 0-d int64 variables) and ``.size`` (wired in ``symgraph.api``).

    Parameters
    ----------
    type : TensorType
        The dtype and static shape.
    owner : Node, optional
        The node that computes the variable (``None`` for inputs, constants and shared variables).
    index : int, default 0
        Which output of ``owner`` it is.
    name : str, optional
        The name used in messages, printed graphs and keyword calls.

    Attributes
    ----------
    dtype : str
        The NumPy dtype name (``"float64"``).
    ndim : int
        The number of dimensions.

    Examples
    --------
    >>> x = sg.vector("x")
    >>> y = (x * 2).sum()
    >>> y.ndim, y.dtype, y.owner.op.name
    (0, 'float64', 'sum')
    >>> x[1:].type.shape, x.name
    ((None,), 'x')
    """

    # ``_evaluations``: the functions ``eval`` compiled for this variable, by the inputs it was given
    __slots__ = ("type", "owner", "index", "name", "_evaluations", "__weakref__")
    # Keep NumPy from treating variables as array-likes in ``ndarray + Variable``.
    __array_priority__ = 1000
    __array_ufunc__ = None

    def __init__(self, type: TensorType, owner: "Node | None" = None, index: int = 0, name: str | None = None):
        self.type = type
        self.owner = owner
        self.index = index
        self.name = name

    def __getstate__(self):
        # Every slot but the functions ``eval`` compiled, which stay with this process.
        slots = {}
        for cls in type(self).__mro__:
            for name in getattr(cls, "__slots__", ()):
                if name not in ("__weakref__", "_evaluations") and hasattr(self, name):
                    slots[name] = getattr(self, name)
        return None, slots

    @property
    def dtype(self) -> str:
        return self.type.dtype

    @property
    def ndim(self) -> int:
        return self.type.ndim

    @property
    def static_shape(self) -> tuple:
        return self.type.shape

    def describe(self) -> str:
        """A short human label: the name, or the op that built it, with the type."""
        if self.name:
            label = self.name
        elif self.owner is not None:
            label = f"output of {self.owner.op}"
        else:
            label = type(self).__name__.lower()
        return f"'{label}' ({self.type})" if self.name else f"{label} ({self.type})"

    def __repr__(self):
        if self.name:
            return f"{self.name}:{self.type}"
        if self.owner is not None:
            return f"{self.owner.op}(...):{self.type}"
        return f"<{type(self).__name__} {self.type}>"

    def __bool__(self):
        raise TypeError(
            f"the truth value of symbolic variable {self.describe()} is unknown until the function runs; "
            "use sg.where(cond, a, b) instead of 'if' or 'and'/'or'")

    def __reduce_ex__(self, protocol):
        # A computed variable is pickled as the list of the nodes computing it, in topological
        # order: each node's inputs are then already in the pickle memo, so a 100,000-node chain
        # does not recurse, and variables pickled together share their nodes.
        if self.owner is None:
            return super().__reduce_ex__(protocol)
        return (_output_of, (_ShallowNodes(toposort([self])), self.index))


class Constant(Variable):
    """A value fixed when the graph is built (made by ``sg.constant`` or by mixing numbers into expressions).

    Parameters
    ----------
    value : number or array_like
        The value, copied into the read-only NumPy array ``.value``.
    name : str, optional
        The name shown in printed graphs.
    dtype : str or numpy.dtype, optional
        The dtype (default: NumPy's for ``value``).

    Examples
    --------
    >>> c = sg.Constant([1.0, 2.0], name="c")
    >>> c.value, c.type.shape
    (array([1., 2.]), (2,))
    >>> isinstance((sg.vector("x") + 1).owner.inputs[1], sg.Constant)
    True
    """

    __slots__ = ("value", "_signature")

    def __init__(self, value, name=None, dtype=None):
        array = np.array(value, dtype=dtype)
        if not array.dtype.isnative:       # big-endian data: native order, as NumPy's ufuncs compute
            array = array.astype(array.dtype.newbyteorder("="))
        array.setflags(write=False)
        super().__init__(TensorType(array.dtype, array.shape), None, 0, name)
        self.value = array
        self._signature = None

    def signature(self):
        """Structural identity: equal constants (dtype, shape, bytes) have equal signatures."""
        if self._signature is None:
            data = np.ascontiguousarray(self.value).tobytes()
            digest = data if len(data) <= 64 else hashlib.sha1(data).digest()
            self._signature = (self.type.dtype, self.type.shape, digest)
        return self._signature

    def __setstate__(self, state):
        _, slots = state
        for key, value in slots.items():
            setattr(self, key, value)
        self.value.setflags(write=False)

    def __repr__(self):
        if self.value.size <= 6:
            text = np.array2string(self.value, separator=", ")
            return f"{text}:{self.type}" if self.ndim else f"{self.value.item()!r}:{self.type}"
        return f"<Constant {self.type}>"


class SharedVariable(Variable):
    """State that lives between calls of compiled functions (model parameters, counters); see ``sg.shared``.

    ``get_value()`` returns a copy (``borrow=True``: the array itself); ``set_value(array)``
    replaces the value after checking its ndim and static lengths and casting the dtype (a cast
    that loses information is a ``TypeError``). Backends may keep the value elsewhere (a GPU)
    through ``device_copies``; the NumPy value is then fetched on demand.

    Parameters
    ----------
    value : number or array_like
        The initial value (copied).
    name : str, optional
        The name used in messages and printed graphs.
    dtype : str or numpy.dtype, optional
        The dtype (default: NumPy's for ``value``).
    shape : tuple of (int or None), optional
        The static shape (default: every length may change).

    Examples
    --------
    >>> w = sg.SharedVariable(np.zeros(2), name="w")
    >>> w.set_value([1.0, 2.0])
    >>> w.get_value()
    array([1., 2.])
    """

    __slots__ = ("_value", "_lock", "device_copies")

    def __init__(self, value, name=None, dtype=None, shape=None):
        label = f"shared variable {name!r}" if name else "a shared variable"
        array = checked_cast(value, dtype, label, exact_kinds=False)
        if isinstance(value, np.ndarray) and np.may_share_memory(array, value) or not array.flags.writeable:
            array = array.copy()
        static = tuple(shape) if shape is not None else (None,) * array.ndim
        super().__init__(TensorType(array.dtype, static), None, 0, name)
        if not self.type.accepts_shape(array.shape):
            raise ValueError(f"shared variable {self.describe()}: value of shape {array.shape} "
                             f"does not fit static shape {static}")
        self._value = array
        self._lock = threading.RLock()
        # Backend name -> object holding a device copy; invalidated when the host value changes.
        self.device_copies = {}

    def get_value(self, borrow=False):
        with self._lock:
            for holder in self.device_copies.values():
                holder.sync_to_host(self)
            return self._value if borrow else self._value.copy()

    def set_value(self, value, borrow=False):
        """Replace the value (checked as a function input is: ndim, static shape, dtype, range).

        With ``borrow=True`` a writable native array of the right dtype is kept without a copy;
        anything else (a read-only array, another dtype or byte order) is copied.
        """
        array = self.checked_value(value)
        if not borrow or not array.flags.writeable:   # the kernels are typed for writable arrays
            array = np.array(array, copy=True)
        with self._lock:
            self._value = array
            for holder in self.device_copies.values():
                holder.invalidate(self)

    def checked_value(self, value) -> np.ndarray:
        """``value`` as an array this variable can hold, or a TypeError/ValueError naming it."""
        array = checked_cast(value, self.dtype, f"shared variable {self.describe()}")
        if array.ndim != self.ndim:
            raise ValueError(f"shared variable {self.describe()}: expected a {self.ndim}-d value, "
                             f"got shape {array.shape}")
        if not self.type.accepts_shape(array.shape):
            raise ValueError(f"shared variable {self.describe()}: value of shape {array.shape} "
                             f"does not fit static shape {self.type.shape}")
        return array

    # Backends call these: the host value without a device sync, and a raw replace.
    def _host_value(self):
        return self._value

    def _replace_host_value(self, array):
        self._value = array

    # Pickled with its current value (synced from any device); the lock and device copies are per process.
    def __getstate__(self):
        return {"type": self.type, "name": self.name, "value": self.get_value()}

    def __setstate__(self, state):
        Variable.__init__(self, state["type"], None, 0, state["name"])
        self._value = state["value"]
        self._lock = threading.RLock()
        self.device_copies = {}


class Node:
    """An op applied to input variables; owns its output variables and the user's source locations.

    Nodes are made by applying ops (``sg.exp(x)`` makes one); ``variable.owner`` is the node that
    computes a variable.

    Parameters
    ----------
    op : Op
        The operation.
    inputs : list of Variable
        Its operands.
    output_types : list of TensorType
        The types of the outputs it creates.
    sources : tuple of SourceLocation, optional
        Where the user built it (default: the calling user frame).

    Attributes
    ----------
    outputs : list of Variable
        The variables it computes (``op`` and ``inputs`` are kept as given).

    Examples
    --------
    >>> x = sg.vector("x")
    >>> node = sg.exp(x).owner
    >>> node.op.name, node.inputs[0] is x, len(node.outputs)
    ('exp', True, 1)
    """

    __slots__ = ("op", "inputs", "outputs", "sources", "__weakref__")

    def __init__(self, op, inputs, output_types, sources=None):
        self.op = op
        self.inputs = list(inputs)
        self.outputs = [Variable(t, self, i) for i, t in enumerate(output_types)]
        if sources is None:
            sources = getattr(_location_override, "sources", None)
            if sources is None:
                location = user_source_location()
                sources = (location,) if location else ()
        self.sources = tuple(sources)
        collector = getattr(_created_nodes, "nodes", None)
        if collector is not None:
            collector.append(self)

    @property
    def source(self) -> SourceLocation | None:
        return self.sources[0] if self.sources else None

    def where(self) -> str:
        """' (built at file:line)' for messages, or '' when unknown."""
        if not self.sources:
            return ""
        shown = ", ".join(str(s) for s in self.sources[:3])
        more = f" and {len(self.sources) - 3} more" if len(self.sources) > 3 else ""
        return f" (built at {shown}{more})"

    def signature(self):
        """Structural identity used for merging: same op, same input variables."""
        return (self.op, tuple(id(v) for v in self.inputs))

    def __repr__(self):
        return f"Node({self.op}, inputs={self.inputs})"

    def __reduce_ex__(self, protocol):
        # Inputs computed by other nodes are stored as (node, output index). Inside a topological
        # list (_ShallowNodes) those nodes are already in the pickle memo; a node pickled on its
        # own first emits the list of the nodes it depends on, so a deep graph never recurses.
        inputs = [var if var.owner is None else (var.owner, var.index) for var in self.inputs]
        record = (self.op, inputs, [v.type for v in self.outputs], [v.name for v in self.outputs], self.sources)
        if getattr(_pickling, "shallow", 0):
            return (_rebuild_node, record)
        return (_rebuild_node_after, (_ShallowNodes(toposort(self.inputs)), *record))


def toposort(outputs, stop_at=()) -> list[Node]:
    """Nodes computing ``outputs``, each after the nodes computing its inputs (iterative DFS)."""
    stop = {id(v) for v in stop_at}
    order, done, on_stack = [], set(), set()
    for root in outputs:
        if root.owner is None or id(root) in stop:
            continue
        stack = [(root.owner, 0)]
        while stack:
            node, i = stack.pop()
            if i == 0:
                if id(node) in done:
                    continue
                on_stack.add(id(node))
            if i < len(node.inputs):
                stack.append((node, i + 1))
                var = node.inputs[i]
                owner = var.owner
                if owner is not None and id(var) not in stop and id(owner) not in done:
                    if id(owner) in on_stack:
                        raise ValueError(f"the graph has a cycle through {owner.op}{owner.where()}")
                    stack.append((owner, 0))
            else:
                on_stack.discard(id(node))
                if id(node) not in done:
                    done.add(id(node))
                    order.append(node)
    return order


def ancestors(outputs, stop_at=()) -> list[Variable]:
    """Every variable ``outputs`` depend on (themselves included), inputs before consumers."""
    seen, result = set(), []
    for node in toposort(outputs, stop_at):
        for var in node.inputs:
            if id(var) not in seen:
                seen.add(id(var))
                result.append(var)
        for var in node.outputs:
            if id(var) not in seen:
                seen.add(id(var))
                result.append(var)
    for var in outputs:
        if id(var) not in seen:
            seen.add(id(var))
            result.append(var)
    return result


def graph_inputs(outputs) -> list[Variable]:
    """Variables with no owner (inputs, constants, shared) that ``outputs`` depend on."""
    return [v for v in ancestors(outputs) if v.owner is None]


def count_nodes(outputs) -> int:
    return len(toposort(list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]))


# ---------------------------------------------------------------- pickling

def graph_to_table(variables):
    """A flat, picklable description of the graph computing ``variables`` (iterative, no recursion).

    Leaves (inputs, constants, shared variables) stay objects, so the pickle memo keeps them
    shared with anything else pickled alongside; each node is a record
    ``(op, input_refs, output_types, output_names, sources)`` where a ref is ``("leaf", i)`` or
    ``(node_index, output_index)``.
    """
    nodes = toposort(variables)
    node_index = {id(node): i for i, node in enumerate(nodes)}
    leaves, leaf_index = [], {}

    def ref(var):
        if var.owner is not None:
            return (node_index[id(var.owner)], var.index)
        if id(var) not in leaf_index:
            leaf_index[id(var)] = len(leaves)
            leaves.append(var)
        return ("leaf", leaf_index[id(var)])

    records = [(node.op, [ref(v) for v in node.inputs], [v.type for v in node.outputs],
                [v.name for v in node.outputs], node.sources) for node in nodes]
    return leaves, records, [ref(v) for v in variables]


def table_to_graph(table):
    """The variables described by ``graph_to_table``'s result, as a freshly built graph."""
    leaves, records, roots = table
    built = []

    def lookup(ref):
        return leaves[ref[1]] if ref[0] == "leaf" else built[ref[0]].outputs[ref[1]]

    for op, input_refs, output_types, output_names, sources in records:
        node = Node(op, [lookup(r) for r in input_refs], output_types, sources=sources)
        for var, name in zip(node.outputs, output_names):
            var.name = name
        built.append(node)
    return [lookup(r) for r in roots]


_pickling = threading.local()


class _ShallowNodes:
    """Pickles as a plain list of nodes in topological order, each node in its shallow form."""

    __slots__ = ("nodes",)

    def __init__(self, nodes):
        self.nodes = nodes

    def __reduce_ex__(self, protocol):
        # The items come from an iterator pickled after the list is memoized: while it runs, nodes
        # pickle shallowly, referring to earlier nodes through the memo.
        return (list, (), None, _shallow_items(self.nodes))


def _shallow_items(nodes):
    _pickling.shallow = getattr(_pickling, "shallow", 0) + 1
    try:
        yield from nodes
    finally:
        _pickling.shallow -= 1


def _output_of(nodes, index):
    return nodes[-1].outputs[index]


def _rebuild_node_after(predecessors, op, inputs, output_types, output_names, sources):
    return _rebuild_node(op, inputs, output_types, output_names, sources)


def _rebuild_node(op, inputs, output_types, output_names, sources):
    inputs = [ref if isinstance(ref, Variable) else ref[0].outputs[ref[1]] for ref in inputs]
    node = Node(op, inputs, output_types, sources=sources)
    for var, name in zip(node.outputs, output_names):
        var.name = name
    return node
