"""seed 002's make_moons experiment: zeros, large random and He init.

The article's 86 % (train) / 83 % (test) for its large random init is checked by running its
code path (tinhnhatpham/deep_neural_network_implementation, ``Loss.crossentropy``): a
cross-entropy of the sigmoid's *probabilities* with 1e-5 added inside each log, whose gradient
``-(y / (p + 1e-5) - (1 - y) / (1 - p + 1e-5))`` is then multiplied by the sigmoid's
derivative ``p (1 - p)``, in float64, full batch, lr 0.01, 15,000 iterations. A point whose
output starts saturated on the wrong side (``p (1 - p)`` about 0) gets almost no gradient
there and stays wrong; initlab's cost is computed from the logits (gradient ``p - y``, size 1
for such a point), so it learns them. Measured on a re-implementation of the article's code
(data from make_moons, weights ``randn * 10``, seeds 0-9): train accuracy 17-87 %, mean 53 %;
the same code with the gradient taken from the logits: 89-98 %. The article's 86 % is one
unseeded draw from that wide spread; its "accuracy" is ``100 - mean |y - p| * 100``, which
equals the classification accuracy to 0.1 % here because the outputs are saturated. The
report runs the article's cost on the engine as a second table.
"""

from __future__ import annotations

import math
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
from initlab.nn.losses import BinaryCrossentropy, Loss
from initlab.viz.report import ReportData, Table

ARTICLE_EPS = 1e-5
"""The article's ``epsilon`` inside the logs of its cross-entropy."""
ARTICLE_SCHEME = "normal(std=10)"
"""The article's large random init: ``np.random.randn(*shape) * 10``, biases 0."""
ARTICLE_SEEDS = 10
"""Seeds (at least; 4 in quick runs) of the article's-cost row: its outcome spreads widely
over seeds. (float64 ensembles are slower per model in the engine: 10 keeps the full run's
extra cost to about a minute on a shared 2-core machine.)"""
ARTICLE_FINAL_COST = 4.636862344557608
"""The article's printed cost at its last iteration (14,999) for the large random init."""
ARTICLE_TRAIN_ACC = 0.8599297141360952
"""The article's printed train "accuracy" (``1 - mean |y - p|``) for the same init."""


def cost_bound(cost: float, eps: float = ARTICLE_EPS) -> float:
    """The largest ``1 - mean |y - p|`` a final article cost allows: ``1 - cost / ln(1/eps)``.

    Each point costs ``-ln(p_y + eps)`` (``p_y`` the probability of its label), a convex
    function of ``p_y`` that lies below its chord ``(1 - p_y) ln(1/eps)``; averaging,
    ``cost <= ln(1/eps) (1 - mean p_y)``, and ``mean p_y`` is the article's accuracy metric.

    Example:
        >>> round(cost_bound(ARTICLE_FINAL_COST), 3)
        0.597
    """
    return 1.0 - cost / math.log(1.0 / eps)


class ArticleCrossentropy(BinaryCrossentropy):
    """seed 002's cost: ``-mean(y ln(p + eps) + (1 - y) ln(1 - p + eps))`` of the sigmoid's
    output ``p``, differentiated with respect to ``p`` (the engine then multiplies by the
    sigmoid's derivative ``p (1 - p)``, as the article's code does).

    Example:
        >>> t = ArticleCrossentropy().targets(np.array([1.0]), 1, np.float64)
        >>> p = np.full((1, 1, 1), 0.5)
        >>> round(float(ArticleCrossentropy().value_and_grad(p, p, t, None)[0]), 4)
        0.6931
    """

    name = "article_crossentropy"
    from_logits = False
    # the planned step must call this class's gradient, not the parent's logit formula
    plan_grad = Loss.plan_grad

    def value_and_grad(self, z, a, t, grad, need_value=True, scale=1.0):
        _, n, d = a.shape
        y = t.t[None]
        loss = None
        if need_value:
            inside = y * np.log(a + ARTICLE_EPS) + (1 - y) * np.log(1 - a + ARTICLE_EPS)
            loss = -inside.sum(axis=(1, 2), dtype=np.float64) / (n * d)
        if grad is not None:
            grad[...] = -(y / (a + ARTICLE_EPS) - (1 - y) / (1 - a + ARTICLE_EPS))
            grad *= scale / (n * d)
        return loss


