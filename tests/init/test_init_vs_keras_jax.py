"""keras:* against Keras 3 and jax:* against jax.nn.initializers: two-sample KS, same shapes.

Keras and JAX use initlab's layout, so shapes are passed unchanged. Skipped with the reason
when the library is not importable.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from scipy import stats

from initlab.init import get

SHAPE = (300, 200)
CONV = (3, 3, 32, 128)


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "jax")
    return pytest.importorskip(
        "keras", reason="keras 3 is not installed (pip install initlab[peers])"
    )


KERAS_CASES = [
    (
        "keras:random_uniform(minval=-0.2, maxval=0.1)",
        "RandomUniform",
        {"minval": -0.2, "maxval": 0.1},
        SHAPE,
    ),
    (
        "keras:random_normal(mean=0.1, stddev=0.2)",
        "RandomNormal",
        {"mean": 0.1, "stddev": 0.2},
        SHAPE,
    ),
    ("keras:truncated_normal(stddev=0.3)", "TruncatedNormal", {"stddev": 0.3}, SHAPE),
    ("keras:glorot_uniform", "GlorotUniform", {}, SHAPE),
    ("keras:glorot_normal", "GlorotNormal", {}, SHAPE),
    ("keras:he_uniform", "HeUniform", {}, SHAPE),
    ("keras:he_normal", "HeNormal", {}, SHAPE),
    ("keras:he_normal", "HeNormal", {}, CONV),
    ("keras:lecun_uniform", "LecunUniform", {}, SHAPE),
    ("keras:lecun_normal", "LecunNormal", {}, SHAPE),
    (
        "keras:variance_scaling(3, fan_out, untruncated_normal)",
        "VarianceScaling",
        {"scale": 3.0, "mode": "fan_out", "distribution": "untruncated_normal"},
        SHAPE,
    ),
    (
        "keras:variance_scaling(0.5, fan_avg, uniform)",
        "VarianceScaling",
        {"scale": 0.5, "mode": "fan_avg", "distribution": "uniform"},
        CONV,
    ),
    ("keras:he_normal", "HeNormal", {}, (40000,)),
    ("keras:orthogonal(gain=1.5)", "Orthogonal", {"gain": 1.5}, SHAPE),
]


@pytest.mark.parametrize(
    "spec,cls,kwargs,shape", KERAS_CASES, ids=[f"{c[0]}-{len(c[3])}d" for c in KERAS_CASES]
)
def test_keras_flavor_matches_keras(spec, cls, kwargs, shape):
    keras = _keras()
    theirs = np.asarray(getattr(keras.initializers, cls)(seed=0, **kwargs)(shape, dtype="float64"))
    ours = get(spec)(shape, rng=0, dtype=np.float64)
    assert stats.ks_2samp(ours.ravel(), theirs.ravel()).pvalue > 1e-3
    assert stats.ks_2samp(1.1 * ours.ravel(), theirs.ravel()).pvalue < 1e-3
    assert ours.std() == pytest.approx(float(theirs.std()), rel=0.03)


@pytest.mark.parametrize(
    "name,cls",
    [("keras:zeros", "Zeros"), ("keras:ones", "Ones"), ("keras:identity(gain=3)", "Identity")],
)
def test_keras_deterministic_match_exactly(name, cls):
    keras = _keras()
    kwargs = {"gain": 3.0} if cls == "Identity" else {}
    theirs = np.asarray(getattr(keras.initializers, cls)(**kwargs)((4, 6), dtype="float32"))
    np.testing.assert_array_equal(get(name)((4, 6)), theirs)


def test_keras_aliases_resolve_like_keras():
    keras = _keras()
    cfg = keras.initializers.get("normal").get_config()
    assert get("keras:normal") == get(
        f"keras:random_normal(mean={cfg['mean']}, stddev={cfg['stddev']})"
    )
    cfg = keras.initializers.get("uniform").get_config()
    assert get("keras:uniform") == get(f"keras:random_uniform({cfg['minval']}, {cfg['maxval']})")
    cfg = keras.initializers.get("variance_scaling").get_config()
    assert get("keras:variance_scaling") == get(
        f"keras:variance_scaling({cfg['scale']}, {cfg['mode']}, {cfg['distribution']})"
    )


JAX_CASES = [
    ("jax:uniform(scale=0.3)", "uniform", {"scale": 0.3}),
    ("jax:normal(stddev=0.2)", "normal", {"stddev": 0.2}),
    (
        "jax:truncated_normal(stddev=0.5, lower=-1, upper=2)",
        "truncated_normal",
        {"stddev": 0.5, "lower": -1.0, "upper": 2.0},
    ),
    ("jax:glorot_normal", "glorot_normal", {}),
    ("jax:he_uniform", "he_uniform", {}),
    ("jax:lecun_normal", "lecun_normal", {}),
    (
        "jax:variance_scaling(2, fan_geo_avg, normal)",
        "variance_scaling",
        {"scale": 2.0, "mode": "fan_geo_avg", "distribution": "normal"},
    ),
    (
        "jax:variance_scaling(1, fan_out, truncated_normal)",
        "variance_scaling",
        {"scale": 1.0, "mode": "fan_out", "distribution": "truncated_normal"},
    ),
    ("jax:orthogonal(scale=0.5)", "orthogonal", {"scale": 0.5}),
]


@pytest.mark.parametrize("spec,fn,kwargs", JAX_CASES, ids=[c[0] for c in JAX_CASES])
def test_jax_flavor_matches_jax(spec, fn, kwargs):
    jax = pytest.importorskip("jax", reason="jax is not installed")
    jax.config.update("jax_enable_x64", True)
    try:
        theirs = np.asarray(
            getattr(jax.nn.initializers, fn)(**kwargs)(jax.random.PRNGKey(0), SHAPE, "float64")
        )
    finally:
        jax.config.update("jax_enable_x64", False)
    ours = get(spec)(SHAPE, rng=0, dtype=np.float64)
    assert stats.ks_2samp(ours.ravel(), theirs.ravel()).pvalue > 1e-3
    assert stats.ks_2samp(1.1 * ours.ravel(), theirs.ravel()).pvalue < 1e-3


def test_jax_delta_orthogonal_structure_matches():
    jax = pytest.importorskip("jax", reason="jax is not installed")
    theirs = np.asarray(jax.nn.initializers.delta_orthogonal()(jax.random.PRNGKey(0), (4, 4, 3, 5)))
    ours = get("jax:delta_orthogonal")((4, 4, 3, 5), rng=0)
    np.testing.assert_array_equal(theirs != 0, ours != 0)
