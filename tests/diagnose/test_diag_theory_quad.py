"""Mean-field theory against an independent computation: the same Gaussian integrals by
scipy.integrate.quad (adaptive, split where the activation bends), over sigma_b in 0..3 and
sigma_w in 0.5..3, the large-bias regime included (large q*, where a fixed Gauss-Hermite
rule misses the bend of tanh and SELU near 0 and SELU's jump of phi' at 0)."""

from __future__ import annotations

import math

import pytest
from scipy.integrate import quad
from scipy.optimize import brentq

from initlab.diagnose import theory

SIGMA_B = [0.0, 1.0, 2.0, 3.0]
SIGMA_W = [0.5, 1.0, 1.25, 2.0, 3.0]
LAM, ALPHA = 1.0507009873554805, 1.6732632423543772  # Klambauer et al. 2017
# phi and phi', written here from their definitions (independent of initlab.activations)
FUNCS = {
    "selu": (lambda u: LAM * u if u > 0 else LAM * ALPHA * math.expm1(u),
             lambda u: LAM if u > 0 else LAM * ALPHA * math.exp(u)),
    "elu": (lambda u: u if u > 0 else math.expm1(u), lambda u: 1.0 if u > 0 else math.exp(u)),
    "tanh": (math.tanh, lambda u: 1.0 - math.tanh(u) ** 2),
    "relu": (lambda u: max(u, 0.0), lambda u: 1.0 if u > 0 else 0.0),
}
ACTS = list(FUNCS)


def _gauss(h, mean: float = 0.0, std: float = 1.0) -> float:
    """E[h(u)] for u ~ N(mean, std^2), by quad on pieces split at the kink u = 0."""
    def dens(u: float) -> float:
        return h(u) * math.exp(-0.5 * ((u - mean) / std) ** 2) / (std * math.sqrt(2 * math.pi))

    lo, hi = mean - 12 * std, mean + 12 * std
    cuts = sorted({lo, hi, *(p for p in (0.0, -1.0, 1.0) if lo < p < hi)})
    return sum(quad(dens, a, b, epsabs=0.0, epsrel=1e-12, limit=200)[0]
               for a, b in zip(cuts[:-1], cuts[1:], strict=False))


def _q_star(act: str, sw2: float, sb2: float) -> float:
    """The fixed point of the quad length map reached from q = 1 (inf / 0 where none)."""
    p = FUNCS[act][0]

    def g(q: float) -> float:
        return sw2 * _gauss(lambda u: p(u) ** 2, 0.0, math.sqrt(q)) + sb2 - q

    if g(1.0) > 0:
        hi = 2.0
        while g(hi) > 0:
            hi *= 2.0
            if hi > 1e6:
                return math.inf
        lo = hi / 2
    else:
        lo = 0.5
        while g(lo) < 0:
            lo /= 2.0
            if lo < 1e-8:
                return 0.0
        hi = 2 * lo
    return brentq(g, lo, hi, xtol=1e-13, rtol=1e-13)


@pytest.mark.parametrize("act", ACTS)
def test_q_star_and_chi_1_match_quad_over_the_grid(act: str) -> None:
    d = FUNCS[act][1]
    checked = 0
    for sb in SIGMA_B:
        for sw in SIGMA_W:
            sw2, sb2 = sw * sw, sb * sb
            ref = _q_star(act, sw2, sb2)
            mine = theory.mean_field(act, sw2, sb2)
            if not 1e-6 < ref < 1e6:  # dies or explodes: no finite fixed point to compare
                assert not 1e-6 < mine.q_star < 1e6, (act, sb, sw, mine.q_star, ref)
                continue
            chi_ref = sw2 * _gauss(lambda u: d(u) ** 2, 0.0, math.sqrt(ref))
            assert mine.q_star == pytest.approx(ref, rel=1e-8), (act, sb, sw)
            assert mine.chi_1 == pytest.approx(chi_ref, rel=1e-8), (act, sb, sw)
            checked += 1
    assert checked >= 9  # sigma_b >= 1 with sigma_w <= 1.25 at least


def _pair(f, g, c: float, q: float) -> float:
    """E[f(u1) g(u2)], (u1, u2) normal with variance q and correlation c: for each u1 the
    conditional law of u2 is N(c u1, q (1 - c^2)), integrated by quad in turn."""
    s, r = math.sqrt(q), math.sqrt(1 - c * c)
    return _gauss(lambda u1: f(u1) * _gauss(g, c * u1, s * r), 0.0, s)


@pytest.mark.parametrize("act,sw2,sb2", [
    ("tanh", 9.0, 4.0), ("selu", 2.25, 9.0), ("elu", 4.0, 1.0), ("relu", 2.0, 4.0)])
def test_correlation_map_and_its_slope_match_quad(act: str, sw2: float, sb2: float) -> None:
    p, d = FUNCS[act]
    q = 20.0  # a large length, as large sigma_b gives
    for c in (-0.4, 0.5, 0.95):
        ref = (sw2 * _pair(p, p, c, q) + sb2) / q
        assert float(theory.correlation_map(c, q, act, sw2, sb2)) == pytest.approx(
            ref, rel=1e-6), (act, c)
        assert theory.chi_c(act, sw2, c, q) == pytest.approx(sw2 * _pair(d, d, c, q),
                                                             rel=1e-6), (act, c)


def test_selu_critical_sigma_w2_at_large_bias_matches_quad() -> None:
    """The defect: at sigma_b = 2 the fixed rule put SELU's edge of chaos at 1.81 with
    q* = inf (the large-q limit 2 / lambda^2); quad puts it where q* is finite."""
    d = FUNCS["selu"][1]
    sb2 = 4.0

    def h(sw2: float) -> float:
        q = _q_star("selu", sw2, sb2)
        return sw2 * _gauss(lambda u: d(u) ** 2, 0.0, math.sqrt(q)) - 1.0

    ref = brentq(h, 1.0, 1.8, xtol=1e-10)
    crit = theory.critical_sigma_w2("selu", sb2)
    assert crit == pytest.approx(ref, rel=1e-8)
    assert math.isfinite(theory.mean_field("selu", crit, sb2).q_star)
