"""Split a very long generated kernel body into parts, each its own ``@njit`` function.

Numba's compile time grows faster than linearly with the length of one function
(its lowering and data-flow passes walk every variable of every block), so a
kernel of thousands of lines would take many minutes. The body the lowerings
wrote is a flat sequence of top-level statements; ``split_body`` cuts it between
statements into parts of about ``PART_LINES`` lines. A part takes as arguments
the names it reads before writing them that earlier parts (or the kernel's
parameters) defined, and returns the names it writes that later code reads
first; the kernel calls the parts in order and ends with the original
``return``. Checks raised inside a part propagate unchanged, so error reporting
is the same.
"""
from __future__ import annotations

import ast

from .kernel import INNER_FUNCTION_OPTIONS

# Kernels with more body lines than this are split; parts hold about PART_LINES lines.
SPLIT_LINES = 1500
PART_LINES = 600


class _Uses(ast.NodeVisitor):
    """Names statements read before writing them (``exposed``) and the names they write, in source order."""

    def __init__(self):
        self.exposed, self.written = set(), set()

    def visit_Name(self, node):
        if isinstance(node.ctx, ast.Load):
            if node.id not in self.written:
                self.exposed.add(node.id)
        else:
            self.written.add(node.id)

    def visit_Assign(self, node):  # the value is evaluated before the targets are bound
        self.visit(node.value)
        for target in node.targets:
            self.visit(target)

    def visit_AugAssign(self, node):
        self.visit(node.value)
        if isinstance(node.target, ast.Name) and node.target.id not in self.written:
            self.exposed.add(node.target.id)    # x += y reads x first
        self.visit(node.target)


def _uses(statements):
    """(exposed, written): ``exposed`` also holds the names written only inside an ``if`` or a loop, which a
    part must receive to return them unchanged when the branch is not taken."""
    visitor = _Uses()
    conditional = set()
    for statement in statements:
        before = set(visitor.written)
        visitor.visit(statement)
        if isinstance(statement, (ast.If, ast.For, ast.While, ast.With, ast.Try)):
            conditional |= visitor.written - before
    return visitor.exposed | conditional, visitor.written


def split_body(lines: list[str], parameters: list[str], parallel_options: str) -> tuple[list[str], list[str]]:
    """(part function sources, new kernel body lines) for the kernel body ``lines`` (indented 4 spaces)."""
    source = "\n".join(line[4:] for line in lines)
    statements = ast.parse(source).body
    *body, final = statements                       # the last statement is the kernel's return
    groups, current, count = [], [], 0
    for statement in body:
        size = statement.end_lineno - statement.lineno + 1
        if current and count + size > PART_LINES:
            groups.append(current)
            current, count = [], 0
        current.append(statement)
        count += size
    if current:
        groups.append(current)
    uses = [_uses(group) for group in groups]
    final_reads, _ = _uses([final])
    source_lines = source.split("\n")
    defined = set(parameters)
    parts, calls = [], []
    for k, (group, (exposed, written)) in enumerate(zip(groups, uses)):
        arguments = sorted(exposed & defined)
        needed_later = set(final_reads).union(*(later_exposed for later_exposed, _ in uses[k + 1:]))
        results = sorted(written & needed_later)
        defined |= written
        text = "\n".join(source_lines[group[0].lineno - 1:group[-1].end_lineno])
        options = f"cache=True, error_model='numpy', pipeline_class=KernelCompiler, {INNER_FUNCTION_OPTIONS}" + (
            f", parallel={parallel_options}" if "prange(" in text else "")
        body_lines = ["    " + line for line in text.split("\n")]
        returned = f"return ({', '.join(results)},)" if results else "return 0"
        parts.append(f"@nb.njit({options})\ndef part{k}({', '.join(arguments)}):\n"
                     + "\n".join(body_lines) + f"\n    {returned}\n")
        call = f"part{k}({', '.join(arguments)})"
        calls.append(f"    ({', '.join(results)},) = {call}" if results else f"    {call}")
    final_text = "\n".join(source_lines[final.lineno - 1:final.end_lineno])
    return parts, calls + ["    " + line for line in final_text.split("\n")]
