"""Long scalar programs (thousands of 0-d operations) run on a jitted tape interpreter instead of new code.

Numba spends several milliseconds typing and lowering each scalar operation
(measured: ~4-8 ms per op on this machine), so a 2,000-step scalar chain and
its gradient (~20,000 ops) would take minutes to compile as straight-line
code. A program whose every value is 0-d and every node elementwise becomes a
*tape* instead: one instruction (opcode, operand registers, result register)
per scalar op, run by ``run_tape``, an ``@njit(cache=True)`` interpreter
compiled once per dtype and reused by every function (its source is written from the
scalar ops' own formulas, one opcode per op class: see interpreter.py). Registers hold the
program's float dtype (float32 stays float32); booleans are stored as 0/1.

Fused elementwise nodes over arrays that are very long (``VECTOR_TAPE_MIN_INSTRUCTIONS``)
run the same instructions on the *vector tape*: ``run_vector_tape`` executes each
instruction over a block of elements at a time (blocks in parallel), so the
per-instruction dispatch is amortised and the kernel only gathers the operands
into one array, calls the interpreter and binds rows of its result
(``lower_vector_tape``, called from the elementwise lowering).
"""
from __future__ import annotations

import numba as nb
import numpy as np

from symgraph.graph import Constant, toposort

from . import interpreter


# Programs with at least this many scalar instructions use the tape.
TAPE_MIN_INSTRUCTIONS = 300

# The interpreters (run_tape, _run_block, run_vector_tape, run_pooled) are written from the scalar ops'
# formulas, one opcode and branch per op class (interpreter.py); OPCODES is {name: opcode}.
_interpreters = interpreter.load()
run_tape, _run_block = _interpreters.run_tape, _interpreters._run_block
run_vector_tape, run_pooled = _interpreters.run_vector_tape, _interpreters.run_pooled
OPCODES = interpreter.opcodes()
_OPCODE_OF_CLASS = {cls: OPCODES[cls.name] for cls in interpreter.tape_op_classes()}
_ARITY = {cls.name: cls.nin for cls in interpreter.tape_op_classes()}

# Fused elementwise nodes with at least this many instructions run on the vector tape (run_vector_tape):
# Numba's compile time grows faster than linearly with a loop body's length.
VECTOR_TAPE_MIN_INSTRUCTIONS = 256
# ... and so do fused nodes with this many outputs: each output costs the inline loop ~50-75 ms of compile
# (100 outputs of x*i + i: 7.6 s, against 0.4 s on the tape), and the tape writes them as fast or faster
# (1M elements: 32 outputs 70 ms on the tape, 96 ms in a serial loop; 100 outputs 217 against 379 ms).
VECTOR_TAPE_MIN_OUTPUTS = 32


class VectorTape:
    """The tape of one fused elementwise node for ``run_vector_tape``.

    ``input_registers[j]`` is the register of input j: the operand rows come first
    (``n_rows`` of them), then ``constants`` (register -> value), then one register per
    instruction.
    """

    def __init__(self, node, input_registers, n_rows, constants):
        nin, instructions, outputs = node.op.scalar_program(node)
        initial = [0.0] * (n_rows + len(constants))
        for register, value in constants.items():
            initial[register] = value
        code, lines = [], []
        slots = list(input_registers)
        encode(instructions, slots, initial, code, lines)
        table = np.array(code, dtype=np.int64).reshape(-1, 5)
        self.columns = [np.ascontiguousarray(table[:, i]) for i in range(5)]
        self.dtype = np.dtype(next(d for _, _, d in instructions if np.dtype(d).kind == "f"))
        self.initial = np.array(initial, dtype=self.dtype)
        self.outputs = np.array([slots[k] for k in outputs], dtype=np.int64)
        self.lines = lines


def vector_tape_applicable(node) -> bool:
    """A long fused node (or one with many outputs) over arrays whose values are all one float dtype (booleans
    stored as 0/1)."""
    if not hasattr(node.op, "instructions") or not 1 <= node.outputs[0].ndim <= 3:
        return False
    nin, instructions, _ = node.op.scalar_program(node)
    long_enough = len(instructions) >= VECTOR_TAPE_MIN_INSTRUCTIONS or len(node.outputs) >= VECTOR_TAPE_MIN_OUTPUTS
    if not long_enough or not tape_instructions_supported(instructions):
        return False
    floats = {np.dtype(d) for _, _, d in instructions if np.dtype(d).kind == "f"}
    floats.update(np.dtype(v.dtype) for v in list(node.inputs) + list(node.outputs)
                  if np.dtype(v.dtype).kind == "f")
    kinds_ok = all(np.dtype(v.dtype).kind in "fb" for v in list(node.inputs) + list(node.outputs))
    return kinds_ok and len(floats) == 1 and floats <= {np.dtype("float32"), np.dtype("float64")}


