"""Sequential: a stack of Dense layers and Residual blocks, K models at once that differ only
in init and seed.

Model ``k`` draws its parameters from ``seeds[k]`` (layer by layer, W then b) with
``inits[k]`` as its scheme for every layer that does not name its own init; a layer left at
``init="auto"`` in a model without a scheme gets the one its activation recommends. So
model ``k`` of an ensemble starts exactly where a one-model ``Sequential`` with the same seed
and scheme starts, and ``fit`` trains all K on the same minibatches.

A plain stack of biased Dense layers runs on :mod:`initlab.nn.engine`; a model with Residual
blocks (:mod:`initlab.nn.residual`) or bias-free layers compiles to :mod:`initlab.nn.graph`.
``recipe`` (one for all models, or one per model) applies an init recipe for residual nets
after the draws (:mod:`initlab.nn.recipes`: ``he``, ``fixup``, ``skipinit``, ``rezero``).

Example:
    >>> import numpy as np
    >>> from initlab.nn import Dense, Sequential
    >>> m = Sequential([Dense(4, activation="relu"), Dense(3, activation="softmax")],
    ...                input_dim=2, n_models=2, seeds=[0, 1])
    >>> m.predict(np.zeros((5, 2))).shape
    (2, 5, 3)
"""

from __future__ import annotations

import json
import numbers
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from initlab.errors import ConfigError, DataError, ShapeError, StoreError
from initlab.nn.engine import StepPlan, Workspace, backward, forward
from initlab.nn.finite import all_finite
from initlab.nn.graph import Graph, GraphPlan, GraphWorkspace
from initlab.nn.layers import Dense
from initlab.nn.losses import Loss, Targets
from initlab.nn.losses import get as get_loss
from initlab.nn.params import ParamLayout
from initlab.nn.residual import Residual
from initlab.nn.trace import LayerTrace, Trace
from initlab.rng import as_generator

__all__ = ["Sequential"]

EVAL_BYTES = 16 * 2**20
"""Bytes one model's layer buffers may take while :meth:`Sequential.evaluate` runs a chunk."""
EVAL_ROWS_MAX = 4096
"""The most samples evaluated at once."""


def _dtype(dtype: Any) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ConfigError(f"dtype must be float32 or float64; got {dtype!r}")
    return dt