def article_path(study: Any, ds: Any, epochs: int) -> dict[str, np.ndarray]:
    """Train ``ARTICLE_SCHEME`` on the study's data and seeds with the article's cost, float64.

    Returns:
        per seed: ``initial_loss``, ``final_loss`` (article cost), ``train_acc``, ``test_acc``
        (classification), ``train_article`` (the article's ``1 - mean |y - p|``), and
        ``stuck`` (fraction of training points wrong and saturated at init, |z| > 11.5, whose
        gradient factor ``p (1 - p) / (1 - p + 1e-5)`` is below 1e-5).
    """
    from initlab.optim import sgd
    from initlab.studies.runner import build_model

    runs = [(ARTICLE_SCHEME, s) for s in study.seeds]
    model = build_model(study.replace(dtype="float64", validate_names=False),
                        ds.x_train.shape[1], 2, runs)
    x, y = ds.x_train.astype(np.float64), ds.y_train
    xt, yt = ds.x_test.astype(np.float64), ds.y_test
    _, tr = model.forward(x, trace=True)
    z0 = np.asarray(tr.layers[-1].pre)[..., 0]
    wrong = (z0 > 0) != (y[None] == 1)
    stuck = (wrong & (np.abs(z0) > -math.log(ARTICLE_EPS))).mean(axis=1)
    hist = model.fit(x, y, epochs=epochs, batch_size=None, optimizer=sgd(study.lr),
                     loss=ArticleCrossentropy(), log_every=epochs)
    p, pt = (np.asarray(model.predict(v))[..., 0] for v in (x, xt))
    return {"initial_loss": np.asarray(hist.loss)[0], "final_loss": np.asarray(hist.loss)[-1],
            "train_acc": ((p > 0.5) == (y[None] == 1)).mean(axis=1),
            "test_acc": ((pt > 0.5) == (yt[None] == 1)).mean(axis=1),
            "train_article": 1 - np.abs(y[None] - p).mean(axis=1), "stuck": stuck}


def _article_table(results: Any, results64: Any, art: dict[str, np.ndarray]) -> Table:
    from initlab.experiments.base import fmt_stat
    from initlab.studies.stats import interval_note, mean_ci

    ours = next(s for s in results.summary() if s.scheme == ARTICLE_SCHEME)
    ours64 = results64.summary()[0]
    rows = [["the article (one unseeded run)", "1", "85.99 %", "82.99 %", "4.637"],
            [f"{ARTICLE_SCHEME}, the article's cost, float64", str(len(art["train_acc"])),
             fmt_stat(mean_ci(art["train_acc"])), fmt_stat(mean_ci(art["test_acc"])),
             fmt_stat(mean_ci(art["final_loss"]))],
            [f"{ARTICLE_SCHEME}, initlab's cost (from logits)", str(ours.n_trained),
             fmt_stat(ours.metrics["accuracy"]), fmt_stat(ours.metrics["val_accuracy"]),
             fmt_stat(ours.metrics["loss"])],
            [f"{ARTICLE_SCHEME}, initlab's cost, float64", str(ours64.n_trained),
             fmt_stat(ours64.metrics["accuracy"]), fmt_stat(ours64.metrics["val_accuracy"]),
             fmt_stat(ours64.metrics["loss"])]]
    return Table("The large random init under the article's cost and under initlab's",
                 ["run", "seeds", "train acc", "test acc", "final cost"], rows,
                 f"mean ± std [{interval_note(0.95)}]; the article's and initlab's costs are "
                 "different functions, so only the accuracies compare across rows.")


