"""One class-keyed dispatch for every backend: every op class has a lowering in every backend that
claims it (or an explicit, explained "not supported here"), and a table cannot be keyed by a name."""
from __future__ import annotations

import os

import pytest

from symgraph.codegen.registry import Lowerings
from symgraph.ops.base import OP_REGISTRY, Op
from symgraph.ops.linalg import Dot


def _tables():
    from symgraph.codegen.cuda.lower import load_lowerings
    from symgraph.codegen.cuda.table import LOWERINGS as cuda
    from symgraph.codegen.numba.lower import LOWERINGS as numba, _ensure_lowerings_loaded
    _ensure_lowerings_loaded()
    load_lowerings()
    return {"numba": numba, "cuda": cuda}


def _op_classes():
    """Every concrete op class the package defines: the registry plus every Op subclass in symgraph.ops."""
    import importlib
    import pkgutil

    import symgraph.ops
    for info in pkgutil.iter_modules(symgraph.ops.__path__):
        importlib.import_module(f"symgraph.ops.{info.name}")
    classes, pending = set(OP_REGISTRY.values()), [Op]
    while pending:
        cls = pending.pop()
        for sub in cls.__subclasses__():
            pending.append(sub)
            if sub.__module__.startswith("symgraph.ops") and not sub.__dict__.get("abstract", False):
                classes.add(sub)
    return sorted(classes, key=lambda c: (c.__module__, c.__name__))


@pytest.mark.parametrize("backend", ["numba", "cuda"])
def test_every_op_class_has_a_lowering_or_a_stated_reason(backend):
    table = _tables()[backend]
    silent = [cls.__name__ for cls in _op_classes()
              if table.find(cls) is None and not table.reason_unsupported(cls)]
    assert silent == [], f"{backend}: op classes with neither a lowering nor a reason: {silent}"


def test_python_backend_runs_every_op_through_its_perform():
    missing = [cls.__name__ for cls in OP_REGISTRY.values() if getattr(cls, "perform", None) is Op.perform]
    assert missing == []


def test_tables_are_keyed_by_class_objects():
    table = Lowerings("test")
    with pytest.raises(TypeError, match="Op subclasses"):
        table.register("Dot")
    with pytest.raises(TypeError, match="Op subclasses"):
        table.register(int)

    @table.register(Dot)
    def lower_dot(node, kernel):
        return None

    with pytest.raises(ValueError, match="already has a lowering for Dot"):
        table.register(Dot)(lower_dot)

    class RenamedDot(Dot):      # a subclass (or a renamed class) still finds its lowering by identity
        pass

    assert table.lookup(RenamedDot()) is lower_dot and table.find(Op) is None
    table.unsupported(Op, "explained here")
    with pytest.raises(NotImplementedError, match="no lowering for op .*explained here"):
        table.lookup(Op)


def test_lowering_modules_name_classes_not_strings():
    root = os.path.join(os.path.dirname(__file__), "..", "..", "codegen")
    offenders = []
    for folder, _, files in os.walk(root):
        for name in files:
            if name.endswith(".py"):
                with open(os.path.join(folder, name)) as stream:
                    if "@register(\"" in stream.read():
                        offenders.append(name)
    assert offenders == []


def test_every_scalar_op_renders_on_both_backends_and_none_is_restated():
    """A scalar op that declares the NumPy/math function it is has no entry in either backend's table;
    every other scalar op has its template in both."""
    from symgraph.codegen.cuda import elemwise as cuda_elemwise
    from symgraph.codegen.numba import scalar as numba_scalar
    from symgraph.ops.elemwise import SCALAR_OPS
    ops = [cls.__new__(cls) for cls in SCALAR_OPS.values()]
    structural = {"cast", "where", "lt", "le", "gt", "ge", "eq", "ne", "and", "or", "not"}  # numba: in-line
    for op in ops:
        assert cuda_elemwise.template_for(op) is not None, op.name
        if op.name not in structural:
            assert numba_scalar.template_for(op) is not None, op.name
        if op.math_function:
            assert op.name not in numba_scalar.SCALAR_LOWERINGS and op.name not in cuda_elemwise.SCALAR_TEMPLATES
    assert sum(1 for op in ops if op.math_function) >= 9
