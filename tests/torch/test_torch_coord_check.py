"""initlab.torch.coord_check: SP under Adam grows with width after one step, muP stays flat."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import sys  # noqa: E402

import initlab  # noqa: E402
from initlab.experiments import coordcheck as exp  # noqa: E402
from initlab.torch import coord_check  # noqa: E402

WIDTHS = [64, 128, 256, 512]


@pytest.fixture(scope="module")
def batch():
    g = torch.Generator().manual_seed(1234)
    return torch.randn(64, exp.D_IN, generator=g), torch.randint(0, exp.CLASSES, (64,), generator=g)


@pytest.fixture(scope="module")
def checks(batch):
    x, y = batch
    sp = coord_check(exp.sp_mlp, WIDTHS, x, y, optimizer=exp.sp_adam, steps=1, seeds=3)
    mup = coord_check(exp.mup_mlp, WIDTHS, x, y, optimizer=exp.mup_adam, steps=1, seeds=3)
    return sp, mup


def test_slopes_separate(checks):
    sp, mup = checks
    hidden = ["2", "4"]  # the hidden Linears' outputs
    for m in hidden + ["6"]:
        assert abs(sp.slope(m, 0).slope) < 0.25 and sp.slope(m, 0).stable()
        assert sp.slope(m, 1).low > 0.25, sp.slope(m, 1)    # grows with width after a step
        assert mup.slope(m, 1).stable(), mup.slope(m, 1)      # flat under muP
    assert any(f.startswith("6 grows as width^") and "after step 1: not width-stable" in f
               for f in sp.findings)
    # muP's only one: the readout starts as 1/sqrt(width) (variance 1/width^2), by design
    assert [f.split(":")[0] for f in mup.findings] in (
        [], [f"6 shrinks as width^{mup.slope('6', 0).slope:.2f} at initialization"])


def test_rows_and_values(checks):
    sp, _ = checks
    assert {r.width for r in sp.rows} == set(WIDTHS) and {r.seed for r in sp.rows} == {0, 1, 2}
    assert len(sp.rows) == len(WIDTHS) * 3 * 2 * len(sp.modules)
    v = sp.values("0", 0)
    assert v.shape == (3, 4) and np.all(v > 0)
    s = sp.slope("2", 1)
    assert s.slope == pytest.approx(np.mean(s.seeds)) and len(s.seeds) == 3
    fit = np.polyfit(np.log(WIDTHS), np.log(sp.values("2", 1)[0]), 1)[0]
    assert s.seeds[0] == pytest.approx(fit)
    assert sp.to_dict()["rows"][0].keys() == {"width", "module", "step", "seed", "value"}
    fig = sp.plot()
    assert len([a for a in fig.axes if a.get_visible()]) == 2


def test_rng_state_is_unchanged(batch):
    x, y = batch
    state = torch.get_rng_state()
    coord_check(exp.sp_mlp, [8, 16], x, y, optimizer=exp.sp_adam, steps=1, seeds=1)
    assert torch.equal(torch.get_rng_state(), state)


def test_bad_arguments(batch):
    x, y = batch
    with pytest.raises(initlab.ConfigError, match="widths"):
        coord_check(exp.sp_mlp, [64], x, y, optimizer=exp.sp_adam)
    with pytest.raises(initlab.ConfigError, match="seeds must be an int >= 1; got 0"):
        coord_check(exp.sp_mlp, [8, 16], x, y, optimizer=exp.sp_adam, seeds=0)


def test_docstring_examples():
    for mod in (sys.modules["initlab.torch.coord_check"], exp):
        result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
        assert result.attempted > 0 and result.failed == 0


@pytest.mark.slow
def test_reproduce_coordcheck(tmp_path):
    from initlab.experiments import reproduce

    path, numbers = reproduce("coordcheck", tmp_path, seeds=2, quick=True)
    html = path.read_text(encoding="utf-8")
    assert html.count('<img src="data:image/png;base64,') == 2
    slopes = numbers["slopes_step1"]
    assert min(slopes[f"standard (SP):{m}:step1"] for m in ("4", "6")) > 0.4
    assert max(abs(slopes[f"muP:{m}:step1"]) for m in ("0", "2", "4", "6")) < 0.25
    assert any("not width-stable" in f for f in numbers["findings"]["standard (SP)"])
