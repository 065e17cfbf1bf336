"""Diagnostics are engine-neutral: one Trace and activation table, conv layers per channel."""

from __future__ import annotations

import ast
import doctest
import importlib
import math
import pathlib

import numpy as np
import pytest

import initlab
from initlab.diagnose import layer_stats, report_from_trace
from initlab.trace import LayerTrace, Trace

DIAGNOSE = pathlib.Path(initlab.__file__).parent / "diagnose"


def _imports(path: pathlib.Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


@pytest.mark.parametrize("path", sorted(DIAGNOSE.glob("*.py")), ids=lambda p: p.name)
def test_diagnose_imports_no_engine(path):
    engines = {m for m in _imports(path) if m.split(".")[:2] in (["initlab", "nn"],
                                                                  ["initlab", "torch"])}
    assert engines == set(), f"{path.name} imports {engines}"
    assert not any(m == "torch" or m.startswith("torch.") for m in _imports(path))


def test_engine_names_are_the_neutral_ones():
    import initlab.activations as neutral
    import initlab.nn as nn
    import initlab.nn.activations as engine_acts
    import initlab.trace as trace

    assert nn.Trace is trace.Trace and nn.LayerTrace is trace.LayerTrace
    assert engine_acts.get is neutral.get and engine_acts.Activation is neutral.Activation
    assert neutral.RELU_FAMILY == {"relu", "leaky_relu", "elu", "gelu", "softplus"}


@pytest.mark.parametrize("name", ["initlab.activations", "initlab.trace"])
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0



def test_unknown_activation_gives_no_prediction_not_an_error():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 16))
    w = rng.standard_normal((1, 16, 8)) / 4.0
    z1 = (x @ w[0])[None]
    a1 = z1 / (1 + np.exp(-z1))  # silu
    w2 = rng.standard_normal((1, 8, 8)) / math.sqrt(8)
    z2 = a1 @ w2
    layers = (LayerTrace("l1", "silu", pre=z1, post=a1, W=w, b=np.zeros((1, 8))),
              LayerTrace("l2", "tanh", pre=z2, post=np.tanh(z2), W=w2, b=np.zeros((1, 8))))
    rep = report_from_trace(Trace(x=x, layers=layers))
    assert np.isnan(rep.predicted_q).all()
    assert "silu" in str(rep)
    # a known activation before it still gets its prediction
    layers = (LayerTrace("l1", "tanh", pre=z1, post=np.tanh(z1), W=w, b=np.zeros((1, 8))),
              LayerTrace("l2", "silu", pre=z2, post=z2, W=w2, b=np.zeros((1, 8))))
    rep = report_from_trace(Trace(x=x, layers=layers))
    assert np.isfinite(rep.predicted_q[0, 0]) and np.isnan(rep.predicted_q[1, 0])
    assert rep.predicted_q[0, 0] == pytest.approx(np.mean(x**2) * 16 * np.mean(w**2), rel=1e-6)


def test_conv_layer_is_per_channel_over_samples_and_positions():
    rng = np.random.default_rng(1)
    pre = rng.standard_normal((1, 8, 6, 6, 4))  # (K, n, H, W, channels)
    pre[..., 2] = -np.abs(pre[..., 2])          # channel 2 never positive anywhere: dead
    pre[0, 3, 5, 5, 1] = 1.0                    # channel 1 positive at one position only
    pre[..., 1] = np.where(pre[..., 1] == 1.0, 1.0, -1.0)
    w = rng.standard_normal((1, 27, 4))
    st = layer_stats(LayerTrace("conv", "relu", pre=pre, post=np.maximum(pre, 0), W=w,
                                b=np.zeros((1, 4))))
    assert st.dead_fraction[0] == pytest.approx(1 / 4)
    assert st.units == 4 and st.fan_in == 27 and st.positions == 36
    assert st.pre_rms[0] == pytest.approx(np.sqrt(np.mean(pre**2)))
    assert st.zero_fraction[0] == pytest.approx(np.mean(np.maximum(pre, 0) == 0))


def test_bad_shapes_are_a_shape_error():
    z = np.zeros((1, 4, 3))
    with pytest.raises(initlab.ShapeError, match="layer l1"):
        layer_stats(LayerTrace("l1", "relu", pre=z, post=z, W=np.zeros((1, 2, 5)),
                               b=np.zeros((1, 5))))


def test_import_initlab_and_the_cli_parser_do_not_import_torch():
    import os
    import subprocess
    import sys

    code = ("import sys, initlab, initlab.diagnose, initlab.cli\n"
            "initlab.cli.build_parser()\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n")
    env = {**os.environ, "PYTHONPATH": str(pathlib.Path(initlab.__file__).parents[1])}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
