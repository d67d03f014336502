"""Verdicts against the model's own initializer: scale fidelity, diagnoses, independence."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from sweeper.core.diversity import lane_diversity
from sweeper.core.ensemble import build_ensemble
from sweeper.core.pairs import independence_null
from sweeper.core.reference import reference_model
from sweeper.core.tree import flat_params

from .helpers import factories

N, F = 8, 64


def ensemble_and_reference(name, seed=0, n=N, f=F, constructor="vmap", param_dtype="float32"):
    factory = getattr(factories, name)
    leaves = flat_params(build_ensemble(seed, n, f, model=factory, constructor=constructor, param_dtype=param_dtype))
    return leaves, reference_model(seed, f, factory, param_dtype)


@pytest.mark.parametrize("name", factories.RANDOM)
def test_a_healthy_ensemble_passes_whatever_its_initializer(name):
    leaves, reference = ensemble_and_reference(name)
    report = lane_diversity(leaves, reference)
    assert report.ok, report.reason
    assert report.scale_reference == "model" and report.deterministic_leaves == ["hidden.bias", "out.bias"]
    # the ratios are the lanes' stds over the reference's, computed here with numpy
    std = {k: np.asarray(leaves[k]).reshape(N, -1).std(axis=1) for k in ("hidden.kernel", "out.kernel")}
    ratios = np.concatenate([lanes / np.asarray(reference[k]).std() for k, lanes in std.items()])
    assert report.scale_ratio_min == pytest.approx(ratios.min(), rel=1e-4)
    assert report.scale_ratio_max == pytest.approx(ratios.max(), rel=1e-4)


@pytest.mark.parametrize("name", factories.RANDOM)
def test_lanes_drawn_at_another_scale_or_mean_fail_with_the_leaf_lanes_and_numbers(name):
    leaves, reference = ensemble_and_reference(name)
    scaled = lane_diversity({k: v * 1.25 for k, v in leaves.items()}, reference)
    assert not scaled.ok and "\n" not in scaled.reason
    assert scaled.reason.startswith("hidden.kernel: lanes 0, 1, 2, 3, 4 (+3 more) std ")
    assert "the reference model's" in scaled.reason and "at false-alarm rate 1e-06" in scaled.reason
    assert scaled.scale_ratio_min == pytest.approx(1.25 * lane_diversity(leaves, reference).scale_ratio_min, rel=1e-5)
    kernel = np.asarray(leaves["out.kernel"]).copy()
    kernel[5] += 0.5 * kernel[5].std()  # one lane shifted by half a std
    shifted = lane_diversity({**leaves, "out.kernel": jnp.asarray(kernel)}, reference)
    assert not shifted.ok and shifted.reason.startswith("out.kernel: lane 5 mean "), shifted.reason


def test_he_lanes_held_to_lecun_and_back_are_caught():
    lecun, _ = ensemble_and_reference("lecun_normal")
    he_reference = reference_model(0, F, factories.he_normal)
    report = lane_diversity(lecun, he_reference)
    assert not report.ok and report.scale_ratio_max == pytest.approx(1 / math.sqrt(2), rel=0.1)
    assert report.reason.startswith("hidden.kernel: lanes 0, 1, 2, 3, 4 (+3 more) std ")


def test_a_deterministic_initializer_is_diagnosed_as_such_not_as_a_forgotten_split():
    leaves, reference = ensemble_and_reference("zeros", n=4, f=8)
    report = lane_diversity(leaves, reference)
    assert report.distinct_lanes == 1 and not report.ok
    assert report.reason == (
        "all 4 lanes identical because the initializer is deterministic: a model built with an independent key "
        "equals them too (hidden.bias, hidden.kernel, out.bias, out.kernel); the ensemble is one model, not 4"
    )
    assert "split_rngs" not in report.reason
    broadcast, reference = ensemble_and_reference("he_normal", n=4, f=8, constructor="pitfall_broadcast")
    assert lane_diversity(broadcast, reference).reason == "all 4 lanes identical: was nnx.split_rngs forgotten?"


def test_constant_leaves_beside_random_ones_are_recognised_and_held_to_their_constant():
    leaves, reference = ensemble_and_reference("zero_output")
    report = lane_diversity(leaves, reference)
    assert report.ok and report.deterministic_leaves == ["hidden.bias", "out.bias", "out.kernel"]
    ones = np.asarray(leaves["out.bias"]).copy()
    ones[2, 3] = 1.5
    bad = lane_diversity({**leaves, "out.bias": jnp.asarray(ones)}, reference)
    assert bad.reason == "out.bias: the factory initializes it to the constant 1, but it differs in lane 2 (std 0.062)"


def test_a_leaf_shared_by_every_lane_but_drawn_by_the_factory_is_blamed_on_its_key():
    leaves, reference = ensemble_and_reference("he_normal")
    kernel = jnp.broadcast_to(leaves["hidden.kernel"][:1], leaves["hidden.kernel"].shape)
    report = lane_diversity({**leaves, "hidden.kernel": kernel}, reference)
    assert report.distinct_lanes == N and not report.ok
    assert report.reason == (
        f"hidden.kernel: all {N} lanes identical, but a model built with an independent key differs: "
        "the factory does not draw it from its rngs"
    )


def test_lanes_sharing_a_component_fail_the_independence_test():
    n, f = 16, 32
    shared = jax.random.normal(jax.random.key(1), (f, f)) / math.sqrt(f)
    own = jax.random.normal(jax.random.key(2), (n, f, f)) / math.sqrt(f)
    correlated = {"kernel": shared[None] + 0.1 * own, "bias": jnp.zeros((n, f))}
    report = lane_diversity(correlated)
    assert report.distinct_lanes == n and not report.ok
    assert report.independence_cosine > 0.95 and report.independence_threshold < 0.5
    assert report.reason.startswith("lanes ") and " are correlated: |cos| 0.99" in report.reason
    assert "false-alarm rate 1e-06" in report.reason
    # the same lanes without the shared part are independent
    assert lane_diversity({"kernel": own, "bias": jnp.zeros((n, f))}).ok


def test_the_independence_threshold_is_the_stated_tail_of_the_cosine_law():
    # one pair in d dimensions: cos^2 ~ Beta(1/2, (d - 1)/2), so P(|cos| > t) is the false-alarm rate
    for d in (16, 1000):
        _, t = independence_null(2, d, 0.01)
        assert stats.beta.sf(t * t, 0.5, (d - 1) / 2) == pytest.approx(0.01, rel=1e-6)
        draws = np.random.default_rng(d).standard_normal((20000, 2, d))
        cos = np.abs(np.sum(draws[:, 0] * draws[:, 1], axis=1)) / np.prod(np.linalg.norm(draws, axis=2), axis=1)
        assert np.mean(cos > t) == pytest.approx(0.01, abs=0.004)


def test_a_healthy_sweep_of_a_thousand_ensembles_raises_no_false_alarm():
    reports = []
    for seed in range(1000):
        leaves = flat_params(build_ensemble(seed, 8, 8))
        reports.append(lane_diversity(leaves, reference_model(seed, 8)))
    assert [r.reason for r in reports if not r.ok] == []
    # and the observed max |cos| sits at the stated null scale, not far below it
    ratios = np.array([r.independence_cosine / r.independence_null for r in reports])
    assert 0.6 < np.median(ratios) < 1.2
    # at a loose rate the test fires about as often as it says, not more
    loose = [lane_diversity(flat_params(build_ensemble(s, 8, 8)), false_alarm=0.2) for s in range(300)]
    assert sum(not r.ok for r in loose) <= 0.2 * 300 + 3 * math.sqrt(0.2 * 0.8 * 300)
    assert all(r.reason.startswith("lanes ") for r in loose if not r.ok)


@pytest.mark.parametrize("param_dtype", ["bfloat16", "float16"])
def test_every_metric_works_on_narrow_lanes(param_dtype):
    leaves, reference = ensemble_and_reference("he_uniform", param_dtype=param_dtype)
    assert leaves["hidden.kernel"].dtype == jnp.dtype(param_dtype)
    report = lane_diversity(leaves, reference)
    assert report.ok, report.reason
    x = np.concatenate([np.asarray(v, np.float64).reshape(N, -1) for v in leaves.values()], axis=1)
    d = np.linalg.norm(x[:, None] - x[None], axis=-1)[np.triu_indices(N, 1)]
    assert report.min_pairwise_l2 == pytest.approx(d.min(), rel=1e-4)
    assert report.mean_pairwise_l2 == pytest.approx(d.mean(), rel=1e-4)
    metrics = report.as_metrics()
    assert all(math.isfinite(v) for v in metrics.values() if isinstance(v, float))
    assert not lane_diversity({k: v * 1.25 for k, v in leaves.items()}, reference).ok
