"""Pairwise lane statistics from the Gram matrix ``G = X X^T`` (N x N, never N x N x P).

Up to ``budget`` multiply-adds (N^2 * P) every pair is used and every number is exact.
Beyond it the statistics are taken exactly, on every coordinate, over the pairs of a random
subset of M lanes (:class:`LanePlan`):

- the mean pairwise L2 over those pairs is an unbiased estimate of the mean over all pairs
  (each pair is equally likely to be in the subset); its standard error is the delete-one-lane
  jackknife's, with the finite-population correction ``(N - M) / (N - 1)``;
- min L2 and max |cos| over the subset's pairs are bounds: the true min is at most it, the
  true max at least it.

The independence statistic is max |cos| after each leaf's lane mean is taken out and leaves
identical in every lane are left out: under independent lanes its scale is known
(:func:`independence_null`), whatever the leaves' means.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh
from scipy import special

from sweeper.core.sharding import coordinate_sharding

DEFAULT_BUDGET = 2**37  # multiply-adds: N = 1024 lanes of F = 256 (P = 65,792) are exact, about 2 s on 2 cores
DEFAULT_MAX_LANES = 4096  # largest N x N matrix built (64 MiB in float32)
PAIR_SCALARS = ("min_l2", "mean_l2", "mean_l2_stderr", "max_abs_cosine", "independence_cosine", "lane_a", "lane_b")


@dataclass(frozen=True, eq=False)  # hashed by identity: one cached plan per shape
class LanePlan:
    """The lanes behind the pairwise statistics: all (``lanes`` None, exact) or a random subset."""

    lanes: np.ndarray | None  # sorted lane indices, (M,) int32; None: all N
    sample_lanes: int  # M
    exact: bool

    @property
    def over_pairs(self) -> int:
        return self.sample_lanes * (self.sample_lanes - 1) // 2


@functools.lru_cache(maxsize=256)
def lane_plan(n: int, coords: int, budget: int, max_lanes: int, seed: int = 0) -> LanePlan:
    """All N lanes if ``N^2 P <= budget`` (and N <= ``max_lanes``), else the largest random subset that fits."""
    if (n * n * coords <= budget and n <= max_lanes) or n <= 3:
        return LanePlan(None, n, True)
    m = max(3, min(max_lanes, n - 1, math.isqrt(budget // max(coords, 1))))
    lanes = np.sort(np.random.default_rng(seed).choice(n, m, replace=False)).astype(np.int32)
    return LanePlan(lanes, m, False)


@functools.partial(jax.jit, static_argnames=("n_total", "mesh"))
def pair_stats(blocks, means, sizes, identical, same, n_total: int, mesh: Mesh | None):
    """Pair statistics of M lanes from per-leaf ``(M, P_k)`` blocks, their lane means and sizes.

    Returns ``scalars`` (:data:`PAIR_SCALARS`; lane_a, lane_b: the independence statistic's pair,
    as positions among the M) and ``nearest``, ``(M,)``: each lane's distance to its nearest.

    ``identical[k]``: leaf k is the same in every lane (left out of the independence
    statistic); ``same``: ``(M, M)`` lanes with equal bytes, whose distance is exactly 0.
    On a lane mesh each block is re-split along P, so every device sums its slice of
    coordinates into a partial Gram matrix (an all-reduce).
    """
    highest = jax.lax.Precision.HIGHEST
    m = blocks[0].shape[0]
    centered, const, outer = jnp.zeros((m, m), jnp.float32), jnp.float32(0), jnp.zeros((m, m), jnp.float32)
    for x, mean, size, same_leaf in zip(blocks, means, sizes, identical, strict=True):
        if mesh is not None:
            x = jax.lax.with_sharding_constraint(x, coordinate_sharding(mesh))
        x = x - mean[:, None]
        gram = jnp.matmul(x, x.T, precision=highest)
        centered = centered + jnp.where(same_leaf, 0.0, gram)
        const = const + jnp.where(same_leaf, gram[0, 0], 0.0)  # the same in every entry
        outer = outer + size * mean[:, None] * mean[None, :]
    gram = centered + const + outer  # the plain Gram matrix of all leaves
    eye = jnp.eye(m, dtype=bool)
    dist = _distances(gram, same)
    nearest = jnp.min(jnp.where(eye, jnp.inf, dist), axis=1)
    cosine = jnp.where(eye, 0.0, jnp.abs(_cosines(gram)))
    independence = jnp.where(eye, 0.0, jnp.abs(_cosines(centered)))
    worst = jnp.argmax(independence)
    mean_l2, stderr = _mean_and_stderr(dist, n_total)
    first, second = (worst // m).astype(jnp.float32), (worst % m).astype(jnp.float32)
    scalars = [jnp.min(nearest), mean_l2, stderr, jnp.max(cosine), independence.reshape(-1)[worst], first, second]
    return {"scalars": jnp.stack(scalars), "nearest": nearest}


def _distances(gram: jax.Array, same: jax.Array) -> jax.Array:
    sq = jnp.diag(gram)
    return jnp.where(same, 0.0, jnp.sqrt(jnp.maximum(sq[:, None] + sq[None, :] - 2.0 * gram, 0.0)))


def _cosines(gram: jax.Array) -> jax.Array:
    norms = jnp.sqrt(jnp.maximum(jnp.diag(gram), 0.0))
    denom = norms[:, None] * norms[None, :]
    return jnp.where(denom > 0, gram / jnp.where(denom > 0, denom, 1.0), 0.0)


def _mean_and_stderr(dist: jax.Array, n_total: int) -> tuple[jax.Array, jax.Array]:
    """Mean over the M lanes' pairs, and its standard error as an estimate of the mean over N lanes' pairs."""
    m = dist.shape[0]
    rows = jnp.sum(dist, axis=1)
    total = jnp.sum(rows) / 2
    mean = total / (m * (m - 1) / 2)
    if m == n_total:
        return mean, jnp.float32(0.0)
    leave_one_out = (total - rows) / ((m - 1) * (m - 2) / 2)
    jackknife = (m - 1) / m * jnp.sum((leave_one_out - jnp.mean(leave_one_out)) ** 2)
    return mean, jnp.sqrt(jackknife * (n_total - m) / (n_total - 1))


def effective_coords(sizes, variances) -> float:
    """Coordinates an independent pair's cosine behaves as if it had: ``(sum P v)^2 / sum P v^2``."""
    sizes, variances = np.asarray(sizes, np.float64), np.asarray(variances, np.float64)
    denom = float(np.sum(sizes * variances**2))
    return float(np.sum(sizes * variances) ** 2 / denom) if denom > 0 else 0.0


def independence_null(lanes: int, dims: float, false_alarm: float) -> tuple[float, float]:
    """``(typical, threshold)`` of max |cos| over the pairs of ``lanes`` independent lanes in ``dims`` dimensions.

    typical: ``sqrt(2 ln(M^2 / 2) / d)``. threshold: the union bound over the pairs with the
    exact law of one pair's cosine for isotropic draws, ``cos^2 ~ Beta(1/2, (d - 1)/2)``, so
    that max |cos| exceeds it with probability at most ``false_alarm``.
    """
    pairs = lanes * (lanes - 1) / 2
    if pairs < 1 or dims < 2:
        return math.nan, 1.0
    typical = math.sqrt(2 * math.log(max(lanes * lanes / 2, 2.0)) / dims)
    # P(|cos| > t) = I_{1 - t^2}((d - 1) / 2, 1 / 2) = false_alarm / pairs
    tail = special.betaincinv((dims - 1) / 2, 0.5, min(1.0, false_alarm / pairs))
    return typical, math.sqrt(max(0.0, 1.0 - float(tail)))
