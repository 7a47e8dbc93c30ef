"""Variable's operators are defined in one visible place (symgraph/operators.py), not attached at import."""
from __future__ import annotations

import ast
import os

import numpy as np
import pytest

import symgraph as sg
from symgraph.graph import Variable
from symgraph.operators import VariableOperators

PACKAGE = os.path.dirname(sg.__file__)


def test_operators_belong_to_the_class_definition():
    for name in ("__add__", "__rmul__", "__getitem__", "__iter__", "__len__", "sum", "reshape", "T", "shape"):
        assert name in VariableOperators.__dict__, name
        assert name not in Variable.__dict__, name
    assert issubclass(Variable, VariableOperators)


def test_no_module_assigns_attributes_to_variable():
    offenders = []
    for folder, _, files in os.walk(PACKAGE):
        for file in files:
            if not file.endswith(".py"):
                continue
            path = os.path.join(folder, file)
            tree = ast.parse(open(path).read())
            for node in ast.walk(tree):
                if (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "setattr" and node.args
                        and getattr(node.args[0], "id", None) == "Variable"):
                    offenders.append(path)
                if isinstance(node, ast.Assign) and any(isinstance(t, ast.Attribute) and
                                                       getattr(t.value, "id", None) == "Variable" for t in node.targets):
                    offenders.append(path)
    assert offenders == []


def test_operators_compute_numpys_values():
    x = sg.vector("x")
    m = sg.matrix("m", shape=(2, 3))
    f = sg.function([x, m], [(x + 1) * 2 - 3 / x + x ** 2 + 2 ** x, -abs(x), (m @ m.T).sum(axis=0),
                             m.reshape(3, 2).T, ~(x > 1.5), m.size, m.shape[1]], backend="python")
    a, b = np.array([1.0, 2.0]), np.arange(6.0).reshape(2, 3)
    got = f(a, b)
    np.testing.assert_allclose(got[0], (a + 1) * 2 - 3 / a + a ** 2 + 2 ** a)
    np.testing.assert_allclose(got[1], -np.abs(a))
    np.testing.assert_allclose(got[2], (b @ b.T).sum(axis=0))
    np.testing.assert_allclose(got[3], b.reshape(3, 2).T)
    np.testing.assert_array_equal(got[4], ~(a > 1.5))
    assert int(got[5]) == 6 and int(got[6]) == 3
    assert [r.type.shape for r in m] == [(3,), (3,)] and len(m) == 2


def test_iteration_needs_a_static_first_length():
    with pytest.raises(TypeError, match="known only at call time"):
        iter(sg.vector("x"))
    with pytest.raises(TypeError, match="0-d"):
        iter(sg.scalar("s"))
