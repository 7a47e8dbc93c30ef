"""Where a compiled function's time goes: ``sg.function(..., profile=True)`` and ``f.profile()``.

A ``Profile`` accumulates seconds and counts per row. What a row is depends on the backend:
the python backend times each node's ``perform``; the cuda backend times each kernel launch
(synchronised, so the time is the kernel's); the numba backend compiles the whole optimized
graph into one generated kernel, so its row is that kernel (one fused group). Every backend also
gets a row for the time of a call spent outside those rows (argument checks, conversions,
committing updates), so the rows add up to the calls' total time.
"""
from __future__ import annotations

import threading
import time


class Profile:
    """Accumulated timings of a function's calls; ``str(profile)`` is the table.

    Attributes
    ----------
    calls : int
        How many calls were timed.
    total_seconds : float
        Their total wall time, from the call to its return.
    rows : list of dict
        One per row label, in first-seen order: ``label``, ``count`` (times it ran), ``seconds``
        (total), ``percent`` (of ``total_seconds``).

    Examples
    --------
    >>> import numpy as np, symgraph as sg
    >>> x = sg.vector("x")
    >>> f = sg.function([x], sg.exp(x).sum(), backend="python", profile=True)
    >>> _ = f(np.ones(3))
    >>> f.profile().calls
    1
    """

    def __init__(self, kind):
        self.kind = kind
        self.calls = 0
        self.total_seconds = 0.0
        self._seconds = {}
        self._counts = {}
        self._sources = []     # (rows function, reset function) of counters a backend keeps itself
        self._lock = threading.Lock()

    def add(self, label, seconds, count=1):
        """Add ``seconds`` (and ``count`` runs) to the row ``label``."""
        with self._lock:
            self._seconds[label] = self._seconds.get(label, 0.0) + seconds
            self._counts[label] = self._counts.get(label, 0) + count

    def add_source(self, rows, reset):
        """Rows a backend accumulates itself: ``rows()`` -> [(label, seconds, count)]; ``reset()``."""
        self._sources.append((rows, reset))

    def add_call(self, seconds):
        with self._lock:
            self.calls += 1
            self.total_seconds += seconds

    def reset(self):
        """Forget every timing recorded so far."""
        with self._lock:
            self.calls, self.total_seconds = 0, 0.0
            self._seconds.clear()
            self._counts.clear()
            for _, reset in self._sources:
                reset()

    @property
    def rows(self):
        with self._lock:
            rows = [{"label": label, "count": self._counts[label], "seconds": seconds}
                    for label, seconds in self._seconds.items()]
            for source, _ in self._sources:
                rows += [{"label": label, "count": count, "seconds": seconds}
                         for label, seconds, count in source()]
            inside = sum(row["seconds"] for row in rows)
            if self.calls:
                rows.append({"label": "outside the rows above (argument checks, conversions, updates)",
                             "count": self.calls, "seconds": max(0.0, self.total_seconds - inside)})
            total = self.total_seconds or 1.0
        for row in rows:
            row["percent"] = 100.0 * row["seconds"] / total
        return rows

    def __str__(self):
        rows = sorted(self.rows, key=lambda r: -r["seconds"])
        lines = [f"{self.kind}: {self.calls} call(s), {self.total_seconds * 1e3:.3f} ms in all",
                 f"{'%':>6} {'ms':>10} {'count':>7}  row"]
        for row in rows:
            lines.append(f"{row['percent']:6.1f} {row['seconds'] * 1e3:10.3f} {row['count']:7d}  {row['label']}")
        return "\n".join(lines)

    __repr__ = __str__


def node_label(index, node):
    """The row label of a node: its position, op, output types and the user's line."""
    types = ", ".join(str(v.type) for v in node.outputs)
    return f"#{index} {node.op} -> {types}{node.where()}"


def timed(function, profile, label):
    """``function`` wrapped so each call adds its time to ``profile``'s row ``label``."""
    clock = time.perf_counter

    def run(*args):
        start = clock()
        try:
            return function(*args)
        finally:
            profile.add(label, clock() - start)
    run.__wrapped__ = function
    return run
