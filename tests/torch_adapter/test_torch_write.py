"""init_'s write paths: in place, through the scratch buffers, on the copy thread: same numbers."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (pip install initlab[torch])")
from torch import nn  # noqa: E402

from initlab.init import get  # noqa: E402
from initlab.torch import init as init_module  # noqa: E402
from initlab.torch import init_  # noqa: E402


def _model():
    # two kernels large enough for the copy thread (>= Scratch.OVERLAP_MIN), small ones,
    # an embedding drawn in place, and a norm
    return nn.Sequential(nn.Embedding(300, 256), nn.Linear(256, 384), nn.GELU(),
                         nn.LayerNorm(384), nn.Linear(384, 256), nn.Linear(256, 7))


def _reference(m, scheme, seed):
    """What init_ must give: initlab's draws in model order, kernels (in, out) transposed."""
    rng = np.random.default_rng(seed)
    emb = get("normal")((300, 256), rng)
    ws = [get(scheme)((i, o), rng) for i, o in ((256, 384), (384, 256), (256, 7))]
    return emb, ws


@pytest.mark.parametrize("overlap_min", [1, 1 << 62])
def test_every_write_path_gives_the_numpy_engines_numbers(monkeypatch, overlap_min):
    monkeypatch.setattr(init_module.Scratch, "OVERLAP_MIN", overlap_min)
    m = _model()
    init_(m, "he_normal", rules={nn.Embedding: "normal"}, seed=11)
    emb, ws = _reference(m, "he_normal", 11)
    np.testing.assert_array_equal(m[0].weight.detach().numpy(), emb)
    for lin, w in zip((m[1], m[4], m[5]), ws, strict=True):
        np.testing.assert_array_equal(lin.weight.detach().numpy(), w.T)
        assert torch.count_nonzero(lin.bias) == 0
    assert torch.equal(m[3].weight.detach(), torch.ones(384))


def test_a_parameter_drawn_in_place_counts_as_modified_by_autograd():
    m = nn.Embedding(10, 4)
    before = m.weight._version
    init_(m, seed=0)
    assert m.weight._version > before


def test_non_contiguous_float16_and_float64_parameters_take_the_copy_path():
    m = nn.Linear(6, 5)
    m.bias = nn.Parameter(torch.zeros(10)[::2])  # a strided view: not writeable by NumPy
    init_(m, "he_normal", bias="uniform(-1, 1)", seed=2)
    rng = np.random.default_rng(2)
    w = get("he_normal")((6, 5), rng)
    b = get("uniform(-1, 1)")((5,), rng)
    np.testing.assert_array_equal(m.weight.detach().numpy(), w.T)
    np.testing.assert_array_equal(m.bias.detach().numpy(), b)
    for dt, npdt in ((torch.float16, np.float32), (torch.float64, np.float64)):
        e = nn.Embedding(9, 3).to(dt)
        init_(e, seed=4)
        want = torch.from_numpy(get("normal")((9, 3), 4, npdt)).to(dt)
        assert e.weight.dtype == dt and torch.equal(e.weight.detach(), want)


def test_a_failing_copy_on_the_helper_thread_is_raised(monkeypatch):
    monkeypatch.setattr(init_module.Scratch, "OVERLAP_MIN", 1)

    def broken(dst, src):
        raise RuntimeError("copy failed")

    monkeypatch.setattr(init_module, "_copy_no_grad", broken)
    with pytest.raises(RuntimeError, match="copy failed"):
        init_(nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4)), "he_normal", seed=0)
