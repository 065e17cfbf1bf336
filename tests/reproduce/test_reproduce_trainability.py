"""``initlab reproduce trainability --quick`` on the real MNIST split: deep tanh networks
train only near the critical sigma_w^2, as 6 xi_c says (Schoenholz et al. 2017, Fig. 5)."""

from __future__ import annotations

import json

import pytest

from initlab.diagnose import theory
from initlab.experiments import EXPERIMENTS, reproduce, trainability


def test_the_quick_grid_is_a_sweep_over_depth_and_sigma_w2():
    sw = trainability.sweep(quick=True, seeds=1, split=None)
    assert [s.layers for s in sw.studies()] == [(64,) * 4, (64,) * 40]
    assert [trainability.sigma_w2_of(s) for s in sw.axes["scheme"]] == [1.0, 2.5, 4.0]
    full = trainability.sweep(quick=False, seeds=1, split="test:8000/2000")
    assert [len(s.layers) for s in full.studies()] == [10, 20, 30, 40, 50, 60]
    assert full.n_runs == 6 * 13 and full.studies()[0].layers[0] == 128
    assert full.studies()[0].bias_init == "normal(std=0.2236067977)"  # sigma_b^2 = 0.05
    assert "trainability" in EXPERIMENTS


@pytest.mark.slow
def test_deep_tanh_trains_only_near_the_edge_of_chaos(tmp_path, shared_mnist_dir):
    path, numbers = reproduce("trainability", tmp_path, seeds=1, quick=True,
                              data_dir=shared_mnist_dir)
    results = json.loads((tmp_path / "results.json").read_text())
    assert len(results["figures"]) == 1 and path.is_file()
    acc = numbers["accuracy"]
    six_xi = numbers["six_xi_c"]
    assert numbers["critical_sigma_w2"] == pytest.approx(theory.critical_sigma_w2("tanh", 0.05))
    # 40 layers: beyond 6 xi_c at sigma_w^2 = 1 (21.8) and 4 (41.9 is the edge), inside at 2.5
    assert six_xi["1.0"] < 40 < six_xi["2.5"]
    assert acc["40"]["2.5"] > 0.3 > 0.15 > max(acc["40"]["1.0"], acc["40"]["4.0"])
    # 4 layers train everywhere, well above chance (0.1)
    assert min(acc["4"].values()) > 0.4
    assert numbers["mean_accuracy_inside"] > numbers["mean_accuracy_outside"] + 0.3
