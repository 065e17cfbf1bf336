"""init_: exact numbers, rules, recipes, the plan, dry_run, dtype, and no global RNG."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest
from scipy import stats

torch = pytest.importorskip("torch", reason="torch is not installed (pip install initlab[torch])")
from torch import nn  # noqa: E402

from initlab.errors import ConfigError, SpecError  # noqa: E402
from initlab.init import get  # noqa: E402
from initlab.torch import init_  # noqa: E402
from initlab.torch.zoo import GPT, GPTConfig, ResNet  # noqa: E402

TINY = GPTConfig(vocab_size=64, block_size=16, n_layer=3, n_head=2, n_embd=32)


def _mlp():
    return nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 8), nn.Tanh(),
                         nn.Linear(8, 3))


def _state(m):
    return {k: v.clone() for k, v in m.state_dict().items()}


def test_same_seed_same_weights_and_the_global_rng_untouched():
    a, b, c = _mlp(), _mlp(), _mlp()
    rng_state = torch.get_rng_state()
    init_(a, seed=3)
    init_(b, seed=3)
    init_(c, seed=4)
    assert torch.equal(torch.get_rng_state(), rng_state)
    for (k, va), vb, vc in zip(a.state_dict().items(), b.state_dict().values(),
                               c.state_dict().values(), strict=True):
        assert torch.equal(va, vb), k
        if k.endswith("weight"):
            assert not torch.equal(va, vc), k


def test_same_numbers_as_the_numpy_engine():
    from initlab.nn import Dense, Sequential

    for scheme in ("he_normal", "glorot_uniform", "orthogonal", "lecun_normal(truncated=True)"):
        m = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 3))
        init_(m, scheme, seed=7)
        ours = Sequential([Dense(16, "relu"), Dense(3)], input_dim=5, inits=[scheme],
                          seeds=[7])
        for i, lin in enumerate((m[0], m[2])):
            np.testing.assert_array_equal(lin.weight.detach().numpy(), ours.layers[i].W[0].T)
            np.testing.assert_array_equal(lin.bias.detach().numpy(), ours.layers[i].b[0])
    # torch:linear_default draws its bias too, after the weight, as the engine does
    m = nn.Sequential(nn.Linear(5, 4))
    init_(m, "torch:linear_default", bias="scheme", seed=1)
    ours = Sequential([Dense(4)], input_dim=5, inits=["torch:linear_default"], seeds=[1])
    np.testing.assert_array_equal(m[0].bias.detach().numpy(), ours.layers[0].b[0])


def test_conv_layout_is_transposed_from_initlab_kernels():
    conv = nn.Conv2d(3, 5, (2, 3))
    init_(conv, "glorot_normal", seed=0)
    k = get("glorot_normal")((2, 3, 3, 5), rng=0)  # initlab (kh, kw, in, out)
    np.testing.assert_array_equal(conv.weight.detach().numpy(), k.transpose(3, 2, 0, 1))


def test_dry_run_changes_nothing_and_plans_the_same():
    m = _mlp()
    before = _state(m)
    plan = init_(m, seed=0, dry_run=True)
    assert not plan.applied and "dry run" in plan.table()
    for k, v in m.state_dict().items():
        assert torch.equal(v, before[k]), k
    real = init_(m, seed=0)
    assert [(r.parameter, r.scheme, r.std) for r in plan.entries] == [
        (r.parameter, r.scheme, r.std) for r in real.entries]


def test_dtype_device_grad_and_requires_grad_are_kept():
    m = nn.Linear(6, 4).double()
    m.bias.requires_grad_(False)
    m.weight.grad = torch.ones_like(m.weight)
    init_(m, "he_normal", seed=0)
    assert m.weight.dtype == torch.float64 and m.weight.device.type == "cpu"
    assert not m.bias.requires_grad and torch.equal(m.weight.grad, torch.ones(4, 6,
                                                                             dtype=torch.float64))
    np.testing.assert_array_equal(m.weight.detach().numpy(),
                                  get("he_normal")((6, 4), rng=0, dtype=np.float64).T)
    half = nn.Linear(6, 4).to(torch.bfloat16)
    init_(half, "he_normal", seed=0)
    assert half.weight.dtype == torch.bfloat16
    f32 = torch.from_numpy(get("he_normal")((6, 4), rng=0).T.copy())
    assert torch.equal(half.weight.detach(), f32.to(torch.bfloat16))


def test_rules_first_match_wins_by_name_and_by_type():
    m = GPT(TINY)
    rules = {"*.c_proj.weight": "zeros", "blocks.0.*": "ones", nn.Embedding: "normal(std=0.02)",
             "*.weight": "keep"}
    plan = init_(m, "he_normal", rules=rules, seed=0)
    assert plan["blocks.0.attn.c_proj.weight"].reason == "rule '*.c_proj.weight'"
    assert float(m.blocks[0].attn.c_proj.weight.detach().abs().max()) == 0.0
    assert plan["blocks.0.attn.c_attn.weight"].reason == "rule 'blocks.0.*'"
    assert plan["blocks.0.attn.c_attn.bias"].scheme == "ones"
    assert plan["wte.weight"].reason == "rule Embedding"
    assert plan["wte.weight"].std == 0.02
    assert plan["blocks.1.mlp.c_fc.weight"].scheme == "left as is"
    assert plan["blocks.1.mlp.c_fc.bias"].scheme == "zeros"  # a type/pattern miss: bias rule
    plan = init_(m, rules={"nothing.*": "zeros"}, seed=0, dry_run=True)
    assert plan.notes[0] == "rule 'nothing.*' matched no parameter"


def test_bad_rules_and_schemes_say_what_is_allowed():
    with pytest.raises(ConfigError, match="fnmatch pattern"):
        init_(_mlp(), rules={3: "zeros"})
    with pytest.raises(SpecError, match="rule '0.weight'"):
        init_(_mlp(), rules={"0.weight": "not_a_scheme"})
    with pytest.raises(SpecError, match="recipe gpt2 has no argument 'depth'"):
        init_(GPT(TINY), "gpt2(depth=3)")


def test_unknown_parameters_are_listed_left_as_is():
    class WithScale(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 3)
            self.scale = nn.Parameter(torch.full((1,), 7.0))
            self.act = nn.PReLU()

        def forward(self, x):
            return self.act(self.fc(x)) * self.scale

    m = WithScale()
    plan = init_(m, seed=0)
    assert plan["scale"].scheme == "left as is" and float(m.scale.detach()) == 7.0
    assert plan["act.weight"].scheme == "left as is"
    assert plan["fc.weight"].reason.startswith("auto -> variance_scaling")  # PReLU(0.25)
    assert "2 left as is" in plan.table()


def test_plan_rows_json_and_table():
    plan = init_(nn.Sequential(nn.Conv2d(2, 4, 3), nn.ReLU()), seed=0)
    rows = json.loads(plan.to_json())
    assert rows == plan.rows
    assert rows[0]["parameter"] == "0.weight" and rows[0]["shape"] == [4, 2, 3, 3]
    assert rows[0]["fan_in"] == 18 and rows[0]["fan_out"] == 36
    assert rows[0]["std"] == pytest.approx(math.sqrt(2 / 18))
    head = plan.table().splitlines()[0].split()
    assert head == ["parameter", "module", "shape", "fan_in", "fan_out", "scheme", "std",
                    "reason"]


def test_gpt2_recipe_numbers():
    m = GPT(TINY)
    plan = init_(m, "gpt2", seed=0)
    r = 0.02 / math.sqrt(2 * TINY.n_layer)
    for name, p in m.named_parameters():
        std = plan[name].std
        if name.endswith("c_proj.weight"):
            assert std == pytest.approx(r)
        elif name.endswith("weight") and p.dim() == 2:
            assert std == 0.02
        elif "ln" in name:
            assert plan[name].scheme == ("ones" if name.endswith("weight") else "zeros")
        else:
            assert plan[name].scheme == "zeros"
    big = torch.cat([b.mlp.c_fc.weight.detach().ravel() for b in m.blocks])
    assert float(big.std()) == pytest.approx(0.02, rel=0.05)  # 3 * 4096 draws
    proj = torch.cat([b.attn.c_proj.weight.detach().ravel() for b in m.blocks])
    assert float(proj.std()) == pytest.approx(r, rel=0.05)
    assert m.lm_head.weight is m.wte.weight  # tying kept
    assert plan.notes == ("wte.weight is also lm_head.weight (tied): set once",)
    plan = init_(m, "gpt2(n_layer=8)", seed=0, dry_run=True)
    assert plan["blocks.0.mlp.c_proj.weight"].std == pytest.approx(0.02 / 4)


def test_fixup_recipe_numbers():
    m = ResNet(blocks=(2, 2), width=8, norm=False)
    init_(m, "fixup", seed=0, example=torch.zeros(1, 3, 8, 8))
    n_branches = 4
    for stage in m.stages:
        for blk in stage:
            assert float(blk.conv2.weight.detach().abs().max()) == 0.0
            w = blk.conv1.weight.detach()
            want = math.sqrt(2 / (w.shape[0] * 9)) * n_branches ** -0.5  # official code
            assert float(w.std()) == pytest.approx(want, rel=0.15)
    assert float(m.fc.weight.detach().abs().max()) == 0.0
    assert float(m.fc.bias.detach().abs().max()) == 0.0
    # the classifier is 0, so the logits are 0 at init (the branches are identities)
    assert float(m(torch.randn(2, 3, 8, 8)).detach().abs().max()) == 0.0
    plan = init_(m, "fixup", branches=[["stages.0.0.conv1", "stages.0.0.conv2"]], seed=0,
                 dry_run=True)
    assert "L = 1" in plan["stages.0.0.conv2.weight"].reason
    assert plan["stages.1.0.conv2.weight"].scheme == "he_normal"
    assert any("no scalar biases or multipliers" in n for n in plan.notes)


def test_zero_init_residual_zeroes_the_last_norm_of_each_branch():
    m = ResNet(blocks=(1, 1), width=4)
    plan = init_(m, "zero_init_residual", seed=0)
    for stage in m.stages:
        assert float(stage[0].bn2.weight.detach().abs().max()) == 0.0
        assert float(stage[0].bn1.weight.detach().min()) == 1.0
    assert plan["stem.weight"].scheme == "he_normal"


def test_torch_default_matches_reset_parameters():
    torch.manual_seed(0)
    theirs = [nn.Conv2d(8, 16, 3), nn.ConvTranspose2d(8, 16, 3), nn.LSTM(8, 16),
              nn.MultiheadAttention(16, 2, add_bias_kv=True), nn.Embedding(300, 8)]
    for t in theirs:
        mine = copy.deepcopy(t)
        init_(mine, "torch_default", seed=1)
        for (name, a), b in zip(t.named_parameters(), mine.parameters(), strict=True):
            a, b = a.detach().ravel().numpy(), b.detach().ravel().numpy()
            if a.std() == 0:
                assert b.std() == 0, name
                continue
            assert stats.ks_2samp(a, b).pvalue > 1e-3, (type(t).__name__, name)
            assert np.abs(b).max() <= np.abs(a).max() * 1.5 + 1e-6, name
