"""initlab.nn: the NumPy training engine (K models at once)."""

from initlab.nn.trace import LayerTrace, Trace

__all__ = ["LayerTrace", "Trace"]