@nb.njit(cache=True, error_model="numpy")
def copy_rows(operands, base, rows):  # pragma: no cover - jitted
    """operands[base:base + len(rows)] = rows (a helper: Numba compiles slice assignment slowly)."""
    for r in range(rows.shape[0]):
        for i in range(rows.shape[1]):
            operands[base + r, i] = rows[r, i]


@nb.njit(cache=True, error_model="numpy")
def fill_row(operands, row, value):  # pragma: no cover - jitted
    for i in range(operands.shape[1]):
        operands[row, i] = value


@nb.njit(cache=True, error_model="numpy")
def gather1(operands, row, x, n0):  # pragma: no cover - jitted
    """operands[row] = x broadcast to (n0,), flattened (a length-1 axis repeats)."""
    s0 = 0 if x.shape[0] == 1 else 1
    for i0 in range(n0):
        operands[row, i0] = x[i0 * s0]


@nb.njit(cache=True, error_model="numpy")
def gather2(operands, row, x, n0, n1):  # pragma: no cover - jitted
    s0 = 0 if x.shape[0] == 1 else 1
    s1 = 0 if x.shape[1] == 1 else 1
    for i0 in range(n0):
        for i1 in range(n1):
            operands[row, i0 * n1 + i1] = x[i0 * s0, i1 * s1]


@nb.njit(cache=True, error_model="numpy")
def gather3(operands, row, x, n0, n1, n2):  # pragma: no cover - jitted
    s0 = 0 if x.shape[0] == 1 else 1
    s1 = 0 if x.shape[1] == 1 else 1
    s2 = 0 if x.shape[2] == 1 else 1
    for i0 in range(n0):
        for i1 in range(n1):
            for i2 in range(n2):
                operands[row, (i0 * n1 + i1) * n2 + i2] = x[i0 * s0, i1 * s1, i2 * s2]


def lower_vector_tape(node, kernel, dims):
    """Emit a call of run_vector_tape for a long fused node (see vector_tape_applicable).

    The kernel stacks the operands, broadcast to the output shape, into one (rows, size) array,
    runs the tape and binds each output to a row of the result. The statements are per array,
    not per operand, where that is possible (Numba spends milliseconds on each statement): the
    rows of an earlier tape's result are copied as one block, and constants live in registers.
    """
    dtype = np.dtype(next(d for _, _, d in node.op.scalar_program(node)[1] if np.dtype(d).kind == "f"))
    n = len(dims)
    rows_of = kernel.tape_rows
    # Plan the operand rows: blocks of earlier tape results, then single operands; then constants.
    blocks, singles, constants, registers = {}, [], {}, [None] * len(node.inputs)
    n_rows = 0
    for j, var in enumerate(node.inputs):
        found = rows_of.get(id(var))
        if found is not None and found[3] == tuple(dims) and np.dtype(var.dtype) == dtype:
            stacked, k, count = found[:3]
            if stacked not in blocks:
                blocks[stacked] = (n_rows, count)
                n_rows += count
            registers[j] = blocks[stacked][0] + k
        elif not (isinstance(var, Constant) and var.ndim == 0):
            registers[j] = n_rows
            singles.append(j)
            n_rows += 1
    for j, var in enumerate(node.inputs):
        if registers[j] is None:
            registers[j] = n_rows + len(constants)
            constants[registers[j]] = float(var.value)
    tape = VectorTape(node, registers, n_rows, constants)
    rt = kernel.runtime()
    code_dtype = f"np.{dtype.name}"
    size = kernel.let(" * ".join(dims) if n > 1 else dims[0], "size")
    operands = kernel.fresh("operands")
    kernel.emit(f"{operands} = {kernel.new_array([max(n_rows, 1), size], dtype)}")
    for stacked, (base, count) in blocks.items():
        kernel.emit(f"{rt}.copy_rows({operands}, {base}, {stacked})")
    for j in singles:
        var, row, code = node.inputs[j], registers[j], kernel.code(node.inputs[j])
        if var.ndim == 0:
            kernel.emit(f"{rt}.fill_row({operands}, {row}, {code})")
            continue
        if np.dtype(var.dtype) != dtype:
            code = kernel.let(f"{code}.astype({code_dtype})", "cast")
        if var.ndim < n:  # missing leading axes broadcast: view the operand with the output's ndim
            lengths = ["1"] * (n - var.ndim) + [f"{code}.shape[{a}]" for a in range(var.ndim)]
            code = kernel.let(f"np.ascontiguousarray({code}).reshape(({', '.join(lengths)},))", "view")
        kernel.emit(f"{rt}.gather{n}({operands}, {row}, {code}, {', '.join(dims)})")
    results = kernel.fresh("tape_out")
    kernel.emit(f"{results} = {rt}.run_pooled({operands}, {', '.join(_pooled(kernel, tape))})")
    shape = f"({', '.join(dims)},)"
    for k, var in enumerate(node.outputs):
        if np.dtype(var.dtype).kind == "b":
            kernel.bind(var, kernel.let(f"({results}[{k}].reshape({shape}) != 0)", "v"), list(dims),
                        contiguous=True, owned=True)
            continue
        # A 1-d output is the row itself, others a reshaped view: expressions, no statement, so an output
        # the kernel only returns (packed, lower._return_outputs) costs no line to compile.
        value = f"{results}[{k}]" if n == 1 else f"{results}[{k}].reshape({shape})"
        kernel.bind(var, value, list(dims), contiguous=True, owned=True)
        rows_of[id(var)] = (results, k, len(node.outputs), tuple(dims))


