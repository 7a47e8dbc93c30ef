"""The op catalogue, one module per family; ``OP_REGISTRY`` lists every op class."""
from .base import OP_REGISTRY, Op, as_variable, is_op, op_name  # noqa: F401
from . import elemwise, reduce, shape  # noqa: F401
from . import grad_ops, index, join, linalg, nnet  # noqa: F401
