"""The built-in experiments (one module each): each seed article's experiment, in one call.

``reproduce(name, out=DIR)`` runs one experiment over several seeds, saves its figures
(PNG and SVG) in DIR/figures, its record in DIR/results.json, the study store in
DIR/study.sqlite (where it trains a study) and the self-contained DIR/report.html.

============  ==================================================================================
name          what it shows
============  ==================================================================================
moons         seed 002: zeros, normal(std=10), he_normal on 12-6-1; full-batch GD, 15,000 epochs
mnist         seed 000: six Keras initializers on 784-128-64-10, 5 epochs of Adam
activations   seed 001: each hidden layer's outputs for N(0, sigma) against Glorot / He
depth         He et al. 2015: plain ReLU nets of 22 and 30 layers, Glorot against He
clipping      seed 004: a large init explodes; gradient clipping by norm keeps it training
theory        tanh's mean-field phase diagram and measured variance against the prediction
coordcheck    muP's coordinate check: SP MLP under Adam blows up with width, muP stays flat
trainability  Schoenholz et al. 2017 Fig. 5: tanh on MNIST, accuracy over (sigma_w^2, depth)
residual      residual MLPs of 10-200 blocks on moons: He against Fixup, SkipInit, ReZero
============  ==================================================================================

Example:
    >>> sorted(EXPERIMENTS)
    ['activations', 'clipping', 'coordcheck', 'depth', 'mnist', 'moons', 'residual', 'theory',
     'trainability']
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from initlab.errors import ConfigError, unknown
from initlab.experiments import (
    activations,
    clipping,
    coordcheck,
    depth,
    mnist,
    moons,
    residual,
    theory,
    trainability,
)
from initlab.experiments.base import STORE_FILE, Context, Experiment

__all__ = ["EXPERIMENTS", "Experiment", "Context", "reproduce"]

EXPERIMENTS: dict[str, Experiment] = {
    m.EXPERIMENT.name: m.EXPERIMENT
    for m in (moons, mnist, activations, depth, clipping, theory, residual, coordcheck,
              trainability)
}
"""The built-in experiments by name."""


def reproduce(
    name: str,
    out: str | os.PathLike[str] | None = None,
    *,
    seeds: int | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    quick: bool = False,
    progress: bool = False,
    executor: Any = None,
) -> tuple[Path, dict[str, Any]]:
    """Run a built-in experiment and write its figures, results.json and report.html.

    Args:
        name: one of :data:`EXPERIMENTS`.
        out: the run directory (default ``initlab-NAME`` in the current directory).
        seeds: how many seeds (default: the experiment's own).
        data_dir: where downloaded data sets are (MNIST's IDX files).
        quick: a short version that still shows the qualitative outcome.
        progress: show progress bars.
        executor: where a sweep experiment trains (:mod:`initlab.studies.executors`).

    Returns:
        (path of report.html, the key numbers of the outcome).

    Raises:
        ConfigError: an unknown experiment or a bad seed count.
        DataError: the data is not available.

    Example:
        >>> import tempfile
        >>> path, numbers = reproduce("theory", tempfile.mkdtemp(), seeds=1, quick=True)
        >>> path.name
        'report.html'
    """
    from initlab.viz import provenance
    from initlab.viz.report import write_report

    if name not in EXPERIMENTS:
        raise unknown("experiment", name, EXPERIMENTS, ConfigError)
    exp = EXPERIMENTS[name]
    n = exp.default_seeds if seeds is None else seeds
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"seeds must be an int >= 1; got {seeds!r}")
    if quick and seeds is None:
        n = min(n, 2)
    out_dir = Path(out if out is not None else f"initlab-{name}")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = out_dir / ".initlab-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise ConfigError(f"cannot write to --out {str(out_dir)!r}: {e.strerror}") from None
    ctx = Context(out=out_dir, seeds=n, data_dir=None if data_dir is None else str(data_dir),
                  quick=quick, progress=progress, executor=executor)
    started = time.perf_counter()
    try:
        data = exp.run(ctx)
    finally:
        ctx.end()
    finished = time.perf_counter()
    data.figures = list(ctx.figures)
    data.provenance = provenance.collect(
        seeds=range(n), data=dict(data.provenance.get("data", {})), started=started,
        finished=finished,
        extra={"experiment": name, "source": exp.source, "quick": quick,
               **({"store": STORE_FILE} if (out_dir / STORE_FILE).exists() else {})},
    )
    return write_report(out_dir, data), ctx.numbers