def _pooled(kernel, tape):
    """Code for the arguments of ``run_pooled`` that run ``tape``: the kernel's tape pool and an index.

    All tapes of one kernel share eight kernel parameters per register dtype (the arrays of
    every tape end to end, and their bounds), and the kernel passes only the tape's number:
    Numba spends milliseconds compiling each parameter or slice, and a graph may have
    hundreds of tapes.
    """
    pools = kernel.tape_pools
    pool = pools.get(tape.dtype.name)
    if pool is None:   # eight lists of parts, joined into arrays when the kernel's arguments are collected
        pool = pools[tape.dtype.name] = {"parts": [[] for _ in range(8)], "sizes": [0] * 7, "names": []}
        for parts in pool["parts"]:
            pool["names"].append(kernel.array_argument(parts, "tape"))
    bounds = []
    for k, array in enumerate([tape.initial, *tape.columns, tape.outputs]):
        pool["parts"][k].append(array)
        bounds += [pool["sizes"][k], pool["sizes"][k] + len(array)]
        pool["sizes"][k] += len(array)
    pool["parts"][7].append(np.array(bounds, dtype=np.int64))
    number = len(pool["parts"][7]) - 1
    names = list(pool["names"])
    return names + [f"np.int64({number})"]


def encode(instructions, slots, initial, code, lines):
    """Append the tape instructions of one elementwise program.

    ``slots`` holds the register of each operand and grows by one register per instruction;
    ``initial`` holds the registers' starting values (a new register starts at 0); ``lines``,
    unless None, receives the readable text of each instruction.
    """
    for scalar_op, operands, out_dtype in instructions:
        name = scalar_op.name
        boolean = np.dtype(out_dtype).kind == "b"
        if name == "cast":
            name = "to_bool" if boolean else "identity"
        elif boolean and name == "add":   # NumPy: a sum of booleans is their logical or (registers hold 0/1)
            name = "or"
        if name == "add_n":  # an n-ary sum becomes a chain of adds (of ors for booleans)
            total = slots[operands[0]]
            for k in operands[1:]:
                code.append((OPCODES["or" if boolean else "add"], total, slots[k], 0, len(initial)))
                total = len(initial)
                initial.append(0.0)
            if lines is not None:
                lines.append(f"r{total} = add_n({', '.join(f'r{slots[k]}' for k in operands)})")
            slots.append(total)
            continue
        args = [slots[k] for k in operands] + [0] * (3 - len(operands))
        target = len(initial)
        initial.append(0.0)
        code.append((OPCODES[name], args[0], args[1], args[2], target))
        if lines is not None:
            lines.append(f"r{target} = {name}({', '.join(f'r{slots[k]}' for k in operands)})")
        slots.append(target)


def tape_instructions_supported(instructions) -> bool:
    """Every instruction has an opcode (its class has one, or the tape encodes it) and computes a float or
    a boolean."""
    return all((type(scalar_op) in _OPCODE_OF_CLASS or scalar_op.name in ("add_n", "cast"))
               and np.dtype(dtype).kind in "fb" for scalar_op, _, dtype in instructions)


