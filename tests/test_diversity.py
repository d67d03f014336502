"""Lane-diversity metrics, checked against an independent float64 numpy computation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sweeper.core.diversity import DEFAULT_BUDGET, DEFAULT_MAX_LANES, lane_diversity, plan_for
from sweeper.core.ensemble import build_ensemble
from sweeper.core.tree import flat_params

from .helpers.numpy_reference import numpy_reference


@pytest.mark.parametrize(("n", "f", "model"), [(2, 3, "linear"), (9, 8, "linear"), (33, 16, "linear"), (6, 5, "mlp")])
def test_exact_metrics_match_numpy(n, f, model):
    leaves = flat_params(build_ensemble(1, n, f, model=model))
    report = lane_diversity(leaves)
    distinct, min_l2, mean_l2, max_cos = numpy_reference(leaves)
    assert report.exact and report.sample_lanes == n and report.sample_coords == report.coords
    assert report.lanes == n and report.pairs == n * (n - 1) // 2
    assert report.distinct_lanes == distinct == n
    assert report.min_pairwise_l2 == pytest.approx(min_l2, rel=1e-4)
    assert report.mean_pairwise_l2 == pytest.approx(mean_l2, rel=1e-4)
    assert report.max_abs_cosine == pytest.approx(max_cos, rel=1e-4, abs=1e-6)
    assert report.ok and report.reason == ""


def test_nearest_lane_distances_match_numpy():
    leaves = flat_params(build_ensemble(2, 7, 4))
    x = np.concatenate([np.asarray(v, np.float64).reshape(7, -1) for v in leaves.values()], axis=1)
    d = np.linalg.norm(x[:, None, :] - x[None, :, :], axis=-1)
    np.fill_diagonal(d, np.inf)
    np.testing.assert_allclose(lane_diversity(leaves).nearest_l2, d.min(axis=1), rtol=1e-4)


def test_zero_bias_does_not_make_a_healthy_ensemble_look_broken():
    leaves = flat_params(build_ensemble(0, 16, 8))
    assert not np.any(np.asarray(leaves["bias"]))  # bias starts at zeros in every lane
    assert lane_diversity(leaves).ok


def test_identical_lanes_are_caught_with_exact_zero_distance():
    report = lane_diversity(flat_params(build_ensemble(0, 64, 8, constructor="pitfall_broadcast")))
    assert report.distinct_lanes == 1
    assert report.min_pairwise_l2 == 0.0 and report.mean_pairwise_l2 == 0.0
    assert report.max_abs_cosine == pytest.approx(1.0, abs=1e-5)
    assert not report.ok
    assert report.reason == "all 64 lanes identical: was nnx.split_rngs forgotten?"


def test_some_duplicate_lanes_are_counted_exactly():
    kernel = np.asarray(build_ensemble(0, 5, 4).kernel[...]).copy()
    kernel[3] = kernel[1]
    report = lane_diversity({"kernel": jnp.asarray(kernel)})
    assert report.distinct_lanes == 4 and report.min_pairwise_l2 == 0.0
    assert not report.ok and report.reason.startswith("only 4 of 5 lanes distinct")


def test_a_single_lane_has_no_pairs_and_is_ok():
    report = lane_diversity(flat_params(build_ensemble(0, 1, 8)))
    assert report.pairs == 0 and report.distinct_lanes == 1
    assert report.min_pairwise_l2 is None and report.mean_pairwise_l2 is None and report.max_abs_cosine is None
    assert report.ok


def pair_reference(x, lanes):
    """Brute-force min / mean L2 and max |cos| over the pairs of ``lanes``, in float64."""
    sub = x[lanes]
    d = np.linalg.norm(sub[:, None] - sub[None], axis=-1)[np.triu_indices(len(lanes), 1)]
    norms = np.linalg.norm(sub, axis=1)
    cos = np.abs(sub @ sub.T / np.outer(norms, norms))[np.triu_indices(len(lanes), 1)]
    return d.min(), d.mean(), cos.max()


@pytest.mark.parametrize(("n", "f"), [(40, 8), (100, 6), (300, 4)])
def test_over_budget_extremes_are_bounds_over_stated_pairs_and_the_mean_an_estimate_within_its_error(n, f):
    leaves = flat_params(build_ensemble(3, n, f))
    x = np.concatenate([np.asarray(v, np.float64).reshape(n, -1) for v in leaves.values()], axis=1)
    _, exact_min, exact_mean, exact_cos = numpy_reference(leaves) if n <= 100 else (None, *pair_reference(x, range(n)))
    budget = (n // 3) ** 2 * x.shape[1]
    z = []
    for seed in range(12):
        estimate = lane_diversity(leaves, budget=budget, seed=seed)
        m = estimate.sample_lanes
        assert not estimate.exact and estimate.nearest_l2 is None and m == n // 3
        assert estimate.over_pairs == m * (m - 1) // 2 and estimate.pairs == n * (n - 1) // 2
        assert estimate.sample_coords == estimate.coords == x.shape[1]  # every coordinate, never a subsample
        assert estimate.distinct_lanes == n  # exact whatever the budget
        lanes = plan_for(leaves, budget, 4096, seed).lanes
        sub_min, sub_mean, sub_cos = pair_reference(x, lanes)
        # the extremes: exact over the subset's pairs, so bounds on the whole ensemble's (the two references
        # compute a pair in different orders: a float64 rounding apart at most)
        assert estimate.min_pairwise_l2 == pytest.approx(sub_min, rel=1e-4) and sub_min >= exact_min * (1 - 1e-12)
        assert estimate.max_abs_cosine == pytest.approx(sub_cos, rel=1e-4, abs=1e-6)
        assert sub_cos <= exact_cos * (1 + 1e-12)
        assert estimate.mean_pairwise_l2 == pytest.approx(sub_mean, rel=1e-4)
        assert estimate.mean_pairwise_l2_stderr > 0
        z.append((estimate.mean_pairwise_l2 - exact_mean) / estimate.mean_pairwise_l2_stderr)
    # the standard error is what it claims: the errors are about one of it, rarely four
    assert np.max(np.abs(z)) < 4 and 0.3 < np.sqrt(np.mean(np.square(z))) < 2.0


def test_the_default_budget_is_exact_up_to_1024_lanes_of_width_256():
    def plan(n, f):
        shapes = {
            "kernel": jax.ShapeDtypeStruct((n, f, f), jnp.float32),
            "bias": jax.ShapeDtypeStruct((n, f), jnp.float32),
        }
        return plan_for(shapes, DEFAULT_BUDGET, DEFAULT_MAX_LANES)

    assert plan(1024, 256).exact and plan(1024, 256).lanes is None
    big = plan(4096, 256)
    assert not big.exact and big.sample_lanes == 1445 and big.over_pairs == 1445 * 1444 // 2


def test_past_max_lanes_the_lanes_are_sampled_too():
    kernel = jax.random.normal(jax.random.key(1), (50, 6, 6)) / np.sqrt(6)
    report = lane_diversity({"kernel": kernel}, max_lanes=20)
    assert report.lanes == 50 and report.sample_lanes == 20 and not report.exact
    assert report.distinct_lanes == 50


def test_lanes_that_differ_only_between_the_probed_words_are_told_apart_exactly():
    kernel = np.asarray(build_ensemble(0, 5, 8).kernel[...]).copy()
    kernel[3] = kernel[1]
    kernel[3, 0, 1] += 0.5  # a word the device probe does not read: the byte hash must decide
    report = lane_diversity({"kernel": jnp.asarray(kernel)})
    assert report.distinct_lanes == 5
    assert report.reason.startswith("lanes 1 and 3 are correlated: |cos| 0.98")  # distinct, yet hardly independent
    assert report.min_pairwise_l2 == pytest.approx(0.5, rel=1e-3)  # not the 0 of an identical pair
    np.testing.assert_allclose(report.nearest_l2[[1, 3]], 0.5, rtol=1e-3)
    distinct, min_l2, mean_l2, _ = numpy_reference({"kernel": kernel})
    assert distinct == 5 and report.min_pairwise_l2 == pytest.approx(min_l2, rel=1e-4)
    assert report.mean_pairwise_l2 == pytest.approx(mean_l2, rel=1e-4)


def test_narrow_and_integer_leaves_are_probed_by_their_bytes():
    kernel = jax.random.normal(jax.random.key(0), (6, 4, 4))
    for dtype in (jnp.bfloat16, jnp.float16, jnp.int8, jnp.bool_):
        leaves = {"kernel": kernel.astype(dtype)}
        assert lane_diversity(leaves).distinct_lanes == len({np.asarray(r).tobytes() for r in leaves["kernel"]})
    twins = {"kernel": jnp.concatenate([kernel[:3], kernel[:3]]).astype(jnp.bfloat16)}
    assert lane_diversity(twins).distinct_lanes == 3
