"""Studies: schemes x seeds on one architecture, trained as K-model ensembles, stored safely.

Example:
    >>> from initlab.studies import Study
    >>> Study(schemes=["zeros", "he_normal"], seeds=2, validate_names=False).runs[-1]
    ('he_normal', 1)
"""

from initlab.studies.spec import Study, parse_layers
from initlab.studies.store import RunRecord, Store

__all__ = ["Study", "Store", "RunRecord", "parse_layers"]
