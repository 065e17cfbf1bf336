"""The built-in experiments: each seed article's experiment, reproduced with one call.

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
============  ==================================================================================

Example:
    >>> sorted(EXPERIMENTS)
    ['activations', 'clipping', 'depth', 'mnist', 'moons', 'theory']
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from initlab.errors import ConfigError, DataError, unknown
from initlab.viz.report import FigureRef, ReportData, Table

__all__ = ["EXPERIMENTS", "Experiment", "Context", "reproduce"]

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
        progress: show progress bars.
        figures: the figures saved so far.
        numbers: the key numbers the outcome is checked on (also saved in results.json).
    """

    out: Path
    seeds: int
    data_dir: str | None = None
    quick: bool = False
    progress: bool = False
    figures: list[FigureRef] = field(default_factory=list)
    numbers: dict[str, Any] = field(default_factory=dict)

    def figure(self, fig: Any, name: str, caption: str) -> None:
        """Save ``fig`` as DIR/figures/NAME.png and .svg (quick: PNG only); list it."""
        from initlab.viz.style import FORMATS, save

        save(fig, self.out / "figures" / name, ("png",) if self.quick else FORMATS)
        fig.clear()
        self.figures.append(FigureRef(f"figures/{name}", caption))

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
def _fmt(stat: Any) -> str:
    if stat is None or not math.isfinite(stat.mean):
        return "n/a"
    if stat.n > 1 and math.isfinite(stat.std):
        return f"{stat.mean:.4f} ± {stat.std:.4f}"
    return f"{stat.mean:.4f}"


def _summary_table(results: Any, title: str, note: str = "") -> Table:
    """Per scheme: runs, diverged, and each final metric as mean ± std over seeds."""
    rows = []
    for s in results.summary():
        m = s.metrics
        rows.append([s.scheme, s.n_runs, s.n_diverged, _fmt(m.get("loss")),
                     _fmt(m.get("accuracy")), _fmt(m.get("val_loss")),
                     _fmt(m.get("val_accuracy"))])
    note = note or "mean ± std over seeds; diverged runs are counted, not averaged in."
    return Table(title, ["scheme", "runs", "diverged", "train loss", "train acc", "test loss",
                         "test acc"], rows, note)


def _final(results: Any, metric: str = "val_accuracy") -> dict[str, float]:
    """Per scheme, the mean final metric over runs that did not diverge (NaN if none)."""
    return {s.scheme: float(s.metrics[metric].mean) for s in results.summary()}