class Sequential:
    """K models of the same stack of Dense layers and Residual blocks.

    Args:
        layers: the Dense layers and Residual blocks, input side first (each used by one
            model only); the last is a Dense, the output layer.
        input_dim: number of input features.
        n_models: K, the number of models trained together (default 1).
        inits: K init specs (or None entries), one scheme per model for every layer that
            does not name its own init; None: every layer's own init (or "auto").
        seeds: K int seeds, one per model (default 0, 1, ..., K-1).
        dtype: float32 (default) or float64.
        recipe: an init recipe for residual nets (``"he"``, ``"fixup"``, ``"skipinit"``,
            ``"rezero"``), or K of them (None entries: none), applied after each model's
            draws; see :mod:`initlab.nn.recipes`.

    Example:
        >>> from initlab.nn import Dense
        >>> m = Sequential([Dense(1, activation="sigmoid")], input_dim=3, seeds=[7])
        >>> m.layers[0].W.shape, m.init_specs[0][0] != ""
        ((1, 3, 1), True)
    """

    def __init__(
        self,
        layers: Sequence[Dense],
        input_dim: int,
        n_models: int = 1,
        inits: Sequence[Any] | str | None = None,
        seeds: Sequence[int] | None = None,
        dtype: Any = np.float32,
        recipe: Any = None,
    ) -> None:
        layers = list(layers)
        if not layers or not all(isinstance(ly, (Dense, Residual)) for ly in layers):
            raise ConfigError("Sequential needs a non-empty list of Dense layers and Residual "
                              f"blocks; got {layers!r}")
        every = [x for ly in layers for x in (ly.walk() if isinstance(ly, Residual) else [ly])]
        if len({id(ly) for ly in every}) != len(every) or any(ly.built for ly in every):
            raise ConfigError("each Dense layer can belong to one model only; make new ones")
        if not isinstance(input_dim, numbers.Integral) or isinstance(input_dim, bool) \
                or input_dim < 1:
            raise ConfigError(f"input_dim must be a positive int; got {input_dim!r}")
        if not isinstance(n_models, numbers.Integral) or isinstance(n_models, bool) \
                or n_models < 1:
            raise ConfigError(f"n_models must be a positive int; got {n_models!r}")
        K = int(n_models)
        if isinstance(inits, str):
            inits = [inits] * K
        for what, value in (("inits", inits), ("seeds", seeds)):
            if value is not None and not isinstance(value, (list, tuple)):
                raise ConfigError(f"{what} must be a list with one entry per model (or None); "
                                  f"got {value!r}")
        if inits is not None and len(inits) != K:
            raise ConfigError(
                f"inits has {len(inits)} entries for n_models={K}; give one per model")
        if seeds is None:
            seeds = list(range(K))
        if len(seeds) != K:
            raise ConfigError(
                f"seeds has {len(seeds)} entries for n_models={K}; give one per model")
        self.layers = layers
        self.input_dim = int(input_dim)
        self.n_models = K
        self.inits = list(inits) if inits is not None else [None] * K
        self.seeds = list(seeds)
        self.dtype = _dtype(dtype)
        from initlab.nn.recipes import resolve

        self.recipes = resolve(recipe, K)
        self._graph: Graph | None = None
        self._layout: ParamLayout | Any
        if all(isinstance(ly, Dense) and ly.use_bias for ly in layers):
            shapes = []
            fan_in = self.input_dim
            for i, ly in enumerate(layers):
                ly.fan_in, ly.index = fan_in, i
                ly.name = ly.name or f"dense_{i + 1}"
                shapes.append((fan_in, ly.units))
                fan_in = ly.units
            self.dense_layers: list[Dense] = list(layers)  # type: ignore[arg-type]
            self._layout = ParamLayout(K, shapes, self.dtype)
        else:
            self._graph = Graph(layers, self.input_dim)
            self.dense_layers = list(self._graph.dense)
            self._layout = self._graph.layout(K, self.dtype)
        self.activations = [ly.activation for ly in self.dense_layers]
        self.params = self._layout.alloc(constants=True)
        for ly in self.dense_layers:
            ly._params = self.params
        self._initialize()

    # ---------------------------------------------------------------- build
    def _initialize(self) -> None:
        from initlab import init as initpkg
        from initlab.nn import recipes

        specs: list[list[str]] = []
        reasons: list[list[str]] = []
        in_branch = recipes.branch_layers(self)
        for k in range(self.n_models):
            rng = as_generator(self.seeds[k])
            row, why = [], []
            recipe = self.recipes[k]
            for ly in self.dense_layers:
                spec, reason = ly.init, None
                if isinstance(spec, str) and spec.strip().lower() == "auto":
                    if self.inits[k] is not None:
                        spec, reason = self.inits[k], "model"
                    elif recipe is not None and id(ly) in in_branch:
                        spec, reason = recipe.branch_init, f"{{}} (recipe {recipe.name})"
                    else:
                        spec = ly.activation.recommended_init
                        reason = f"auto -> {{}} ({ly.activation.name})"
                ini = initpkg.get(spec)
                W = ini((ly.fan_in, ly.units), rng=rng, dtype=self.dtype)
                self.params.W[ly.index][k] = W
                if ly.use_bias:
                    bspec = ly.bias_init
                    if isinstance(bspec, str) and bspec.strip().lower() == "auto":
                        b = ini.bias(ly.fan_in, ly.units, rng, self.dtype)
                    else:
                        b = initpkg.get(bspec)((ly.units,), rng=rng, dtype=self.dtype)
                    self.params.b[ly.index][k] = b
                canon = str(ini)
                row.append(canon)
                if reason is None:
                    why.append(f"{canon} (layer)")
                elif reason == "model":
                    why.append(f"{canon} (model {k})")
                else:
                    why.append(reason.format(canon))
            if self._graph is not None or recipe is not None:
                notes = recipes.apply(self, k, recipe)
                why = [w + notes[i] if i in notes else w for i, w in enumerate(why)]
            specs.append(row)
            reasons.append(why)
        self.init_specs = specs
        for i, ly in enumerate(self.dense_layers):
            ly.init_specs = [specs[k][i] for k in range(self.n_models)]
            ly.init_reasons = [reasons[k][i] for k in range(self.n_models)]

    # ---------------------------------------------------------------- checks
    @property
    def output_dim(self) -> int:
        """Units of the last layer."""
        return self.dense_layers[-1].units

    def _check_x(self, x: Any, what: str = "x") -> np.ndarray:
        try:
            arr = np.asarray(x)
        except Exception as err:  # noqa: BLE001
            raise DataError(f"{what} is not array-like: {err}") from None
        if arr.dtype == object or arr.dtype.kind not in "biuf":
            raise DataError(f"{what} must be numeric; got dtype {arr.dtype}")
        if arr.ndim == 1 and self.input_dim == 1:
            arr = arr[:, None]
        if arr.ndim != 2 or arr.shape[1] != self.input_dim:
            raise ShapeError(
                f"{what} has shape {arr.shape}; the model expects (n, {self.input_dim}) "
                f"(input_dim={self.input_dim})"
            )
        if arr.shape[0] == 0:
            raise DataError(f"{what} has no samples")
        arr = arr.astype(self.dtype, copy=False)
        if not all_finite(arr):
            raise DataError(f"{what} contains NaN or infinite values")
        return arr

    def _loss(self, loss: Any = None) -> Loss:
        return get_loss(loss, self.dense_layers[-1].activation)

    def _targets(self, loss: Loss, y: Any, n: int, what: str = "y") -> Targets:
        t = loss.targets(y, self.output_dim, self.dtype)
        if len(t) != n:
            raise ShapeError(f"{what} has {len(t)} samples but x has {n}")
        return t

    def _workspace(self, n: int, with_grads: bool) -> Any:
        if self._graph is not None:
            return GraphWorkspace(self._graph, self._layout, n, with_grads=with_grads)
        return Workspace(self._layout, self.activations, n, with_grads=with_grads)

    def _forward(self, ws: Any, need_output: bool) -> None:
        if self._graph is not None:
            self._graph.forward(self.params, ws, need_output)  # type: ignore[arg-type]
        else:
            forward(self.params, ws, need_output=need_output)

    def _plan(self, ws: Any, lossf: Loss, t: Targets, scale: float, parts: int = 1) -> Any:
        """The training step's calls on ``ws`` (a StepPlan over ``parts`` ranges of models, or
        a GraphPlan)."""
        if self._graph is not None:
            return GraphPlan(self._graph, self.params, ws, lossf, t, scale)  # type: ignore[arg-type]
        return StepPlan(self.params, ws, lossf, t, scale, parts)

    # ---------------------------------------------------------------- passes
    def forward(self, x: Any, trace: bool = False) -> Any:
        """Run the K models on ``x``.

        Args:
            x: (n, input_dim) inputs, shared by the K models.
            trace: also return a :class:`~initlab.nn.Trace` with every layer's
                pre-activations and activations (fresh arrays owned by the trace).

        Returns:
            The output activations (K, n, units), or ``(output, trace)``.

        Example:
            >>> from initlab.nn import Dense
            >>> m = Sequential([Dense(2, activation="tanh")], input_dim=3)
            >>> out, tr = m.forward(np.ones((4, 3)), trace=True)
            >>> out.shape, tr.layers[0].pre.shape
            ((1, 4, 2), (1, 4, 2))
        """
        xs = self._check_x(x)
        ws = self._workspace(len(xs), with_grads=False)
        ws.x_aug[:, :-1] = xs
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            self._forward(ws, need_output=True)
        if not trace:
            return ws.post[-1]
        return ws.post[-1], self._make_trace(xs, ws, None)

    def block_outputs(self, x: Any) -> dict[str, np.ndarray]:
        """Run the K models on ``x``; return each Residual block's output, (K, n, units),
        by block name, in the order the blocks finish (fresh arrays). Empty without blocks.

        Example:
            >>> from initlab.nn import Dense, Residual
            >>> m = Sequential([Residual([Dense(3)]), Dense(1)], input_dim=3)
            >>> {k: v.shape for k, v in m.block_outputs(np.ones((2, 3))).items()}
            {'residual_1': (1, 2, 3)}
        """
        xs = self._check_x(x)
        if self._graph is None:
            return {}
        ws = self._workspace(len(xs), with_grads=False)
        ws.x_aug[:, :-1] = xs
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            self._forward(ws, need_output=False)
        return {b.name or "": ws.V[v] for b, v in
                zip(self._graph.blocks, self._graph.block_out, strict=True)}

    def trace(self, x: Any, y: Any, loss: Any = None) -> Trace:
        """Forward, loss and backward on one batch; return the full Trace (no update).

        Args:
            x: (n, input_dim) inputs.
            y: targets (as for ``fit``).
            loss: a loss name or None (inferred from the output activation).

        Returns:
            A Trace with ``pre``, ``post``, ``W``, ``b``, ``grad_W``, ``grad_b``, ``grad_pre``
            per layer and ``loss`` (K,).

        Example:
            >>> from initlab.nn import Dense
            >>> m = Sequential([Dense(2, activation="softmax")], input_dim=3)
            >>> tr = m.trace(np.ones((4, 3)), [0, 1, 1, 0])
            >>> tr.layers[0].grad_W.shape, tr.loss.shape
            ((1, 3, 2), (1,))
        """
        xs = self._check_x(x)
        lossf = self._loss(loss)
        t = self._targets(lossf, y, len(xs))
        ws = self._workspace(len(xs), with_grads=True)
        ws.x_aug[:, :-1] = xs
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            lv = self._step_grads(ws, lossf, t, need_output=True)
        return self._make_trace(xs, ws, lv)

    def _step_grads(self, ws: Workspace, lossf: Loss, t: Targets, need_output: bool,
                    need_value: bool = True, scale: float = 1.0) -> Any:
        """Forward + loss + backward on a filled workspace; return the loss per model.

        With ``scale`` != 1 the gradients come out multiplied by it (plain SGD folds -lr in).
        """
        self._forward(ws, need_output=need_output or not lossf.from_logits)
        lv = self._loss_grad(ws, lossf, t, scale, need_value)
        if self._graph is not None:
            self._graph.backward(self.params, ws)  # type: ignore[arg-type]
        else:
            backward(self.params, ws)
        return lv

    def _loss_grad(self, ws: Workspace, lossf: Loss, t: Targets, scale: float = 1.0,
                   need_value: bool = True) -> Any:
        """The loss per model and dL/dz of the output layer into ``ws.gz[-1]``."""
        z, a = ws.z[-1], ws.post[-1]
        if lossf.from_logits:
            return lossf.value_and_grad(z, a, t, ws.gz[-1], need_value, scale)
        lv = lossf.value_and_grad(z, a, t, ws.ga[-1], need_value, scale)
        self.activations[-1].backward(z, a, ws.ga[-1], out=ws.gz[-1])
        return lv

    def _make_trace(self, xs: np.ndarray, ws: Workspace, loss: Any) -> Trace:
        from initlab.nn.recipes import design

        layers = []
        grads = ws.with_grads and loss is not None
        by = design(self, ws.gz if grads else None)
        for i, ly in enumerate(self.dense_layers):
            g = grads
            layers.append(LayerTrace(
                name=ly.name or f"dense_{i + 1}",
                activation=ly.activation.name,
                pre=ws.z[i], post=ws.post[i],
                W=self.params.W[i], b=self.params.b[i],
                grad_W=ws.grads.W[i] if g else None,
                grad_b=ws.grads.b[i] if g and ly.use_bias else None,
                grad_pre=ws.gz[i] if g else None,
                zero_by=None if by is None else by[0][i],
                gated_by=None if by is None or not g else by[1][i],
            ))
        return Trace(x=xs, layers=tuple(layers), loss=None if loss is None else np.asarray(loss))

    @property
    def eval_rows(self) -> int:
        """How many samples :meth:`evaluate`, :meth:`predict` and ``fit``'s validation run at
        once by default: as many as keep one model's pre-activations and activations of every
        layer within :data:`EVAL_BYTES` (2 x itemsize x sum of units per sample), at most
        :data:`EVAL_ROWS_MAX`.

        It depends on the architecture and dtype only, not on how many models are in the
        ensemble, so a model's metrics do not depend on its ensemble; and memory stays
        bounded for deep nets (60 layers of 128 in float32: 272 rows, not 4096).

        Example:
            >>> from initlab.nn import Dense
            >>> Sequential([Dense(128), Dense(10)], input_dim=4).eval_rows
            4096
            >>> Sequential([Dense(128) for _ in range(60)] + [Dense(10)], input_dim=4).eval_rows
            272
        """
        per_sample = 2 * self.dtype.itemsize * sum(ly.units for ly in self.dense_layers)
        return max(1, min(EVAL_ROWS_MAX, EVAL_BYTES // per_sample))

    def predict(self, x: Any, batch_size: int | None = None) -> np.ndarray:
        """Return the output activations (K, n, units): probabilities for softmax/sigmoid.

        The model axis is always there (K = 1 gives (1, n, units)).

        Example:
            >>> from initlab.nn import Dense
            >>> m = Sequential([Dense(3, activation="softmax")], input_dim=2)
            >>> float(m.predict(np.ones((2, 2)))[0].sum(axis=-1)[0])
            1.0
        """
        xs = self._check_x(x)
        out = np.empty((self.n_models, len(xs), self.output_dim), dtype=self.dtype)
        for start, ws in self._chunks(xs, batch_size or self.eval_rows):
            out[:, start : start + ws.n] = ws.post[-1]
        return out

    def _chunks(self, xs: np.ndarray, batch_size: int, need_output: bool = True) -> Any:
        n = len(xs)
        bs = max(1, min(int(batch_size), n))
        ws = self._workspace(bs, with_grads=False)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            for start in range(0, n, bs):
                stop = min(start + bs, n)
                if stop - start != ws.n:
                    ws = self._workspace(stop - start, with_grads=False)
                ws.x_aug[:, :-1] = xs[start:stop]
                self._forward(ws, need_output=need_output)
                yield start, ws

    def _evaluate(self, xs: np.ndarray, t: Targets, lossf: Loss, batch_size: int) -> dict:
        K = self.n_models
        loss_sum = np.zeros(K)
        correct = np.zeros(K)
        for start, ws in self._chunks(xs, batch_size, need_output=not lossf.from_logits):
            tb = t.slice(start, start + ws.n)
            loss_sum += lossf.value_and_grad(ws.z[-1], ws.post[-1], tb, None) * ws.n
            correct += lossf.correct(ws.z[-1], ws.post[-1], tb)
        n = len(xs)
        return {"loss": loss_sum / n, "accuracy": correct / n}

    def evaluate(
        self, x: Any, y: Any, loss: Any = None, batch_size: int | None = None
    ) -> dict[str, np.ndarray]:
        """Return ``{"loss": (K,), "accuracy": (K,)}`` on ``(x, y)``.

        Accuracy is the fraction of correct classes (argmax, or threshold 0.5 for one sigmoid
        unit); NaN where the targets are not classes (a regression with mse).

        Example:
            >>> from initlab.nn import Dense
            >>> m = Sequential([Dense(2, activation="softmax", init="zeros")], input_dim=1)
            >>> r = m.evaluate(np.ones((4, 1)), [0, 1, 0, 1])
            >>> round(float(r["loss"][0]), 4)
            0.6931
        """
        xs = self._check_x(x)
        lossf = self._loss(loss)
        t = self._targets(lossf, y, len(xs))
        return self._evaluate(xs, t, lossf, batch_size or self.eval_rows)

    # ---------------------------------------------------------------- training
    def fit(self, x: Any, y: Any, epochs: int = 1, batch_size: int | None = 32,
            optimizer: Any = "adam", loss: Any = None, validation_data: Any = None,
            seed: Any = 0, verbose: int = 0, log_every: int = 1,
            callbacks: Sequence[Any] | None = None, threads: int | None = None,
            engine: str = "numpy") -> Any:
        """Train all K models on the same minibatches; return a :class:`History`.

        Args:
            x: (n, input_dim) training inputs.
            y: targets: integer labels or one-hot rows (softmax), 0/1 (sigmoid), values (mse).
            epochs: passes over the data.
            batch_size: minibatch size; None for full-batch gradient descent.
            optimizer: ``"sgd"``, ``"adam"``, ``"rmsprop"`` (Keras defaults) or an
                ``initlab.optim`` transform.
            loss: a loss name, or None to infer from the output activation.
            validation_data: ``(x_val, y_val)`` measured at each logged epoch.
            seed: the shuffling seed (int or Generator).
            verbose: 0 silent, 1 a line per logged epoch (and a progress bar for long runs).
            log_every: record the history every this many epochs (and at the last).
            callbacks: objects with optional ``every``, ``on_trace`` and ``on_epoch_end``.
            threads: threads for the training steps, for this call only: with K >= 2 models,
                that many ranges of models run side by side on one BLAS thread each; with one
                model, BLAS threads. None: the caller's BLAS setting, split over the models
                for large ensembles, one thread for small products (:func:`initlab.nn.
                training.step_threads`). The thread count does not change the results.
            engine: ``"numpy"`` (the reference) or ``"jit"``: the compiled path
                (:mod:`initlab.nn.jit`, extra ``initlab[jit]``), for plain Dense stacks.

        Returns:
            The History (arrays (n_logged_epochs, K); ``diverged`` per model).

        Example:
            >>> from initlab.nn import Dense
            >>> m = Sequential([Dense(1, activation="sigmoid")], input_dim=2)
            >>> h = m.fit(np.eye(2), [0, 1], epochs=3, batch_size=None, optimizer="sgd")
            >>> h.loss.shape
            (3, 1)
        """
        from initlab.nn.recipes import wrap_optimizer
        from initlab.nn.training import fit

        if callbacks is not None and not isinstance(callbacks, (list, tuple)):
            raise ConfigError(f"callbacks must be a list of callback objects; got {callbacks!r}")
        optimizer = wrap_optimizer(self, optimizer)
        return fit(self, x, y, epochs=epochs, batch_size=batch_size, optimizer=optimizer,
                   loss=loss, validation_data=validation_data, seed=seed, verbose=verbose,
                   log_every=log_every, callbacks=callbacks, threads=threads, engine=engine)

    # ---------------------------------------------------------------- reporting
    def summary(self) -> str:
        """Return a table: each layer, its output shape, parameters, and the init it got and why.

        Example:
            >>> from initlab.nn import Dense
            >>> m = Sequential([Dense(8, activation="relu")], input_dim=4)
            >>> "auto -> he_normal (relu)" in m.summary()
            True
        """
        rows = [("Layer", "Output", "Activation", "Params", "Init (per model)")]
        total = 0
        blocks = {} if self._graph is None else {b.name: b for b in self._graph.blocks}
        for name in self._schedule():
            blk = blocks.get(name)
            if blk is not None:
                total += blk.n_scalars
                if blk.alpha is None:
                    alpha = "x + F(x)"
                elif blk.alpha == "trainable":
                    alpha = "x + alpha F(x), alpha trained"
                else:
                    alpha = f"x + {blk.alpha:g} F(x)"
                if blk.shortcut == "projection":
                    alpha = alpha.replace("x +", "x P +", 1)
                recipes = sorted({r.name for r in self.recipes if r is not None})
                rows.append((name, f"(K, n, {blk.units})", alpha, f"{blk.n_scalars:,}",
                             f"recipe {', '.join(recipes)}" if recipes else ""))
                continue
            ly = self.dense_layers[[d.name for d in self.dense_layers].index(name)]
            total += ly.n_params
            uniq = list(dict.fromkeys(ly.init_reasons))
            init = "; ".join(uniq) if len(uniq) <= 2 else "per model, below"
            if not ly.use_bias:
                init += "; no bias"
            elif not (isinstance(ly.bias_init, str) and ly.bias_init == "auto"):
                init += f"; bias {ly.bias_init}"
            rows.append((ly.name or "", f"(K, n, {ly.units})", str(ly.activation),
                         f"{ly.n_params:,}", init))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = [f"Sequential: input_dim={self.input_dim}, K={self.n_models} models, "
                 f"dtype={self.dtype.name}"]
        sep = "-" * (sum(widths) + 2 * (len(widths) - 1))
        for j, r in enumerate(rows):
            lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
            if j == 0:
                lines.append(sep)
        lines.append(sep)
        lines.append(f"Parameters per model: {total:,}; all {self.n_models} models: "
                     f"{total * self.n_models:,}")
        if any(len(set(ly.init_reasons)) > 2 for ly in self.dense_layers):
            lines += ["Init per model:", *self._init_per_model()]
        return "\n".join(lines)

    def _schedule(self) -> list[str]:
        """Layer and block names in the order they run (a block after its branch)."""
        if self._graph is None:
            return [ly.name or "" for ly in self.dense_layers]
        return [op.name for op in self._graph.ops]

    def _init_per_model(self) -> list[str]:
        """One line per run of models with the same inits: 'models 0-4: zeros' (<= 100 cols)."""
        import textwrap

        texts = []
        for k in range(self.n_models):
            rs = [ly.init_reasons[k].replace(f" (model {k})", "") for ly in self.dense_layers]
            texts.append(rs[0] if len(set(rs)) == 1 else "; ".join(
                f"{ly.name}: {r}" for ly, r in zip(self.dense_layers, rs, strict=True)))
        out, k = [], 0
        while k < len(texts):
            j = k
            while j + 1 < len(texts) and texts[j + 1] == texts[k]:
                j += 1
            who = f"model {k}" if j == k else f"models {k}-{j}"
            out += textwrap.wrap(f"{who}: {texts[k]}", 98, initial_indent="  ",
                                 subsequent_indent="      ")
            k = j + 1
        return out

    def __repr__(self) -> str:
        def width(ly: Any) -> str:
            if isinstance(ly, Residual):
                return f"res{ly.units}x{ly.depth}" if ly.depth > 1 else f"res{ly.units}"
            return str(ly.units)

        arch = "-".join([str(self.input_dim)] + [width(ly) for ly in self.layers])
        return f"Sequential({arch}, K={self.n_models}, dtype={self.dtype.name})"

    # ---------------------------------------------------------------- persistence
    def _architecture(self) -> dict:
        arch = {"input_dim": self.input_dim, "n_models": self.n_models,
                "layers": [{"units": ly.units, "activation": str(ly.activation)}
                           for ly in self.dense_layers],
                "init_specs": self.init_specs, "seeds": [int(s) for s in self.seeds]}
        if self._graph is not None:
            arch["tensors"] = list(self._graph.tensor_names)
            arch["recipes"] = [None if r is None else r.name for r in self.recipes]
        return arch

    def _arrays(self) -> dict[str, np.ndarray]:
        """The parameter arrays as saved: ``W<i>``, ``b<i>`` per Dense, ``T<i>`` per tensor
        of a graph model (its Dense weights included)."""
        if self._graph is not None:
            return {f"T{i}": t for i, t in enumerate(self.params.tensors)}
        out = {}
        for i in range(len(self.dense_layers)):
            out[f"W{i}"] = self.params.W[i]
            out[f"b{i}"] = self.params.b[i]
        return out

    def save(self, path: str | os.PathLike) -> None:
        """Save the weights (and the architecture as JSON) to an .npz file, without pickle.

        Example:
            >>> import tempfile, pathlib
            >>> from initlab.nn import Dense
            >>> m = Sequential([Dense(2)], input_dim=2)
            >>> p = pathlib.Path(tempfile.mkdtemp()) / "w.npz"
            >>> m.save(p); m.load(p)
        """
        arrays: dict[str, np.ndarray] = {"architecture": np.array(json.dumps(self._architecture()))}
        for key, view in self._arrays().items():
            arrays[key] = np.ascontiguousarray(view)
        try:
            with open(path, "wb") as fh:
                np.savez(fh, **arrays)
        except OSError as err:
            raise StoreError(f"cannot write weights to {str(path)!r}: {err}") from None

    def load(self, path: str | os.PathLike) -> None:
        """Load weights saved by :meth:`save`; a different architecture is a ShapeError.

        Raises:
            StoreError: the file is missing or not a weights file.
            ShapeError: the file's layers or K do not match this model.
        """
        try:
            with np.load(path, allow_pickle=False) as f:
                data = {k: f[k] for k in f.files}
        except (OSError, ValueError) as err:
            raise StoreError(f"cannot read weights from {str(path)!r}: {err}") from None
        mine = self._arrays()
        n = len(self.dense_layers) if self._graph is None else len(mine)
        what = "layers" if self._graph is None else "tensors"
        lead = "W" if self._graph is None else "T"
        for key, view in mine.items():
            if key not in data:
                raise ShapeError(f"{str(path)!r} has no {key}: it holds "
                                 f"{sum(k.startswith(lead) for k in data)} {what}, "
                                 f"this model {n}")
            if data[key].shape != view.shape:
                raise ShapeError(f"{str(path)!r}: {key} has shape {data[key].shape}, "
                                 f"this model needs {view.shape}")
        extra = [k for k in data if k != "architecture" and k not in mine]
        if extra:
            raise ShapeError(f"{str(path)!r} holds more {what} than this model's {n} "
                             f"({', '.join(sorted(extra)[:3])})")
        for key, view in mine.items():
            view[...] = data[key]
