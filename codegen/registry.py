"""The one kind of dispatch table every backend uses: op class -> lowering, keyed by the class object.

A lowering is found along the op's class hierarchy (the nearest class with an entry wins, as
``functools.singledispatch`` does), so renaming an op class can never silently drop its lowering: the
lowering module names the class itself, and a misspelt or removed class is an ``ImportError`` or
``AttributeError`` at import. A backend that deliberately lacks an op says so with ``unsupported``
and a reason, which ``lookup`` reports in its error.

Example
-------
>>> from symgraph.ops.linalg import Dot
>>> table = Lowerings("example")
>>> @table.register(Dot)
... def lower_dot(node, kernel):
...     return "..."
>>> table.lookup(Dot()) is lower_dot
True
"""
from __future__ import annotations


class Lowerings:
    """A backend's table of lowerings, keyed by op class.

    Parameters
    ----------
    backend : str
        The backend's name, for error messages.
    """

    def __init__(self, backend: str):
        self.backend = backend
        self._table: dict = {}
        self._unsupported: dict = {}

    def register(self, *op_classes):
        """Decorator: the function lowers nodes of ``op_classes`` (classes, not names) and their subclasses."""
        for op_class in op_classes:
            _check_op_class(op_class)

        def decorate(function):
            for op_class in op_classes:
                if op_class in self._table:
                    raise ValueError(f"the {self.backend} backend already has a lowering for {op_class.__name__}")
                self._table[op_class] = function
            return function
        return decorate

    def unsupported(self, op_class, reason: str):
        """Record that this backend does not lower ``op_class``, and why."""
        _check_op_class(op_class)
        self._unsupported[op_class] = reason

    def find(self, op):
        """The lowering of ``op`` (an op or an op class) along its class hierarchy; None when there is none."""
        for cls in (op if isinstance(op, type) else type(op)).__mro__:
            function = self._table.get(cls)
            if function is not None:
                return function
        return None

    def lookup(self, op):
        """The lowering of ``op``; ``NotImplementedError`` naming the op (and the reason, if one was given)."""
        function = self.find(op)
        if function is not None:
            return function
        op_class = op if isinstance(op, type) else type(op)
        reason = next((self._unsupported[c] for c in op_class.__mro__ if c in self._unsupported), None)
        why = f": {reason}" if reason else ""
        raise NotImplementedError(f"the {self.backend} backend has no lowering for op {op} "
                                  f"({op_class.__name__}){why}")

    def reason_unsupported(self, op_class):
        """The recorded reason this backend does not lower ``op_class`` (or a base of it); None if none."""
        return next((self._unsupported[c] for c in op_class.__mro__ if c in self._unsupported), None)

    def get(self, op_class, default=None):
        """The lowering registered for exactly ``op_class`` (no class-hierarchy search), else ``default``."""
        return self._table.get(op_class, default)

    def __contains__(self, op_class) -> bool:
        return op_class in self._table

    def __getitem__(self, op_class):
        return self._table[op_class]

    def __delitem__(self, op_class):
        del self._table[op_class]

    def __setitem__(self, op_class, function):
        _check_op_class(op_class)
        self._table[op_class] = function

    def __iter__(self):
        return iter(self._table)

    def __len__(self) -> int:
        return len(self._table)


def _check_op_class(op_class):
    from symgraph.ops.base import Op
    if not (isinstance(op_class, type) and issubclass(op_class, Op)):
        raise TypeError(f"lowerings are registered for Op subclasses, got {op_class!r}")
