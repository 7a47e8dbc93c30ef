"""symgraph: a symbol-to-symbol graph compiler. See README.md and docs/api.md.

``dir(symgraph)`` lists the API (``__all__``), the namespace ``linalg`` (linear algebra under SciPy's
names) and the submodules a user extends it through: ``ops`` (the op catalogue and the ``Op`` base class)
and ``rewrite`` (the optimizer's registry).
"""
from . import api as _api
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
