"""Lane diversity: are the N lanes of an ensemble N independent draws of one model's initialization?

Four verdicts, each a statistical claim with its false-alarm rate (exact ones have none):

- distinct lanes (exact): lanes are told apart by their bytes (:mod:`sweeper.core.lanes`);
  identical lanes are blamed on a shared key, unless the reference model (an independent
  key, :mod:`sweeper.core.reference`) is identical too: then the initializer is deterministic;
- a leaf identical in every lane but not in the reference: the factory does not draw it from
  its rngs;
- scale fidelity (:mod:`sweeper.core.fidelity`): each leaf's per-lane std and mean against
  the reference, at ``false_alarm``;
- independence (:mod:`sweeper.core.pairs`): max |cos| between lanes, leaf means out, against
  its law under independent lanes, at ``false_alarm``.

Pairwise numbers are exact up to a budget, else an unbiased estimate with its standard error
(the mean) or bounds over a stated subset of pairs (the extremes). The device side
(:func:`lane_stats`) is one traced function, so a job fuses it with its other measurements;
:func:`diversity_report` reads its output on the host. Sharded ensembles are measured in place.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from sweeper.core.fidelity import DEFAULT_FALSE_ALARM, fidelity, leaf_stats
from sweeper.core.lanes import _groups, checksum, lane_digests, lane_hashes, probe
from sweeper.core.pairs import (
    DEFAULT_BUDGET,
    DEFAULT_MAX_LANES,
    PAIR_SCALARS,
    LanePlan,
    effective_coords,
    independence_null,
    lane_plan,
    pair_stats,
)
from sweeper.core.sharding import mesh_of

__all__ = ["DEFAULT_BUDGET", "DEFAULT_MAX_LANES", "DiversityReport", "lane_diversity", "lane_stats", "plan_for"]
_HIDDEN = ("nearest_l2", "digests")  # per-lane arrays: kept out of the flat metrics


@dataclass(frozen=True)
class DiversityReport:
    lanes: int
    distinct_lanes: int
    pairs: int  # lane pairs (0 when N = 1)
    over_pairs: int  # pairs behind min/max: all of them when exact, else those of the sampled lanes
    min_pairwise_l2: float | None  # exact; not exact: an upper bound (min over over_pairs)
    mean_pairwise_l2: float | None  # exact; not exact: an unbiased estimate ± mean_pairwise_l2_stderr
    mean_pairwise_l2_stderr: float | None  # None when exact
    max_abs_cosine: float | None  # exact; not exact: a lower bound (max over over_pairs)
    exact: bool
    sample_lanes: int
    sample_coords: int  # every coordinate, always
    coords: int  # parameters per lane
    independence_cosine: float | None  # max |cos| over over_pairs, leaf means out, identical leaves left out
    independence_null: float | None  # its typical value for independent lanes
    independence_threshold: float | None  # above it the lanes fail, at false_alarm_rate
    false_alarm_rate: float  # per verdict: the chance a healthy ensemble fails it
    scale_reference: str | None  # "model": each leaf held to a model built with an independent key
    scale_ratio_min: float | None  # lane std / the reference's, over the random leaves
    scale_ratio_max: float | None
    scale_tolerance: float | None  # widest allowed departure of the ratio from 1
    deterministic_leaves: list[str]  # equal to the reference in every lane: constant by design
    ok: bool
    reason: str  # one line; empty when ok
    nearest_l2: np.ndarray | None = field(default=None, repr=False, compare=False)  # (N,), exact runs only
    digests: list[str] = field(default_factory=list, repr=False, compare=False)  # one per lane

    def as_metrics(self, prefix: str = "diversity/") -> dict:
        return {prefix + f.name: getattr(self, f.name) for f in fields(self) if f.name not in _HIDDEN}


def plan_for(leaves: Mapping[str, Any], budget: int, max_lanes: int, seed: int = 0) -> LanePlan:
    """:func:`lane_plan` for a mapping of ``(N, ...)`` leaves (arrays or shape structs)."""
    coords = sum(math.prod(leaf.shape[1:]) for leaf in leaves.values())
    return lane_plan(next(iter(leaves.values())).shape[0], coords, budget, max_lanes, seed)


def _pairs(leaves, lanes, means, identical, same, mesh):
    n = next(iter(leaves.values())).shape[0]
    pick = (lambda a: a) if lanes is None else (lambda a: a[lanes])
    blocks = tuple(pick(jnp.reshape(v, (n, -1))).astype(jnp.float32) for v in leaves.values())
    sizes = tuple(float(math.prod(v.shape[1:])) for v in leaves.values())
    return pair_stats(blocks, tuple(pick(m) for m in means), sizes, tuple(identical), same, n, mesh)


def lane_stats(leaves: Mapping[str, jax.Array], reference, lanes, mesh) -> dict[str, Any]:
    """Everything the report needs from the device, traceable: probes, checksums, leaf stats, pair stats.

    Lanes with equal probes count as identical here (distance exactly 0); the host checks
    that against their bytes and recomputes the pair statistics if they were not.
    """
    words = probe(list(leaves.values()))
    stats = {"probe": words, "checksum": checksum(list(leaves.values())), "leaves": leaf_stats(leaves, reference)}
    if words.shape[0] > 1:
        sub = words if lanes is None else words[lanes]
        same = jnp.all(sub[:, None, :] == sub[None, :, :], axis=-1)
        stats["pairs"] = _pairs(leaves, lanes, stats["leaves"]["mean"], stats["leaves"]["identical"], same, mesh)
    return stats


_lane_stats = jax.jit(lane_stats, static_argnames="mesh")


def _duplicates(ids: np.ndarray, limit: int = 3) -> str:
    first: dict[int, int] = {}
    pairs = []
    for lane, group in enumerate(ids.tolist()):
        if group in first:
            pairs.append(f"lane {lane} = lane {first[group]}")
        first.setdefault(group, lane)
    return ", ".join(pairs[:limit]) + (", ..." if len(pairs) > limit else "")


def _distinct(leaves, plan: LanePlan, stats) -> tuple[int, np.ndarray, Any]:
    """Distinct lanes by their bytes, each lane's group, and pair stats corrected for probe collisions."""
    n = len(stats["probe"])
    groups, pairs = _groups(np.asarray(stats["probe"])), stats.get("pairs")
    if groups.max() + 1 == n:
        return n, groups, pairs
    ids = _groups(np.frombuffer(b"".join(lane_hashes(leaves)), np.uint8).reshape(n, -1))
    lanes = np.arange(n) if plan.lanes is None else plan.lanes
    if pairs is not None and len(np.unique(ids[lanes])) != len(np.unique(groups[lanes])):
        same = jnp.asarray(ids[lanes][:, None] == ids[lanes][None, :])
        leaf = stats["leaves"]
        mesh = mesh_of(next(iter(leaves.values())))
        pairs = jax.device_get(_pairs(leaves, plan.lanes, leaf["mean"], leaf["identical"], same, mesh))
    return int(ids.max()) + 1, ids, pairs


