"""lsuv_ on torch models and initlab.init.lsuv on the NumPy engine: one algorithm."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (pip install initlab[torch])")
from torch import nn  # noqa: E402

from initlab.init import lsuv  # noqa: E402
from initlab.torch import lsuv_  # noqa: E402
from initlab.torch.lsuv import TorchLSUV  # noqa: E402


class OutOfOrder(nn.Module):
    """Registered last, first, middle; run first, middle, last (a ConvTranspose among them)."""

    def __init__(self):
        super().__init__()
        self.head = nn.Linear(8 * 8 * 8, 10)
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.up = nn.ConvTranspose2d(8, 8, 2, stride=2)
        self.mid = nn.Conv2d(8, 8, 3, stride=2, padding=1)

    def forward(self, x):
        x = torch.relu(self.stem(x))
        x = torch.relu(self.mid(x))
        x = torch.tanh(self.up(x))
        x = nn.functional.max_pool2d(x, 2)
        return self.head(x.flatten(1))


def _batch(shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)) * 3 + 1


def test_lsuv_runs_in_execution_order_and_every_layer_ends_within_tol():
    m = OutOfOrder()
    x = _batch((32, 3, 16, 16))
    rep = lsuv_(m, x, seed=0)
    assert rep.names == ["stem", "mid", "up", "head"]  # not registration order
    final = TorchLSUV(m).outputs(x)  # measured afresh after all layers were done
    for name in rep.names:
        std = float(final[name].std())
        assert abs(std - 1.0) <= 0.1, (name, std)
        assert std == pytest.approx(rep.std[rep.names.index(name)][0], rel=1e-6)
    assert all(t[0] >= 1 for t in rep.tries) and rep.converged
    assert "tries" in rep.table() and "all layers converged" in rep.table()


def test_registration_order_lsuv_would_leave_layers_off_target():
    """The lsuv package's order (registration) on the same model: the head is done first,
    then the layers before it change its input, so it ends off target."""
    m = OutOfOrder()
    x = _batch((32, 3, 16, 16))
    lsuv_(m, x, seed=0)
    t = TorchLSUV(m)
    for name in ["head", "stem", "up", "mid"]:  # registration order, one rescale each
        out = t.outputs(x)[name]
        t.scale(name, np.array([2.0 / float(out.std())]))
    assert abs(float(t.outputs(x)["head"].std()) - 2.0) > 0.2


def test_modes_and_grads_are_left_as_they_were():
    m = nn.Sequential(nn.Linear(4, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 2))
    m.train()
    m[1].eval()
    m[0].weight.grad = torch.full_like(m[0].weight, 5.0)
    stats_before = m[1].running_var.clone()
    lsuv_(m, _batch((64, 4)), seed=1)
    assert m.training and m[0].training and not m[1].training and m[3].training
    assert torch.equal(m[0].weight.grad, torch.full_like(m[0].weight, 5.0))
    assert m[3].weight.grad is None and m[0].weight.requires_grad
    assert torch.equal(m[1].running_var, stats_before)


def test_lsuv_is_reproducible_and_uses_no_global_rng():
    a, b = OutOfOrder(), OutOfOrder()
    x = _batch((16, 3, 16, 16))
    state = torch.get_rng_state()
    lsuv_(a, x, seed=5)
    lsuv_(b, x, seed=5)
    assert torch.equal(torch.get_rng_state(), state)
    for va, vb in zip(a.state_dict().values(), b.state_dict().values(), strict=True):
        assert torch.equal(va, vb)


def test_numpy_engine_lsuv_reaches_the_target_per_model():
    from initlab.nn import Dense, Sequential

    m = Sequential([Dense(64, "relu"), Dense(64, "tanh"), Dense(3)], input_dim=10,
                   n_models=3, seeds=[0, 1, 2])
    x = np.random.default_rng(0).standard_normal((256, 10)) * 4.0
    rep = lsuv(m, x, target_std=0.5, tol=0.02, rng=0)
    assert rep.names == ["dense_1", "dense_2", "dense_3"]
    _, trace = m.forward(x, trace=True)
    for layer in trace.layers:
        stds = layer.pre.reshape(3, -1).std(axis=1)
        np.testing.assert_array_less(np.abs(stds - 0.5), 0.02 + 1e-9)
    assert np.allclose(m.layers[0].b, 0.0)


def test_numpy_and_torch_share_the_algorithm():
    """Same dense model, same orthonormal draws (same seed, same layout): same factors."""
    from initlab.nn import Dense, Sequential

    x = np.random.default_rng(1).standard_normal((128, 6)).astype(np.float32) * 2
    ours = Sequential([Dense(12, "relu"), Dense(4)], input_dim=6, dtype=np.float64)
    rep_np = lsuv(ours, x.astype(np.float64), rng=3)
    m = nn.Sequential(nn.Linear(6, 12), nn.ReLU(), nn.Linear(12, 4)).double()
    rep_t = lsuv_(m, torch.from_numpy(x).double(), seed=3)
    assert rep_np.tries == rep_t.tries
    np.testing.assert_allclose(np.array(rep_np.std), np.array(rep_t.std), rtol=1e-9)
    np.testing.assert_allclose(m[0].weight.detach().numpy(), ours.layers[0].W[0].T,
                               rtol=1e-9)


def test_bad_arguments_are_spec_errors():
    from initlab.errors import ConfigError, SpecError

    with pytest.raises(SpecError, match="tol must be a positive finite number"):
        lsuv_(nn.Linear(2, 2), torch.zeros(3, 2), tol=-1)
    with pytest.raises(ConfigError, match="lsuv cannot run on a str"):
        lsuv("model", None)
