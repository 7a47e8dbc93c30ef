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


def test_every_scalar_op_declares_its_formula_and_no_backend_restates_one():
    """Each scalar op says how it is computed, in its class (``formula`` or ``math_function``); the
    backends keep no table of scalar ops of their own, only a dialect (how a formula is written)."""
    import ast
    import pathlib

    import symgraph.codegen as codegen
    from symgraph.ops.elemwise import SCALAR_OPS
    assert len(SCALAR_OPS) >= 35
    for cls in SCALAR_OPS.values():
        assert cls.has_formula(), cls.__name__
    # No module of codegen/ names a scalar op's formula by its op name in a table (a dict literal
    # with "sigmoid" or "tanh" keys) or defines a template function for one.
    root = pathlib.Path(codegen.__file__).parent
    for path in root.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Dict):
                keys = {k.value for k in node.keys if isinstance(k, ast.Constant)}
                assert not keys & {"sigmoid", "softplus", "relu", "tanh", "exp"}, path
            if isinstance(node, ast.FunctionDef):
                assert node.name.strip("_") not in {"sigmoid", "softplus", "relu", "sign"}, (path, node.name)
