"""Check that the benchmark's peers train the same networks as initlab (run by hand).

From identical initial weights, full-batch training on the same data must end with the same
weights in initlab, PyTorch (K = 1 ``nn.Sequential`` and the stacked K > 1 path) and JAX
(full batch, so the batch order plays no part). Prints the largest relative difference of
each peer to initlab and exits 1 when one exceeds 1e-4 (float32 over 200 steps).

    python benchmarks/check_peers.py
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from _common import initlab_fit, initlab_model, make_data, workloads  # noqa: E402


def _max_rel(a: list, b: list) -> float:
    out = 0.0
    for (wa, ba), (wb, bb) in zip(a, b, strict=True):
        for u, v in ((wa, wb), (ba, bb)):
            out = max(out, float(np.abs(u - v).max() / (np.abs(v).max() + 1e-12)))
    return out


def main() -> int:
    """Compare the final weights of every peer with initlab's; 0 when all agree."""
    import _peers

    bad = 0
    base = {w.key: w for w in workloads(quick=True)}
    cases = [
        replace(base["w3_k1"], epochs=200),
        replace(base["w3_k100"], epochs=200, K=3, inits=["he_normal"] * 3, seeds=[0, 1, 2]),
        replace(base["w2"], n=256, batch=None, epochs=20, K=2, inits=["he_normal"] * 2,
                seeds=[0, 1]),
        replace(base["w1_b32"], n=256, batch=None, epochs=20),
    ]
    for w in cases:
        x, y = make_data(w)
        init = _peers._he_params(w, np.random.default_rng(1))
        model = initlab_model(w)
        for i, (W, b) in enumerate(init):
            model.params.W[i][...] = W
            model.params.b[i][...] = b[:, 0]
        initlab_fit(model, w, x, y)
        ref = [(model.params.W[i].copy(), model.params.b[i].copy()) for i in range(len(init))]
        got = {}
        if _peers.torch_available() is None:
            train, params = _peers.make_torch(w, init)
            train(x, y, w.epochs)
            got["PyTorch"] = params()
        if _peers.jax_available() is None:
            run, params, _ = _peers.make_jax(w, x, y, init)
            run()
            got["JAX"] = params()
        for name, p in got.items():
            err = _max_rel(p, ref)
            ok = err < 1e-4
            bad += not ok
            print(f"{w.kind} K={w.K} {w.epochs} epochs, {name} vs initlab: max rel diff "
                  f"{err:.2e} {'ok' if ok else 'MISMATCH'}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
