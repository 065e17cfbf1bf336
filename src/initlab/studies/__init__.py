"""Studies: schemes x seeds on one architecture, trained as K-model ensembles, stored safely.

Example:
    >>> from initlab.studies import Study
    >>> Study(schemes=["zeros", "he_normal"], seeds=2, validate_names=False).runs[-1]
    ('he_normal', 1)
"""

from initlab.studies.results import Curve, Results, SchemeSummary, Stat, mean_ci
from initlab.studies.runner import run_study
from initlab.studies.spec import Study, parse_layers
from initlab.studies.store import RunRecord, Store
from initlab.studies.sweep import Sweep, SweepResults

__all__ = [
    "Study",
    "Sweep",
    "SweepResults",
    "Store",
    "RunRecord",
    "Results",
    "SchemeSummary",
    "Stat",
    "Curve",
    "mean_ci",
    "run_study",
    "parse_layers",
]
