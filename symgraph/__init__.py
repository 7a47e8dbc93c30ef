"""symgraph: a symbol-to-symbol graph compiler. See README.md and docs/api.md.

``dir(symgraph)`` lists the API (``__all__``), the namespace ``linalg`` (linear algebra under SciPy's
names) and the submodules a user extends it through: ``ops`` (the op catalogue and the ``Op`` base class)
and ``rewrite`` (the optimizer's registry).
"""
import importlib.util as _importlib_util
import os as _os
import sys as _sys


class _CheckoutCodegen:
    """Finds ``symgraph.codegen`` in the source checkout this package was imported from (a meta path finder).

    ``symgraph.codegen`` is the repository's ``codegen/`` directory (pyproject.toml's package-dir), which an
    install maps. Imported from a checkout that is not the installed one (an editable install of another
    checkout, or none at all), the checkout's own ``codegen/`` is used, so its tests test its own code.
    """

    def __init__(self, directory):
        self.directory = directory

    def find_spec(self, fullname, path=None, target=None):
        if fullname != f"{__name__}.codegen":
            return None
        return _importlib_util.spec_from_file_location(
            fullname, _os.path.join(self.directory, "__init__.py"), submodule_search_locations=[self.directory])


def _find_codegen_in_checkout():
    root = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))
    directory = _os.path.join(root, "codegen")
    if not (_os.path.isfile(_os.path.join(root, "pyproject.toml"))
            and _os.path.isfile(_os.path.join(directory, "__init__.py"))):
        return                           # an installed package: the install maps symgraph.codegen
    found = _importlib_util.find_spec(f"{__name__}.codegen")
    if found is None or not found.origin or _os.path.dirname(_os.path.abspath(found.origin)) != directory:
        _sys.meta_path.insert(0, _CheckoutCodegen(directory))


_find_codegen_in_checkout()

from . import api as _api  # noqa: E402
from .api import *  # noqa: F401,F403
from .api import abs, max, min, pow, sum  # noqa: F401  (names that shadow builtins)
from .function import Function, function  # noqa: F401
from .grad import Lop, Rop, grad, hessian, hessian_vector_product, jacobian, verify_grad  # noqa: F401
from .graph import Node  # noqa: F401
from .printing import dprint, to_networkx, to_sympy  # noqa: F401
from .draw import draw  # noqa: F401
from .view import view  # noqa: F401
from .rewrite import optimize  # noqa: F401
from .rewrite.sympy_simplify import latex  # noqa: F401
from . import linalg, ops, rewrite  # noqa: F401
from . import _docstrings  # noqa: F401  (attaches the docstrings of the functions the ops define)

__version__ = "0.1.0"

__all__ = [*_api.__all__, "Node",
           "grad", "jacobian", "hessian", "hessian_vector_product", "Lop", "Rop", "verify_grad",
           "function", "Function", "optimize",
           "dprint", "to_networkx", "to_sympy", "latex", "draw", "view"]

_SUBMODULES = ("linalg", "ops", "rewrite")


def __dir__():
    return sorted([*__all__, *_SUBMODULES, "__version__"])
