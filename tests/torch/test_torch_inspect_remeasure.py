"""initlab.torch.inspect checks its recommendations through the Remeasure hook, the one check
of initlab.diagnose.findings: a candidate that changes nothing, or that adds an error, is
dropped; a kept one is printed as the init_ call that was measured."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

import initlab.torch as it  # noqa: E402
from initlab.torch.inspect import apply_fix, verified_fix  # noqa: E402

CRITICAL = "variance_scaling(scale=103, mode=fan_in, distribution=normal)"  # sigmoid, b = 0
LENIENT = {"saturation_warn": 1.01, "saturation_error": 1.01}  # saturation never an error


def _sigmoid_glorot(depth: int = 10, width: int = 64) -> nn.Module:
    """Sigmoid layers with Glorot-normal weights and zero biases: the gradient vanishes."""
    g = torch.Generator().manual_seed(0)
    layers, fan_in = [], 32
    for _ in range(depth):
        lin = nn.Linear(fan_in, width)
        with torch.no_grad():
            lin.weight.normal_(0.0, math.sqrt(2.0 / (fan_in + width)), generator=g)
            lin.bias.zero_()
        layers += [lin, nn.Sigmoid()]
        fan_in = width
    out = nn.Linear(fan_in, 10)
    with torch.no_grad():
        out.weight.uniform_(-1.0, 1.0, generator=g).mul_(math.sqrt(6.0 / (fan_in + 10)))
        out.bias.zero_()
    return nn.Sequential(*layers, out)


def _batch():
    g = torch.Generator().manual_seed(100)
    return torch.randn(256, 32, generator=g), torch.randint(0, 10, (256,), generator=g)


def _vanishing(rep):
    return next(f for f in rep.findings if f.code == "vanishing_gradients")


def test_no_change_and_added_error_candidates_are_dropped():
    f = _vanishing(it.inspect(_sigmoid_glorot(), *_batch()))
    assert f.fix is None and f.value_after is None and not f.fixed
    rec = f.recommendation
    assert "glorot_uniform has your weights' std" in rec and "(no change)" in rec
    assert f"{CRITICAL} gives" in rec and "adds saturation (error)" in rec
    assert "initlab.torch.init_(" not in rec  # nothing verified, no call to paste


def test_the_kept_candidate_is_the_call_that_was_measured():
    model, (x, y) = _sigmoid_glorot(), _batch()
    rep = it.inspect(model, x, y, thresholds=LENIENT)
    f = _vanishing(rep)
    assert f.fix == CRITICAL and f.fixed  # glorot dropped (no change), the critical one kept
    fix = verified_fix(rep, f)
    assert fix is not None and fix.verified
    assert f.recommendation.startswith(f"Fix, verified on this batch: {fix.call}")
    assert fix.rules["0.weight"] == CRITICAL and fix.rules["20.weight"] == "glorot_uniform"
    apply_fix(model, fix)  # run for real: the finding's re-measured number is what we get
    again = it.inspect(model, x, y, thresholds=LENIENT, verify=False)
    assert not [g for g in again.findings if g.code == "vanishing_gradients"]


def test_verify_false_builds_an_unverified_call():
    f = _vanishing(it.inspect(_sigmoid_glorot(), *_batch(), verify=False))
    assert f.fix is None and "(not verified)" in f.recommendation
