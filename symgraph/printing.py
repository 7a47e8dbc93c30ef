"""Inspection: dprint, to_networkx, to_sympy (placeholder: being written)."""


def dprint(obj, file=None, print_=False):
    raise NotImplementedError


def to_networkx(obj):
    raise NotImplementedError


def to_sympy(expr):
    raise NotImplementedError
