"""He et al. 2015: plain ReLU nets of 22 and 30 layers, Glorot against He."""

from __future__ import annotations

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
from initlab.viz.report import ReportData


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
        study = Study(name=f"depth{d}{'-quick' if ctx.quick else ''}", dataset="digits",
                      layers=(64,) * d, activation="relu", output="softmax", schemes=schemes,
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
        findings += findings_of(init_inspection(study, ds, schemes), schemes,
                              prefix=f"{d} layers, at init: ")
        prov = data_provenance(results)
        cfg = study.to_dict()
    ctx.figure(plots.curve_panels(panels, x=x_ep, colors=ctx.colors,
                                  title="Plain ReLU networks: training loss"),
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
            "and 30-layer models." + _theory_note()),
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
