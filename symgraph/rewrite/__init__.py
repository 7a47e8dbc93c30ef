"""The graph optimizer. ``optimize_graph`` is the single entry point used by ``sg.function``."""


def optimize_graph(outputs, mode="fast_run", inputs=None):
    """Optimized copies of ``outputs`` (leaves kept as the same objects) and a rewrite log."""
    return list(outputs), None


def optimize(outputs, mode="fast_run"):
    """The optimized outputs (same structure as given), for inspection."""
    single = not isinstance(outputs, (list, tuple))
    result, _ = optimize_graph([outputs] if single else list(outputs), mode=mode)
    return result[0] if single else result
