"""Lane diversity: are the N lanes of an ensemble really N different models?

Every metric is taken over the lanes of *all* parameter leaves together, so a leaf that
is constant by design (bias starts at zeros) cannot make a healthy ensemble look broken.

- ``distinct_lanes`` is exact: each lane's bytes are hashed.
- Pairwise L2 and cosine come from the lanes' Gram matrix ``G = X X^T`` (an N x N
  matrix, never N x N x P). Up to ``budget`` multiply-adds (N^2 * P) they are exact;
  beyond it they are estimated on a random subset of coordinates (and of lanes, past
  ``max_lanes``), rescaled, and labelled with the sample size.
- Init-scale fidelity compares each lane's kernel std with LeCun normal's promise,
  ``1 / sqrt(fan_in)`` (Flax's default for Linear).

Sharded ensembles (:mod:`sweeper.sharding`) are measured where they lie: lanes are hashed
one addressable shard at a time, per-lane stds are local to each shard, and the Gram
matrix is summed over coordinate slices, one per device, then all-reduced; no device
ever holds the whole ensemble. Hashes, distinct lanes and scale ratios are identical to
the one-device path; pairwise L2 and cosine agree to float32 rounding (the Gram sums its
coordinates in another order).
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh

from sweeper.sharding import coordinate_sharding, mesh_of
from sweeper.tree import kernels

DEFAULT_BUDGET = 2**32  # multiply-adds for the exact Gram matrix: about a second on 2 cores
DEFAULT_MAX_LANES = 4096  # largest N x N matrix built (64 MiB in float32)


@dataclass(frozen=True)
class DiversityReport:
    lanes: int
    distinct_lanes: int
    pairs: int  # lane pairs behind the pairwise statistics (0 when N = 1)
    min_pairwise_l2: float | None  # None when there is no pair
    mean_pairwise_l2: float | None
    max_abs_cosine: float | None
    exact: bool  # False: pairwise statistics estimated on the sample below
    sample_lanes: int
    sample_coords: int
    coords: int  # parameters per lane
    scale_ratio_min: float | None  # lane kernel std / promised std (None: no kernel)
    scale_ratio_max: float | None
    scale_tolerance: float | None
    ok: bool
    reason: str  # one line; empty when ok
    # per lane, exact runs only: L2 distance to the nearest other lane, (N,)
    nearest_l2: np.ndarray | None = field(default=None, repr=False, compare=False)

    def as_metrics(self, prefix: str = "diversity/") -> dict:
        return {prefix + f.name: getattr(self, f.name) for f in fields(self) if f.name != "nearest_l2"}


def _lane_blocks(leaf) -> Iterator[tuple[int, np.ndarray]]:
    """``(first lane, (lanes, P) host array)`` per block of whole lanes, one shard at a time.

    A replicated shard is yielded once; a leaf not split into whole lanes comes whole.
    """
    shards = getattr(leaf, "addressable_shards", None)
    if not shards or any(s.data.shape[1:] != leaf.shape[1:] for s in shards):
        yield 0, np.ascontiguousarray(np.asarray(leaf)).reshape(leaf.shape[0], -1)
        return
    seen = set()
    for shard in shards:
        start = shard.index[0].start or 0
        if start not in seen:
            seen.add(start)
            yield start, np.ascontiguousarray(np.asarray(shard.data)).reshape(shard.data.shape[0], -1)


def lane_hashes(leaves: Mapping[str, jax.Array]) -> list[bytes]:
    """One digest per lane over the bytes of every leaf: equal digests, equal lanes.

    The host holds one shard at a time, never the whole ensemble.
    """
    n = next(iter(leaves.values())).shape[0]
    hashers = [hashlib.blake2b(digest_size=16) for _ in range(n)]
    for leaf in leaves.values():
        for start, block in _lane_blocks(leaf):
            for offset, row in enumerate(block):
                hashers[start + offset].update(row.data)
    return [hasher.digest() for hasher in hashers]


def lecun_std(leaf_shape: tuple[int, ...]) -> float:
    """LeCun normal's std for one lane of a kernel ``(N, *receptive, fan_in, fan_out)``."""
    return 1.0 / math.sqrt(math.prod(leaf_shape[1:-1]))


@functools.partial(jax.jit, static_argnames="mesh")
def _pair_stats(blocks: tuple[jax.Array, ...], weights: tuple[float, ...], same: jax.Array, mesh: Mesh | None):
    """min / mean pairwise L2 and max |cosine| from the weighted Gram matrix of ``(N, P_i)`` blocks.

    On a lane mesh each block is first re-split along P (an all-to-all), so every device
    sums its slice of coordinates into an ``(N, N)`` partial Gram matrix (an all-reduce).
    """
    highest = jax.lax.Precision.HIGHEST
    if mesh is not None:
        blocks = tuple(jax.lax.with_sharding_constraint(x, coordinate_sharding(mesh)) for x in blocks)
    gram = sum(w * jnp.matmul(x, x.T, precision=highest) for x, w in zip(blocks, weights, strict=True))
    sq_norms = jnp.diag(gram)
    d2 = jnp.maximum(sq_norms[:, None] + sq_norms[None, :] - 2.0 * gram, 0.0)
    dist = jnp.where(same, 0.0, jnp.sqrt(d2))  # identical bytes: exactly 0, no rounding
    n = gram.shape[0]
    off_diagonal = ~jnp.eye(n, dtype=bool)
    norms = jnp.sqrt(sq_norms)
    denom = norms[:, None] * norms[None, :]
    cosine = jnp.where(denom > 0, gram / jnp.where(denom > 0, denom, 1.0), 0.0)
    nearest = jnp.min(jnp.where(off_diagonal, dist, jnp.inf), axis=1)
    return (
        jnp.min(nearest),
        jnp.sum(dist) / (n * (n - 1)),
        jnp.max(jnp.where(off_diagonal, jnp.abs(cosine), 0.0)),
        nearest,
    )