def run(ctx: Context) -> ReportData:
    from initlab.studies import Study
    from initlab.studies.runner import load_data
    from initlab.viz import plots

    schemes = ["zeros", "normal(std=10)", "he_normal"]
    epochs = 3000 if ctx.quick else 15000
    study = Study(name="moons-quick" if ctx.quick else "moons", dataset="moons",
                  layers=(12, 6), activation="relu", output="sigmoid", schemes=schemes,
                  seeds=ctx.seeds, optimizer="sgd", lr=0.01, epochs=epochs, batch_size="full",
                  log_every=max(1, epochs // 300))
    results = run_study(ctx, study)
    ds = load_data(study)
    x_ep = epoch_axis(results)
    ctx.figure(plots.curves(curve_panels(results, {"loss": "cost"})["cost"], x=x_ep,
                            ylabel="cost (binary cross-entropy)", logy=True, colors=ctx.colors,
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
    inspection = init_inspection(study, ds, schemes, seed)
    acc = final_means(results)
    n_art = max(len(study.seeds), 4 if ctx.quick else ARTICLE_SEEDS)
    art = article_path(study.replace(seeds=n_art, validate_names=False), ds, epochs)
    results64 = run_study(ctx, study.replace(name=f"{study.name}-float64", dtype="float64",
                                             schemes=[ARTICLE_SCHEME]))
    acc64 = final_means(results64)[ARTICLE_SCHEME]
    per_seed64 = ", ".join(f"{r.final.get('val_accuracy', math.nan):.2f}"
                           for r in results64.runs)
    ctx.numbers.update({"test_accuracy": acc, "train_accuracy": final_means(results, "accuracy"),
                        "final_loss": final_means(results, "loss"),
                        "article_cost": {k: [float(v) for v in a] for k, a in art.items()}})
    lo, hi = float(art["train_acc"].min()), float(art["train_acc"].max())
    inside = "inside" if lo <= 0.86 <= hi else "outside"
    c_lo, c_hi = float(art["final_loss"].min()), float(art["final_loss"].max())
    cost_inside = "inside" if c_lo <= ARTICLE_FINAL_COST <= c_hi else "outside"
    gap = (
        "\n\nThe article reports 86 % train and 83 % test accuracy for its large random init; "
        f"initlab's row above reaches {acc.get(ARTICLE_SCHEME, math.nan):.3f} test accuracy. "
        "The cause, found by running the article's code path: not its data (make_moons, 400 "
        "training and 100 test points, noise 0.2; the article draws the two sets in two calls, "
        "initlab splits one draw: the same distribution), iteration count (15,000 full-batch "
        "steps) or learning rate (0.01), and not precision alone (float64 there, float32 here: "
        f"with initlab's cost in float64 the test accuracy is {acc64:.3f}, per seed "
        f"{per_seed64}; precision changes single runs of this chaotic large-step training), "
        "but its cost function. The article "
        "computes the cross-entropy of the sigmoid's "
        f"probabilities with {ARTICLE_EPS:g} added inside the logs and differentiates through "
        "the sigmoid, so a point whose output starts saturated on the wrong side gets a "
        "gradient of about p (1 - p) / (1 - p + 1e-5), practically 0, and stays wrong; "
        "initlab's cross-entropy is computed from the logits, whose gradient p - y is 1 for "
        f"such a point. Measured here at init: {100 * float(art['stuck'].mean()):.0f} % of the "
        "training points (mean over seeds) are wrong and saturated (|z| > 11.5). Trained with "
        f"the article's cost on the same seeds (second table), normal(std=10) reaches a train "
        f"accuracy of {float(art['train_acc'].mean()):.2f} (from {lo:.2f} to {hi:.2f} over "
        f"{len(art['train_acc'])} seeds, std {float(art['train_acc'].std(ddof=1)):.2f}): the "
        f"article's 0.86 is a single unseeded draw, {inside} the range of these seeds. "
        "Its \"accuracy\" is 100 - mean |y - p| x 100, here within "
        f"{100 * float(np.abs(art['train_article'] - art['train_acc']).max()):.1f} points of "
        "the classification accuracy, because the outputs are saturated.\n\n"
        "The article's own two numbers do not come from one run: under its cost each point "
        f"costs at most ln(1/{ARTICLE_EPS:g}) = {math.log(1 / ARTICLE_EPS):.2f}, below the "
        "chord of a convex function, so cost <= 11.51 x (1 - its accuracy metric); its "
        f"printed final cost {ARTICLE_FINAL_COST:.3f} allows a train accuracy of at most "
        f"{100 * cost_bound(ARTICLE_FINAL_COST):.1f} %, not {100 * ARTICLE_TRAIN_ACC:.2f} %. "
        "(Its He section likewise prints two different evaluations of one trained model, "
        "95.39 / 94.66 and 95.44 / 94.00: the notebook's cells were re-run.) Its final cost "
        f"is {cost_inside} the range of the article's-cost runs here ({c_lo:.2f} to "
        f"{c_hi:.2f}); its 86 % is from a different run than that cost log.")
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
            "seeds. The article's zeros (0.6931, 50 %) and He (95 % train, 94 % test) rows "
            "are matched by the table." + gap),
        config=study.to_dict(),
        tables=[summary_table(results, "Final accuracy and loss per scheme"),
                _article_table(results, results64, art)],
        findings=findings_of(inspection, schemes, prefix="at init: "),
        provenance={"data": data_provenance(results)},
    )


EXPERIMENT = Experiment("moons", "zeros, large random and He on make_moons", "seed 002", 5, run)