def applicable(program) -> bool:
    """A tape fits: every value 0-d, every node elementwise, one float dtype (plus booleans), many ops."""
    nodes = toposort(program.outputs)
    if not nodes:
        return False
    floats = set()
    count = 0
    for node in nodes:
        if not hasattr(node.op, "scalar_op") and not hasattr(node.op, "instructions"):
            return False
        for var in list(node.inputs) + list(node.outputs):
            if var.ndim != 0:
                return False
            kind = np.dtype(var.dtype).kind
            if kind == "f":
                floats.add(var.dtype)
            elif kind != "b":
                return False
        nin, instructions, _ = node.op.scalar_program(node)
        if not tape_instructions_supported(instructions):
            return False
        floats.update(dtype for _, _, dtype in instructions if np.dtype(dtype).kind == "f")
        count += len(instructions)
    for var in list(program.inputs) + list(program.shared) + list(program.outputs):
        if var.ndim != 0:
            return False
    # Other float dtypes (float16) go to the generated code, which refuses them with an error naming the variable.
    return len(floats) == 1 and floats <= {"float32", "float64"} and count >= TAPE_MIN_INSTRUCTIONS


class Tape:
    """The compiled tape of a program and a kernel-compatible callable ``(inputs..., shared...) -> outputs``."""

    def __init__(self, program):
        nodes = toposort(program.outputs)
        dtype = next(v.dtype for n in nodes for v in n.outputs if np.dtype(v.dtype).kind == "f")
        self.dtype = np.dtype(dtype)
        registers = {}
        initial = []
        for var in list(program.inputs) + list(program.shared):
            registers[id(var)] = len(initial)
            initial.append(0.0)
        self.n_arguments = len(initial)
        code = []
        for node in nodes:
            nin, instructions, outputs = node.op.scalar_program(node)
            slots = []
            for var in node.inputs:
                if id(var) not in registers:
                    registers[id(var)] = len(initial)
                    initial.append(float(var.value) if isinstance(var, Constant) else 0.0)
                slots.append(registers[id(var)])
            encode(instructions, slots, initial, code, None)
            for var, k in zip(node.outputs, outputs):
                registers[id(var)] = slots[k]
        for var in program.outputs:
            if id(var) not in registers:
                registers[id(var)] = len(initial)
                initial.append(float(var.value) if isinstance(var, Constant) else 0.0)
        table = np.array(code, dtype=np.int64).reshape(-1, 5)
        self.opcodes, self.first, self.second, self.third, self.result = (np.ascontiguousarray(table[:, i])
                                                                          for i in range(5))
        self.initial = np.array(initial, dtype=self.dtype)
        self.outputs = [registers[id(v)] for v in program.outputs]
        self.output_dtypes = [np.dtype(v.dtype) for v in program.outputs]
        self.single = len(program.outputs) == 1
        empty = np.zeros(0, dtype=np.int64)
        run_tape(np.zeros(1, dtype=self.dtype), empty, empty, empty, empty, empty)  # compile or load once

    @property
    def source(self) -> str:
        """The tape as readable text (built on demand: a long program has tens of thousands of lines)."""
        names = {code: name for name, code in OPCODES.items()}
        lines = [f'"""Tape program of {len(self.opcodes)} scalar instructions over {len(self.initial)} '
                 f'{self.dtype.name} registers, run by symgraph.codegen.numba.tape.run_tape (a jitted interpreter)."""']
        lines += [f"r{i} = argument {i}" for i in range(self.n_arguments)]
        for row in zip(self.opcodes, self.first, self.second, self.third, self.result):
            name = names[int(row[0])]
            operands = ", ".join(f"r{int(r)}" for r in row[1:1 + _ARITY.get(name, 1)])
            lines.append(f"r{int(row[4])} = {name}({operands})")
        lines.append("return " + ", ".join(f"r{r}" for r in self.outputs))
        return "\n".join(lines) + "\n"

    def __call__(self, *arguments):
        registers = self.initial.copy()
        registers[:self.n_arguments] = arguments[:self.n_arguments]
        run_tape(registers, self.opcodes, self.first, self.second, self.third, self.result)
        values = [dtype.type(registers[r]) for r, dtype in zip(self.outputs, self.output_dtypes)]
        return values[0] if self.single else tuple(values)
