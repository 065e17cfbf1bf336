"""Residual MLPs of 10, 50 and 200 blocks on moons: He against Fixup, SkipInit and ReZero.

Each network is a ReLU stem ``Dense(64)``, L blocks ``x + alpha * W2 relu(W1 x + b1) + b2``
of width 64, and a sigmoid unit, trained on make_moons with SGD from lr 0.1 (batch 32) under
a cosine decay to 0 over the run (:func:`optimizer`). One ensemble per scheme (K = seeds,
the same minibatches for all), each with the architecture its paper uses:

* ``he``: ``x + F(x)``, every branch layer he_normal. The second moment q = E[x^2] of the
  signal triples per block (E[y^2] = q + 2q; :mod:`initlab.nn.recipes`), so the output is
  3^L times the input: about 6e4 at 10 blocks, 7e23 at 50, 3e95 at 200.
* ``fixup``: branch layers without biases, Fixup's scalar biases and multiplier, zero last
  branch layer and classifier, the first branch layer scaled by L^(-1/2); scalars at lr / 10.
* ``skipinit``, ``rezero``: ``x + alpha F(x)`` with a trainable alpha = 0; alpha at lr / 10
  here too (see :func:`optimizer`).

Both of the last two, and Fixup, start every block at the identity: q is exactly the same at
every block (ratio 1).

Example:
    >>> r = measure(3, "rezero", seeds=1, epochs=1)
    >>> round(float(r.ratio[0]), 6), r.theory
    (1.0, 1.0)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from initlab.experiments.base import Context, Experiment
from initlab.viz.report import ReportData, Table

__all__ = ["SCHEMES", "GROWTH", "Outcome", "layers", "measure", "typical_factor",
           "EXPERIMENT"]

SCHEMES = ("he", "fixup", "skipinit", "rezero")
GROWTH = {"he": 3.0, "fixup": 1.0, "skipinit": 1.0, "rezero": 1.0}
"""The predicted factor of the second moment per block at init (see the module docstring)."""


WIDTH, LR, BATCH = 64, 0.1, 32
MULTIPLIER_LR = 0.1
"""The learning-rate factor of every block's multiplier alpha (Fixup's scalars' 1/10)."""
EPOCHS = 60
"""Epochs of every run, full or quick (the quick version has fewer depths and seeds)."""


def typical_factor(width: int = WIDTH) -> float:
    """He's typical (geometric-mean) factor per block at a finite width n: 3 exp(-2 / n).

    The mean factor is 3, but one block's factor is random: for an input x (|x|^2 = n q),
    r = |x + W2 relu(W1 x)|^2 / |x|^2 = 1 + 2 H C + Z, with H = |relu(W1 x)|^2 / (n q)
    (mean 1, variance 5/n: E[h^4] = 6 q^2 for h = relu(N(0, 2q))), C = chi^2_n / n (mean 1,
    variance 2/n: W2's draw given h) and the cross term Z = 2 x.F / |x|^2 ~ N(0, 8 H / n).
    So E[r] = 3 and Var[r] = 4 (5 + 2) / n + 8 / n = 36 / n, and a product of L independent
    factors grows like exp(L E[ln r]) with E[ln r] = ln 3 - Var[r] / (2 * 3^2) = ln 3 - 2/n
    (to first order in 1/n): 2.908 per block at n = 64.

    Example:
        >>> round(typical_factor(64), 3)
        2.908
    """
    return 3.0 * float(np.exp(-2.0 / width))


