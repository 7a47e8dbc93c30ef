"""Lowering of the matrix spectral ops of symgraph/ops/spectral.py (numba backend): one call per matrix of the
stack to a cached helper of lapack_spectral.py around the LAPACK routine NumPy uses; a matrix holding inf or NaN
(or, for eigh and eigvalsh, not square when the lengths are known only at call time) raises
``numpy.linalg.LinAlgError`` naming the op, as the python backend does."""
from __future__ import annotations

from symgraph.ops.spectral import QR, Eigh, Eigvalsh, Pinv

from .kernel import register


def _per_matrix(node, kernel, shapes, helper):
    """Allocate the outputs (``shapes``: code for each length), loop over the stack calling
    ``rt.helper(matrix, *output matrices)``, check its status and bind the outputs."""
    (a,), outputs = node.inputs, node.outputs
    batch = kernel.dims(a)[:-2]
    names = [kernel.let(kernel.new_array(shape, out.dtype), "v") for shape, out in zip(shapes, outputs)]
    for axis, length in enumerate(batch):
        kernel.emit(kernel.loop(f"i{axis}", length))
        kernel.depth += 1
    index = "".join(f"i{axis}, " for axis in range(len(batch)))
    source = kernel.code(a)
    matrices = [f"{name}[{index}...]" if batch else name for name in names]
    matrix = f"{source}[{index}...]" if batch else source
    finite = kernel.let(f"{kernel.runtime()}.{helper}({matrix}, {', '.join(matrices)})", "ok")
    kernel.check(f"not {finite}", f"{node.op}: the matrix holds inf or NaN", exception="np.linalg.LinAlgError")
    kernel.depth -= len(batch)
    for name, shape, out in zip(names, shapes, outputs):
        kernel.bind(out, name, shape, contiguous=True, owned=True)


def _square(node, kernel):
    """The batch lengths and the side of ``node``'s square input (checked when not known statically)."""
    (a,) = node.inputs
    dims = kernel.dims(a)
    m, n = dims[-2:]
    if a.type.shape[-1] is None or a.type.shape[-2] is None:
        kernel.check(f"{m} != {n}", f"{node.op}: last 2 dimensions of the array must be square",
                     exception="np.linalg.LinAlgError")
    return dims[:-2], m


@register(Eigh)
def lower_eigh(node, kernel):
    batch, n = _square(node, kernel)
    _per_matrix(node, kernel, [batch + [n], batch + [n, n]], "eigh_matrix")


@register(Eigvalsh)
def lower_eigvalsh(node, kernel):
    batch, n = _square(node, kernel)
    _per_matrix(node, kernel, [batch + [n]], "eigvalsh_matrix")


@register(QR)
def lower_qr(node, kernel):
    dims = kernel.dims(node.inputs[0])
    batch, (m, n) = dims[:-2], dims[-2:]
    k = kernel.let(f"{m} if {m} < {n} else {n}", "k")
    _per_matrix(node, kernel, [batch + [m, k], batch + [k, n]], "qr_matrix")


@register(Pinv)
def lower_pinv(node, kernel):
    dims = kernel.dims(node.inputs[0])
    batch, (m, n) = dims[:-2], dims[-2:]
    _per_matrix(node, kernel, [batch + [n, m]], "pinv_matrix")
