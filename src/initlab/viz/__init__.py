"""Figures and the self-contained HTML report.

``initlab.viz.plots`` draws (matplotlib, imported only when you use it);
``initlab.viz.report`` writes ``report.html`` from a run's ``results.json`` and figures.

Example:
    >>> from initlab.viz import plots, report
"""
