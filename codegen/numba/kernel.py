"""The numba backend's lowering table and kernel writer: what every lowering module imports.

The lowering reads the graph through ONE dispatch table, ``LOWERINGS`` (PyTensor's
``numba_funcify`` idea, keyed by op class, see ``codegen/registry.py``): an op class maps to a
function ``lower(node, kernel)`` that appends plain Python source lines to a ``KernelWriter``. The
writer tracks, for every graph variable, the code that names its value (a Numba scalar for 0-d
variables, an array otherwise), the code for each of its lengths, and whether the kernel owns the
buffer. Shape relations the loops rely on are checked in the generated code, by number: outside element
loops one call of a cached helper (``rt.check_value(n3 < 0, np.int64(3))`` raises ``ValueError("symgraph
check", 3)``; Numba's compile time grows with every branch of a kernel, a call is one statement), inside
them an inline ``raise ValueError("symgraph check 3")`` (a call per element would stop vectorisation).
The Python entry maps the number back to the op, its user line and the call's input shapes. Comments are
escaped to one line of printable ASCII. Lowerings write scalar constants with ``literal`` (``np.int64(3)``,
``np.float32(0.01)``); the finished module reads each as a module-level global (``lower.hoist_literals``),
and each length of a parameter read more than once from a local (``lower.hoist_parameter_lengths``):
Numba types and lowers every call and attribute read at each use, a global NumPy scalar is a constant.

Imports run one way: this module <- the lowering modules (elemwise.py, reduce.py, ...) <- lower.py,
the driver that imports them all and writes the module.
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field

import numpy as np

from symgraph.ops.elemwise import Cast, ScalarDialect
from symgraph.ops.from_graph import OpFromGraph

from ..guard import UnsafeSourceError
from ..registry import Lowerings

# Elementwise loops with at least this many elements run in parallel (prange) on large inputs.
PARALLEL_MIN_SIZE = 1 << 16
# In a kernel that also calls BLAS or LAPACK, elementwise loops run in parallel only from this many elements:
# OpenBLAS's threads keep spinning for a while after each call, and a prange loop started then fights them
# for the cores (W8, 2 cores: two 250,000-element loops cost 19 ms of a step that takes 14 ms serial).
PARALLEL_MIN_SIZE_WITH_BLAS = 1 << 22
# Kernels longer than this stay serial: compiling a long function with prange takes minutes.
PARALLEL_MAX_LINES = 600

INT64_MAX = 2 ** 63 - 1

#: the code of a variable whose value the kernel never computes (KernelWriter.bind_lengths_only): not Python
UNREAD = "<value never read>"

# The decorator options of the functions only the kernel calls (a scan's step, a part of a long kernel): no
# CPython wrapper and no C callback wrapper, which Numba would otherwise lower and compile for each (~0.1 s of
# W7's cold compile per step function); the kernel itself, called from Python, keeps its CPython wrapper.
INNER_FUNCTION_OPTIONS = "no_cpython_wrapper=True, no_cfunc_wrapper=True"

#: op class -> lowering function(node, kernel), keyed by the class object (see codegen/registry.py)
LOWERINGS = Lowerings("numba")
register = LOWERINGS.register
LOWERINGS.unsupported(OpFromGraph, "never lowered: sg.function puts its inner graph in place of the node "
                                   "before any backend sees it (ops/from_graph.py, inline_all)")


#: op class -> reads(node, shape_only) -> positions of the node's inputs whose lowering reads only their
#: lengths (beyond the op's own ``shape_only_inputs``), given the ids found shape-only so far: a lowering
#: registers it where it can do without a value (loop.py: a scan's constant-filled initial state; shape.py:
#: a view nobody reads but for its lengths). ``KernelWriter.note_shape_only`` consults it.
SHAPE_ONLY_READS: dict = {}


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
    internal: bool = False  # memory the kernel made (an owned buffer, a view of one, or the very array of
    #                         one that a helper may hand back): never an input's or a shared variable's


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


class ConversionDialect(ScalarDialect):
    """The part of the numba dialect ``Cast.from_float`` writes with: typed constants, guarded conversions.
    ``let`` (a ``KernelWriter.let``) binds the converted value once; without it the value's source is
    repeated (pure: LLVM computes it once)."""

    def __init__(self, dtype, let=None):
        self.dtype = np.dtype(dtype)
        self._let = let

    def let(self, expression):
        if expression.isidentifier():
            return expression
        return self._let(expression) if self._let is not None else f"({expression})"

    def lit(self, value):
        return literal(value, self.dtype)

    def convert(self, x, dtype):
        return f"{dtype_code(dtype)}({x})"


def cast_code(code, from_dtype, to_dtype, let=None) -> str:
    """``code`` (a scalar of ``from_dtype``) converted to ``to_dtype``: a float to an integer as
    ``Cast.from_float`` defines it for every value (``let``, a ``KernelWriter.let``, binds the float once)."""
    source, target = np.dtype(from_dtype), np.dtype(to_dtype)
    if source == target:
        return code
    if target.kind == "b":
        return f"({code} != 0)"
    if source.kind == "f" and target.kind in "iu":
        return Cast.from_float(ConversionDialect(source, let), code, target)
    return f"{dtype_code(target)}({code})"


class KernelWriter:
    """Accumulates the body of the generated kernel and the values of graph variables."""

    def __init__(self, parallel=True, parallel_min_size=PARALLEL_MIN_SIZE):
        self.lines: list[str] = []
        self.depth = 1
        self.values: dict[int, Value] = {}
        self.checks: list[Check] = []
        self.counter = 0
        self.allow_parallel = parallel
        self.parallel_min_size = parallel_min_size   # elements from which an elementwise loop runs in parallel
        self.uses_prange = False
        self.node = None            # the node being lowered (for check messages)
        self.imports: list[str] = []  # extra header lines of the generated module (e.g. the runtime library)
        self.callbacks: list[int] = []  # keys of the nodes the kernel calls back into Python for (callbacks.py)
        self.program = None           # the program being lowered (for whole-graph facts such as shapes)
        self.array_arguments: list = []  # (name, array): data a lowering passes as an extra kernel argument
        self._open_loops: list[int] = []  # the depths of the element loops' ``for`` lines (see ``_in_loop``)
        self._loop_pending = False        # ``loop`` was called: the next line emitted is a loop's ``for``
        self.tape_rows: dict = {}        # id(var) -> (stacked result, row, rows, dims): vector tape outputs
        self.tape_pools: dict = {}       # dtype name -> the kernel's pooled vector tape arrays (tape.py)
        self.shape_facts = None          # the program's shape equalities, computed on first use (elemwise.py)
        self.lower_node = None           # lower(node): set by lower.py; loops (loop.py) lower their steps with it
        self.functions: list[str] = []   # sources of module-level functions the body calls (a loop's step)
        # what names vmath.py for the scalar formulas (vector_math_module, set by lower.generate when the
        # function asks for vector_math=True), or None: libm's functions
        self.vector_math = None
        self.branches: dict = {}         # id(ifelse node) -> the nodes of each branch (branch.py)
        self.shape_only: set = set()     # ids of variables only read for their shape (note_shape_only)
        # (id(init), id(output)) of a scan's recurrent output -> (its buffer, rows of initial values, steps
        # that ran): the buffer holds the join of the two, which join.py then reads instead of copying them
        self.scan_buffers: dict = {}

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
        self._open_loops = [d for d in self._open_loops if d < self.depth]   # loops this line is inside
        if self._loop_pending:
            self._open_loops.append(self.depth)
            self._loop_pending = False
        self.lines.append("    " * self.depth + line)

    def comment(self, text):
        """A ``#`` comment showing ``text`` (op parameters, say) escaped to printable ASCII on one line."""
        self.emit("# " + comment_text(text))

    @contextlib.contextmanager
    def separate_function(self):
        """Lines emitted in this block form the body of another function (a scan's step), at depth 1, serial,
        outside every loop; yields that list of lines. The kernel's own lines, depth and loops come back after."""
        saved = self.lines, self.depth, self.allow_parallel, self._open_loops, self._loop_pending
        self.lines, self.depth, self.allow_parallel, self._open_loops, self._loop_pending = [], 1, False, [], False
        try:
            yield self.lines
        finally:
            self.lines, self.depth, self.allow_parallel, self._open_loops, self._loop_pending = saved

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
        """Emit a check that raises ``exception`` when ``failing_condition`` holds (a helper call, or an inline
        ``if ...: raise`` inside element loops); the entry turns the check's number back into ``message``."""
        if _never_true(failing_condition):
            self.emit("pass")       # the check may be the only statement of a block
            return
        number = self.check_number(message, exception)
        if self._in_loop() or exception not in ("ValueError", "IndexError"):
            # inside an element loop an inline branch (a call per element would stop vectorisation); an
            # exception type the helpers do not raise (LinAlgError) likewise
            self.emit(f"if {failing_condition}:")
            with self.indent():
                self.emit(f'raise {exception}("symgraph check {number}")')
        else:
            # elsewhere one cached helper call: each inline branch costs Numba compile time (W7: 18%)
            helper = "check_index" if exception == "IndexError" else "check_value"
            self.emit(f"{self.runtime()}.{helper}({failing_condition}, np.int64({number}))")

    def check_number(self, message, exception="ValueError") -> int:
        """Register a check and return its number: ``check`` emits the test, or a runtime helper raises it
        itself (``ValueError("symgraph check", number)``, the number passed as an argument)."""
        number = len(self.checks)
        self.checks.append(Check(number, exception, message, self.node))
        return number

    def _in_loop(self) -> bool:
        """Whether the next line is inside a loop opened through ``loop`` (an element loop)."""
        return any(d < self.depth for d in self._open_loops)

    def broadcast_length(self, lengths, message) -> str:
        """A local holding the NumPy broadcast of the runtime ``lengths`` (code strings); a mismatch raises.
        Two or more distinct lengths go through one cached helper call (``runtime.broadcast_lengths``), which
        raises the check itself: the inline comparisons cost Numba compile time per branch."""
        distinct = list(dict.fromkeys(str(n) for n in lengths))
        if len(distinct) > 1 and "1" in distinct:
            distinct.remove("1")            # a literal 1 broadcasts against anything and changes nothing
        if len(distinct) == 1:
            return self.let(distinct[0], "n")
        number = self.check_number(message)
        return self.let(f"{self.runtime()}.broadcast_lengths({self.int_tuple(distinct)}, np.int64({number}))", "n")

    def loop(self, index, count, parallel=False) -> str:
        """The ``for`` line of an element loop over ``index``; the caller emits it next, at the current depth."""
        self._loop_pending = True
        if parallel:
            self.uses_prange = True
            return f"for {index} in prange({count}):"
        return f"for {index} in range({count}):"

    def vector_math_module(self) -> str:
        """The name under which the generated module imports vmath.py (vectorisable exp, tanh, log, log1p)."""
        line = f"import {__package__}.vmath as vm"
        if line not in self.imports:
            self.imports.append(line)
        return "vm"

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

    def int64_code(self, var, prefix="n") -> str:
        """Code for the 0-d integer ``var`` as an int64: its own name when it already is one, else a new local
        (each needless ``np.int64(...)`` line is one more statement for Numba to compile)."""
        code = self.code(var)
        if np.dtype(var.dtype) == np.int64 and code.isidentifier():
            return code
        return self.let(f"np.int64({code})", prefix)

    def dims(self, var) -> list:
        return self.value(var).dims

    def bind(self, var, code, dims=None, contiguous=False, owned=False, internal=None):
        """Record that ``code`` holds ``var``; unknown lengths are read from ``code.shape``. ``internal``
        (``Value.internal``) defaults to ``owned``."""
        if dims is None:
            dims = [str(n) if n is not None else f"{code}.shape[{axis}]"
                    for axis, n in enumerate(var.type.shape)]
        self.values[id(var)] = Value(code, list(dims), contiguous, owned, owned if internal is None else internal)

    def note_shape_only(self, nodes, outputs):
        """Record the variables computed by ``nodes`` whose value nothing reads: every reader among ``nodes``
        takes only their lengths (``Op.shape_only_inputs``: ``sum_to_shape``'s ``like``, ``shape_of``) and
        none is among ``outputs``. A lowering may bind such a variable's lengths without computing its value
        (``sg.grad``'s ``broadcast_to(0, shape)`` operands of ``sum_to_shape``)."""
        found = set()
        while True:      # a view read only for its lengths reads its input only for them (SHAPE_ONLY_READS)
            read = {id(var) for var in outputs}
            for node in nodes:
                shape_only = set(getattr(node.op, "shape_only_inputs", ()))
                reads = SHAPE_ONLY_READS.get(type(node.op))
                if reads is not None:
                    shape_only.update(reads(node, found))
                read.update(id(var) for position, var in enumerate(node.inputs) if position not in shape_only)
            grown = {id(var) for node in nodes for var in node.outputs if id(var) not in read}
            if grown == found:
                break
            found = grown
        self.shape_only |= found

    def bind_lengths_only(self, var, dims):
        """Bind ``var``, a variable ``note_shape_only`` found, to its lengths alone: its code is not Python,
        so a lowering that read its value would fail loudly when the module is parsed, never compute garbage."""
        if id(var) not in self.shape_only:
            raise AssertionError(f"internal error: {var!r} is read as a value")
        self.values[id(var)] = Value(UNREAD, list(dims), False, False)

    def alias(self, var, source_var):
        """``var`` is the same value as ``source_var`` (identity ops); never owned, it is shared (internal if
        that is)."""
        value = self.value(source_var)
        self.values[id(var)] = Value(value.code, list(value.dims), value.contiguous, False, value.internal)

    def checked_size(self, dims, message, itemsize=1, negative_message=None) -> str:
        """A local holding the number of elements of ``dims`` (code for lengths), checked as NumPy checks a
        shape: the product of the nonzero lengths times ``itemsize`` must fit in int64, else the call raises
        ``message`` (int64 arithmetic would wrap, and a wrapped size reads and writes out of bounds); a negative
        length raises ``negative_message`` (default ``message``). One cached helper call
        (``runtime.shape_size``) that raises the checks itself, whatever the rank."""
        if not dims:
            return self.let("np.int64(1)", "size")
        too_large = self.check_number(message)
        negative = too_large if negative_message is None else self.check_number(negative_message)
        return self.let(f"{self.runtime()}.shape_size({self.int_tuple(dims)}, np.int64({int(itemsize)}), "
                        f"np.int64({negative}), np.int64({too_large}))", "size")

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
    callbacks: list = field(default_factory=list)   # keys of the nodes the kernel calls back (callbacks.py)
    #: outputs returned as rows of one array: (position of the array in the returned tuple, [(output, row)],
    #: ndim of the outputs); the array's output shape follows it (lower._return_outputs, entry.unpacker)
    packs: list = field(default_factory=list)


def array_type(dtype, ndim) -> str:
    if ndim == 0:
        return numba_type(dtype)
    axes = ", ".join([":"] * (ndim - 1) + ["::1"])
    return f"{numba_type(dtype)}[{axes}]"


def comment_text(text) -> str:
    """``text`` as printable ASCII on one line (``ascii`` escapes, without its quotes): safe in a comment."""
    return ascii(str(text))[1:-1]
