"""Lower an optimized ``Program`` to one generated Python module whose single ``@njit`` function runs the call.

The driver: ``generate`` binds the parameters and constants, lowers every node through the table of
``kernel.py`` (each op family's module registers its lowerings there; all are imported here), collects
the outputs, and writes the module. Array constants are kernel arguments and source locations stay out
of the source, so equal graphs give equal source and the on-disk cache can key on it. No user text is
ever written into the source: parameters are ``in0``/``sh0`` whatever the variables are called
(``KernelModule.legend`` maps them back), and the module passes ``codegen/guard.py`` before it is
compiled. Scalar constants stand once each at module level (``lit3 = np.float32(0.01)``, written with
``repr``: ``hoist_literals``), and a parameter's length read several times is read once
(``hoist_parameter_lengths``): Numba compiles each call and attribute read where it stands, so both
shorten a kernel's compile (W7: ~0.2 s of ~1.9 s) without changing a bit of what it computes.
"""
from __future__ import annotations

import functools
import re

import numpy as np

from symgraph.graph import Constant, toposort
from symgraph.ops.ifelse import lazy_branches

# Each op family's module registers its lowerings in kernel.LOWERINGS when imported.
from . import (branch, conv, decomp, draws, elemwise, factor, index, join, linalg, loop, nnet, reduce,  # noqa: F401
               shape, sort, spectral)
from .kernel import (INT64_MAX, LOWERINGS, PARALLEL_MAX_LINES, PARALLEL_MIN_SIZE,  # noqa: F401
                     PARALLEL_MIN_SIZE_WITH_BLAS, Check, KernelModule, KernelWriter, Value, array_type, cast_code,
                     comment_text, dtype_code, literal, lowering_for, numba_type, register)
from .linalg import emit_inplace_decisions, emit_inplace_writes, find_inplace_updates
from .split import SPLIT_LINES, split_body



def _ensure_lowerings_loaded():
    """Every lowering module is imported (at this module's import); kept for callers that ask for it."""


