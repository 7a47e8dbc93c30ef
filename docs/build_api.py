"""Write docs/api.md, the API reference, from the docstrings of the public names of symgraph.

    python docs/build_api.py            # rewrite docs/api.md
    python docs/build_api.py --check    # exit 1 if docs/api.md is not what the docstrings give

Standard library only: ``inspect`` reads the signatures and the NumPy-style docstrings, and
``render`` turns their sections into Markdown. Every name in ``symgraph.__all__`` must be placed
in exactly one of ``sections()`` (tests/test_docs.py checks it), so a new public name cannot be
left out of the reference.
"""
from __future__ import annotations

import inspect
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "docs" / "api.md"

# (title, introduction, names), in the order of the reference.
SECTIONS = [
    ("Symbolic variables",
     "Inputs, constants and shared state, and the classes of the graph they belong to.",
     ["scalar", "vector", "matrix", "tensor", "constant", "shared",
      "Variable", "Constant", "SharedVariable", "TensorType", "Node"]),
    ("Elementwise operations",
     "NumPy semantics: broadcasting, and dtypes that promote as in NumPy 2 (Python numbers are weak).",
     ["add", "sub", "mul", "true_div", "neg", "pow", "abs", "square", "sign",
      "exp", "log", "log1p", "expm1", "sqrt", "sin", "cos", "tan", "tanh",
      "sigmoid", "softplus", "relu", "maximum", "minimum", "clip", "where", "cast",
      "eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_not", "polygamma"]),
    ("Reductions",
     "``axis=None`` reduces every axis; ``keepdims=True`` keeps the reduced axes with length 1.",
     ["sum", "prod", "max", "min", "mean", "var", "std", "any", "all", "logsumexp", "trace",
      "argmax", "argmin", "cumsum", "cumprod", "sort", "argsort"]),
    ("Shapes, indexing and joining",
     "Indexing and slicing (``x[0]``, ``x[1:3]``, ``x[idx]``) are operators of ``Variable``.",
     ["shape", "reshape", "transpose", "expand_dims", "squeeze", "broadcast_to", "zeros_like", "ones_like",
      "arange", "set_subtensor", "inc_subtensor", "concatenate", "stack",
      "zeros", "ones", "full", "eye", "linspace", "diag", "tril", "triu", "flatten", "moveaxis", "swapaxes",
      "vstack", "hstack", "column_stack", "split", "array_split", "take", "take_along_axis", "repeat", "tile",
      "pad"]),
    ("Products and neural-network functions", "",
     ["dot", "matmul", "outer", "tensordot", "einsum", "norm", "softmax", "log_softmax", "one_hot"]),
    ("Convolution networks",
     "PyTorch's layouts and conventions: NCHW images, OIHW filters, cross-correlation. Differentiable to any "
     "order: a convolution's gradients are convolution-like ops whose gradients are one another.",
     ["conv2d", "max_pool2d", "avg_pool2d"]),
    ("Linear algebra (sg.linalg)",
     "SciPy's names under ``sg.linalg``; ``sg.linalg.norm`` is ``sg.norm``. Square or rectangular inputs may "
     "carry leading batch axes, as in NumPy.",
     ["linalg.inv", "linalg.solve", "linalg.solve_triangular", "linalg.cholesky", "linalg.cho_solve", "linalg.det",
      "linalg.slogdet", "linalg.eigh", "linalg.eigvalsh", "linalg.svd", "linalg.svdvals", "linalg.qr",
      "linalg.pinv", "linalg.matrix_power"]),
    ("Derivatives",
     "Symbol to symbol: every derivative is a new part of the same graph, which can be compiled, "
     "printed or differentiated again.",
     ["grad", "jacobian", "hessian", "hessian_vector_product", "Lop", "Rop", "stop_gradient", "verify_grad"]),
    ("Control flow",
     "Loops as one node of the graph: ``scan`` (Theano's) with ``until`` for while loops (the derivative of a "
     "scan is another scan: backpropagation through time), and the lazy conditional ``ifelse``.",
     ["scan", "until", "ifelse"]),
    ("Random numbers",
     "Draws inside compiled functions: ``RandomStream`` and its methods. Each call of a function draws new "
     "values (the stream's states are shared variables the function updates by itself, atomically); the "
     "python and numba backends give NumPy's ``Generator(PCG64)`` values bit for bit, cuda draws from "
     "Philox on the device. Continuous draws are differentiable in their location and scale "
     "(reparameterisation).",
     ["RandomStream", "RandomStream.normal", "RandomStream.uniform", "RandomStream.bernoulli",
      "RandomStream.integers", "RandomStream.permutation", "RandomStream.choice", "RandomStream.seed"]),
    ("Your own ops and graph surgery",
     "How to write an op: subclass ``Op`` (its docstring shows a whole one) or package a graph with "
     "``OpFromGraph``; ``clone_replace`` and ``vectorize_graph`` rewrite graphs you built.",
     ["Op", "OpFromGraph", "clone_replace", "vectorize_graph"]),
    ("Compiling and running", "", ["function", "Function", "Function.wait", "optimize"]),
    ("Inspection", "", ["dprint", "to_networkx", "to_sympy", "latex", "draw", "view"]),
    ("Scaling out with Dask (symgraph.dask)",
     "``pip install symgraph[dask]``; ``import symgraph.dask`` (``import symgraph`` alone never imports Dask). "
     "Compiled functions over Dask arrays chunked along the sample axis (axis 0), and synchronous "
     "data-parallel SGD on a ``dask.distributed`` cluster.",
     ["dask.map_blocks", "dask.DataParallelStep"]),
]

