"""The public namespace and its documentation: ``dir(sg)``, docstrings, docs/api.md, the examples in them."""
import inspect
import types

import symgraph as sg
import symgraph.api


INTERNAL_API_HELPERS = {"as_variable", "as_variables"}


def test_dir_lists_the_api_and_the_submodules_users_extend_through():
    names = dir(sg)
    for leaked in ("ew", "red", "shp", "np", "annotations", "api", "as_variable"):
        assert leaked not in names
    assert {"function", "grad", "vector", "shared", "where", "softmax", "ops", "rewrite"} <= set(names)
    assert set(sg.__all__) <= set(names)
    assert [n for n in names if isinstance(getattr(sg, n), types.ModuleType)] == ["ops", "rewrite"]


def test_all_names_exist_once_and_star_import_gives_exactly_them():
    assert len(sg.__all__) == len(set(sg.__all__))
    namespace = {}
    exec("from symgraph import *", namespace)
    assert set(namespace) - {"__builtins__"} == set(sg.__all__)
    assert not hasattr(sg, "ew") and not hasattr(sg, "np") and not hasattr(sg, "annotations")


def test_every_public_function_of_api_py_is_exported():
    # A function added to symgraph/api.py without listing it in its __all__ would silently vanish from sg.
    defined_here = {name for name, value in vars(symgraph.api).items()
                    if not name.startswith("_") and not isinstance(value, types.ModuleType)
                    and (inspect.isfunction(value) or inspect.isclass(value))
                    and getattr(value, "__module__", "").startswith("symgraph")}
    assert defined_here - INTERNAL_API_HELPERS - set(symgraph.api.__all__) == set()
