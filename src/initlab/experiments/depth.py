"""He et al. 2015: plain ReLU nets of 22 and 30 layers, Glorot against He; orthogonal (Saxe et
al. 2013) at gain 1 and sqrt 2, and LSUV (Mishkin & Matas 2016) beside them at 30 layers."""

from __future__ import annotations

from typing import Any

import numpy as np

from initlab.experiments.base import (
    Context,
    Experiment,
    curve_panels,
    data_provenance,
    epoch_axis,
    final_means,
    findings_of,
    init_inspection,
    run_study,
    summary_table,
)
from initlab.viz.report import ReportData, Table

ORTHO_RELU = "orthogonal(gain=1.4142135623730951)"
LSUV_BATCH = 256


def _lsuv_row(ctx: Context, study: Any, ds: Any) -> tuple[Table, dict[str, Any], float]:
    """LSUV on the study's network, trained like the study's runs (same data, optimizer,
    minibatches); returns its table, its loss curves (seeds, epochs) and its final loss."""
    from initlab.init import lsuv
    from initlab.studies.runner import build_model

    model = build_model(study, ds.x_train.shape[1], int(ds.n_classes),
                        [("orthogonal", s) for s in range(ctx.seeds)])
    rep = lsuv(model, ds.x_train[:LSUV_BATCH], rng=0)
    h = model.fit(ds.x_train, ds.y_train, epochs=study.epochs, batch_size=study.batch_size,
                  optimizer=study.make_optimizer(), validation_data=(ds.x_test, ds.y_test),
                  seed=study.shuffle_seed, log_every=study.effective_log_every)
    ok = ~np.asarray(h.diverged)
    with np.errstate(all="ignore"):  # as the study's runs are measured: after training
        loss = model.evaluate(ds.x_train, ds.y_train)["loss"][ok]
        acc = model.evaluate(ds.x_test, ds.y_test)["accuracy"][ok]
    tries = max(max(t) for t in rep.tries)

    def stat(v: np.ndarray) -> str:
        return f"{v.mean():.4f} ± {v.std():.4f}" if v.size > 1 else (
            f"{v.mean():.4f}" if v.size else "n/a")

    table = Table(f"{len(study.layers)} hidden layers: LSUV", ["scheme", "runs", "diverged",
                  "train loss", "test acc", "LSUV converged", "most tries"],
                  [["lsuv", ctx.seeds, int((~ok).sum()), stat(loss), stat(acc),
                    str(rep.converged), tries]],
                  f"orthonormal pre-init, then each layer's pre-activation std set to 1 +- 0.1 "
                  f"on the first {LSUV_BATCH} training samples (initlab.init.lsuv); trained "
                  f"with the study's optimizer and minibatches.")
    return table, {"lsuv": np.asarray(h.loss).T}, float(loss.mean()) if loss.size else np.nan


def run(ctx: Context) -> ReportData:
    from initlab.studies import Study
    from initlab.viz import plots

    depths = (22, 30)
    epochs = 12 if ctx.quick else 30
    schemes = ["glorot_normal", "he_normal"]
    tables, panels, findings, prov = [], {}, [], {}
    x_ep = None
    final_loss: dict[str, dict[str, float]] = {}
    for d in depths:
        row = schemes + (["orthogonal", ORTHO_RELU] if d == depths[-1] else [])
        study = Study(name=f"depth{d}{'-quick' if ctx.quick else ''}", dataset="digits",
                      layers=(64,) * d, activation="relu", output="softmax", schemes=row,
                      seeds=ctx.seeds, optimizer="sgd", lr=0.005,
                      optimizer_options={"momentum": 0.9}, epochs=epochs, batch_size=64,
                      log_every=1)
        results = run_study(ctx, study)
        x_ep = epoch_axis(results)
        panels[f"{d} layers: train loss"] = curve_panels(results, {"loss": "l"})["l"]
        tables.append(summary_table(results, f"{d} hidden layers"))
        final_loss[str(d)] = final_means(results, "loss")
        from initlab.studies.runner import load_data

        ds = load_data(study)
        findings += findings_of(init_inspection(study, ds, row), row,
                              prefix=f"{d} layers, at init: ")
        if d == depths[-1]:
            table, curves, lsuv_loss = _lsuv_row(ctx, study, ds)
            tables.append(table)
            panels[f"{d} layers: train loss"].update(curves)
            final_loss[str(d)]["lsuv"] = lsuv_loss
        prov = data_provenance(results)
        cfg = study.to_dict()
    ctx.figure(plots.curve_panels(panels, x=x_ep, colors=ctx.colors,
                                  title="Plain ReLU networks: training loss"),
               "loss", "Training loss per epoch, mean and range over seeds: at 30 layers "
                       "glorot_normal and orthogonal (gain 1) stay at ln 10 = 2.30 (stall) "
                       "while he_normal, orthogonal with gain sqrt 2 and LSUV train.")
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
            "and 30-layer models.\n\n"
            "At 30 layers two more rows: orthogonal weights (Saxe et al. 2013) have "
            "W^T W = gain^2 I, so a layer keeps the norm of its input exactly, and the ReLU "
            "halves the second moment: at gain 1 the signal shrinks like Glorot's, at gain "
            "sqrt 2 (PyTorch's calculate_gain('relu')) it is kept, like He's. LSUV (Mishkin & "
            "Matas 2016) starts from orthonormal weights and rescales each layer, in order, "
            "until its pre-activations have std 1 on a batch of training data, which fixes "
            "the scale whatever the activation." + _theory_note()),
        config=cfg,
        tables=tables,
        findings=findings,
        provenance={"data": prov},
    )


def _theory_note() -> str:
    """What mean-field theory predicts for these depths, with the heuristic named."""
    from initlab.diagnose import theory

    g = theory.mean_field("relu", 1.0, 0.0)
    return (
        "\n\nPrediction (initlab recommend): Glorot on these square ReLU layers has "
        f"chi_1 = {g.chi_1:g}; its correlations are no depth limit (xi_c infinite without "
        "bias), but the gradient norm halves every two layers, and the gradient-depth "
        f"heuristic (the depth over which it changes 1e4 x) gives {g.depth_limit:.1f} layers, "
        "so it predicts that Glorot trains at 22 layers (slowly) and stalls at 30; compare the "
        "tables. He is critical (chi_1 = 1): no depth limit.")


EXPERIMENT = Experiment("depth", "Glorot vs He in 22- and 30-layer ReLU nets", "He et al. 2015", 3,
                        run)