# The names documented from submodules that ``import symgraph`` does not import.
OPTIONAL_SUBMODULES = ("dask",)



def sections(sg):
    """``SECTIONS`` with the functions of public scalar op classes (``symgraph.ops.elemwise.FUNCTIONS``,
    defined by their class alone) added to the elementwise section."""
    from symgraph.ops.elemwise import FUNCTIONS
    result = []
    for title, intro, names in SECTIONS:
        if title == "Elementwise operations":
            names = names + sorted(n for n in FUNCTIONS if n not in names)
        result.append((title, intro, names))
    return result


_FIELD_SECTIONS = {"Parameters", "Returns", "Raises", "Attributes", "Yields", "Other Parameters"}


def _inline(text):
    """reStructuredText inline literals (``x``) as Markdown ones (`x`)."""
    return re.sub(r"``(.+?)``", r"`\1`", text)


def _split_sections(doc):
    """The summary lines and the ``{title: lines}`` of a NumPy-style docstring, in order."""
    lines = doc.splitlines()
    summary, sections, current = [], [], None
    i = 0
    while i < len(lines):
        title = lines[i].strip()
        rule = lines[i + 1].strip() if i + 1 < len(lines) else ""
        if title and rule and set(rule) == {"-"} and len(rule) == len(title):
            current = (title, [])
            sections.append(current)
            i += 2
            continue
        (current[1] if current else summary).append(lines[i])
        i += 1
    return summary, sections


def _fields(lines):
    """``name : type`` entries with their indented descriptions, as a Markdown list."""
    out = []
    for line in lines:
        if not line.strip():
            continue
        if not line.startswith(" "):
            name, _, kind = line.partition(" : ")
            out.append(f"- **{_inline(name.strip())}**" + (f" ({_inline(kind.strip())})" if kind else "") + ":")
        elif out:
            out[-1] += " " + _inline(line.strip())
    return [entry.rstrip(":") for entry in out]


def _paragraphs(lines):
    text = "\n".join(_inline(line.strip()) for line in lines).strip()
    return [text] if text else []


def public(sg, name):
    """The object a documented name refers to: ``sg.exp``, or ``sg.linalg.svd`` for ``"linalg.svd"``."""
    if name.split(".")[0] in OPTIONAL_SUBMODULES:
        import importlib
        importlib.import_module(f"{sg.__name__}.{name.split('.')[0]}")
    obj = sg
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def render_entry(name, obj):
    """The Markdown of one public name: a heading with its signature, then its docstring's sections."""
    try:
        signature = str(inspect.signature(obj))
    except (TypeError, ValueError):
        signature = ""
    kind = "class " if inspect.isclass(obj) else ""
    parts = [f"### {kind}`sg.{name}{signature}`", ""]
    summary, sections = _split_sections(inspect.getdoc(obj) or "(no docstring)")
    parts += _paragraphs(summary)
    for title, lines in sections:
        parts += ["", f"**{title}**", ""]
        if title in _FIELD_SECTIONS:
            parts += _fields(lines)
        elif title == "Examples":
            parts += ["```python", *[line for line in "\n".join(lines).strip("\n").splitlines()], "```"]
        else:
            parts += _paragraphs(lines)
    return "\n".join(parts).rstrip() + "\n"


def render(sg=None):
    """The whole reference as Markdown text."""
    if sg is None:
        sys.path.insert(0, str(ROOT))
        import symgraph as sg
    out = ["# symgraph API reference", "",
           "Generated from the docstrings by `docs/build_api.py`; do not edit by hand "
           "(run `python docs/build_api.py` after changing a docstring). "
           "Every example assumes `import numpy as np` and `import symgraph as sg`, and runs as shown "
           "(`tests/test_docs.py` runs them); the examples compile with `backend=\"python\"`, NumPy's "
           "reference evaluator, which needs no compile time: the default `\"numba\"` backend gives the "
           "same values.", "", "## Contents", ""]
    for title, _, names in sections(sg):
        anchor = re.sub(r"[^a-z0-9 -]", "", title.lower()).replace(" ", "-")
        out.append(f"- [{title}](#{anchor}): " + ", ".join(f"`{n}`" for n in names))
    for title, intro, names in sections(sg):
        out += ["", f"## {title}", ""]
        if intro:
            out += [_inline(intro), ""]
        for name in names:
            out += [render_entry(name, public(sg, name))]
    return "\n".join(out).rstrip() + "\n"


def main(argv):
    text = render()
    if "--check" in argv:
        if not OUTPUT.exists() or OUTPUT.read_text() != text:
            print(f"{OUTPUT} is out of date: run python docs/build_api.py", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text)
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
