"""Lane diversity: are the N lanes of an ensemble really N different models?

Every metric is taken over the lanes of *all* parameter leaves together, so a leaf that
is constant by design (bias starts at zeros) cannot make a healthy ensemble look broken.

- ``distinct_lanes`` is exact. A few 32-bit words of each lane are read on the device
  (:func:`probe`); lanes whose words differ differ. Only when some lanes agree on all of
  them are the lanes' bytes hashed on the host (:func:`lane_hashes`), and the hashes decide.
- Pairwise L2 and cosine come from the lanes' Gram matrix ``G = X X^T`` (an N x N
  matrix, never N x N x P). Up to ``budget`` multiply-adds (N^2 * P) they are exact;
  beyond it they are estimated on a random subset of coordinates (and of lanes, past
  ``max_lanes``), rescaled, and labelled with the sample size.
- Init-scale fidelity compares each lane's kernel std with LeCun normal's promise,
  ``1 / sqrt(fan_in)`` (Flax's default for Linear).

The device side (:func:`lane_stats`) is one traced function, so a job can fuse it with
its other measurements into one executable; :func:`diversity_report` turns its output
into the report on the host.

Sharded ensembles (:mod:`sweeper.core.sharding`) are measured where they lie: probes and
per-lane stds are local to each shard, lanes are hashed one addressable shard at a time,
and the Gram matrix is summed over coordinate slices, one per device, then all-reduced;
no device ever holds the whole ensemble. Probes, hashes, distinct lanes and scale
ratios are identical to the one-device path; pairwise L2 and cosine agree to float32
rounding (the Gram sums its coordinates in another order).
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.dtypes import itemsize_bits as dtype_bits
from jax.sharding import Mesh

from sweeper.core.sharding import coordinate_sharding, mesh_of
from sweeper.core.tree import kernels

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
            for hasher, row in zip(hashers[start : start + len(block)], block, strict=True):
                hasher.update(row.view(np.uint8))  # bytes of any dtype, bfloat16 included
    return [hasher.digest() for hasher in hashers]


_UINTS = {1: jnp.uint8, 2: jnp.uint16, 4: jnp.uint32, 8: jnp.uint32}  # 8 bytes: two uint32 words
PROBE_WORDS = 8  # words read per lane and leaf to tell lanes apart


def _lane_words(leaf: jax.Array) -> jax.Array | None:
    """``(N, P')`` uint32 words of each lane's bytes; None for a dtype left to the byte hash."""
    dtype = jnp.dtype(leaf.dtype)
    if dtype == jnp.bool_:
        return jnp.reshape(leaf, (leaf.shape[0], -1)).astype(jnp.uint32)
    numeric = jnp.issubdtype(dtype, jnp.floating) or jnp.issubdtype(dtype, jnp.integer)
    if not numeric or dtype.itemsize not in _UINTS or dtype.itemsize * 8 != dtype_bits(dtype):
        return None  # complex, int4, ...
    words = jax.lax.bitcast_convert_type(leaf, _UINTS[dtype.itemsize]).astype(jnp.uint32)
    return jnp.reshape(words, (leaf.shape[0], -1))


def probe(leaves: Sequence[jax.Array]) -> jax.Array:
    """``(N, W)``: up to :data:`PROBE_WORDS` evenly spaced 32-bit words of each lane, per leaf.

    A function of the lane's bytes alone, so lanes whose probes differ differ; random lanes
    differ in their first word. Lanes whose probes agree are left to the byte hash.
    """
    columns = []
    for leaf in leaves:
        words = _lane_words(leaf)
        if words is not None and words.shape[1]:
            columns.append(words[:, np.unique(np.linspace(0, words.shape[1] - 1, PROBE_WORDS).astype(int))])
    return jnp.concatenate(columns, axis=1) if columns else jnp.zeros((leaves[0].shape[0], 1), jnp.uint32)


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


@dataclass(frozen=True, eq=False)  # hashed by identity: one cached plan per shape
class SamplePlan:
    """The lanes and per-leaf coordinates behind the pairwise statistics, and each leaf's weight.

    ``indices`` (lanes, per-leaf coordinates; None: all) go to the device as arguments.
    """

    indices: tuple[np.ndarray | None, tuple[np.ndarray | None, ...]]
    weights: tuple[float, ...]
    sample_lanes: int
    sample_coords: int
    exact: bool


@functools.lru_cache(maxsize=256)
def sample_plan(sizes: tuple[int, ...], n: int, budget: int, max_lanes: int, seed: int) -> SamplePlan:
    """The plan for N lanes of leaves with ``sizes`` coordinates per lane (a function of its arguments)."""
    coords = sum(sizes)
    if n == 1:
        return SamplePlan((None, (None,) * len(sizes)), (1.0,) * len(sizes), 1, coords, True)
    rng = np.random.default_rng(seed)
    lanes = None if n <= max_lanes else np.sort(rng.choice(n, max_lanes, replace=False)).astype(np.int32)
    m = n if lanes is None else max_lanes
    keep = coords if m * m * coords <= budget else max(1, budget // (m * m))
    picks, weights = [], []
    for size in sizes:
        if keep < coords:
            take = min(size, max(1, round(size * keep / coords)))
            picks.append(np.sort(rng.choice(size, take, replace=False)).astype(np.int32))
            weights.append(size / take)
        else:
            picks.append(None)
            weights.append(1.0)
    sample_coords = min(keep, coords)
    return SamplePlan((lanes, tuple(picks)), tuple(weights), m, sample_coords, m == n and sample_coords == coords)


def plan_for(leaves: Mapping[str, Any], budget: int, max_lanes: int, seed: int = 0) -> SamplePlan:
    """:func:`sample_plan` for a mapping of ``(N, ...)`` leaves (arrays or shape structs)."""
    sizes = tuple(math.prod(leaf.shape[1:]) for leaf in leaves.values())
    return sample_plan(sizes, next(iter(leaves.values())).shape[0], budget, max_lanes, seed)


def _pair_blocks(leaves: Mapping[str, jax.Array], indices) -> tuple[jax.Array, ...]:
    """``(sampled lanes, sampled coordinates)`` float32 blocks, one per leaf."""
    lanes, picks = indices
    blocks = []
    for leaf, pick in zip(leaves.values(), picks, strict=True):
        flat = jnp.reshape(leaf, (leaf.shape[0], -1))
        if lanes is not None:
            flat = flat[lanes]
        if pick is not None:
            flat = flat[:, pick]
        blocks.append(flat.astype(jnp.float32))
    return tuple(blocks)


def lane_stats(
    leaves: Mapping[str, jax.Array], indices, weights: tuple[float, ...], kernel_names: tuple[str, ...], mesh
) -> dict[str, Any]:
    """Everything the report needs from the device, traceable: lane probes, kernel stds, pair stats.

    Lanes with equal probes count as identical here (distance exactly 0); the host checks
    that against their bytes and recomputes the pair statistics if they were not.
    """
    n = next(iter(leaves.values())).shape[0]
    words = probe(list(leaves.values()))
    stats = {
        "probe": words,
        "kernel_std": tuple(jnp.std(jnp.reshape(leaves[k], (n, -1)).astype(jnp.float32), axis=1) for k in kernel_names),
    }
    if n > 1:
        sub = words if indices[0] is None else words[indices[0]]
        same = jnp.all(sub[:, None, :] == sub[None, :, :], axis=-1)
        stats["pairs"] = _pair_stats(_pair_blocks(leaves, indices), weights, same, mesh)
    return stats


_lane_stats = jax.jit(lane_stats, static_argnames=("weights", "kernel_names", "mesh"))


def _groups(rows: np.ndarray) -> np.ndarray:
    """``(N,)`` ids, equal for equal rows of ``rows`` (compared as bytes)."""
    rows = np.ascontiguousarray(rows)
    return np.unique(rows.view(np.dtype((np.void, rows[0].nbytes))).reshape(-1), return_inverse=True)[1]


def diversity_report(
    leaves: Mapping[str, jax.Array], plan: SamplePlan, promised: Mapping[str, float], stats: Mapping[str, Any]
) -> DiversityReport:
    """The report from :func:`lane_stats`' output, on the host (``stats`` as host arrays)."""
    n = next(iter(leaves.values())).shape[0]
    coords = sum(math.prod(leaf.shape[1:]) for leaf in leaves.values())
    groups = _groups(np.asarray(stats["probe"]))
    distinct, pairs = int(groups.max()) + 1, stats.get("pairs")
    if distinct < n:  # equal probes: the bytes decide
        ids = _groups(np.frombuffer(b"".join(lane_hashes(leaves)), np.uint8).reshape(n, -1))
        distinct = int(ids.max()) + 1
        lanes = np.arange(n) if plan.indices[0] is None else plan.indices[0]
        if pairs is not None and len(np.unique(ids[lanes])) != len(np.unique(groups[lanes])):
            same = jnp.asarray(ids[lanes][:, None] == ids[lanes][None, :])
            mesh = mesh_of(next(iter(leaves.values())))
            pairs = jax.device_get(_pair_stats(_pair_blocks(leaves, plan.indices), plan.weights, same, mesh))

    lo = hi = tol = None
    if promised:
        ratios = np.concatenate([std / promised[k] for k, std in zip(promised, stats["kernel_std"], strict=True)])
        # six standard errors of a sample std over this many values, never below 5 %
        tol = max(0.0, *(max(0.05, 6.0 / math.sqrt(2 * math.prod(leaves[k].shape[1:]))) for k in promised))
        lo, hi = float(ratios.min()), float(ratios.max())

    stat_values, nearest = (None, None, None), None
    if pairs is not None:
        *stat_values, nearest = pairs
        stat_values = tuple(float(s) for s in stat_values)
        nearest = np.asarray(nearest) if plan.exact else None

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
        min_pairwise_l2=stat_values[0],
        mean_pairwise_l2=stat_values[1],
        max_abs_cosine=stat_values[2],
        exact=plan.exact,
        sample_lanes=plan.sample_lanes,
        sample_coords=plan.sample_coords,
        coords=coords,
        scale_ratio_min=lo,
        scale_ratio_max=hi,
        scale_tolerance=tol,
        ok=not reason,
        reason=reason,
        nearest_l2=nearest,
    )


def default_promise(leaves: Mapping[str, Any]) -> dict[str, float]:
    """LeCun normal's std for every leaf whose name ends in ``kernel``."""
    return {k: lecun_std(v.shape) for k, v in kernels(leaves).items()}


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
    promised = default_promise(leaves) if promised_std is None else dict(promised_std)
    plan = plan_for(leaves, budget, max_lanes, seed)
    mesh = mesh_of(next(iter(leaves.values())))
    stats = _lane_stats(dict(leaves), plan.indices, weights=plan.weights, kernel_names=tuple(promised), mesh=mesh)
    return diversity_report(leaves, plan, promised, jax.device_get(stats))
