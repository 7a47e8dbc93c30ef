"""Lower an optimized ``Program`` to one generated Python module whose single ``@njit`` function runs the call.

The lowering reads the graph through ONE dispatch table, ``LOWERINGS`` (PyTensor's
``numba_funcify`` idea): an op class maps to a function ``lower(node, kernel)``
that appends plain Python source lines to a ``KernelWriter``. The writer tracks,
for every graph variable, the code that names its value (a Numba scalar for 0-d
variables, an array otherwise), the code for each of its lengths, and whether the
kernel owns the buffer. Shape relations the loops rely on are checked in the
generated code (``raise ValueError("symgraph check 3")``, a constant message so
the source stays deterministic); the Python entry maps the number back to the op,
its user line and the call's input shapes. Array constants are kernel arguments
and source locations stay out of the source, so equal graphs give equal source
and the on-disk cache can key on it. No user text is ever written into the source:
parameters are ``in0``/``sh0`` whatever the variables are called (``KernelModule.legend``
maps them back), comments are escaped to one line of printable ASCII, and the module
passes ``codegen/guard.py`` before it is compiled.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np

from symgraph.graph import Constant, SharedVariable, toposort

from ..guard import UnsafeSourceError
from ..registry import Lowerings
from .split import SPLIT_LINES, split_body

# Elementwise loops with at least this many elements run in parallel (prange) on large inputs.
PARALLEL_MIN_SIZE = 1 << 16
# Kernels longer than this stay serial: compiling a long function with prange takes minutes.
PARALLEL_MAX_LINES = 600

INT64_MAX = 2 ** 63 - 1

#: op class -> lowering function(node, kernel), keyed by the class object (see codegen/registry.py)
LOWERINGS = Lowerings("numba")
register = LOWERINGS.register


def lowering_for(op):
    """The lowering of ``op``: its class, else the nearest base class with one (single dispatch)."""
    return LOWERINGS.lookup(op)


@dataclass
class Value:
    """How the kernel holds one graph variable."""
    code: str              # a local name or a literal
    dims: list             # code (an int literal or an expression) for each axis
    contiguous: bool       # known to be C-contiguous (so it can be reshaped to 1-d without a copy)
    owned: bool            # a buffer the kernel allocated (safe to return to the caller)


@dataclass
class Check:
    """A shape relation checked in the kernel; ``number`` appears in the raised message."""
    number: int
    exception: str         # "ValueError" or "IndexError"
    message: str
    node: object = None


def numba_type(dtype) -> str:
    name = np.dtype(dtype).name
    return "nb.boolean" if name == "bool" else f"nb.{name}"


def dtype_code(dtype) -> str:
    name = np.dtype(dtype).name
    return "np.bool_" if name == "bool" else f"np.{name}"


def literal(value, dtype) -> str:
    """Source for a scalar constant of exactly ``dtype`` (Numba would otherwise type 0.0 as float64)."""
    dt = np.dtype(dtype)
    value = np.asarray(value).item()
    if dt.kind == "b":
        return "True" if value else "False"
    if dt.kind in "iu":
        return f"np.{dt.name}({int(value)})"
    if dt.kind == "f":
        number = float(value)
        if math.isnan(number):
            text = "np.nan"
        elif math.isinf(number):
            text = "np.inf" if number > 0 else "-np.inf"
        else:
            text = repr(number)
        return f"np.{dt.name}({text})"
    raise TypeError(f"the numba backend does not support dtype {dt.name}")


def cast_code(code, from_dtype, to_dtype) -> str:
    """``code`` (a scalar of ``from_dtype``) converted to ``to_dtype``."""
    source, target = np.dtype(from_dtype), np.dtype(to_dtype)
    if source == target:
        return code
    if target.kind == "b":
        return f"({code} != 0)"
    return f"{dtype_code(target)}({code})"


class KernelWriter:
    """Accumulates the body of the generated kernel and the values of graph variables."""

    def __init__(self, parallel=True):
        self.lines: list[str] = []
        self.depth = 1
        self.values: dict[int, Value] = {}
        self.checks: list[Check] = []
        self.counter = 0
        self.allow_parallel = parallel
        self.uses_prange = False
        self.node = None            # the node being lowered (for check messages)
        self.imports: list[str] = []  # extra header lines of the generated module (e.g. the runtime library)
        self.program = None           # the program being lowered (for whole-graph facts such as shapes)
        self.array_arguments: list = []  # (name, array): data a lowering passes as an extra kernel argument
        self.tape_rows: dict = {}        # id(var) -> (stacked result, row, rows, dims): vector tape outputs
        self.tape_pools: dict = {}       # dtype name -> the kernel's pooled vector tape arrays (tape.py)
        self.shape_facts = None          # the program's shape equalities, computed on first use (elemwise.py)

    def array_argument(self, array, prefix="data") -> str:
        """A kernel parameter bound to ``array`` at call time (keeps data out of the cached source).

        ``array`` may be a list of 1-d parts that the caller keeps appending to while lowering; they
        are joined end to end when ``generate`` collects the arguments.
        """
        name = f"{prefix}{len(self.array_arguments)}"
        self.array_arguments.append((name, array if isinstance(array, list) else np.ascontiguousarray(array)))
        return name

    # ------------------------------------------------------------ emitting source
    def emit(self, line: str):
        """Append one line of code; a line holding anything but printable ASCII (a line break that would
        start a statement, say) is an internal error: user text never reaches the source."""
        if not (line.isascii() and line.isprintable()):
            raise UnsafeSourceError(f"internal error: a lowering emitted the line {line!r}")
        self.lines.append("    " * self.depth + line)

    def comment(self, text):
        """A ``#`` comment showing ``text`` (op parameters, say) escaped to printable ASCII on one line."""
        self.emit("# " + comment_text(text))

    def indent(self):
        writer = self

        class _Block:
            def __enter__(self):
                writer.depth += 1

            def __exit__(self, *exc):
                writer.depth -= 1
        return _Block()

    def fresh(self, prefix="t") -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def let(self, expression, prefix="t") -> str:
        """Assign ``expression`` to a new local and return its name."""
        name = self.fresh(prefix)
        self.emit(f"{name} = {expression}")
        return name

    def check(self, failing_condition: str, message: str, exception="ValueError"):
        """Emit ``if failing_condition: raise``; the entry turns the number back into ``message``."""
        if _never_true(failing_condition):
            self.emit("pass")       # the check may be the only statement of a block
            return
        number = len(self.checks)
        self.checks.append(Check(number, exception, message, self.node))
        self.emit(f"if {failing_condition}:")
        with self.indent():
            self.emit(f'raise {exception}("symgraph check {number}")')

    def broadcast_length(self, lengths, message) -> str:
        """A local holding the NumPy broadcast of the runtime ``lengths`` (code strings); a mismatch raises."""
        length = self.let(lengths[0], "n")
        for other in lengths[1:]:
            self.emit(f"if {other} != {length}:")
            with self.indent():
                self.emit(f"if {length} == 1:")
                with self.indent():
                    self.emit(f"{length} = {other}")
                self.emit("else:")
                with self.indent():
                    self.check(f"{other} != 1", message)
        return length

    def loop(self, index, count, parallel=False) -> str:
        if parallel:
            self.uses_prange = True
            return f"for {index} in prange({count}):"
        return f"for {index} in range({count}):"

    def runtime(self) -> str:
        """The name under which the generated module imports ``linked.py``: the cached helpers, called by address."""
        line = f"import {__package__}.linked as rt"
        if line not in self.imports:
            self.imports.append(line)
        return "rt"

    def new_array(self, dims, dtype, zeroed=False) -> str:
        """Source allocating an array of ``dims`` (code strings) and ``dtype`` through the cached helper:
        ``np.empty`` inline makes Numba compile its overload again in every process (~130 ms)."""
        helper = "zeros" if zeroed else "empty"
        return f"{self.runtime()}.{helper}({self.int_tuple(dims)}, {literal(0, dtype)})"

    def int_tuple(self, dims) -> str:
        """Source for a tuple of int64 lengths; literal lengths are wrapped, else Numba types ``(1, n)`` as a
        tuple of a literal and an int64, a new signature (and a new compile) of every helper it reaches."""
        items = [f"np.int64({d})" if str(d).lstrip("-").isdigit() else str(d) for d in dims]
        return f"({', '.join(items)},)"

    # ------------------------------------------------------------ variables
    def value(self, var) -> Value:
        value = self.values.get(id(var))
        if value is None:
            raise KeyError(f"internal error: {var!r} is used before it is computed")
        return value

    def code(self, var) -> str:
        return self.value(var).code

    def dims(self, var) -> list:
        return self.value(var).dims

    def bind(self, var, code, dims=None, contiguous=False, owned=False):
        """Record that ``code`` holds ``var``; unknown lengths are read from ``code.shape``."""
        if dims is None:
            dims = [str(n) if n is not None else f"{code}.shape[{axis}]"
                    for axis, n in enumerate(var.type.shape)]
        self.values[id(var)] = Value(code, list(dims), contiguous, owned)

    def alias(self, var, source_var):
        """``var`` is the same value as ``source_var`` (identity ops); never owned, it is shared."""
        value = self.value(source_var)
        self.values[id(var)] = Value(value.code, list(value.dims), value.contiguous, False)

    def checked_size(self, dims, message, itemsize=1) -> str:
        """A local holding the number of elements of ``dims`` (code for lengths known to be >= 0), checked as
        NumPy checks a shape: the product of the nonzero lengths times ``itemsize`` must fit in int64, else the
        call raises ``message`` (int64 arithmetic would wrap, and a wrapped size reads and writes out of
        bounds)."""
        size = self.let("np.int64(1)", "size")
        nonzero = self.let(f"np.int64({int(itemsize)})", "nonzero")
        for d in dims:
            literal_length = str(d).isdigit()
            if literal_length and int(d) == 0:
                self.emit(f"{size} = np.int64(0)")
                continue
            if not literal_length:
                self.emit(f"if {d} != 0:")
                self.depth += 1
            self.check(f"{nonzero} > {INT64_MAX} // {d}", message)
            self.emit(f"{nonzero} = {nonzero} * {d}")
            if not literal_length:
                self.depth -= 1
            self.emit(f"{size} = {size} * {d}")
        return size

    def size_code(self, dims) -> str:
        return " * ".join(f"{d}" for d in dims) if dims else "1"

    def where(self) -> str:
        return self.node.where() if self.node is not None else ""


