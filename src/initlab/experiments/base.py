"""What every built-in experiment shares: its Context, its Experiment record and the
helpers that turn a study's results into report tables, curves and findings.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from initlab.errors import DataError
from initlab.viz.colors import Palette
from initlab.viz.report import FigureRef, ReportData, Table

__all__ = ["STORE_FILE", "Context", "Experiment", "fmt_stat", "summary_table", "final_means",
           "curve_panels", "epoch_axis", "findings_of", "init_inspection", "resolve_mnist",
           "mnist_folder", "run_study", "data_provenance"]

STORE_FILE = "study.sqlite"


@dataclass
class Context:
    """What an experiment runs with, and where it leaves its figures.

    Attributes:
        out: the run directory.
        seeds: how many seeds (0 .. seeds-1).
        data_dir: where downloaded data sets are (None: initlab's default places).
        quick: a shorter version (fewer epochs and seeds, PNG figures only) that still shows
            the outcome.
        progress: show progress bars (and the experiment's own, see :meth:`begin`).
        executor: where a sweep trains (None: this process).
        figures: the figures saved so far.
        colors: the page's palette: pass it to every plot so each scheme keeps one color.
        numbers: the key numbers the outcome is checked on (also saved in results.json).
    """

    out: Path
    seeds: int
    data_dir: str | None = None
    quick: bool = False
    progress: bool = False
    executor: Any = None
    figures: list[FigureRef] = field(default_factory=list)
    numbers: dict[str, Any] = field(default_factory=dict)
    colors: Palette = field(default_factory=Palette)
    _bar: Any = field(default=None, repr=False, compare=False)

    def figure(self, fig: Any, name: str, caption: str) -> None:
        """Save ``fig`` as DIR/figures/NAME.png and .svg (quick: PNG only); list it."""
        from initlab.viz.style import FORMATS, save

        save(fig, self.out / "figures" / name, ("png",) if self.quick else FORMATS)
        fig.clear()
        self.figures.append(FigureRef(f"figures/{name}", caption))
        self.step(f"figure {name} saved")

    def begin(self, total: int, what: str) -> None:
        """Start a progress bar over ``total`` steps (on stderr, only when ``progress``).

        Each :meth:`step` and each saved :meth:`figure` advances it; :func:`reproduce`
        closes it when the experiment ends, however it ends.

        Example:
            >>> ctx = Context(out=Path("."), seeds=1)
            >>> ctx.begin(2, "demo"); ctx.step("one"); ctx.step("two"); ctx.end()
        """
        self.end()
        if not self.progress:
            return
        import sys

        from tqdm.auto import tqdm

        self._bar = tqdm(total=total, desc=what, file=sys.stderr, leave=False,
                         mininterval=0.2, bar_format="{desc}: {n_fmt}/{total_fmt} steps "
                                                     "[{elapsed}] {postfix}")

    def step(self, label: str) -> None:
        """Advance the progress bar by one step that has just done ``label``."""
        if self._bar is not None:
            self._bar.set_postfix_str(label, refresh=False)
            self._bar.update(1)

    def end(self) -> None:
        """Close the progress bar, if one is open."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    @property
    def store(self) -> Path:
        """The study store of this run directory."""
        return self.out / STORE_FILE


@dataclass(frozen=True)
class Experiment:
    """A built-in experiment: its name, title, source, default seeds and the function it runs.

    ``run(ctx)`` trains and measures, saves figures through ``ctx.figure`` and returns the
    report's content (its figures and provenance are filled in by :func:`reproduce`).
    """

    name: str
    title: str
    source: str
    default_seeds: int
    run: Callable[[Context], ReportData]


# --------------------------------------------------------------------------- helpers
def fmt_stat(stat: Any) -> str:
    if stat is None or not math.isfinite(stat.mean):
        return "n/a"
    if stat.n > 1 and math.isfinite(stat.std):
        return f"{stat.mean:.4f} ± {stat.std:.4f} [{stat.low:.4f}, {stat.high:.4f}]"
    return f"{stat.mean:.4f}"


def summary_table(results: Any, title: str, note: str = "") -> Table:
    """Per scheme: runs, diverged, unstable, and each final metric as mean ± std [interval]."""
    from initlab.studies.stats import UNSTABLE_FACTOR, interval_note

    rows = []
    for s in results.summary():
        m = s.metrics
        rows.append([s.scheme, s.n_runs, s.n_diverged, s.n_unstable, fmt_stat(m.get("loss")),
                     fmt_stat(m.get("accuracy")), fmt_stat(m.get("val_loss")),
                     fmt_stat(m.get("val_accuracy"))])
    note = note or (f"mean ± std over seeds [{interval_note(results.level)}]; diverged runs and "
                    f"unstable ones (final loss > {UNSTABLE_FACTOR:g} x the first logged loss) "
                    "are counted, not averaged in.")
    return Table(title, ["scheme", "runs", "diverged", "unstable", "train loss", "train acc",
                         "test loss", "test acc"], rows, note)


def final_means(results: Any, metric: str = "val_accuracy") -> dict[str, float]:
    """Per scheme, the mean final metric over runs that did not diverge (NaN if none)."""
    return {s.scheme: float(s.metrics[metric].mean) for s in results.summary()}


def curve_panels(results: Any, metrics: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """panel title -> scheme -> (runs, logged epochs); diverged runs kept (NaN after)."""
    panels: dict[str, dict[str, Any]] = {}
    for metric, title in metrics.items():
        panels[title] = {k: c.runs for k, c in
                         results.curves(metric, include_diverged=True).items()}
    return panels


def epoch_axis(results: Any) -> np.ndarray:
    return np.asarray(results.runs[0].epochs) + 1


def findings_of(report: Any, labels: Sequence[str], models: Sequence[int] | None = None,
              prefix: str = "") -> list[dict[str, Any]]:
    """Findings of an :func:`initlab.inspect` report as dicts, each naming its scheme."""
    keep = None if models is None else set(models)
    out = []
    for f in report.findings:
        if keep is not None and f.model not in keep:
            continue
        d = f.to_dict()
        d["model"] = f"{prefix}{labels[f.model]}"
        d["layer"] = f"layer {f.layer}"
        out.append(d)
    return out


def init_inspection(study: Any, dataset: Any, schemes: Sequence[str], seed: int = 0,
                     n: int = 512) -> Any:
    """Inspect the study's network at initialization, one model per scheme (same seed)."""
    from initlab.diagnose import inspect
    from initlab.studies.runner import build_model

    model = build_model(study, dataset.x_train.shape[1], int(dataset.n_classes),
                        [(s, seed) for s in schemes])
    return inspect(model, dataset.x_train[:n], dataset.y_train[:n], lr=study.lr)


def resolve_mnist(data_dir: str | None) -> tuple[dict[str, Any], str]:
    """Choose the MNIST data: the full set where its files are here, else the test split.

    Returns:
        (dataset options for the study, a sentence for the report saying which).

    Raises:
        DataError: neither is in the folder; the message names the folder it looked in.
    """
    from initlab import data

    folder = mnist_folder(data_dir)
    try:
        data.load("mnist", data_dir=data_dir, download=False, n_train=1, n_test=1)
        return {}, "the full MNIST data set (60,000 training and 10,000 test images)"
    except DataError:
        pass
    split = "test:8000/2000"
    try:
        data.load("mnist", data_dir=data_dir, download=False, split=split)
    except DataError:
        raise DataError(
            f"MNIST not found in {folder} (neither the full set nor the test split).\n"
            f"Pass --data-dir with the IDX files (e.g. ../shared/data/mnist), set "
            f"INITLAB_DATA, or run 'initlab datasets fetch mnist'."
        ) from None
    return ({"split": split},
            f"the real 10,000-image MNIST test split (the training files are not in "
            f"{folder}): the first 8,000 images train, the last 2,000 test")


def mnist_folder(data_dir: str | None) -> str:
    """Where MNIST's files are looked for (``data_dir``, $INITLAB_DATA/mnist or the cache)."""
    from initlab.data import data_home

    return str(data_home("mnist", data_dir))


def run_study(ctx: Context, study: Any) -> Any:
    return study.run(store=ctx.store, progress=ctx.progress, data_dir=ctx.data_dir,
                     keep_weights=study.dataset == "moons")


def data_provenance(results: Any) -> dict[str, Any]:
    return dict(results.provenance or {})
