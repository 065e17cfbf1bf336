"""The engine's Trace types: re-exported from the engine-neutral :mod:`initlab.trace`.

Example:
    >>> Trace is __import__("initlab.trace", fromlist=["Trace"]).Trace
    True
"""

from initlab.trace import LayerTrace, Trace

__all__ = ["LayerTrace", "Trace"]
