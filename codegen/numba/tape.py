"""Long scalar programs (thousands of 0-d operations) run on a jitted tape interpreter instead of new code.

Numba spends several milliseconds typing and lowering each scalar operation
(measured: ~4-8 ms per op on this machine), so a 2,000-step scalar chain and
its gradient (~20,000 ops) would take minutes to compile as straight-line
code. A program whose every value is 0-d and every node elementwise becomes a
*tape* instead: one instruction (opcode, operand registers, result register)
per scalar op, run by ``run_tape``, a fixed ``@njit(cache=True)`` interpreter
compiled once per dtype and reused by every function. Registers hold the
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
from numba import prange

from symgraph.graph import Constant, toposort

from .elemwise import elementwise_program

# Programs with at least this many scalar instructions use the tape.
TAPE_MIN_INSTRUCTIONS = 300

# The opcodes, by name: the interpreters below compare with these constants (Numba folds module-level
# integers), and tests/codegen/test_numba_vector_tape.py checks that every opcode has its branch in both
# interpreters; an opcode without one is an error there, never another op's result.
OP_ADD = 0
OP_SUB = 1
OP_MUL = 2
OP_TRUE_DIV = 3
OP_POW = 4
OP_MAXIMUM = 5
OP_MINIMUM = 6
OP_LT = 7
OP_LE = 8
OP_GT = 9
OP_GE = 10
OP_EQ = 11
OP_NE = 12
OP_AND = 13
OP_OR = 14
OP_NOT = 15
OP_NEG = 16
OP_ABS = 17
OP_SIGN = 18
OP_EXP = 19
OP_LOG = 20
OP_LOG1P = 21
OP_EXPM1 = 22
OP_SIN = 23
OP_COS = 24
OP_TAN = 25
OP_TANH = 26
OP_SQRT = 27
OP_SIGMOID = 28
OP_SOFTPLUS = 29
OP_RELU = 30
OP_WHERE = 31
OP_IDENTITY = 32
OP_CAST = 33
OP_TO_BOOL = 34
OPCODES = {name: globals()["OP_" + name.upper()] for name in (
    "add", "sub", "mul", "true_div", "pow", "maximum", "minimum", "lt", "le", "gt", "ge", "eq", "ne",
    "and", "or", "not", "neg", "abs", "sign", "exp", "log", "log1p", "expm1", "sin", "cos", "tan",
    "tanh", "sqrt", "sigmoid", "softplus", "relu", "where", "identity", "cast", "to_bool")}


@nb.njit(cache=True, error_model="numpy")
def run_tape(registers, opcodes, first, second, third, result):  # pragma: no cover - jitted
    zero = registers.dtype.type(0)
    one = registers.dtype.type(1)
    for k in range(opcodes.shape[0]):
        op = opcodes[k]
        x = registers[first[k]]
        y = registers[second[k]]
        if op == OP_ADD:
            r = x + y
        elif op == OP_SUB:
            r = x - y
        elif op == OP_MUL:
            r = x * y
        elif op == OP_TRUE_DIV:
            r = x / y
        elif op == OP_POW:
            r = np.power(x, y)
        elif op == OP_MAXIMUM:
            r = np.maximum(x, y)
        elif op == OP_MINIMUM:
            r = np.minimum(x, y)
        elif op == OP_LT:
            r = one if x < y else zero
        elif op == OP_LE:
            r = one if x <= y else zero
        elif op == OP_GT:
            r = one if x > y else zero
        elif op == OP_GE:
            r = one if x >= y else zero
        elif op == OP_EQ:
            r = one if x == y else zero
        elif op == OP_NE:
            r = one if x != y else zero
        elif op == OP_AND:
            r = one if (x != zero and y != zero) else zero
        elif op == OP_OR:
            r = one if (x != zero or y != zero) else zero
        elif op == OP_NOT:
            r = one if x == zero else zero
        elif op == OP_NEG:
            r = -x
        elif op == OP_ABS:
            r = np.abs(x)
        elif op == OP_SIGN:
            r = np.sign(x)
        elif op == OP_EXP:
            r = np.exp(x)
        elif op == OP_LOG:
            r = np.log(x)
        elif op == OP_LOG1P:
            r = np.log1p(x)
        elif op == OP_EXPM1:
            r = np.expm1(x)
        elif op == OP_SIN:
            r = np.sin(x)
        elif op == OP_COS:
            r = np.cos(x)
        elif op == OP_TAN:
            r = np.tan(x)
        elif op == OP_TANH:
            r = np.tanh(x)
        elif op == OP_SQRT:
            r = np.sqrt(x)
        elif op == OP_SIGMOID:
            e = np.exp(-np.abs(x))
            r = one / (one + e) if x >= zero else e / (one + e)
        elif op == OP_SOFTPLUS:
            r = np.maximum(x, zero) + np.log1p(np.exp(-np.abs(x)))
        elif op == OP_RELU:
            r = zero if x <= zero else x
        elif op == OP_WHERE:
            r = y if x != zero else registers[third[k]]
        elif op == OP_IDENTITY or op == OP_CAST:
            r = x
        elif op == OP_TO_BOOL:
            r = one if x != zero else zero
        else:
            raise ValueError("symgraph internal error: a tape opcode without a branch in run_tape")
        registers[result[k]] = r
    return registers


# Fused elementwise nodes with at least this many instructions run on the vector tape (run_vector_tape):
# Numba's compile time grows faster than linearly with a loop body's length.
VECTOR_TAPE_MIN_INSTRUCTIONS = 256
# Elements per block: registers for one block stay in cache, and the per-instruction dispatch is amortized.
VECTOR_BLOCK = 512
PRANGE_ONLY = dict(prange=True, comprehension=False, reduction=False, inplace_binop=False, setitem=False,
                   numpy=False, stencil=False, fusion=False)


@nb.njit(cache=True, error_model="numpy", parallel=PRANGE_ONLY)
def run_vector_tape(operands, initial, opcodes, first, second, third, result, outputs):  # pragma: no cover
    """Run a tape over every element: ``operands`` (n_operands, size) -> (len(outputs), size).

    Registers 0..n_operands-1 take the operands' values; the others start from ``initial``
    (the constants). Blocks of ``VECTOR_BLOCK`` elements run in parallel, each on its own registers.
    """
    n_operands, size = operands.shape
    dtype = operands.dtype
    out = np.empty((outputs.shape[0], size), dtype=dtype)
    n_blocks = (size + VECTOR_BLOCK - 1) // VECTOR_BLOCK
    for block in prange(n_blocks):
        start = block * VECTOR_BLOCK
        m = min(VECTOR_BLOCK, size - start)
        registers = np.empty((initial.shape[0], VECTOR_BLOCK), dtype=dtype)
        for r in range(initial.shape[0]):
            if r < n_operands:
                registers[r, :m] = operands[r, start:start + m]
            else:
                registers[r, :m] = initial[r]
        _run_block(registers, m, opcodes, first, second, third, result)
        for k in range(outputs.shape[0]):
            out[k, start:start + m] = registers[outputs[k], :m]
    return out


@nb.njit(cache=True, error_model="numpy")
def run_pooled(operands, initial, opcodes, first, second, third, result, outputs, bounds, number):  # pragma: no cover
    """run_vector_tape on tape ``number`` of a pool (its arrays' slices are ``bounds[14*number:]``)."""
    b = bounds[14 * number:14 * number + 14]
    return run_vector_tape(operands, initial[b[0]:b[1]], opcodes[b[2]:b[3]], first[b[4]:b[5]],
                           second[b[6]:b[7]], third[b[8]:b[9]], result[b[10]:b[11]], outputs[b[12]:b[13]])


@nb.njit(cache=True, error_model="numpy")
def _run_block(registers, m, opcodes, first, second, third, result):  # pragma: no cover - jitted
    zero = registers.dtype.type(0)
    one = registers.dtype.type(1)
    for k in range(opcodes.shape[0]):
        op = opcodes[k]
        x = registers[first[k]]
        y = registers[second[k]]
        z = registers[third[k]]
        r = registers[result[k]]
        if op == OP_ADD:
            for j in range(m):
                r[j] = x[j] + y[j]
        elif op == OP_SUB:
            for j in range(m):
                r[j] = x[j] - y[j]
        elif op == OP_MUL:
            for j in range(m):
                r[j] = x[j] * y[j]
        elif op == OP_TRUE_DIV:
            for j in range(m):
                r[j] = x[j] / y[j]
        elif op == OP_POW:
            for j in range(m):
                r[j] = np.power(x[j], y[j])
        elif op == OP_MAXIMUM:
            for j in range(m):
                r[j] = np.maximum(x[j], y[j])
        elif op == OP_MINIMUM:
            for j in range(m):
                r[j] = np.minimum(x[j], y[j])
        elif op == OP_LT:
            for j in range(m):
                r[j] = one if x[j] < y[j] else zero
        elif op == OP_LE:
            for j in range(m):
                r[j] = one if x[j] <= y[j] else zero
        elif op == OP_GT:
            for j in range(m):
                r[j] = one if x[j] > y[j] else zero
        elif op == OP_GE:
            for j in range(m):
                r[j] = one if x[j] >= y[j] else zero
        elif op == OP_EQ:
            for j in range(m):
                r[j] = one if x[j] == y[j] else zero
        elif op == OP_NE:
            for j in range(m):
                r[j] = one if x[j] != y[j] else zero
        elif op == OP_AND:
            for j in range(m):
                r[j] = one if (x[j] != zero and y[j] != zero) else zero
        elif op == OP_OR:
            for j in range(m):
                r[j] = one if (x[j] != zero or y[j] != zero) else zero
        elif op == OP_NOT:
            for j in range(m):
                r[j] = one if x[j] == zero else zero
        elif op == OP_NEG:
            for j in range(m):
                r[j] = -x[j]
        elif op == OP_ABS:
            for j in range(m):
                r[j] = np.abs(x[j])
        elif op == OP_SIGN:
            for j in range(m):
                r[j] = np.sign(x[j])
        elif op == OP_EXP:
            for j in range(m):
                r[j] = np.exp(x[j])
        elif op == OP_LOG:
            for j in range(m):
                r[j] = np.log(x[j])
        elif op == OP_LOG1P:
            for j in range(m):
                r[j] = np.log1p(x[j])
        elif op == OP_EXPM1:
            for j in range(m):
                r[j] = np.expm1(x[j])
        elif op == OP_SIN:
            for j in range(m):
                r[j] = np.sin(x[j])
        elif op == OP_COS:
            for j in range(m):
                r[j] = np.cos(x[j])
        elif op == OP_TAN:
            for j in range(m):
                r[j] = np.tan(x[j])
        elif op == OP_TANH:
            for j in range(m):
                r[j] = np.tanh(x[j])
        elif op == OP_SQRT:
            for j in range(m):
                r[j] = np.sqrt(x[j])
        elif op == OP_SIGMOID:
            for j in range(m):
                e = np.exp(-np.abs(x[j]))
                r[j] = one / (one + e) if x[j] >= zero else e / (one + e)
        elif op == OP_SOFTPLUS:
            for j in range(m):
                r[j] = np.maximum(x[j], zero) + np.log1p(np.exp(-np.abs(x[j])))
        elif op == OP_RELU:
            for j in range(m):
                r[j] = zero if x[j] <= zero else x[j]
        elif op == OP_WHERE:
            for j in range(m):
                r[j] = y[j] if x[j] != zero else z[j]
        elif op == OP_IDENTITY or op == OP_CAST:
            for j in range(m):
                r[j] = x[j]
        elif op == OP_TO_BOOL:
            for j in range(m):
                r[j] = one if x[j] != zero else zero
        else:   # unreachable (tested); in a parallel block an exception cannot be raised, so NaN, not a value
            for j in range(m):
                r[j] = np.nan


class VectorTape:
    """The tape of one fused elementwise node for ``run_vector_tape``.

    ``input_registers[j]`` is the register of input j: the operand rows come first
    (``n_rows`` of them), then ``constants`` (register -> value), then one register per
    instruction.
    """

    def __init__(self, node, input_registers, n_rows, constants):
        nin, instructions, outputs = elementwise_program(node)
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
    """A long fused node over arrays whose values are all one float dtype (booleans stored as 0/1)."""
    if not hasattr(node.op, "instructions") or not 1 <= node.outputs[0].ndim <= 3:
        return False
    nin, instructions, _ = elementwise_program(node)
    if len(instructions) < VECTOR_TAPE_MIN_INSTRUCTIONS or not tape_instructions_supported(instructions):
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
    dtype = np.dtype(next(d for _, _, d in elementwise_program(node)[1] if np.dtype(d).kind == "f"))
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
        # A 1-d output is the row itself (an expression, no statement); others a reshaped view.
        value = f"{results}[{k}]" if n == 1 else kernel.let(f"{results}[{k}].reshape({shape})", "v")
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
            name = "to_bool" if boolean else "cast"
        if boolean and name == "add":   # NumPy: a sum of booleans is their logical or (registers hold 0/1)
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
    """Every instruction has an opcode and computes a float or a boolean."""
    return all((scalar_op.name in OPCODES or scalar_op.name == "add_n") and np.dtype(dtype).kind in "fb"
               for scalar_op, _, dtype in instructions)


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
        nin, instructions, _ = elementwise_program(node)
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
            nin, instructions, outputs = elementwise_program(node)
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
        arity = {"where": 3, **{name: 2 for name in ("add", "sub", "mul", "true_div", "pow", "maximum", "minimum",
                                                     "lt", "le", "gt", "ge", "eq", "ne", "and", "or")}}
        lines = [f'"""Tape program of {len(self.opcodes)} scalar instructions over {len(self.initial)} '
                 f'{self.dtype.name} registers, run by symgraph.codegen.numba.tape.run_tape (a jitted interpreter)."""']
        lines += [f"r{i} = argument {i}" for i in range(self.n_arguments)]
        for row in zip(self.opcodes, self.first, self.second, self.third, self.result):
            name = names[int(row[0])]
            operands = ", ".join(f"r{int(r)}" for r in row[1:1 + arity.get(name, 1)])
            lines.append(f"r{int(row[4])} = {name}({operands})")
        lines.append("return " + ", ".join(f"r{r}" for r in self.outputs))
        return "\n".join(lines) + "\n"

    def __call__(self, *arguments):
        registers = self.initial.copy()
        registers[:self.n_arguments] = arguments[:self.n_arguments]
        run_tape(registers, self.opcodes, self.first, self.second, self.third, self.result)
        values = [dtype.type(registers[r]) for r, dtype in zip(self.outputs, self.output_dtypes)]
        return values[0] if self.single else tuple(values)