def optimizer(scheme: str, model: Any, n: int, epochs: int) -> Any:
    """SGD from lr 0.1 under a cosine decay to 0 over ``epochs``; multipliers at lr / 10.

    Both follow the official Fixup code (hongyi-zhang/Fixup, ``cifar/cifar_train.py``): its
    ``--sgdr`` schedule (cosine annealing over all epochs; its default is the step decay
    lr / 10 at 50 % and 75 % of training, which ReZero's ResNet example uses too) and its
    parameter groups at ``base_lr / 10`` for every ``scale`` (the block multiplier) and
    bias. Measured here without them (3 seeds, 40 epochs): at a constant lr 0.1 the last
    epoch's test accuracy is an SGD iterate's (Fixup at 50 blocks: 0.81-0.87 test at a
    training loss of 0.06; 0.96-0.97 with the decay); and with alpha at the full rate,
    SkipInit and ReZero diverge at 200 blocks in 2 of 3 seeds in the first epoch: one step
    gives every alpha about lr |dL/dalpha| ~ 0.1, above the 1/sqrt(L) = 0.07 under which a
    stack of L blocks stays near the identity (De & Smith 2020 start alpha at or below
    1/sqrt(L)), and the signal then grows as He's does. The ``fixup`` recipe carries the
    lr / 10 itself (biases too); for ``skipinit`` and ``rezero`` it is this experiment's
    choice, not their papers' (ReZero's fully connected example trains with Adagrad, lr
    0.01; tbachlechner/ReZero-examples), applied to alpha only. It costs epochs: their
    alpha grows ten times slower from 0 (at 10 blocks, 40 epochs end at 0.91-0.93 test
    accuracy, 80 at 0.95-0.97). Fixup at 200 blocks bounds the run from the other side: it
    diverged around epoch 16 in 2-3 of 3 seeds wherever the learning rate was still above
    about 0.088 there (80-epoch cosine, with or without weight decay 1e-4, or the step
    decay over 40 epochs), and trains at 0.96 under the 60-epoch cosine (0.084 at epoch
    16). Hence 60 epochs.

    Example:
        >>> m = type("M", (), {"_graph": None})()
        >>> str(optimizer("he", m, 400, 2))
        'chain(sgd(lr=0.1), cosine_decay(26))'
    """
    from initlab.nn import optim
    from initlab.nn.recipes import scale_updates
    from initlab.nn.schedules import cosine_decay

    parts = [optim.sgd(LR), cosine_decay(epochs * -(-n // BATCH))]
    g = model._graph
    if scheme in ("skipinit", "rezero") and g is not None:
        alphas = [info["alpha"] for info in g.block_scalars.values() if "alpha" in info]
        parts.append(scale_updates({i: np.full(model.n_models, MULTIPLIER_LR) for i in alphas}))
    return optim.chain(*parts)


def layers(scheme: str, depth: int, width: int = WIDTH) -> list[Any]:
    """The stem, ``depth`` residual blocks in ``scheme``'s architecture, and the output unit.

    Example:
        >>> [type(ly).__name__ for ly in layers("fixup", 2)]
        ['Dense', 'Residual', 'Residual', 'Dense']
    """
    from initlab.nn import Dense
    from initlab.nn.recipes import residual_block

    blocks = [residual_block(width, "relu", scheme) for _ in range(depth)]
    return [Dense(width, activation="relu"), *blocks, Dense(1, activation="sigmoid")]


@dataclass
class Outcome:
    """One scheme at one depth over its seeds.

    Attributes:
        q: (seeds, depth + 1) second moment E[x^2] of the stem's output and of each block's
            output at init (float64, so He's 3^200 is representable).
        ratio: (seeds,) q after the last block over q before the first.
        theory: the predicted ratio GROWTH[scheme] ** depth.
        loss, val_accuracy: (logged epochs, seeds) curves; ``diverged``, ``diverged_epoch``
            per seed.
    """

    scheme: str
    depth: int
    q: np.ndarray
    ratio: np.ndarray
    theory: float
    loss: np.ndarray
    val_accuracy: np.ndarray
    diverged: np.ndarray
    diverged_epoch: np.ndarray


def measure(depth: int, scheme: str, seeds: int, epochs: int, dataset: Any = None) -> Outcome:
    """Measure one scheme's network of ``depth`` blocks at init, then train it.

    Args:
        depth: residual blocks.
        scheme: one of :data:`SCHEMES` (also the init recipe).
        seeds: models, seeds 0 .. seeds-1, trained as one ensemble.
        epochs: SGD epochs (:func:`optimizer`, batch 32, shuffling seed 0).
        dataset: the moons Dataset (default ``initlab.data.load("moons")``).

    Returns:
        An :class:`Outcome`.
    """
    from initlab import data
    from initlab.nn import Sequential

    ds = dataset if dataset is not None else data.load("moons")
    seed_list = list(range(seeds))

    def build(dtype: Any) -> Any:
        return Sequential(layers(scheme, depth), input_dim=ds.x_train.shape[1], n_models=seeds,
                          seeds=seed_list, recipe=scheme, dtype=dtype)

    probe = build(np.float64)
    stem = probe.forward(ds.x_train, trace=True)[1].layers[0].post
    outs = [stem, *probe.block_outputs(ds.x_train).values()]
    with np.errstate(over="ignore", invalid="ignore"):
        q = np.stack([np.mean(np.square(v), axis=(1, 2)) for v in outs], axis=1)
    model = build(np.float32)
    h = model.fit(ds.x_train, ds.y_train, epochs=epochs, batch_size=BATCH,
                  optimizer=optimizer(scheme, model, len(ds.x_train), epochs),
                  validation_data=(ds.x_test, ds.y_test), seed=0)
    return Outcome(scheme, depth, q, q[:, -1] / q[:, 0], GROWTH[scheme] ** depth,
                   np.asarray(h.loss), np.asarray(h.val_accuracy), np.asarray(h.diverged),
                   np.asarray(h.diverged_epoch))


def _sci(v: float) -> str:
    return f"{v:.3g}" if np.isfinite(v) else "inf"


def run(ctx: Context) -> ReportData:
    from initlab import data
    from initlab.viz import plots

    depths = (10, 50) if ctx.quick else (10, 50, 200)
    epochs = EPOCHS
    ds = data.load("moons")
    rows, var_panels, loss_panels, numbers = [], {}, {}, {}
    for depth in depths:
        var_panel: dict[str, Any] = {}
        loss_panel: dict[str, Any] = {}
        for scheme in SCHEMES:
            r = measure(depth, scheme, ctx.seeds, epochs, ds)
            ok = ~r.diverged
            acc = r.val_accuracy[-1][ok]
            gm = float(np.exp(np.mean(np.log(r.ratio))))
            first = [int(e) + 1 for e in r.diverged_epoch[r.diverged]]
            rows.append([depth, scheme, _sci(gm), _sci(r.theory),
                         f"{gm ** (1 / depth):.3f} / {GROWTH[scheme]:g}",
                         f"{int(r.diverged.sum())}/{ctx.seeds}"
                         + (f" (epoch {min(first)})" if first else ""),
                         f"{acc.mean():.3f} ± {acc.std():.3f}" if acc.size else "n/a",
                         f"{acc.min():.3f}" if acc.size else "n/a"])
            var_panel[scheme] = np.log10(r.q / r.q[:, :1])
            loss_panel[scheme] = r.loss.T
            numbers.setdefault("ratio", {}).setdefault(str(depth), {})[scheme] = gm
            numbers.setdefault("factor_per_block", {}).setdefault(str(depth), {})[scheme] = \
                gm ** (1 / depth)
            numbers.setdefault("theory", {}).setdefault(str(depth), {})[scheme] = r.theory
            numbers.setdefault("diverged", {}).setdefault(str(depth), {})[scheme] = \
                int(r.diverged.sum())
            numbers.setdefault("test_accuracy", {}).setdefault(str(depth), {})[scheme] = \
                float(acc.mean()) if acc.size else float("nan")
            numbers.setdefault("min_test_accuracy", {}).setdefault(str(depth), {})[scheme] = \
                float(acc.min()) if acc.size else float("nan")
        var_panel["he theory: 3^l"] = np.arange(depth + 1) * np.log10(3.0)
        var_panels[f"{depth} blocks: log10 q_l / q_0"] = var_panel
        loss_panels[f"{depth} blocks: train loss"] = loss_panel
    ctx.figure(plots.curve_panels(var_panels, xlabel="block l",
                                  x={k: np.arange(int(k.split()[0]) + 1) for k in var_panels},
                                  title="Second moment of the signal per block at init"),
               "variance", "log10 of E[x^2] after block l over E[x^2] before the first block, at "
                           "init (mean and range over seeds), with He's prediction 3^l; Fixup, "
                           "SkipInit and ReZero lie on 0 (the identity).")
    ctx.figure(plots.curve_panels(loss_panels, x=np.arange(1, epochs + 1), logy=True,
                                  title="Residual MLPs on moons: training loss"),
               "loss", "Training loss per epoch (log scale), mean and range over seeds; He's "
                       "curves end at the epoch its loss turned non-finite.")
    ctx.numbers.update(numbers)
    table = Table("Second-moment ratio at init and outcome of training",
                  ["blocks", "scheme", "q_L / q_0 measured", "theory",
                   "per block: measured / theory", "diverged",
                   "test acc", "min test acc"], rows,
                  "measured: geometric mean over seeds, float64 forward pass on the training "
                  "set. He's measured factor per block sits a little under 3: 3 is the mean "
                  "factor, but at width n one block's factor varies with variance 36/n, so "
                  f"the product grows like 3 exp(-2/n) per block = {typical_factor():.3f} "
                  f"at n = {WIDTH} (typical_factor). Test accuracy after the last epoch over "
                  "the runs that did not diverge.")
    cfg = {"dataset": "moons", "width": WIDTH, "depths": list(depths), "schemes": list(SCHEMES),
           "optimizer": f"sgd(lr={LR}), cosine decay to 0; block multipliers and (fixup) "
                        f"biases at lr x {MULTIPLIER_LR:g}", "batch_size": BATCH, "epochs": epochs,
           "seeds": ctx.seeds, "output": "sigmoid"}
    return ReportData(
        name="residual",
        title="Residual MLPs of 10 to 200 blocks: He against Fixup, SkipInit and ReZero",
        explanation=(
            f"Residual MLPs (a ReLU stem of {WIDTH} units, L blocks x + alpha F(x) with "
            f"F(x) = W2 relu(W1 x + b1) + b2 of width {WIDTH}, a sigmoid unit) on make_moons, "
            f"SGD from lr {LR} with a cosine decay to 0 (the official Fixup code's --sgdr "
            f"schedule), batch {BATCH}, {epochs} epochs, {ctx.seeds} seeds per scheme; every "
            f"block multiplier alpha trains at lr / 10 (Fixup's rule for its scalars, applied "
            f"to SkipInit's and ReZero's alpha too: at the full rate they diverge at 200 blocks)."
            "\n\n"
            "Under He init (both branch layers 2/fan_in) the branch doubles its input's "
            "second moment q (W1: 2q, the ReLU halves it: q, W2: 2q) and adds it to the "
            "shortcut, uncorrelated, so each block multiplies q by 3 and the output is 3^L "
            "times the input: the logits and the first gradients are enormous and SGD at "
            "lr 0.1 turns the loss non-finite.\n\n"
            "Fixup (Zhang et al. 2019) zeroes each branch's last layer and the classifier and "
            "scales the other branch layers by L^(-1/2); SkipInit (De & Smith 2020) and ReZero "
            "(Bachlechner et al. 2020) multiply each branch by a trainable alpha = 0. All three "
            "start every block at the identity (ratio exactly 1) and do not diverge at the "
            "start; the table says how far each trains (the last epoch's test accuracy)."),
        config=cfg,
        tables=[table],
        provenance={"data": dict(getattr(ds, "provenance", {}) or {})},
    )


EXPERIMENT = Experiment("residual", "Fixup, SkipInit, ReZero against He in residual MLPs",
                        "Zhang et al. 2019; De & Smith 2020; Bachlechner et al. 2020", 3, run)
