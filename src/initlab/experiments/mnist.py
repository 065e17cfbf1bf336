"""seed 000's MNIST experiment: six Keras initializers on 784-128-64-10."""

from __future__ import annotations

from typing import Any

from initlab.experiments.base import (
    Context,
    Experiment,
    curve_panels,
    data_provenance,
    epoch_axis,
    final_means,
    findings_of,
    init_inspection,
    resolve_mnist,
    run_study,
    summary_table,
)
from initlab.viz.report import ReportData, Table

MNIST_SCHEMES = ("zeros", "random_uniform", "glorot_uniform", "glorot_normal", "he_uniform",
                 "he_normal")
ARTICLE_VAL_ACC = {"zeros": 0.1135, "random_uniform": 0.9755, "glorot_uniform": 0.9771,
                   "glorot_normal": 0.9783, "he_uniform": 0.9740, "he_normal": 0.9769}
"""Seed 000's final val_acc per initializer (Keras, 60,000 training images, 5 epochs)."""


def _article_table(results: Any, half: Any, n_train: int) -> Table:
    from initlab.experiments.base import fmt_stat

    ours = {s.scheme: s for s in results.summary()}
    halves = {s.scheme: s for s in half.summary()}
    rows = []
    for scheme, article in ARTICLE_VAL_ACC.items():
        h = halves.get(scheme)
        rows.append([scheme, f"{article:.4f}", fmt_stat(ours[scheme].metrics["val_accuracy"]),
                     fmt_stat(h.metrics["val_accuracy"]) if h else "-"])
    return Table("Test accuracy: the article's against initlab's",
                 ["scheme", "article (60,000 images, 1 run)", f"initlab ({n_train:,} images)",
                  f"initlab ({n_train // 2:,} images)"], rows,
                 "The article's number is its last epoch's val_acc; initlab's are mean ± std "
                 "[interval] over seeds, on the same test images for both initlab columns.")


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


def run(ctx: Context) -> ReportData:
    from initlab.studies import Study
    from initlab.viz import plots

    options, which = resolve_mnist(ctx.data_dir)
    epochs = 1 if ctx.quick else 5
    study = Study(name="mnist-quick" if ctx.quick else "mnist", dataset="mnist",
                  dataset_options=options, layers=(128, 64), activation="relu",
                  output="softmax", schemes=list(MNIST_SCHEMES), seeds=ctx.seeds,
                  optimizer="adam", lr=0.001, epochs=epochs, batch_size=32, log_every=1)
    results = run_study(ctx, study)
    x_ep = epoch_axis(results)
    panels = curve_panels(results, {"loss": "train loss", "val_loss": "test loss",
                                     "accuracy": "train accuracy",
                                     "val_accuracy": "test accuracy"})
    ctx.figure(plots.curve_panels(panels, x=x_ep, max_cols=2, logy=["train loss", "test loss"],
                                  colors=ctx.colors,
                                  title="MNIST 784-128-64-10: loss and accuracy per epoch"),
               "curves", "Loss and accuracy per epoch, mean and range over seeds.")
    from initlab.studies.runner import load_data

    ds = load_data(study, ctx.data_dir)
    inspection = init_inspection(study, ds, list(MNIST_SCHEMES))
    n_train = int(ds.x_train.shape[0])
    # the article trained on 60,000 images: measure how much the data size moves the number
    half = run_study(ctx, study.replace(
        name=f"{study.name}-half-data", schemes=["zeros", "he_normal"],
        dataset_options={**options, "n_train": n_train // 2}, validate_names=False))
    acc = final_means(results)
    acc_half = final_means(half)
    ctx.numbers.update({"test_accuracy": acc, "data": which,
                        "test_accuracy_half_data": acc_half})
    random = [acc[s] for s in MNIST_SCHEMES if s != "zeros"]
    gap = [ARTICLE_VAL_ACC[s] - acc[s] for s in MNIST_SCHEMES if s != "zeros"]
    article_check = (
        "\n\nThe article's numbers (second table): zeros "
        f"{ARTICLE_VAL_ACC['zeros']:.4f} there, {acc['zeros']:.4f} here (both predict the most "
        "frequent class of their test set). The random initializers reach "
        f"{min(random):.4f}-{max(random):.4f} here against 0.9740-0.9783 in the article, "
        f"{min(gap):.3f}-{max(gap):.3f} lower. The measured reason is the data: the article "
        f"trains on 60,000 images ({60000 // 32:,} Adam steps per epoch, 5 epochs), initlab on "
        f"{n_train:,} ({-(-n_train // 32):,} steps per epoch, {epochs} epochs). With half of them "
        f"({n_train // 2:,}) he_normal's test accuracy falls from {acc['he_normal']:.4f} to "
        f"{acc_half['he_normal']:.4f}: the accuracy still grows with the data at this size.")
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
            "article's Keras logs." + article_check),
        config={**study.to_dict(), "data": which},
        tables=[summary_table(results, "Final metrics per initializer"),
                _article_table(results, half, n_train)],
        findings=findings_of(inspection, list(MNIST_SCHEMES), prefix="at init: "),
        logs={f"{s} (seed {study.seeds[0]})": _keras_log(results, s, epochs)
              for s in MNIST_SCHEMES},
        provenance={"data": data_provenance(results)},
    )


EXPERIMENT = Experiment("mnist", "six Keras initializers on MNIST", "seed 000", 3, run)