def _curve_panels(results: Any, metrics: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """panel title -> scheme -> (runs, logged epochs); diverged runs kept (NaN after)."""
    panels: dict[str, dict[str, Any]] = {}
    for metric, title in metrics.items():
        panels[title] = {k: c.runs for k, c in
                         results.curves(metric, include_diverged=True).items()}
    return panels


def _epochs(results: Any) -> np.ndarray:
    return np.asarray(results.runs[0].epochs) + 1


def _findings(report: Any, labels: Sequence[str], models: Sequence[int] | None = None,
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


def _init_inspection(study: Any, dataset: Any, schemes: Sequence[str], seed: int = 0,
                     n: int = 512) -> Any:
    """Inspect the study's network at initialization, one model per scheme (same seed)."""
    from initlab.diagnose import inspect
    from initlab.studies.runner import build_model

    model = build_model(study, dataset.x_train.shape[1], int(dataset.n_classes),
                        [(s, seed) for s in schemes])
    return inspect(model, dataset.x_train[:n], dataset.y_train[:n], lr=study.lr)


def _resolve_mnist(data_dir: str | None) -> tuple[dict[str, Any], str]:
    """Choose the MNIST data: the full set where its files are here, else the test split.

    Returns:
        (dataset options for the study, a sentence for the report saying which).
    """
    from initlab import data

    try:
        data.load("mnist", data_dir=data_dir, download=False, n_train=1, n_test=1)
        return {}, "the full MNIST data set (60,000 training and 10,000 test images)"
    except DataError:
        pass
    split = "test:8000/2000"
    try:
        data.load("mnist", data_dir=data_dir, download=False, split=split)
    except DataError as e:
        raise DataError(
            f"MNIST is not available offline: neither the full set nor the 10,000-image test "
            f"split was found ({e}). Pass --data-dir with the IDX files (e.g. "
            f"../shared/data/mnist) or set INITLAB_DATA."
        ) from None
    return ({"split": split},
            "the real 10,000-image MNIST test split (the full set is not on this machine): "
            "the first 8,000 images train, the last 2,000 test")


def _run_study(ctx: Context, study: Any) -> Any:
    return study.run(store=ctx.store, progress=ctx.progress, data_dir=ctx.data_dir,
                     keep_weights=study.dataset == "moons")


def _data_provenance(results: Any) -> dict[str, Any]:
    return dict(results.provenance or {})


# --------------------------------------------------------------------------- moons
def _moons(ctx: Context) -> ReportData:
    from initlab.studies import Study
    from initlab.studies.runner import load_data
    from initlab.viz import plots

    schemes = ["zeros", "normal(std=10)", "he_normal"]
    epochs = 3000 if ctx.quick else 15000
    study = Study(name="moons-quick" if ctx.quick else "moons", dataset="moons",
                  layers=(12, 6), activation="relu", output="sigmoid", schemes=schemes,
                  seeds=ctx.seeds, optimizer="sgd", lr=0.01, epochs=epochs, batch_size="full",
                  log_every=max(1, epochs // 300))
    results = _run_study(ctx, study)
    ds = load_data(study)
    x_ep = _epochs(results)
    ctx.figure(plots.curves(_curve_panels(results, {"loss": "cost"})["cost"], x=x_ep,
                            ylabel="cost (binary cross-entropy)", logy=True,
                            title="Cost over epochs (mean and range over seeds)"),
               "cost", "Training cost per scheme: zeros stays flat, normal(std=10) starts "
                       "very high and falls slowly, he_normal falls fast.")
    lo = np.minimum(ds.x_train.min(axis=0), ds.x_test.min(axis=0)) - 0.5
    hi = np.maximum(ds.x_train.max(axis=0), ds.x_test.max(axis=0)) + 0.5
    xx, yy = np.meshgrid(np.linspace(lo[0], hi[0], 220), np.linspace(lo[1], hi[1], 180))
    grid = np.c_[xx.ravel(), yy.ravel()].astype(ds.x_train.dtype)
    seed = study.seeds[0]
    probs, scores = {}, {}
    for scheme in schemes:
        model = results.model(scheme, seed)
        probs[scheme] = np.asarray(model.predict(grid))[0, :, 0].reshape(xx.shape)
        run = next(r for r in results.for_scheme(scheme) if r.seed == seed)
        scores[scheme] = (f"train {run.final.get('accuracy', math.nan):.2f}, "
                          f"test {run.final.get('val_accuracy', math.nan):.2f}")
    ctx.figure(plots.decision_boundaries(xx, yy, probs, ds.x_train, ds.y_train, scores=scores,
                                         title=f"Decision boundaries (seed {seed})"),
               "boundaries", "Decision regions of each scheme's trained network (seed "
                             f"{seed}) over the training points.")
    inspection = _init_inspection(study, ds, schemes, seed)
    acc = _final(results)
    ctx.numbers.update({"test_accuracy": acc, "train_accuracy": _final(results, "accuracy"),
                        "final_loss": _final(results, "loss")})
    return ReportData(
        name="moons",
        title="Seed 002: zeros, large random and He initialization on make_moons",
        explanation=(
            "A 12-6-1 network (ReLU, ReLU, sigmoid) is trained by full-batch gradient descent "
            f"(lr 0.01, {epochs:,} epochs) on make_moons (400 training, 100 test points, "
            f"noise 0.2), once per scheme and seed ({len(study.seeds)} seeds), all schemes "
            "on the same data.\n\n"
            "Zeros: every hidden unit computes the same thing and receives the same gradient; "
            "with ReLU at zero the hidden layers output 0, so only the output bias learns and "
            "the network predicts one class everywhere: chance level (the classes are balanced, "
            "so the cost stays at ln 2 = 0.693 and the accuracy at 0.5, as in the article). "
            "normal(std=10): the symmetry is broken, but the sigmoid starts saturated, the "
            "cost starts very high and falls slowly and unevenly across seeds. he_normal "
            "(std sqrt(2/fan_in)) keeps the signal's scale through the ReLU layers: the cost "
            "falls fast and the test accuracy is the highest, with the least spread over "
            "seeds."),
        config=study.to_dict(),
        tables=[_summary_table(results, "Final accuracy and loss per scheme")],
        findings=_findings(inspection, schemes, prefix="at init: "),
        provenance={"data": _data_provenance(results)},
    )


# --------------------------------------------------------------------------- mnist
MNIST_SCHEMES = ("zeros", "random_uniform", "glorot_uniform", "glorot_normal", "he_uniform",
                 "he_normal")


def _keras_log(results: Any, scheme: str, epochs: int) -> str:
    run = results.for_scheme(scheme)[0]
    h = run.history
    lines = []
    for i, ep in enumerate(run.epochs):
        lines.append(
            f"Epoch {ep + 1}/{epochs} - {h['time'][i]:.1f}s - loss: {h['loss'][i]:.4f} - "
            f"acc: {h['accuracy'][i]:.4f} - val_loss: {h['val_loss'][i]:.4f} - "
            f"val_acc: {h['val_accuracy'][i]:.4f}")
    return "\n".join(lines)


def _mnist(ctx: Context) -> ReportData:
    from initlab.studies import Study
    from initlab.viz import plots

    options, which = _resolve_mnist(ctx.data_dir)
    epochs = 1 if ctx.quick else 5
    study = Study(name="mnist-quick" if ctx.quick else "mnist", dataset="mnist",
                  dataset_options=options, layers=(128, 64), activation="relu",
                  output="softmax", schemes=list(MNIST_SCHEMES), seeds=ctx.seeds,
                  optimizer="adam", lr=0.001, epochs=epochs, batch_size=32, log_every=1)
    results = _run_study(ctx, study)
    x_ep = _epochs(results)
    panels = _curve_panels(results, {"loss": "train loss", "val_loss": "test loss",
                                     "accuracy": "train accuracy",
                                     "val_accuracy": "test accuracy"})
    ctx.figure(plots.curve_panels(panels, x=x_ep, max_cols=2, logy=["train loss", "test loss"],
                                  title="MNIST 784-128-64-10: loss and accuracy per epoch"),
               "curves", "Loss and accuracy per epoch, mean and range over seeds.")
    from initlab.studies.runner import load_data

    ds = load_data(study, ctx.data_dir)
    inspection = _init_inspection(study, ds, list(MNIST_SCHEMES))
    ctx.numbers.update({"test_accuracy": _final(results), "data": which})
    return ReportData(
        name="mnist",
        title="Seed 000: six Keras initializers on MNIST",
        explanation=(
            f"Data: {which}.\n\n"
            "A 784-128-64-10 network (ReLU, ReLU, softmax) trained with Adam (lr 0.001, batch "
            f"32, {epochs} epochs), once per initializer and seed ({len(study.seeds)} seeds), "
            "every model on the same minibatches.\n\n"
            "zeros: all units of a layer stay identical and the ReLU layers output 0, so the "
            "network only learns the class frequencies: the loss stays at about ln 10 = 2.30 "
            "and the accuracy at chance (about 0.11). Every random initializer breaks the "
            "symmetry and trains; on this small network random_uniform (+-0.05), Glorot and "
            "He end close together (compare the table's spread over seeds), as in the "
            "article's Keras logs."),
        config={**study.to_dict(), "data": which},
        tables=[_summary_table(results, "Final metrics per initializer")],
        findings=_findings(inspection, list(MNIST_SCHEMES), prefix="at init: "),
        logs={f"{s} (seed {study.seeds[0]})": _keras_log(results, s, epochs)
              for s in MNIST_SCHEMES},
        provenance={"data": _data_provenance(results)},
    )


# --------------------------------------------------------------------------- activations
SIGMAS = (0.10, 0.14, 0.28)
RECOMMENDED = {"sigmoid": "glorot_normal", "tanh": "glorot_normal", "relu": "he_normal"}


def _activations_data(ctx: Context, n: int) -> tuple[np.ndarray, np.ndarray, str, dict]:
    from initlab import data

    try:
        options, which = _resolve_mnist(ctx.data_dir)
        ds = data.load("mnist", data_dir=ctx.data_dir, download=False, **options)
        label = f"{n:,} MNIST images ({which})"
    except DataError:
        ds = data.load("digits")
        label = (f"{min(n, ds.x_train.shape[0]):,} images of scikit-learn's 8x8 digits (MNIST is "
                 "not on this machine)")
    return ds.x_train[:n], ds.y_train[:n], label, dict(ds.provenance)


def _activations(ctx: Context) -> ReportData:
    from initlab.diagnose import inspect
    from initlab.nn import Dense, Sequential
    from initlab.viz import plots

    n = 500 if ctx.quick else 1000
    x, y, which, prov = _activations_data(ctx, n)
    seeds = list(range(ctx.seeds))
    findings: list[dict[str, Any]] = []
    heat = np.full((len(SIGMAS) + 1, len(RECOMMENDED)), np.nan)
    grad_ratio: dict[str, dict[str, float]] = {}
    out_std: dict[str, dict[str, list[float]]] = {}
    for j, (act, rec) in enumerate(RECOMMENDED.items()):
        schemes = [f"normal(std={s:.2f})" for s in SIGMAS] + [rec]
        names = [f"N(0, {s:.2f})" for s in SIGMAS] + [rec]
        inits = [s for s in schemes for _ in seeds]
        model = Sequential([Dense(100, activation=act) for _ in range(5)]
                           + [Dense(10, activation="softmax")], input_dim=x.shape[1],
                           n_models=len(inits), inits=inits, seeds=seeds * len(schemes))
        report = inspect(model, x, y)
        trace = model.trace(x, y)
        k0 = [i * len(seeds) for i in range(len(schemes))]  # the first seed of each scheme
        panels = {names[i]: [trace.layers[l].post[k0[i]] for l in range(5)]
                  for i in range(len(schemes))}
        ctx.figure(plots.violins(panels, ylabel=f"{act} output",
                                 title=f"{act}: outputs of each hidden layer at init"),
                   f"violins_{act}", f"{act}: distribution of each hidden layer's outputs "
                                     f"for weights N(0, sigma) and for {rec} (seed {seeds[0]}).")
        norms = {names[i]: np.stack([report.stats[l].grad_W_norm[i * len(seeds):
                                                                  (i + 1) * len(seeds)]
                                     for l in range(5)], axis=1)
                 for i in range(len(schemes))}
        ctx.figure(plots.gradient_norms(norms, title=f"{act}: gradient norm per hidden layer "
                                                     "at init"),
                   f"gradients_{act}", f"{act}: ||dL/dW|| of each hidden layer at init, mean "
                                       "and range over seeds.")
        out_std[act] = {}
        for i, name in enumerate(names):
            sl = slice(i * len(seeds), (i + 1) * len(seeds))
            stds = report.stats[4].post_std[sl]
            heat[min(i, len(SIGMAS)), j] = float(np.mean(stds))
            out_std[act][name] = [float(report.stats[l].post_std[sl].mean()) for l in range(5)]
            g = norms[name].mean(axis=0)
            grad_ratio.setdefault(act, {})[name] = float(g[0] / g[-1]) if g[-1] > 0 else math.inf
        findings += _findings(report, [f"{act}, {nm}" for nm in names for _ in seeds], k0)
    rows = [f"N(0, {s:.2f})" for s in SIGMAS] + ["glorot_normal / he_normal"]
    ctx.figure(plots.heatmap(heat, rows, list(RECOMMENDED), label="std of hidden layer 5's output",
                             title="Output std of the last hidden layer at init"),
               "heatmap", "Scheme x activation: the standard deviation of the 5th hidden "
                          "layer's outputs (mean over seeds); the last row is glorot_normal for "
                          "sigmoid and tanh, he_normal for relu.")
    # activation histograms over training: tanh with glorot_normal, a few epochs of Adam
    model = Sequential([Dense(100, activation="tanh") for _ in range(5)]
                       + [Dense(10, activation="softmax")], input_dim=x.shape[1],
                       n_models=1, inits=["glorot_normal"], seeds=[seeds[0]])
    snaps = {}
    done = 0
    for target in (0, 1, 3) if ctx.quick else (0, 1, 3, 10):
        if target > done:
            model.fit(x, y, epochs=target - done, batch_size=32, optimizer="adam",
                      seed=seeds[0])
            done = target
        tr = model.forward(x, trace=True)[1]
        snaps[f"epoch {target}"] = [tr.layers[l].post[0] for l in range(5)]
    ctx.figure(plots.activation_histograms(snaps, xlabel="tanh output",
                                           title="tanh + glorot_normal: each hidden layer's "
                                                 "outputs during training"),
               "histograms_training", "How the hidden layers' output distributions change "
                                      "during training (tanh, glorot_normal, Adam).")
    ctx.numbers.update({"layer_output_std": out_std, "grad_ratio_first_last": grad_ratio})
    table_rows = [[act, name, *[round(v, 4) for v in stds]]
                  for act, d in out_std.items() for name, stds in d.items()]
    return ReportData(
        name="activations",
        title="Seed 001: hidden-layer outputs for N(0, sigma) against Glorot and He",
        explanation=(
            f"Five hidden layers of 100 units, a softmax output, fed {which}; no training: "
            "the outputs of each hidden layer at initialization, as in the article, for "
            f"N(0, sigma) with sigma in {{{', '.join(f'{s:.2f}' for s in SIGMAS)}}} against "
            f"glorot_normal (sigmoid, tanh) and he_normal (relu), over {len(seeds)} seeds.\n\n"
            "With a fixed sigma the scale of the signal changes from layer to layer: for "
            "fan_in 100, sigma 0.10 is Glorot-like (Var = 1/100), so sigma 0.28 makes tanh "
            "saturate toward +-1 and sigmoid's outputs spread toward 0 and 1, while small "
            "sigmas shrink the signal through the layers. With ReLU each layer multiplies the "
            "second moment by 100 sigma^2 / 2: sigma 0.10 halves it, so the outputs collapse "
            "toward zero layer after layer (dead signal), sigma 0.28 multiplies it by about 4, "
            "so the outputs grow layer after layer (the table shows it); He's "
            "sqrt(2/100) = 0.141 is the one that keeps it. Glorot (sigmoid, "
            "tanh) and He (relu) keep the distributions alike across layers. The diagnostics "
            "below name each problem and the fix."),
        config={"data": which, "hidden_layers": 5, "units": 100, "sigmas": list(SIGMAS),
                "activations": list(RECOMMENDED), "recommended": RECOMMENDED,
                "seeds": seeds, "samples": int(x.shape[0])},
        tables=[Table("Std of each hidden layer's output at init (mean over seeds)",
                      ["activation", "init", "layer 1", "layer 2", "layer 3", "layer 4",
                       "layer 5"], table_rows)],
        findings=findings,
        provenance={"data": prov},
    )


# --------------------------------------------------------------------------- depth
def _depth(ctx: Context) -> ReportData:
    from initlab.studies import Study
    from initlab.viz import plots

    depths = (22, 30)
    epochs = 12 if ctx.quick else 30
    schemes = ["glorot_normal", "he_normal"]
    tables, panels, findings, prov = [], {}, [], {}
    x_ep = None
    final_loss: dict[str, dict[str, float]] = {}
    for d in depths:
        study = Study(name=f"depth{d}{'-quick' if ctx.quick else ''}", dataset="digits",
                      layers=(64,) * d, activation="relu", output="softmax", schemes=schemes,
                      seeds=ctx.seeds, optimizer="sgd", lr=0.005,
                      optimizer_options={"momentum": 0.9}, epochs=epochs, batch_size=64,
                      log_every=1)
        results = _run_study(ctx, study)
        x_ep = _epochs(results)
        panels[f"{d} layers: train loss"] = _curve_panels(results, {"loss": "l"})["l"]
        tables.append(_summary_table(results, f"{d} hidden layers"))
        final_loss[str(d)] = _final(results, "loss")
        from initlab.studies.runner import load_data

        ds = load_data(study)
        findings += _findings(_init_inspection(study, ds, schemes), schemes,
                              prefix=f"{d} layers, at init: ")
        prov = _data_provenance(results)
        cfg = study.to_dict()
    ctx.figure(plots.curve_panels(panels, x=x_ep, title="Plain ReLU networks: training loss"),
               "loss", "Training loss per epoch, mean and range over seeds: at 30 layers "
                       "glorot_normal stays at ln 10 = 2.30 (stalls) while he_normal trains.")
    ctx.numbers.update({"final_loss": final_loss})
    cfg["layers"] = {str(d): f"{d} x 64" for d in depths}
    return ReportData(
        name="depth",
        title="He et al. 2015: Glorot against He in plain ReLU networks of 22 and 30 layers",
        explanation=(
            "Plain (no batch normalization, no skip connection) ReLU networks of 22 and 30 "
            "hidden layers of 64 units, softmax output, trained on scikit-learn's 8x8 digits "
            f"with SGD and momentum 0.9 (lr 0.005, batch 64, {epochs} epochs), "
            f"{ctx.seeds} seeds.\n\n"
            "Glorot's variance 2/(fan_in + fan_out) = 1/64 halves the signal's second moment at "
            "every ReLU layer: after 30 layers the input's scale has shrunk by about 2^-15 and "
            "the gradients of the first layers by as much, so the network stalls at the loss "
            "of a uniform guess, ln 10. He's 2/fan_in keeps the scale constant (chi_1 = 1 for "
            "ReLU), so both depths train, as He et al. (2015, figure 3) found for their 22- "
            "and 30-layer models."),
        config=cfg,
        tables=tables,
        findings=findings,
        provenance={"data": prov},
    )


# --------------------------------------------------------------------------- clipping
def _clipping(ctx: Context) -> ReportData:
    from initlab.studies import Study
    from initlab.viz import plots

    schemes = ["normal(std=0.5)", "he_normal"]
    epochs = 60 if ctx.quick else 200
    clip = 1.0
    tables, panels, diverged, prov, findings = [], {}, {}, {}, []
    x_ep = None
    base: dict[str, Any] = dict(dataset="moons", layers=(64,) * 6, activation="relu",
                                output="sigmoid", schemes=schemes, seeds=ctx.seeds,
                                optimizer="sgd", lr=0.05, epochs=epochs, batch_size="full",
                                log_every=1)
    for label, clip_norm in (("no clipping", None), (f"clip by norm {clip:g}", clip)):
        study = Study(name=f"clipping-{'on' if clip_norm else 'off'}"
                           f"{'-quick' if ctx.quick else ''}", clip_norm=clip_norm, **base)
        results = _run_study(ctx, study)
        x_ep = _epochs(results)
        panels[f"{label}: train loss"] = _curve_panels(results, {"loss": "l"})["l"]
        tables.append(_summary_table(results, label))
        diverged[label] = {s.scheme: s.n_diverged for s in results.summary()}
        if clip_norm is None:
            from initlab.studies.runner import load_data

            ds = load_data(study)
            inspection = _init_inspection(study, ds, schemes, n=400)
            findings = _findings(inspection, schemes, prefix="at init: ")
            norms = {s: np.array([[st.grad_W_norm[i] for st in inspection.stats]])
                     for i, s in enumerate(schemes)}
            ctx.figure(plots.gradient_norms(norms, title="Gradient norm per layer at init"),
                       "gradients", "||dL/dW|| per layer at init (seed 0): the large init's "
                                    "gradients are orders of magnitude above He's.")
        prov = _data_provenance(results)
    ctx.figure(plots.curve_panels(panels, x=x_ep, logy=True,
                                  title="Training loss with and without gradient clipping"),
               "loss", "Training loss per epoch (log scale); a diverged run's curve ends "
                       "where its loss turned non-finite.")
    ctx.numbers.update({"diverged": diverged})
    return ReportData(
        name="clipping",
        title="Seed 004: exploding gradients and gradient clipping by norm",
        explanation=(
            "A ReLU network of 6 hidden layers of 64 units on make_moons, trained by "
            f"full-batch gradient descent (lr 0.05, {epochs} epochs), {ctx.seeds} seeds, "
            "initialized with normal(std=0.5), about 2.8 times He's std sqrt(2/64) = 0.18. "
            "Each ReLU layer then multiplies the signal's second moment by about 64 x 0.25 / 2 "
            "= 8: the logits and the gradients are huge at the start, the first steps "
            "overshoot and the loss turns non-finite (diverged).\n\n"
            f"Clipping the gradients by global norm ({clip:g}) before the step, as seed 004 "
            "recommends, bounds each update: the same initialization no longer diverges and "
            "the loss comes down. he_normal, next to it, trains either way."),
        config={**base, "clip_norm": [None, clip]},
        tables=tables,
        findings=findings,
        provenance={"data": prov},
    )


# --------------------------------------------------------------------------- theory
def _theory(ctx: Context) -> ReportData:
    from initlab.diagnose import inspect, theory
    from initlab.nn import Dense, Sequential
    from initlab.viz import plots

    nw, nb = (16, 8) if ctx.quick else (36, 18)
    w2 = np.linspace(0.5, 4.0, nw)
    b2 = np.linspace(0.0, 0.3, nb)
    chi1 = np.array([[theory.mean_field("tanh", sw, sb).chi_1 for sw in w2] for sb in b2])
    # denser near sigma_b^2 = 0, where the critical line rises steeply from sigma_w^2 = 1
    b_line = 0.3 * np.linspace(0.0, 1.0, 7 if ctx.quick else 15) ** 2
    w_line = np.array([theory.critical_sigma_w2("tanh", sb) for sb in b_line])
    inits = {"glorot_normal (1.0, 0)": (1.0, 0.0)}
    ctx.figure(plots.phase_diagram(w2, b2, chi1, critical=(w_line, b_line), points=inits),
               "phase_diagram", "tanh: log10 chi_1 over (sigma_w^2, sigma_b^2); the black "
                                "line is the critical line where chi_1 = 1 (edge of chaos).")
    # measured q_l against the prediction, sigma_b^2 = 0 (the engine's biases start at 0)
    width = 200 if ctx.quick else 500
    depth = 15 if ctx.quick else 30
    sws = (0.8, 1.0, 2.0)
    seeds = list(range(ctx.seeds))
    specs = [f"normal(std={math.sqrt(s / width):.6g})" for s in sws]
    inits_k = [sp for sp in specs for _ in seeds]
    model = Sequential([Dense(width, activation="tanh") for _ in range(depth)],
                       input_dim=width, n_models=len(inits_k), inits=inits_k,
                       seeds=seeds * len(specs))
    x = np.random.default_rng(12345).normal(size=(256, width)).astype(np.float32)
    report = inspect(model, x)
    measured_q = report.measured_q()               # (layers, K)
    measured, predicted, rel = {}, {}, {}
    for i, s in enumerate(sws):
        label = f"sigma_w^2 = {s:g}"
        sl = slice(i * len(seeds), (i + 1) * len(seeds))
        measured[label] = measured_q[:, sl].T
        predicted[label] = report.predicted_q[:, i * len(seeds)]
        rel[label] = float(np.max(np.abs(measured_q[:, sl].mean(axis=1) / predicted[label] - 1)))
    ctx.figure(plots.layer_profile(measured, predicted=predicted,
                                   ylabel="q_l = mean squared pre-activation",
                                   title=f"tanh, width {width}: measured vs theory"),
               "variance", "Measured q_l per layer (solid, band over seeds) against the "
                           "mean-field prediction (dashed).")
    mf_rows = []
    for sb in (0.0, 0.05, 0.1):
        crit = theory.critical_sigma_w2("tanh", sb)
        mf = theory.mean_field("tanh", crit, sb)
        mf_rows.append([sb, round(crit, 4), round(mf.q_star, 4), round(mf.chi_1, 4),
                        "inf" if not math.isfinite(mf.xi_c) else round(mf.xi_c, 2)])
    ctx.numbers.update({"max_rel_error_q": rel, "critical_w2": dict(zip(b_line.tolist(),
                                                                        w_line.tolist(),
                                                                        strict=True))})
    return ReportData(
        name="theory",
        title="Mean-field theory: tanh's phase diagram and the measured signal",
        explanation=(
            "Poole et al. (2016) and Schoenholz et al. (2017): in a wide random network the "
            "mean squared pre-activation q_l follows a deterministic length map to a fixed "
            "point q*, and chi_1 = sigma_w^2 E[phi'(sqrt(q*) z)^2] says whether nearby inputs "
            "converge (chi_1 < 1, ordered: gradients vanish) or diverge (chi_1 > 1, chaotic: "
            "gradients explode). The critical line chi_1 = 1 is the edge of chaos where deep "
            "networks train; at sigma_b^2 = 0 it is sigma_w^2 = 1 for tanh, which is Glorot / "
            "LeCun's variance for equal widths.\n\n"
            f"Beside the theory, a {depth}-layer tanh network of width {width} at init: its "
            "measured q_l follows the predicted one layer by layer (largest relative gap: "
            + ", ".join(f"{k}: {v:.1%}" for k, v in rel.items()) + ")."),
        config={"activation": "tanh", "sigma_w2_grid": [float(w2[0]), float(w2[-1]), nw],
                "sigma_b2_grid": [float(b2[0]), float(b2[-1]), nb], "width": width,
                "depth": depth, "measured_sigma_w2": list(sws), "seeds": seeds},
        tables=[Table("Critical initialization for tanh (edge of chaos)",
                      ["sigma_b^2", "critical sigma_w^2", "q*", "chi_1", "xi_c"], mf_rows,
                      "xi_c: the depth scale of correlations; infinite on the critical line.")],
        findings=[],
        provenance={"data": {"source": "standard normal inputs, seed 12345",
                             "shape": [256, width]}},
    )


# --------------------------------------------------------------------------- registry
EXPERIMENTS: dict[str, Experiment] = {
    e.name: e for e in (
        Experiment("moons", "zeros, large random and He on make_moons", "seed 002", 5, _moons),
        Experiment("mnist", "six Keras initializers on MNIST", "seed 000", 3, _mnist),
        Experiment("activations", "hidden-layer outputs: N(0, sigma) vs Glorot/He",
                   "seed 001", 3, _activations),
        Experiment("depth", "Glorot vs He in 22- and 30-layer ReLU nets", "He et al. 2015", 3,
                   _depth),
        Experiment("clipping", "exploding gradients and clipping by norm", "seed 004", 3,
                   _clipping),
        Experiment("theory", "tanh's mean-field phase diagram", "Poole et al. 2016", 3, _theory),
    )
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
) -> tuple[Path, dict[str, Any]]:
    """Run a built-in experiment and write its figures, results.json and report.html.

    Args:
        name: one of :data:`EXPERIMENTS`.
        out: the run directory (default ``initlab-NAME`` in the current directory).
        seeds: how many seeds (default: the experiment's own).
        data_dir: where downloaded data sets are (MNIST's IDX files).
        quick: a short version that still shows the qualitative outcome.
        progress: show progress bars.

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
                  quick=quick, progress=progress)
    started = time.perf_counter()
    data = exp.run(ctx)
    finished = time.perf_counter()
    data.figures = list(ctx.figures)
    data.provenance = provenance.collect(
        seeds=range(n), data=dict(data.provenance.get("data", {})), started=started,
        finished=finished,
        extra={"experiment": name, "source": exp.source, "quick": quick,
               **({"store": STORE_FILE} if (out_dir / STORE_FILE).exists() else {})},
    )
    return write_report(out_dir, data), ctx.numbers
