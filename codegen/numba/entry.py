"""The checked Python entry of a compiled function: a small generated wrapper around the jitted kernel.

The wrapper is specialised when the function is compiled: for each input it
tests, in a few attribute reads, that the value already is what the kernel
takes (a Python float for a float64 scalar, a C-contiguous array of the exact
dtype and ndim) and only otherwise calls the general conversion
(``symgraph.function.check_value``: dtype casting rules, ndim, static shapes).
Every shape relation the loops rely on is checked inside the kernel; a failed
check raises ``ValueError("symgraph check N")`` (inline) or ``ValueError("symgraph
check", N)`` (the runtime's check helpers), which the wrapper turns into a message
naming the op, the user's line and the call's input shapes. Updates
are committed after the kernel returned; the call holds its shared variables' locks
(``symgraph.function.StateLock``).
"""
from __future__ import annotations

import re

import numpy as np

from symgraph.function import _MISSING, check_value, commit_updates

from ..guard import check_source

_CHECK = re.compile(r"symgraph check (\d+)$")


def check_number(exc):
    """The number of the kernel check ``exc`` reports, or None: ``"symgraph check N"`` from an inline check,
    ``("symgraph check", N)`` from the runtime's ``check_value``/``check_index``."""
    args = exc.args
    if len(args) == 2 and args[0] == "symgraph check" and isinstance(args[1], (int, np.integer)):
        return int(args[1])
    match = _CHECK.match(str(exc))
    return int(match.group(1)) if match else None


def explain_error(exc, checks, inputs, values):
    """The exception to raise for ``exc`` from the kernel: ours get the op, the user line and the shapes."""
    number = check_number(exc)
    if number is None:
        return exc
    check = checks[number]
    where = check.node.where() if check.node is not None else ""
    shapes = ", ".join(f"{var.name or f'input {i}'} {np.shape(value)}"
                       for i, (var, value) in enumerate(zip(inputs, values)))
    shapes = f"; the call's inputs had shapes: {shapes}" if shapes else ""
    return type(exc)(f"{check.message}{_operand_shapes(check.node, inputs, values)}{where}{shapes}")


def _operand_shapes(node, inputs, values):
    """The shapes of the failing node's operands where the call knows them (inputs, shared variables)."""
    from symgraph.graph import SharedVariable
    if node is None:
        return ""
    given = {id(var): value for var, value in zip(inputs, values)}
    parts = []
    for operand in node.inputs[:6]:
        if id(operand) in given:
            shape = np.shape(given[id(operand)])
        elif isinstance(operand, SharedVariable):
            shape = operand._host_value().shape
        else:
            shape = "(" + ", ".join("?" if n is None else str(n) for n in operand.type.shape) + ")"
        label = f"'{operand.name}'" if operand.name else f"the output of {operand.owner.op}" if operand.owner \
            else "a constant"
        parts.append(f"{label} {shape}")
    more = f", and {len(node.inputs) - 6} more" if len(node.inputs) > 6 else ""
    return f" (operands: {', '.join(parts)}{more})"


def to_kernel_scalar(value, var):
    return check_value(value, var)[()]


def to_kernel_array(value, var):
    array = np.ascontiguousarray(check_value(value, var))
    return array if array.flags.writeable else array.copy()   # the kernel is typed for writable arrays


def unpacker(module, n_results):
    """A function turning what the kernel returns into one value per program output, or None when the kernel
    returns them as they are (``KernelModule.packs``: outputs returned as rows of one array)."""
    if not module.packs:
        return None
    packed = {k for _, rows, _ in module.packs for k, _ in rows}
    plain = [k for k in range(n_results) if k not in packed]
    packs = module.packs

    def unpack(returned):
        results = [None] * n_results
        for position, k in enumerate(plain):
            results[k] = returned[position]
        for position, rows, ndim in packs:
            array, shape = returned[position], returned[position + 1]
            for k, row in rows:
                results[k] = array[row] if ndim == 1 else array[row].reshape(shape)
        return results
    return unpack


def _contiguous_writable(array):
    return array.flags.c_contiguous and array.flags.writeable


_PYTHON_TYPES = {"float64": "float", "int64": "int", "bool": "bool"}


_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _python_type(dtype):
    return _PYTHON_TYPES.get(dtype)


def explain_conversion(exc, inputs, values):
    """The error to raise for ``exc`` (a TypeError or OverflowError from passing ``values`` to the kernel):
    ``check_value``'s for the first value it refuses, naming that input, else ``exc`` itself."""
    for value, var in zip(values, inputs):
        try:
            check_value(value, var)
        except (TypeError, ValueError) as error:
            return error
    return exc


