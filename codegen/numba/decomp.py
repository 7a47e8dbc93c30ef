"""Lowering of the matrix decompositions of symgraph/ops/svd.py: one call per matrix of the stack to a
cached helper (runtime.py) around LAPACK's gesdd, as NumPy uses; a matrix holding inf or NaN raises
``numpy.linalg.LinAlgError`` naming the op, as the python backend does."""
from __future__ import annotations

from symgraph.ops.svd import SVD

from .kernel import register


@register(SVD)
def lower_svd(node, kernel):
    (a,), outputs = node.inputs, node.outputs
    dims, source = kernel.dims(a), kernel.code(a)
    batch, (m, n) = dims[:-2], dims[-2:]
    k = kernel.let(f"{m} if {m} < {n} else {n}", "k")
    if node.op.compute_uv:
        u_cols, vh_rows = (m, n) if node.op.full_matrices else (k, k)
        shapes = [batch + [m, u_cols], batch + [k], batch + [vh_rows, n]]
    else:
        shapes = [batch + [k]]
    names = [kernel.let(kernel.new_array(shape, out.dtype), "v") for shape, out in zip(shapes, outputs)]
    for axis, length in enumerate(batch):
        kernel.emit(kernel.loop(f"i{axis}", length))
        kernel.depth += 1
    index = "".join(f"i{axis}, " for axis in range(len(batch)))
    matrices = [f"{name}[{index}...]" if batch else name for name in names]
    matrix = f"{source}[{index}...]" if batch else source
    if node.op.compute_uv:
        call = f"{kernel.runtime()}.svd_matrix({matrix}, {', '.join(matrices)}, {bool(node.op.full_matrices)})"
    else:
        call = f"{kernel.runtime()}.svd_values({matrix}, {matrices[0]})"
    finite = kernel.let(call, "ok")
    kernel.check(f"not {finite}", f"{node.op}: SVD did not converge: the matrix holds inf or NaN",
                 exception="np.linalg.LinAlgError")
    kernel.depth -= len(batch)
    for name, shape, out in zip(names, shapes, outputs):
        kernel.bind(out, name, shape, contiguous=True, owned=True)
