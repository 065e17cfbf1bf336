"""initlab: weight initialization for neural networks.

The schemes (zeros, Glorot/Xavier, He/Kaiming, LeCun, orthogonal, LSUV, ...), a small fast
NumPy engine that trains K models at once, diagnostics of signal propagation, and
reproducible studies.

Example:
    >>> import initlab
    >>> initlab.__version__
    '0.1.0'
"""

from initlab import optim
from initlab.data import Dataset
from initlab.data import load as load_dataset
from initlab.diagnose import Probe, Report, Thresholds, inspect
from initlab.errors import (
    ConfigError,
    DataError,
    InitLabError,
    ShapeError,
    SpecError,
    StoreError,
)
from initlab.experiments import reproduce
from initlab.init import Initializer, fans, gain
from initlab.init import get as get_initializer
from initlab.nn import Dense, Residual, Sequential
from initlab.studies import Results, Study, Sweep
from initlab.viz.report import ReportData, write_report

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "InitLabError",
    "SpecError",
    "ShapeError",
    "DataError",
    "ConfigError",
    "StoreError",
    "Initializer",
    "get_initializer",
    "fans",
    "gain",
    "Dense",
    "Residual",
    "Sequential",
    "optim",
    "Dataset",
    "load_dataset",
    "inspect",
    "Report",
    "Probe",
    "Thresholds",
    "Study",
    "Sweep",
    "Results",
    "ReportData",
    "write_report",
    "reproduce",
]