def _sample(leaves, n, coords, budget, max_lanes, rng):
    """Lanes and per-leaf coordinates to use, and each leaf's rescaling weight."""
    lanes = np.arange(n) if n <= max_lanes else np.sort(rng.choice(n, max_lanes, replace=False))
    m = len(lanes)
    keep = coords if m * m * coords <= budget else max(1, budget // (m * m))
    blocks, weights = [], []
    for leaf in leaves.values():
        flat = jnp.reshape(leaf, (n, -1))
        size = flat.shape[1]
        if m < n:
            flat = flat[lanes]
        if keep < coords:
            take = min(size, max(1, round(size * keep / coords)))
            flat = flat[:, np.sort(rng.choice(size, take, replace=False))]
            weights.append(size / take)
        else:
            weights.append(1.0)
        blocks.append(flat.astype(jnp.float32))
    return lanes, blocks, weights, min(keep, coords)


def _scale_fidelity(leaves: Mapping[str, jax.Array], promised: Mapping[str, float]):
    ratios, tolerance = [], 0.0
    for name, std in promised.items():
        lanes = jnp.reshape(leaves[name], (leaves[name].shape[0], -1)).astype(jnp.float32)
        ratios.append(np.asarray(jnp.std(lanes, axis=1)) / std)
        # six standard errors of a sample std over this many values, never below 5 %
        tolerance = max(tolerance, 0.05, 6.0 / math.sqrt(2 * lanes.shape[1]))
    if not ratios:
        return None, None, None
    ratios = np.concatenate(ratios)
    return float(ratios.min()), float(ratios.max()), tolerance


def lane_diversity(
    leaves: Mapping[str, jax.Array],
    promised_std: Mapping[str, float] | None = None,
    *,
    budget: int = DEFAULT_BUDGET,
    max_lanes: int = DEFAULT_MAX_LANES,
    seed: int = 0,
) -> DiversityReport:
    """Diversity of the lanes (axis 0) of ``leaves``, a mapping of name -> ``(N, ...)`` array.

    The arrays may be split over a lane mesh; they are then measured in place.

    ``promised_std`` maps kernel leaf names to the std their initializer promises; by
    default every leaf whose name ends in ``kernel`` is held to LeCun normal.
    """
    if promised_std is None:
        promised_std = {k: lecun_std(v.shape) for k, v in kernels(leaves).items()}
    n = next(iter(leaves.values())).shape[0]
    coords = sum(math.prod(leaf.shape[1:]) for leaf in leaves.values())
    digests = lane_hashes(leaves)
    distinct = len(set(digests))
    lo, hi, tol = _scale_fidelity(leaves, promised_std)

    stats, nearest, exact, sample_lanes, sample_coords = (None, None, None), None, True, n, coords
    if n > 1:
        rng = np.random.default_rng(seed)
        lanes, blocks, weights, sample_coords = _sample(leaves, n, coords, budget, max_lanes, rng)
        sample_lanes = len(lanes)
        exact = sample_lanes == n and sample_coords == coords
        ids = np.unique([digests[i] for i in lanes], return_inverse=True)[1]
        same = jnp.asarray(ids[:, None] == ids[None, :])
        mesh = mesh_of(next(iter(leaves.values())))
        *stats, nearest = _pair_stats(tuple(blocks), tuple(weights), same, mesh)
        stats = tuple(float(s) for s in stats)
        nearest = np.asarray(nearest) if exact else None

    scale_ok = tol is None or (abs(lo - 1) <= tol and abs(hi - 1) <= tol)
    if distinct < n:
        reason = (
            f"all {n} lanes identical: was nnx.split_rngs forgotten?"
            if distinct == 1
            else f"only {distinct} of {n} lanes distinct: some lanes share a key"
        )
    elif not scale_ok:
        reason = f"lane kernel std is {lo:.3g}..{hi:.3g}x its initializer's promise (tolerance ±{tol:.3g})"
    else:
        reason = ""
    return DiversityReport(
        lanes=n,
        distinct_lanes=distinct,
        pairs=n * (n - 1) // 2,
        min_pairwise_l2=stats[0],
        mean_pairwise_l2=stats[1],
        max_abs_cosine=stats[2],
        exact=exact,
        sample_lanes=sample_lanes,
        sample_coords=sample_coords,
        coords=coords,
        scale_ratio_min=lo,
        scale_ratio_max=hi,
        scale_tolerance=tol,
        ok=not reason,
        reason=reason,
        nearest_l2=nearest,
    )
