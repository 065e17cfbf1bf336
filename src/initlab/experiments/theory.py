"""tanh's mean-field phase diagram and measured variance against the prediction."""

from __future__ import annotations

import math

import numpy as np

from initlab.experiments.base import (
    Context,
    Experiment,
)
from initlab.viz.report import ReportData, Table


def run(ctx: Context) -> ReportData:
    from initlab.diagnose import inspect, theory
    from initlab.nn import Dense, Sequential
    from initlab.viz import plots

    nw, nb = (16, 8) if ctx.quick else (36, 18)
    w2 = np.linspace(0.5, 4.0, nw)
    b2 = np.linspace(0.0, 0.3, nb)
    ctx.begin(nb + 4, "theory")
    chi1 = np.empty((nb, nw))
    for i, sb in enumerate(b2):
        chi1[i] = [theory.mean_field("tanh", sw, sb).chi_1 for sw in w2]
        ctx.step(f"chi_1 at sigma_b^2 = {sb:.3f}")
    # denser near sigma_b^2 = 0, where the critical line rises steeply from sigma_w^2 = 1
    b_line = 0.3 * np.linspace(0.0, 1.0, 7 if ctx.quick else 15) ** 2
    w_line = np.array([theory.critical_sigma_w2("tanh", sb) for sb in b_line])
    ctx.step("the critical line")
    inits = {"glorot_normal (1.0, 0)": (1.0, 0.0)}
    ctx.figure(plots.phase_diagram(w2, b2, chi1, critical=(w_line, b_line), points=inits,
                                   colors=ctx.colors),
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
    ctx.step(f"measured a {depth}-layer tanh network")
    measured_q = report.measured_q()               # (layers, K)
    measured, predicted, rel = {}, {}, {}
    for i, s in enumerate(sws):
        label = f"sigma_w^2 = {s:g}"
        sl = slice(i * len(seeds), (i + 1) * len(seeds))
        measured[label] = measured_q[:, sl].T
        predicted[label] = report.predicted_q[:, i * len(seeds)]
        rel[label] = float(np.max(np.abs(measured_q[:, sl].mean(axis=1) / predicted[label] - 1)))
    ctx.figure(plots.layer_profile(measured, predicted=predicted, colors=ctx.colors,
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


EXPERIMENT = Experiment("theory", "tanh's mean-field phase diagram", "Poole et al. 2016", 3, run)
