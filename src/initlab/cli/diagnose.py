"""``initlab inspect`` (diagnose schemes on a dataset) and ``initlab recommend`` (edge of chaos).

Example:
    $ initlab inspect --dataset mnist --layers 100x5 --activation tanh \\
          --init "normal(std=0.1)" --init glorot_normal --data-dir ../shared/data/mnist
    $ initlab recommend --activation tanh --bias-std 0.05 --depth 50
"""

from __future__ import annotations

import argparse
import math

from initlab.cli.flags import int_flag, number_flag
from initlab.errors import ConfigError
from initlab.studies.spec import parse_layers

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``inspect`` and ``recommend`` sub-commands."""
    p = subparsers.add_parser(
        "inspect",
        help="measure every layer of fresh networks on a dataset and diagnose each init",
        description="Build one network per --init (trained together as one ensemble), run a "
        "batch of the dataset forward and backward, and print per layer: pre-activation and "
        "activation mean/std, q measured beside mean-field theory, dead and saturated units, "
        "symmetry, gradients; then the findings with what to change.",
    )
    p.add_argument("--dataset", default=None,
                   help="dataset name (default: digits, shipped with scikit-learn)")
    p.add_argument("--layers", default="100x5",
                   help="hidden layers: WIDTHxDEPTH (100x5) or widths (256,128) (default 100x5)")
    p.add_argument("--activation", default="tanh", help="hidden activation (default tanh)")
    p.add_argument("--init", action="append", dest="inits", metavar="SPEC",
                   help="an init scheme spec; repeat to compare several (default: auto)")
    p.add_argument("--seed", type=int, default=0, help="seed of the weights (default 0)")
    p.add_argument("--data-dir", default=None, help="folder with the dataset's files")
    p.add_argument("--n-samples", type=int, default=1000,
                   help="samples in the inspected batch (default 1000)")
    p.add_argument("--lr", type=float, default=0.01,
                   help="learning rate for ||lr * grad W|| / ||W|| (default 0.01)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    from initlab.cli.torchcli import add_inspect_arguments

    add_inspect_arguments(p)
    p.set_defaults(func=run_inspect)

    r = subparsers.add_parser(
        "recommend",
        help="the critical (edge of chaos) init for an activation, from mean-field theory",
        description="Mean-field theory (Poole 2016, Schoenholz 2017): the weight variance "
        "sigma_w^2 with chi_1 = 1 for the bias variance, q*, chi_1, the depth scales, and how "
        "deep a network at this init and at the usual schemes can be trained (the smaller of "
        "6 xi_c, Schoenholz 2017, and the gradient depth over which the gradient norm changes "
        "1e4 x). The theory describes wide networks with i.i.d. random weights, i.e. at "
        "initialization.",
    )
    r.add_argument("--activation", default="tanh", help="activation (default tanh)")
    g = r.add_mutually_exclusive_group()
    g.add_argument("--bias-std", type=float, default=None,
                   help="std of the biases, sigma_b (default 0)")
    g.add_argument("--bias-var", type=float, default=None,
                   help="variance of the biases, sigma_b^2 (instead of --bias-std)")
    r.add_argument("--depth", type=int, default=None,
                   help="the depth to train: also print the sigma_w^2 range that trains it")
    r.add_argument("--fan-in", type=int, default=None,
                   help="a layer's fan_in, to print the weight std (default: the formula only)")
    r.set_defaults(func=run_recommend)


def _load(name: str, n: int, seed: int, data_dir: str | None):
    from initlab.data import info, load

    meta = info(name)
    opts = {"data_dir": data_dir} if data_dir else {}
    if meta.kind == "download":
        return load(name, split=f"test:{n}/0", **opts)
    if "all" in getattr(meta, "sources", ()):
        return load(name, split=f"all:{n}/0", **opts)
    return load(name, n_train=n, n_test=0, seed=seed, **opts)


def run_inspect(args: argparse.Namespace) -> int:
    """Run ``initlab inspect``."""
    if args.torch:
        from initlab.cli.torchcli import run_inspect as run_torch

        return run_torch(args)
    from initlab.diagnose import inspect
    from initlab.nn import Dense, Sequential

    args.dataset = args.dataset or "digits"

    try:
        widths = list(parse_layers(args.layers))
    except ConfigError as e:
        raise ConfigError(f"--layers: {e}") from None
    if not widths:
        raise ConfigError(
            f"--layers needs at least one hidden layer, e.g. 100x5; got {args.layers!r}"
        )
    int_flag("--n-samples", args.n_samples)
    number_flag("--lr", args.lr)
    inits = args.inits or ["auto"]
    # check the specs before the (slower) data loading
    from initlab.init import get as get_init
    from initlab.nn.activations import get as get_activation

    get_activation(args.activation)
    for spec in inits:
        if spec != "auto":
            get_init(spec)
    ds = _load(args.dataset, args.n_samples, args.seed, args.data_dir)
    x, y = ds.x_train[: args.n_samples], ds.y_train[: args.n_samples]
    layers = [Dense(w, activation=args.activation) for w in widths]
    layers.append(Dense(int(ds.n_classes), activation="softmax"))
    model = Sequential(layers, input_dim=int(x.shape[1]), n_models=len(inits),
                       inits=[None if s == "auto" else s for s in inits],
                       seeds=[args.seed] * len(inits))
    report = inspect(model, x, y, lr=args.lr)
    if args.json:
        print(report.to_json())
    else:
        print(f"{args.dataset}: {len(x)} samples, layers {widths} {args.activation}\n")
        print(report, end="")
    return 0


def run_recommend(args: argparse.Namespace) -> int:
    """Run ``initlab recommend``."""
    from initlab.diagnose import theory

    if args.bias_var is not None:
        sb2 = args.bias_var
    else:
        sb = number_flag("--bias-std", 0.0 if args.bias_std is None else args.bias_std,
                         strict=False)
        sb2 = sb * sb
    number_flag("--bias-var", sb2, strict=False)
    int_flag("--depth", args.depth, optional=True)
    int_flag("--fan-in", args.fan_in, optional=True)
    act = args.activation
    theory.activation_functions(act)  # an unknown name fails here, before any work
    try:
        crit = theory.critical_sigma_w2(act, sb2)
        mf = theory.mean_field(act, crit, sb2)
    except ConfigError as e:  # name the flags the user gave, not theory's keywords
        given = (f"--bias-var {args.bias_var:g}" if args.bias_var is not None
                 else f"--bias-std {math.sqrt(sb2):g}")
        raise ConfigError(f"--activation {act} {given}: {e}") from None
    sb = math.sqrt(sb2)
    print(f"{act}, sigma_b^2 = {sb2:.4g} (bias std {sb:.4g}): edge of chaos (chi_1 = 1)")
    print("  (mean-field theory: wide networks with i.i.d. random weights, i.e. at init)")
    print(f"  critical sigma_w^2   {crit:.4f}")
    print(f"  init                 variance_scaling(scale={crit:.4f}, mode=fan_in, "
          f"distribution=normal), bias normal(std={sb:.4g})")
    if args.fan_in:
        print(f"  weight std           {math.sqrt(crit / args.fan_in):.4g} for fan_in "
              f"{args.fan_in} (sqrt({crit:.4f} / {args.fan_in}))")
    print(f"  q*                   {mf.q_star:.4g}")
    print(f"  chi_1                {mf.chi_1:.6f}")
    print(f"  xi_q                 {mf.xi_q:.4g}")
    print(f"  xi_c                 {mf.xi_c:.4g}")
    print(f"  trainable depth      ~{mf.depth_limit:.4g} ({mf.depth_heuristic})")
    if args.depth:
        lo, hi = theory.trainable_range(act, sb2, args.depth)
        print(f"  depth {args.depth} trains (trainable depth >= {args.depth}) for sigma_w^2 in "
              f"[{lo:.4g}, {hi:.4g}]")
    print("\nusual schemes on square layers (sigma_w^2 = fan_in * Var[W]):")
    print(f"  {'scheme':<16}{'sigma_w^2':>10}{'chi_1':>10}{'xi_c':>10}{'6 xi_c':>10}"
          f"{'grad depth':>12}  phase")
    for name, sw2 in (("lecun/glorot", 1.0), ("he", 2.0)):
        m = theory.mean_field(act, sw2, sb2)
        print(f"  {name:<16}{sw2:>10.4g}{m.chi_1:>10.4g}{m.xi_c:>10.4g}"
              f"{m.trainable_depth:>10.4g}{m.gradient_depth:>12.4g}  {m.phase}")
    print(f"trainable depth: the smaller of 6 xi_c (Schoenholz et al. 2017) and the gradient "
          f"depth 2 ln({theory.GRADIENT_RANGE:.0e}) / |ln chi_1| (the depth over which the "
          f"gradient norm changes {theory.GRADIENT_RANGE:.0e} x, where initlab inspect calls "
          "it an error)")
    return 0
