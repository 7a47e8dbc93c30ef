"""symgraph: a symbol-to-symbol graph compiler. See README.md and API.md."""
from .api import *  # noqa: F401,F403
from .api import abs, max, min, pow, sum  # noqa: F401  (names that shadow builtins)
from .function import Function, function  # noqa: F401
from .grad import Lop, Rop, grad, hessian, hessian_vector_product, jacobian, verify_grad  # noqa: F401
from .graph import Constant, Node, SharedVariable, Variable  # noqa: F401
from .printing import dprint, to_networkx, to_sympy  # noqa: F401
from .draw import draw  # noqa: F401
from .rewrite import optimize  # noqa: F401
from .rewrite.sympy_simplify import latex  # noqa: F401
from .types import TensorType  # noqa: F401

__version__ = "0.1.0"