#: dtypes Numba computes with on the CPU (it has no float16 arithmetic or conversion at all)
NUMBA_DTYPES = frozenset(("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                          "float32", "float64"))


def refuse_unsupported_dtypes(program):
    """Raise TypeError, at ``sg.function`` time, for a variable of a dtype Numba cannot compute with (float16),
    naming it, and the op and user line that built it when it is an intermediate."""
    nodes = toposort(program.outputs)
    candidates = list(program.inputs) + list(program.shared) + [v for node in nodes for v in node.outputs]
    for var in candidates + [v for node in nodes for v in node.inputs] + list(program.outputs):
        if var.dtype in NUMBA_DTYPES:
            continue
        if var.owner is not None:
            what = f"the {var.type} value computed by {var.owner.op}{var.owner.where()}"
        else:
            role = "input" if any(var is v for v in program.inputs) else (
                "shared variable" if any(var is v for v in program.shared) else "constant")
            what = f"{role} {var.describe()}"
        target = "float32" if var.dtype == "float16" else "a numeric dtype"
        raise TypeError(f"backend='numba' does not support dtype {var.dtype!r}: {what} has it (Numba has no "
                        f"{var.dtype} arithmetic on the CPU). Cast it to {target} with "
                        "sg.cast, or use backend='python' or backend='cuda'")


def generate(program, parallel=True, parallel_min_size=PARALLEL_MIN_SIZE) -> KernelModule:
    """The generated module for ``program`` (deterministic for equal graphs)."""
    refuse_unsupported_dtypes(program)
    kernel = KernelWriter(parallel=parallel, parallel_min_size=parallel_min_size)
    kernel.program = program
    if program.options.get("vector_math", True):    # vmath.py; False: libm
        kernel.vector_math = kernel.vector_math_module
    signature = _Signature()
    _bind_parameters(program, kernel, signature)
    nodes = toposort(program.outputs)
    _check_dtypes(program, nodes)
    _bind_constants(program, nodes, kernel, signature)
    # Updates `shared -/+ c * dot(a, b)` are accumulated into the shared array by one gemm (beta=1) at the
    # very end, after every check and output copy, so a call that raises leaves all state unchanged.
    inplace = find_inplace_updates(program, nodes) if program.options.get("inplace", True) else []
    _lower_nodes(nodes, inplace, kernel)
    emit_inplace_decisions(kernel, inplace)
    for name, array in kernel.array_arguments:  # after the constants: the entry passes both in this order
        if isinstance(array, list):
            array = np.ascontiguousarray(np.concatenate(array))
        signature.add(name, ("constant", array), array_type(array.dtype, array.ndim))
    output_scalar, packs = _return_outputs(program, kernel, inplace)
    if kernel.uses_prange and len(kernel.lines) > PARALLEL_MAX_LINES:
        # Numba's parfor passes work on the whole function and grow superlinearly with its length.
        return generate(program, parallel=False)
    if kernel.uses_prange and parallel_min_size < PARALLEL_MIN_SIZE_WITH_BLAS and _calls_blas(kernel):
        return generate(program, parallel=parallel, parallel_min_size=PARALLEL_MIN_SIZE_WITH_BLAS)
    structure, constants = _structure(program)
    dtypes = ",".join(v.dtype for v in list(program.inputs) + list(program.shared) + list(program.outputs))
    return KernelModule(_module_source(kernel, signature), "kernel", signature.arguments, signature.types,
                        output_scalar, kernel.checks, kernel.uses_prange, structure, dtypes,
                        legend=_legend(program), constants=constants, callbacks=list(kernel.callbacks),
                        packs=packs)


@functools.lru_cache(maxsize=None)
def _blas_helpers() -> frozenset:
    """The names (in ``linked.py``) of the helpers that call BLAS or LAPACK."""
    from numba.core.registry import CPUDispatcher
    from . import blas, lapack_factor, lapack_spectral
    return frozenset(name.removesuffix("_call") for module in (blas, lapack_factor, lapack_spectral)
                     for name, helper in vars(module).items()
                     if isinstance(helper, CPUDispatcher) and not name.startswith("_"))


def _calls_blas(kernel) -> bool:
    """Whether the kernel's lines (or its scan steps') call a BLAS or LAPACK helper."""
    names = _blas_helpers()
    lines = kernel.lines + [line for source in kernel.functions for line in source.splitlines()]
    return any(match in names for line in lines for match in re.findall(r"\brt\.(\w+)\(", line))


class _Signature:
    """The kernel's parameters, in order: their names, what the entry passes for each, their Numba types."""

    def __init__(self):
        self.parameters, self.arguments, self.types = [], [], []

    def add(self, name, argument, numba_type_source):
        self.parameters.append(name)
        self.arguments.append(argument)
        self.types.append(numba_type_source)

    def count(self, kind) -> int:
        return sum(1 for argument in self.arguments if argument[0] == kind)


def _bind_parameters(program, kernel, signature):
    """Inputs and shared variables become parameters ``in0...``, ``sh0...``, with their static lengths
    checked. Parameters are named by position only: a variable's name is user text (it stays out of the
    source and so out of the cache key; ``KernelModule.legend`` maps parameters back to variables)."""
    for prefix, kind, variables in (("in", "input", program.inputs), ("sh", "shared", program.shared)):
        for i, var in enumerate(variables):
            name = f"{prefix}{i}"
            signature.add(name, (kind, i), array_type(var.dtype, var.ndim))
            kernel.bind(var, name, contiguous=var.ndim > 0, owned=False)
            for axis, n in enumerate(var.type.shape):
                if n is not None:
                    kernel.check(f"{name}.shape[{axis}] != {n}",
                                 f"{var.describe()} has static length {n} on axis {axis}")


def _bind_constants(program, nodes, kernel, signature):
    """0-d constants become typed literals; array constants become kernel arguments ``const0...`` (the
    source stays deterministic and holds no globals)."""
    def bind(var):
        if not isinstance(var, Constant) or id(var) in kernel.values:
            return
        if var.ndim == 0:
            kernel.bind(var, literal(var.value, var.dtype))
            return
        name = f"const{signature.count('constant')}"
        signature.add(name, ("constant", np.ascontiguousarray(var.value).copy()), array_type(var.dtype, var.ndim))
        kernel.bind(var, name, contiguous=True, owned=False)

    for node in nodes:
        for var in node.inputs:
            bind(var)
    for var in program.outputs:
        bind(var)


def _lower_nodes(nodes, inplace, kernel):
    """Each node's lowering appends its lines (a comment naming the op first); the nodes of in-place
    updates are left to ``emit_inplace_writes``."""
    deferred = {id(n) for update in inplace for n in (update.dot, update.elementwise)}
    kernel.lower_node = lambda node: _lower_node(node, kernel)   # loops lower their step's nodes through it
    if kernel.program is not None:
        kernel.note_shape_only(nodes, kernel.program.outputs)
    # the nodes only one branch of an ifelse needs are lowered inside its if/else block (branch.py)
    in_branches, kernel.branches = lazy_branches(nodes, kernel.program.outputs if kernel.program else [])
    deferred |= in_branches
    # a convolution and the bias add / ReLU after it: one helper call where the elementwise node stands
    epilogues = conv.find_epilogues(nodes, kernel.program.outputs if kernel.program else [], deferred)
    deferred |= {id(epilogue.conv) for epilogue in epilogues.values()}
    for node in nodes:
        if id(node) in epilogues:
            conv.lower_epilogue(epilogues[id(node)], kernel)
        elif id(node) not in deferred:
            _lower_node(node, kernel)
    kernel.node = None


def _lower_node(node, kernel):
    """Append the code of one node (its lowering, or a call back into its ``perform`` for a user's op)."""
    kernel.node = node
    outputs = ", ".join(f"{o.type}" for o in node.outputs[:4])
    if len(node.outputs) > 4:
        outputs += f", ... ({len(node.outputs)} outputs)"
    kernel.comment(f"{node.op} -> {outputs}")
    try:
        lower = lowering_for(node.op)
    except NotImplementedError as exc:      # name the user's line that built the node
        if not type(node.op).__module__.startswith("symgraph."):
            lower = _call_back          # a user's own op: its perform, called from the kernel
        else:
            raise NotImplementedError(f"{exc}{node.where()}") from None
    lower(node, kernel)


def _call_back(node, kernel):
    """The node's ``perform``, called from the kernel in one object-mode block (callbacks.py)."""
    from . import callbacks
    callbacks.warn_once(type(node.op))
    key = callbacks.register(node)
    kernel.callbacks.append(key)
    line = "import symgraph.codegen.numba.callbacks as cbk"
    if line not in kernel.imports:
        kernel.imports.append(line)
    names = [kernel.fresh("v") for _ in node.outputs]
    types = ", ".join(f"{name}={callbacks.objmode_type(var)!r}" for name, var in zip(names, node.outputs))
    arguments = ", ".join([repr(key)] + [kernel.code(v) for v in node.inputs])
    kernel.emit(f"with nb.objmode({types}):")
    with kernel.indent():
        kernel.emit(f"{', '.join(names)}{',' if len(names) == 1 else ''} = cbk.call({arguments})")
    for name, var in zip(names, node.outputs):
        if var.ndim:
            kernel.bind(var, name, contiguous=True, owned=True)
        else:
            kernel.bind(var, name)


#: the fewest outputs that are rows of one vector-tape result the kernel returns as that one array (see
#: _return_outputs)
PACK_MIN_ROWS = 8


def _return_outputs(program, kernel, inplace):
    """The ``return`` statement; per output, whether the kernel returns a Numba scalar; and the packs.

    Anything the kernel does not own (inputs, views of them) is copied, and so is an update that is also
    returned, so no caller array ever aliases state. Outputs that are rows of one vector-tape result (at least
    ``PACK_MIN_ROWS`` of them, none an update) are returned as that one array and its output shape, and the
    entry takes the rows apart (``KernelModule.packs``): Numba compiles a tuple of n arrays in time that grows
    with the cube of n (200 arrays: 47 s) and boxes each of them on every call.
    """
    results, output_scalar = [], []
    returned = {id(v) for v in program.outputs[:program.n_outputs]}
    seen_updates = set()
    packs = {}                       # tape result -> [(output index, row)]
    for k, var in enumerate(program.outputs[:program.n_outputs]):
        found = kernel.tape_rows.get(id(var))
        if found is not None and var.ndim >= 1 and kernel.value(var).owned:
            packs.setdefault(found[0], []).append((k, found[1]))
    packs = {array: rows for array, rows in packs.items() if len(rows) >= PACK_MIN_ROWS}
    packed = {k for rows in packs.values() for k, _ in rows}
    for k, var in enumerate(program.outputs):
        value = kernel.value(var)
        scalar = var.ndim == 0
        output_scalar.append(scalar)
        if k in packed:
            continue
        code = value.code
        if not scalar:
            is_update = k >= program.n_outputs
            shared_with_output = is_update and (id(var) in returned or id(var) in seen_updates)
            if not value.owned or shared_with_output:
                code = kernel.let(f"{kernel.runtime()}.copy({code})", "result")   # cached: .copy() compiles ~0.2 s
            if is_update:
                seen_updates.add(id(var))
        results.append(code)
    layout = []
    for array, rows in packs.items():
        dims = kernel.tape_rows[id(program.outputs[rows[0][0]])][3]
        layout.append((len(results), rows, len(dims)))
        results += [array, f"({', '.join(dims)},)"]
    emit_inplace_writes(kernel, inplace)
    if len(results) == 1 and not layout:
        kernel.emit(f"return {results[0]}")
    elif not results:               # no outputs and no updates: nothing to return
        kernel.emit("return ()")
    else:
        kernel.emit(f"return ({', '.join(results)},)")
    return output_scalar, layout


#: a parameter's length as lowerings read it: ``in2.shape[0]``, ``sh1.shape[1]``
PARAMETER_LENGTH = re.compile(r"\b((?:in|sh)[0-9]+)\.shape\[([0-9]+)\]")


def hoist_parameter_lengths(lines: list[str]) -> list[str]:
    """``lines`` (a kernel's body) with each parameter length read twice or more read once, into a local at
    the top (``len3 = in2.shape[0]``), and that local read where the length was. Parameters are never
    rebound in a kernel (one that is keeps its reads), so the local holds the same intp. Each read is two
    typed and lowered operations (the attribute and the item) for Numba: W7's kernel reads 77 lengths, 23
    distinct ones (~40 ms of its cold compile)."""
    counts: dict = {}
    for line in lines:
        if not line.lstrip().startswith("#"):
            for match in PARAMETER_LENGTH.finditer(line):
                counts[match.group(0)] = counts.get(match.group(0), 0) + 1
    rebound = {name for line in lines for name in re.findall(r"^\s*((?:in|sh)[0-9]+)\s*[-+*/]?=", line)}
    names = {}
    for text, count in counts.items():
        if count > 1 and PARAMETER_LENGTH.match(text).group(1) not in rebound:
            names[text] = f"len{len(names)}"
    if not names:
        return lines
    indent = " " * 4
    return ([f"{indent}{name} = {text}" for text, name in names.items()]
            + [line if line.lstrip().startswith("#") else
               PARAMETER_LENGTH.sub(lambda m: names.get(m.group(0), m.group(0)), line) for line in lines])


def _module_source(kernel, signature) -> str:
    """The module: its imports, the split-off parts of a very long body, and the jitted ``kernel``."""
    body, parts = hoist_parameter_lengths(kernel.lines), []
    if len(body) > SPLIT_LINES:   # Numba compiles one very long function in superlinear time
        parts, body = split_body(body, signature.parameters, "PRANGE_ONLY")
    types = signature.types
    # Only our explicit prange loops go parallel: Numba's other parallel transforms would turn every
    # np.zeros/np.empty and array expression into a threaded region that fights the BLAS threads.
    kernel_parallel = any("prange(" in line for line in body)
    # (a kernel with a call back into Python cannot be cached by Numba: its object-mode block)
    # (no C callback wrapper: the entry calls the kernel through its CPython wrapper only)
    options = f"cache={not kernel.callbacks}, error_model='numpy', pipeline_class=KernelCompiler, no_cfunc_wrapper=True" + (
        ", parallel=PRANGE_ONLY" if kernel_parallel else "")
    parallel_imports = [
        "from numba import prange",
        "PRANGE_ONLY = dict(prange=True, comprehension=False, reduction=False, inplace_binop=False, setitem=False, "
        "numpy=False, stencil=False, fusion=False)",
        "",
    ] if kernel.uses_prange else []
    header = [
        '"""Generated by symgraph (numba backend): one jitted function computes the whole call."""',
        "import math",
        "import numpy as np",
        "import numba as nb",
        f"from {__package__}.pipeline import KernelCompiler",
        *kernel.imports,
        *parallel_imports,
        "",
        *[function + "\n" for function in kernel.functions],
        *[part + "\n" for part in parts],
        f"@nb.njit(({', '.join(types)}{',' if len(types) == 1 else ''}), {options})",
        f"def kernel({', '.join(signature.parameters)}):",
    ]
    return hoist_literals("\n".join(header) + "\n" + "\n".join(body) + "\n")


#: a scalar constant as ``literal`` writes it: ``np.float32(0.01)``, ``np.int64(-3)``, ``np.float64(-np.inf)``
LITERAL = re.compile(r"\bnp\.(u?int(?:8|16|32|64)|float(?:32|64))"
                     r"\((-?(?:np\.nan|np\.inf|[0-9]+(?:\.[0-9]*)?(?:e[+-]?[0-9]+)?))\)")


def hoist_literals(source: str) -> str:
    """``source`` with each distinct scalar constant (``LITERAL``) made once, at module level, as
    ``litN = np.float32(0.01)``, and read by name where it was written. Numba freezes a global NumPy scalar
    as a constant of exactly its type, as it would the call's result, but a call is typed and lowered at
    every use: W7's kernel writes ~180 of them (check numbers, lengths, 0.0 fills), ~0.15 s of its cold
    compile. The definitions go after the imports, before the first function.

    Example: ``t1 = (in0 * np.float64(3.0))`` becomes ``lit0 = np.float64(3.0)`` and ``t1 = (in0 * lit0)``.
    """
    names: dict = {}

    def name(match) -> str:
        return names.setdefault(match.group(0), f"lit{len(names)}")

    head, decorated, rest = source.partition("\n@nb.njit")
    body = LITERAL.sub(name, decorated + rest)
    if not names:
        return source
    definitions = "".join(f"{n} = {text}\n" for text, n in names.items())
    return f"{head}\n{definitions}{body}"


def _structure(program) -> tuple:
    """(structure, constants): the graph without dtypes and without the values of its 0-d constants (ops,
    connectivity, ndims), equal for graphs that differ only in dtypes or constants, and those values
    (the source writes them as literals), which tell a changed constant from a new graph."""
    index, constants = {}, []
    parts = [f"in:{v.ndim}" for v in list(program.inputs) + list(program.shared)]
    for v in list(program.inputs) + list(program.shared):
        index[id(v)] = len(index)
    for node in toposort(program.outputs):
        operands = []
        for v in node.inputs:
            if id(v) not in index:
                index[id(v)] = len(index)
                parts.append(f"leaf:{v.ndim}")
                if v.ndim == 0:
                    constants.append(repr(np.asarray(getattr(v, "value", 0)).tolist()))
            operands.append(str(index[id(v)]))
        parts.append(f"{node.op}({','.join(operands)})")
        for v in node.outputs:
            index[id(v)] = len(index)
    parts.append("out:" + ",".join(str(index.get(id(v), -1)) for v in program.outputs))
    return re.sub(r"(float|int|uint)(16|32|64)|bool_?|boolean", "T", "\n".join(parts)), ",".join(constants)


def _check_dtypes(program, nodes):
    """A TypeError naming the variable for a dtype the generated source cannot spell (datetime64[ns], str, object):
    the source writes dtypes as ``nb.<name>``, so a name must be a plain numeric dtype's."""
    variables = [*program.inputs, *program.shared, *(v for node in nodes for v in node.outputs)]
    for var in variables:
        dtype = np.dtype(var.dtype)
        if dtype.kind not in "biufc" or not re.fullmatch(r"[a-z]+[0-9]*", dtype.name):
            where = var.owner.where() if var.owner is not None else ""
            raise TypeError(f"the numba backend does not support dtype {dtype.name!r} ({var.describe()}{where}); "
                            "use a boolean, integer, float or complex dtype")


def _legend(program) -> dict:
    """Kernel parameter -> how the user names that variable (kept beside the source, never in it)."""
    legend = {f"in{i}": var.describe() for i, var in enumerate(program.inputs)}
    legend.update({f"sh{i}": var.describe() for i, var in enumerate(program.shared)})
    return legend
