"""``sg.linalg``: linear algebra under SciPy's names, each op differentiable to any order.

So far: ``svd`` and ``svdvals`` (the singular value decomposition, symgraph/ops/svd.py) and ``norm`` (the
same function as ``sg.norm``, whose matrix orders 2, -2 and 'nuc' use the singular values).
"""
from .ops.contract import norm
from .ops.svd import svd, svdvals

__all__ = ["norm", "svd", "svdvals"]
