"""Schoenholz et al. 2017, Fig. 5: which (sigma_w^2, depth) pairs train, against 6 xi_c.

Tanh networks of width 128 on MNIST, biases b ~ N(0, sigma_b^2) with sigma_b^2 = 0.05,
weights W ~ N(0, sigma_w^2 / fan_in) with sigma_w^2 over [1, 4] and depth over 10..60 hidden
layers, each trained for a fixed number of SGD steps; the heat map is the training accuracy,
with mean-field theory's trainable depth 6 xi_c(sigma_w^2) (Schoenholz et al. 2017, section
5: networks train where L < 6 xi_c) and the critical sigma_w^2 (chi_1 = 1, where xi_c
diverges) drawn over it. The numbers of the theory come from :mod:`initlab.diagnose.theory`.

The grid is one :class:`~initlab.studies.sweep.Sweep` (one store; a rerun trains only what
is missing): each depth is one ensemble of every sigma_w^2 x seed.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from initlab.experiments.base import Context, Experiment, resolve_mnist
from initlab.viz.report import ReportData, Table

SIGMA_B2 = 0.05
"""The bias variance of the figure."""
WIDTH = 128
SCHEME = "variance_scaling(scale={}, mode=fan_in, distribution=normal)"
"""The weights: N(0, scale / fan_in), scale = sigma_w^2 (untruncated, as in the paper)."""


def grid(quick: bool) -> dict[str, Any]:
    """The grid: depths, the sigma_w^2 range, and the training budget.

    Full: depths 10, 20, ..., 60 and 13 values of sigma_w^2 in [1, 4], SGD lr 0.01 with
    batch 128 for 4 epochs of the 8,000 training images (252 steps). Quick: depths 4 and 40,
    sigma_w^2 in {1, 1.75, 4}, on the first 2,000 images, width 64.

    Example:
        >>> grid(True)["depths"]
        [4, 40]
    """
    if quick:
        return {"depths": [4, 40], "sigma_w2": {"start": 1.0, "stop": 4.0, "num": 3},
                "width": 64, "epochs": 6, "lr": 0.01, "batch_size": 128,
                "split": "test:2000/500"}
    return {"depths": [10, 20, 30, 40, 50, 60],
            "sigma_w2": {"start": 1.0, "stop": 4.0, "num": 13}, "width": WIDTH, "epochs": 4,
            "lr": 0.01, "batch_size": 128, "split": None}


def sweep(quick: bool, seeds: int, split: str | None) -> Any:
    """The experiment's :class:`~initlab.studies.sweep.Sweep` (``split``: the MNIST split
    option, None for the full training set)."""
    from initlab.studies import Study, Sweep

    g = grid(quick)
    split = g["split"] or split
    options = {} if split is None else {"split": split}
    base = Study(name="trainability", dataset="mnist", dataset_options=options,
                 layers=(g["width"],), activation="tanh", output="softmax",
                 bias_init=f"normal(std={math.sqrt(SIGMA_B2):.10g})", optimizer="sgd",
                 lr=g["lr"], batch_size=g["batch_size"], epochs=g["epochs"],
                 log_every=g["epochs"], validate_names=False)
    return Sweep(f"trainability{'-quick' if quick else ''}", base,
                 {"depth": g["depths"], "scheme": {"template": SCHEME, **g["sigma_w2"]},
                  "seeds": seeds})


def sigma_w2_of(scheme: str) -> float:
    """The scale of a ``variance_scaling(scale=...)`` spec (the sweep's sigma_w^2).

    Example:
        >>> sigma_w2_of(SCHEME.format(2.5))
        2.5
    """
    return float(scheme.split("scale=", 1)[1].split(",", 1)[0].rstrip(")"))


def theory_curves(sigma_w2: np.ndarray) -> tuple[np.ndarray, float]:
    """6 xi_c at each sigma_w^2 (sigma_b^2 = 0.05, tanh) and the critical sigma_w^2."""
    from initlab.diagnose import theory

    depth = np.array([theory.mean_field("tanh", s, SIGMA_B2).trainable_depth
                      for s in sigma_w2])
    return depth, theory.critical_sigma_w2("tanh", SIGMA_B2)


def _figure(w2: list[float], depths: list[int], acc: np.ndarray, chance: float) -> Any:
    from matplotlib import patheffects
    from matplotlib.colors import Normalize

    from initlab.viz import style

    fig, (ax,) = style.new_figure(1, 1, title="tanh on MNIST: training accuracy",
                                  panel_size=(6.0, 4.2))
    w = np.asarray(w2, dtype=np.float64)
    d = np.asarray(depths, dtype=np.float64)
    mesh = ax.pcolormesh(w, d, np.ma.masked_invalid(acc), cmap=style.SEQUENTIAL_CMAP,
                         shading="nearest", norm=Normalize(vmin=chance, vmax=1.0))
    fig.colorbar(mesh, ax=ax, label="training accuracy")
    fine = np.linspace(w.min(), w.max(), 241)
    six_xi, crit = theory_curves(fine)
    outline = [patheffects.withStroke(linewidth=3.5, foreground="black")]
    ax.plot(fine, np.clip(six_xi, None, 10 * d.max()), color="white", linewidth=2.0,
            linestyle="dashed", path_effects=outline,
            label="6 xi_c (mean-field trainable depth)")
    ax.axvline(crit, color="#d62728", linewidth=1.4,
               label=f"critical sigma_w^2 = {crit:.3f}")
    half = (d[1] - d[0]) / 2 if d.size > 1 else 1.0
    ax.set_ylim(d.min() - half, d.max() + half)
    ax.set_yticks(d)
    ax.grid(False)
    style.label_axes(ax, xlabel="sigma_w^2 (weight variance x fan_in)",
                     ylabel="hidden layers L")
    style.legend(ax, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, fontsize=7)
    return fig


def run(ctx: Context) -> ReportData:
    options, sentence = resolve_mnist(ctx.data_dir)
    sw = sweep(ctx.quick, ctx.seeds, options.get("split"))
    res = sw.run(ctx.store, progress=ctx.progress, data_dir=ctx.data_dir,
                 executor=ctx.executor)
    depths, cols, acc = res.grid("accuracy", "depth", "scheme")
    order = np.argsort([sigma_w2_of(c) for c in cols])  # columns in sigma_w^2 order
    w2 = [sigma_w2_of(cols[i]) for i in order]
    acc = acc[:, order]
    chance = 0.1
    ctx.figure(_figure(w2, depths, acc, chance), "trainability",
               "Training accuracy after a fixed number of SGD steps over sigma_w^2 and depth "
               "(mean over seeds); dashed white: 6 xi_c, the depth mean-field theory says "
               "still trains; red: the critical sigma_w^2 (edge of chaos).")
    six_xi, crit = theory_curves(np.asarray(w2))
    rows = [[d, *(f"{a:.3f}" if math.isfinite(a) else "n/a" for a in acc[i])]
            for i, d in enumerate(depths)]
    inside = acc[np.asarray(depths)[:, None] < six_xi[None, :]]
    outside = acc[np.asarray(depths)[:, None] > six_xi[None, :]]
    ctx.numbers.update({
        "accuracy": {str(d): dict(zip(map(str, w2), map(float, acc[i]), strict=True))
                     for i, d in enumerate(depths)},
        "critical_sigma_w2": crit,
        "six_xi_c": dict(zip(map(str, w2), map(float, six_xi), strict=True)),
        "mean_accuracy_inside": float(np.nanmean(inside)) if inside.size else math.nan,
        "mean_accuracy_outside": float(np.nanmean(outside)) if outside.size else math.nan,
    })
    g = grid(ctx.quick)
    from initlab.studies.runner import load_data

    data = load_data(sw.studies()[0], ctx.data_dir)
    steps = g["epochs"] * math.ceil(data.x_train.shape[0] / g["batch_size"])
    ctx.numbers["steps"] = steps
    return ReportData(
        name="trainability",
        title="Schoenholz et al. 2017: tanh networks train where depth < 6 xi_c",
        explanation=(
            f"Tanh networks of width {g['width']}, every layer's weights N(0, sigma_w^2 / "
            f"fan_in) and biases N(0, {SIGMA_B2}), trained on {sentence} with plain SGD (lr "
            f"{g['lr']}, batch {g['batch_size']}, {steps} steps), {ctx.seeds} seed(s) per "
            "cell. Mean-field theory (Schoenholz et al. 2017) says a random network "
            "forgets the correlation of two inputs over xi_c layers, and that a network "
            "trains only if its depth is below about 6 xi_c; xi_c diverges at the critical "
            f"sigma_w^2 = {crit:.3f} (chi_1 = 1), so only there do very deep networks train. "
            "The heat map is the measured training accuracy; the dashed curve is 6 xi_c.\n\n"
            f"Mean training accuracy inside the curve (L < 6 xi_c): "
            f"{ctx.numbers['mean_accuracy_inside']:.3f}; outside: "
            f"{ctx.numbers['mean_accuracy_outside']:.3f} (chance: {chance})."),
        config={"sweep": sw.to_dict(), "runs": sw.n_runs},
        tables=[Table("Training accuracy (rows: hidden layers; columns: sigma_w^2)",
                      ["L", *(f"{w:g}" for w in w2)], rows,
                      "mean over seeds; 6 xi_c per column: "
                      + ", ".join(f"{w:g}: {x:.0f}" for w, x in zip(w2, six_xi, strict=True)))],
        findings=[],
        provenance={"data": dict(data.provenance or {})},
    )


EXPERIMENT = Experiment("trainability", "tanh trainability over sigma_w^2 and depth",
                        "Schoenholz et al. 2017", 1, run)
