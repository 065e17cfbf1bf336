"""Diagnostics: per-layer signal-propagation statistics, findings, and mean-field theory.

``inspect(model, x, y=None)`` reads the engine's Trace and returns a :class:`Report`
(``print(report)``, ``report.findings``, ``report.to_dict()``); :mod:`~initlab.diagnose.theory`
says what mean-field theory predicts; :class:`Probe` records the statistics during ``fit``.

Example:
    >>> from initlab.diagnose import theory
    >>> round(theory.critical_sigma_w2("relu"), 6)
    2.0
"""

from initlab.diagnose import theory
from initlab.diagnose.findings import CODES, Finding, find
from initlab.diagnose.probe import Probe
from initlab.diagnose.report import Report, inspect, report_from_trace
from initlab.diagnose.stats import LayerStats, layer_stats, trace_stats
from initlab.diagnose.thresholds import Thresholds

__all__ = [
    "CODES",
    "Finding",
    "LayerStats",
    "Probe",
    "Report",
    "Thresholds",
    "find",
    "inspect",
    "layer_stats",
    "report_from_trace",
    "theory",
    "trace_stats",
]