def _never_true(condition: str) -> bool:
    """True for a failing condition that cannot hold: a conjunction with a term ``x != x`` (a check costs
    Numba compile time, and one that cannot fail guards nothing)."""
    for term in condition.split(" and "):
        sides = term.split(" != ")
        if len(sides) == 2 and sides[0].strip() == sides[1].strip() and "(" not in term:
            return True
    return False


@dataclass
class KernelModule:
    """The generated module and what the entry needs to call it."""
    source: str
    function_name: str
    arguments: list                  # ("input", i) | ("shared", i) | ("constant", array)
    argument_types: list             # numba type source per argument
    output_scalar: list              # per program output: True when the kernel returns a Numba scalar
    checks: list
    parallel: bool
    structure: str = ""              # the source with dtypes blanked out (explains cache misses)
    dtypes: str = ""
    notes: list = field(default_factory=list)
    legend: dict = field(default_factory=dict)   # parameter name -> the variable it holds, as the user names it
    constants: str = ""              # the values of the 0-d constants written into the source


def _ensure_lowerings_loaded():
    # Importing the op-family modules fills LOWERINGS (each registers its entries). Every one exists and
    # must import: a failure is a bug to see, not a smaller table.
    from . import elemwise, index, join, linalg, nnet, reduce, shape  # noqa: F401


