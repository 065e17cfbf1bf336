"""initlab.torch.Probe in a real training loop: bounded, hooks only on recording steps."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

import initlab.torch as it  # noqa: E402
import initlab.torch.probe as probe_module  # noqa: E402


def _train(model, probe, steps, lr=0.05, seed=0, dead_at=None):
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    hooked = []
    for s in range(steps):
        if dead_at is not None and s == dead_at:
            with torch.no_grad():
                model[2].bias.fill_(-50.0)
        x = torch.randn(32, 16, generator=g)
        y = torch.randint(0, 4, (32,), generator=g)
        opt.zero_grad()
        hooked.append(probe.hooked)
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        probe.step()
    return hooked


def _mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(),
                         nn.Linear(32, 4))


def test_buffer_is_bounded_and_hooks_come_only_on_recording_steps():
    m = _mlp()
    probe = it.Probe(m, every=5, capacity=4)
    hooked = _train(m, probe, 40)
    assert hooked == [s % 5 == 0 for s in range(40)]
    hist = probe.history()
    assert hist["step"].tolist() == [20, 25, 30, 35]  # the 4 newest of 8 records
    assert hist["pre_std"].shape == (4, 3, 1) and len(probe) == 4
    size = probe.nbytes
    _train(m, probe, 40, seed=1)
    assert probe.nbytes == size and len(probe) == 4
    assert np.all(hist["grad_W_norm"] > 0) and np.all(np.isfinite(hist["grad_pre_rms"]))
    assert probe.layer_names == ["0", "2", "4"]
    probe.close()
    assert not probe.hooked


def test_the_record_is_the_loops_own_step():
    m = _mlp()
    probe = it.Probe(m, every=1000)
    g = torch.Generator().manual_seed(3)
    x, y = torch.randn(32, 16, generator=g), torch.randint(0, 4, (32,), generator=g)
    before = m[0].weight.detach().clone()
    nn.functional.cross_entropy(m(x), y).backward()
    grad = m[0].weight.grad.norm().item()
    probe.step()
    z = x @ before.T + m[0].bias.detach()
    hist = probe.history()
    assert hist["pre_std"][0, 0, 0] == pytest.approx(z.std(unbiased=False).item(), rel=1e-5)
    assert hist["grad_W_norm"][0, 0, 0] == pytest.approx(grad, rel=1e-5)


def test_first_seen_names_the_step_a_finding_appears():
    m = _mlp()
    with it.Probe(m, every=10) as probe:
        _train(m, probe, 60, dead_at=25)
    assert probe.first_seen.get("dead_units") == 30
    assert not probe.hooked


def test_docstring_example():
    result = doctest.testmod(probe_module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