def _drawn(name: str, names: list[str], leaf: Mapping[str, Any]) -> bool:
    """Whether the reference model's ``name`` varies: a random leaf, not a constant one."""
    return float(leaf["ref_std"][names.index(name)]) > 0


def diversity_report(
    leaves: Mapping[str, Any], plan: LanePlan, stats: Mapping[str, Any], false_alarm: float = DEFAULT_FALSE_ALARM
) -> DiversityReport:
    """The report from :func:`lane_stats`' output, on the host (``stats`` as host arrays)."""
    names, n = list(leaves), len(stats["probe"])
    sizes = [math.prod(v.shape[1:]) for v in leaves.values()]
    distinct, ids, pairs = _distinct(leaves, plan, stats)
    leaf = stats["leaves"]
    checked = fidelity(names, sizes, leaf, false_alarm) if "matches" in leaf else None
    deterministic = checked["deterministic_leaves"] if checked else []
    identical = [k for k, same in zip(names, leaf["identical"], strict=True) if same]
    random = [i for i, k in enumerate(names) if k not in identical]
    dims = effective_coords([sizes[i] for i in random], [np.mean(np.square(leaf["std"][i])) for i in random])
    typical, threshold = independence_null(plan.sample_lanes, dims - len(random), false_alarm)
    p = {} if pairs is None else dict(zip(PAIR_SCALARS, np.asarray(pairs["scalars"], np.float64).tolist(), strict=True))

    reason = ""
    if distinct < n:
        if checked and distinct == 1 and len(deterministic) == len(names):
            reason = (
                f"all {n} lanes identical because the initializer is deterministic: a model built with an "
                f"independent key equals them too ({', '.join(names)}); the ensemble is one model, not {n}"
            )
        elif distinct == 1:
            reason = f"all {n} lanes identical: was nnx.split_rngs forgotten?"
        else:
            reason = f"only {distinct} of {n} lanes distinct: some lanes share a key ({_duplicates(ids)})"
    elif checked and n > 1 and (shared := [k for k in identical if k not in deterministic and _drawn(k, names, leaf)]):
        reason = (
            f"{shared[0]}: all {n} lanes identical, but a model built with an independent key differs: "
            "the factory does not draw it from its rngs"
        )
    elif checked and checked["reason"]:
        reason = checked["reason"]
    elif pairs is not None and p["independence_cosine"] > threshold:
        i, j = (int(k) if plan.lanes is None else int(plan.lanes[int(k)]) for k in (p["lane_a"], p["lane_b"]))
        reason = (
            f"lanes {min(i, j)} and {max(i, j)} are correlated: |cos| {p['independence_cosine']:.3g} (leaf means "
            f"out) over {dims:.0f} effective coordinates, above {threshold:.3g} (independent lanes: about "
            f"{typical:.3g}; false-alarm rate {false_alarm:g})"
        )
    return DiversityReport(
        lanes=n,
        distinct_lanes=distinct,
        pairs=n * (n - 1) // 2,
        over_pairs=plan.over_pairs if n > 1 else 0,
        min_pairwise_l2=p.get("min_l2"),
        mean_pairwise_l2=p.get("mean_l2"),
        mean_pairwise_l2_stderr=None if plan.exact else p.get("mean_l2_stderr"),
        max_abs_cosine=p.get("max_abs_cosine"),
        exact=plan.exact,
        sample_lanes=plan.sample_lanes,
        sample_coords=sum(sizes),
        coords=sum(sizes),
        independence_cosine=p.get("independence_cosine"),
        independence_null=None if pairs is None or math.isnan(typical) else typical,
        independence_threshold=None if pairs is None else threshold,
        false_alarm_rate=false_alarm,
        scale_reference="model" if checked else None,
        scale_ratio_min=checked["scale_ratio_min"] if checked else None,
        scale_ratio_max=checked["scale_ratio_max"] if checked else None,
        scale_tolerance=checked["scale_tolerance"] if checked else None,
        deterministic_leaves=deterministic,
        ok=not reason,
        reason=reason,
        nearest_l2=np.asarray(pairs["nearest"]) if pairs is not None and plan.exact else None,
        digests=lane_digests(leaves, stats["probe"], stats["checksum"]),
    )


def lane_diversity(
    leaves: Mapping[str, jax.Array],
    reference: Mapping[str, jax.Array] | None = None,
    *,
    budget: int = DEFAULT_BUDGET,
    max_lanes: int = DEFAULT_MAX_LANES,
    false_alarm: float = DEFAULT_FALSE_ALARM,
    seed: int = 0,
) -> DiversityReport:
    """Diversity of the lanes (axis 0) of ``leaves``, a mapping of name -> ``(N, ...)`` array.

    ``reference``: one model of the same factory built with an independent key
    (:func:`sweeper.core.reference.reference_model`), name -> leaf without the lane axis;
    without it there is no scale-fidelity verdict and no deterministic-initializer diagnosis.
    The arrays may be split over a lane mesh; they are then measured in place.
    """
    leaves = {k: leaves[k] for k in sorted(leaves)}  # the order jit gives a dict's leaves
    plan = plan_for(leaves, budget, max_lanes, seed)
    mesh = mesh_of(next(iter(leaves.values())))
    ref = None if reference is None else {k: reference[k] for k in leaves}
    stats = _lane_stats(leaves, ref, plan.lanes, mesh=mesh)
    return diversity_report(leaves, plan, jax.device_get(stats), false_alarm)