def array_type(dtype, ndim) -> str:
    if ndim == 0:
        return numba_type(dtype)
    axes = ", ".join([":"] * (ndim - 1) + ["::1"])
    return f"{numba_type(dtype)}[{axes}]"


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


def generate(program, parallel=True) -> KernelModule:
    """The generated module for ``program`` (deterministic for equal graphs)."""
    _ensure_lowerings_loaded()
    refuse_unsupported_dtypes(program)
    kernel = KernelWriter(parallel=parallel)
    kernel.program = program
    parameters, arguments, argument_types = [], [], []

    def add_parameter(var, name, argument):
        parameters.append(name)
        arguments.append(argument)
        argument_types.append(array_type(var.dtype, var.ndim))
        contiguous = var.ndim > 0
        kernel.bind(var, name, contiguous=contiguous, owned=False)
        for axis, n in enumerate(var.type.shape):
            if n is not None:
                label = var.describe()
                kernel.check(f"{name}.shape[{axis}] != {n}",
                             f"{label} has static length {n} on axis {axis}")

    # Parameters are named by position only: a variable's name is user text (it stays out of the source
    # and so out of the cache key; ``KernelModule.legend`` maps parameters back to variables).
    for i, var in enumerate(program.inputs):
        add_parameter(var, f"in{i}", ("input", i))
    for i, var in enumerate(program.shared):
        add_parameter(var, f"sh{i}", ("shared", i))

    nodes = toposort(program.outputs)
    _check_dtypes(program, nodes)

    def bind_constant(var):
        # 0-d constants are typed literals; arrays are kernel arguments (deterministic source, no globals).
        if not isinstance(var, Constant) or id(var) in kernel.values:
            return
        if var.ndim == 0:
            kernel.bind(var, literal(var.value, var.dtype))
            return
        name = f"const{sum(1 for a in arguments if a[0] == 'constant')}"
        parameters.append(name)
        arguments.append(("constant", np.ascontiguousarray(var.value).copy()))
        argument_types.append(array_type(var.dtype, var.ndim))
        kernel.bind(var, name, contiguous=True, owned=False)

    for node in nodes:
        for var in node.inputs:
            bind_constant(var)
    for var in program.outputs:
        bind_constant(var)

    # Updates `shared -/+ c * dot(a, b)` are accumulated into the shared array by one gemm (beta=1) at the
    # very end, after every check and output copy, so a call that raises leaves all state unchanged.
    from .linalg import emit_inplace_decisions, emit_inplace_writes, find_inplace_updates
    inplace = find_inplace_updates(program, nodes) if program.options.get("inplace", True) else []
    deferred = {id(n) for update in inplace for n in (update.dot, update.elementwise)}

    for node in nodes:
        if id(node) in deferred:
            continue
        kernel.node = node
        outputs = ", ".join(f"{o.type}" for o in node.outputs[:4])
        if len(node.outputs) > 4:
            outputs += f", ... ({len(node.outputs)} outputs)"
        kernel.comment(f"{node.op} -> {outputs}")
        try:
            lower = lowering_for(node.op)
        except NotImplementedError as exc:      # name the user's line that built the node
            raise NotImplementedError(f"{exc}{node.where()}") from None
        lower(node, kernel)
    kernel.node = None
    emit_inplace_decisions(kernel, inplace)
    for name, array in kernel.array_arguments:  # after the constants: the entry passes both in this order
        if isinstance(array, list):
            array = np.ascontiguousarray(np.concatenate(array))
        parameters.append(name)
        arguments.append(("constant", array))
        argument_types.append(array_type(array.dtype, array.ndim))

    # Outputs: copy anything the kernel does not own (inputs, views of them), and update values
    # that are also returned, so no caller array ever aliases state.
    results, output_scalar = [], []
    returned = {id(v) for v in program.outputs[:program.n_outputs]}
    seen_updates = set()
    for k, var in enumerate(program.outputs):
        value = kernel.value(var)
        scalar = var.ndim == 0
        code = value.code
        if not scalar:
            is_update = k >= program.n_outputs
            shared_with_output = is_update and (id(var) in returned or id(var) in seen_updates)
            if not value.owned or shared_with_output:
                code = kernel.let(f"{code}.copy()", "result")
            if is_update:
                seen_updates.add(id(var))
        results.append(code)
        output_scalar.append(scalar)
    emit_inplace_writes(kernel, inplace)
    if len(results) == 1:
        kernel.emit(f"return {results[0]}")
    elif not results:               # no outputs and no updates: nothing to return
        kernel.emit("return ()")
    else:
        kernel.emit(f"return ({', '.join(results)},)")

    uses_prange = kernel.uses_prange
    if uses_prange and len(kernel.lines) > PARALLEL_MAX_LINES:
        # Numba's parfor passes work on the whole function and grow superlinearly with its length.
        return generate(program, parallel=False)
    body, parts = kernel.lines, []
    if len(body) > SPLIT_LINES:   # Numba compiles one very long function in superlinear time
        parts, body = split_body(body, parameters, "PRANGE_ONLY")
    signature = ", ".join(argument_types)
    # Only our explicit prange loops go parallel: Numba's other parallel transforms would turn every
    # np.zeros/np.empty and array expression into a threaded region that fights the BLAS threads.
    kernel_parallel = any("prange(" in line for line in body)
    options = "cache=True, error_model='numpy', pipeline_class=KernelCompiler" + (
        ", parallel=PRANGE_ONLY" if kernel_parallel else "")
    parallel_imports = [
        "from numba import prange",
        "PRANGE_ONLY = dict(prange=True, comprehension=False, reduction=False, inplace_binop=False, setitem=False, "
        "numpy=False, stencil=False, fusion=False)",
        "",
    ] if uses_prange else []
    header = [
        '"""Generated by symgraph (numba backend): one jitted function computes the whole call."""',
        "import numpy as np",
        "import numba as nb",
        f"from {__package__}.pipeline import KernelCompiler",
        *kernel.imports,
        *parallel_imports,
        "",
        *[part + "\n" for part in parts],
        f"@nb.njit(({signature}{',' if len(argument_types) == 1 else ''}), {options})",
        f"def kernel({', '.join(parameters)}):",
    ]
    source = "\n".join(header) + "\n" + "\n".join(body) + "\n"
    structure, constants = _structure(program)
    dtypes = ",".join(v.dtype for v in list(program.inputs) + list(program.shared) + list(program.outputs))
    legend = _legend(program)
    return KernelModule(source, "kernel", arguments, argument_types, output_scalar, kernel.checks,
                        uses_prange, structure, dtypes, legend=legend, constants=constants)


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


def comment_text(text) -> str:
    """``text`` as printable ASCII on one line (``ascii`` escapes, without its quotes): safe in a comment."""
    return ascii(str(text))[1:-1]


def _legend(program) -> dict:
    """Kernel parameter -> how the user names that variable (kept beside the source, never in it)."""
    legend = {f"in{i}": var.describe() for i, var in enumerate(program.inputs)}
    legend.update({f"sh{i}": var.describe() for i, var in enumerate(program.shared)})
    return legend