def direct_entry(kernel):
    """The compiled CPython wrapper of ``kernel``'s one signature (what its dispatcher calls once it has
    typed the arguments), or ``kernel`` itself: a dispatcher with several signatures or none, or no
    dispatcher (a program run on the scalar tape, tape.py)."""
    overloads = list(getattr(kernel, "overloads", {}).values())
    if len(overloads) != 1:
        return kernel
    return getattr(overloads[0], "entry_point", None) or kernel


def build_entry(executor, function):
    """The specialised ``f(*args, **kwargs)`` for ``function`` (a ``symgraph.function.Function``)."""
    program = executor.program
    module = executor.module
    n_inputs = len(program.inputs)
    names = {"kernel": executor.kernel, "ndarray": np.ndarray, "array": np.array, "asarray": np.asarray,
             "ascontiguousarray": np.ascontiguousarray, "bind": function._bind,
             "to_scalar": to_kernel_scalar, "to_array": to_kernel_array, "commit": commit_updates,
             "explain": explain_error, "checks": module.checks, "inputs": program.inputs,
             "updated": program.updated,
             "lock": getattr(function, "_lock", None)}
    arguments = [f"a{i}" for i in range(n_inputs)]
    if n_inputs:
        # Positional-only parameters (a keyword never binds to them; it lands in kwargs and takes the general
        # path): a call with one value per input runs no tuple packing, unpacking or length check.
        names["missing"] = _MISSING
        given = ", ".join(arguments)
        lines = [f"def entry({', '.join(f'{a}=missing' for a in arguments)}, /, *more, **kwargs):",
                 f"    if kwargs or more or {arguments[-1]} is missing:",
                 f"        {given}, = bind(tuple(a for a in ({given},) if a is not missing) + more, kwargs)"]
    else:
        lines = ["def entry(*args, **kwargs):",
                 "    if kwargs or args:",
                 "        bind(args, kwargs)"]
    trust = bool(program.options.get("trust_input"))
    arrays = []      # the inputs given as arrays of the right dtype and ndim, perhaps strided or read-only
    for i, var in enumerate(program.inputs):
        names[f"input{i}"] = var
        if trust:
            continue
        if var.ndim == 0:
            # fast paths: the Python type that is the kernel's (float, int, bool), a NumPy scalar or a 0-d
            # array of the exact dtype, a Python float that fits a float32; anything else is converted by
            # the general rules (check_value)
            python_type = _python_type(var.dtype)
            names[f"scalar{i}"], names[f"dtype{i}"] = np.dtype(var.dtype).type, np.dtype(var.dtype)
            # (the argument's type read once into a local: each further test is one identity comparison)
            lines.append(f"    t{i} = type(a{i})")
            if python_type:
                lines.append(f"    if t{i} is not {python_type}:")
                indent = "        "
            else:
                indent = "    "
            test = "if"
            if var.dtype == "float32":
                # A Python float in float32's range goes to the kernel as it is: its dispatcher (compiled for
                # float32 only) rounds it to nearest as NumPy's cast does, faster than a NumPy scalar
                # would pass. NaN and out-of-range values take the general path.
                lines.append(f"{indent}if t{i} is float and {_FLOAT32_MAX!r} >= a{i} >= {-_FLOAT32_MAX!r}:")
                lines.append(f"{indent}    pass")
                test = "elif"
            lines.append(f"{indent}{test} t{i} is ndarray and a{i}.ndim == 0 and a{i}.dtype is dtype{i}:")
            # item() gives the Python number the kernel's dispatcher types fastest, else the NumPy scalar
            lines.append(f"{indent}    a{i} = a{i}.item()" if python_type else f"{indent}    a{i} = a{i}[()]")
            lines.append(f"{indent}elif t{i} is scalar{i}:")
            # a NumPy scalar as the Python number of its value: the dispatcher types that ~90 ns sooner
            lines.append(f"{indent}    a{i} = {python_type}(a{i})" if python_type else f"{indent}    pass")
            lines.append(f"{indent}else:")
            lines.append(f"{indent}    a{i} = to_scalar(a{i}, input{i})")
        else:
            names[f"dtype{i}"] = np.dtype(var.dtype)
            # Layout and writability are the kernel dispatcher's to check (it is compiled for C-contiguous,
            # writable arrays only and raises TypeError for any other): see the retry below.
            lines.append(f"    if type(a{i}) is not ndarray or a{i}.dtype is not dtype{i} or a{i}.ndim != {var.ndim}:")
            lines.append(f"        a{i} = to_array(a{i}, input{i})")
            arrays.append(i)
    scalars_only = not arrays and all(var.ndim == 0 for var in program.shared)
    if scalars_only:
        # Only scalars reach the kernel (each of exactly the Python or NumPy type the checks above let
        # through, or converted by check_value): its compiled wrapper is called directly, without the
        # dispatcher's argument typing (~60-100 ns of W2's call). Arrays keep the dispatcher, whose typing
        # refuses a strided or read-only array the wrapper would take for a C-contiguous writable one.
        names["kernel"] = direct_entry(executor.kernel)
    call = list(arguments)
    shared_lines = []
    for i, var in enumerate(program.shared):
        names[f"shared{i}"] = var
        # A value another backend (cuda) updated on its device is copied back first, by get_value.
        value = f"(shared{i}.get_value(borrow=True) if shared{i}.device_copies else shared{i}._value)"
        if var.ndim == 0:
            call.append(f"{value}[()]")
        else:
            shared_lines.append(f"s{i} = {value}")
            shared_lines.append(f"if not s{i}.flags.c_contiguous:")
            shared_lines.append(f"    s{i} = ascontiguousarray(s{i})")
            call.append(f"s{i}")
    for k, argument in enumerate(module.arguments):
        if argument[0] == "constant":
            names[f"const{k}"] = argument[1]
            call.append(f"const{k}")
    n_results = len(program.outputs)
    unpack = unpacker(module, n_results)
    if unpack is not None:          # (packs hold at least lower.PACK_MIN_ROWS outputs: n_results > 1)
        names["unpack"] = unpack
        body = shared_lines + [f"r = unpack(kernel({', '.join(call)}))"]
    elif n_results == 1 and program.updated:
        n_results = 0  # a lone update value: wrap it so r[n_outputs:] selects it
        body = shared_lines + [f"r = (kernel({', '.join(call)}),)"]
    else:
        body = shared_lines + [f"r = kernel({', '.join(call)})"]
    if program.updated:
        body.append(f"commit(updated, r[{program.n_outputs}:])")
    if program.shared:   # the shared variables' locks (symgraph.function.StateLock), held for the call
        lines.append("    try:")
        lines.append("        with lock:")
        lines += [f"            {line}" for line in body]
    else:
        lines.append("    try:")
        lines += [f"        {line}" for line in body]
    lines.append("    except (ValueError, IndexError) as exc:")
    lines.append(f"        raise explain(exc, checks, inputs, [{', '.join(arguments)}]) from None")
    if scalars_only and n_inputs:
        # a value the kernel cannot take (an int beyond int64; any value with trust_input): the general
        # checks name the input and say why
        names["explain_conversion"] = explain_conversion
        lines.append("    except (TypeError, OverflowError) as exc:")
        lines.append(f"        raise explain_conversion(exc, inputs, [{', '.join(arguments)}]) from None")
    if arrays:
        # The dispatcher found no kernel for these argument types before running anything: a strided or
        # read-only array. Again with contiguous writable copies (a TypeError of any other cause is raised).
        names["contiguous"] = _contiguous_writable
        lines.append("    except TypeError:")
        lines.append(f"        if {' and '.join(f'contiguous(a{i})' for i in arrays)}:")
        lines.append("            raise")
        retry = ", ".join(f"to_array(a{i}, input{i})" if i in arrays else f"a{i}" for i in range(n_inputs))
        lines.append(f"        return entry({retry})")
    results = []
    for k in range(program.n_outputs):
        code = "r" if n_results == 1 else f"r[{k}]"
        if module.output_scalar[k]:
            if _python_type(program.outputs[k].dtype):
                code = f"asarray({code})"     # the kernel returns a Python number of exactly this dtype
            else:
                names[f"out_dtype{k}"] = np.dtype(program.outputs[k].dtype)
                code = f"array({code}, out_dtype{k})"
        results.append(code)
    if function._returns_list:
        lines.append(f"    return [{', '.join(results)}]")
    else:
        lines.append(f"    return {results[0]}")
    source = "\n".join(lines) + "\n"
    check_source(source, vocabulary={*names, "entry", "type", "len", "tuple", "a", "more", "kwargs", "args",
                                     "TypeError", "OverflowError", *_PYTHON_TYPES.values()})
    exec(compile(source, "<symgraph entry>", "exec"), names)  # noqa: S102 - generated from the graph
    entry = names["entry"]
    entry.source = source
    return entry
