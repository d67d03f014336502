"""Scale fidelity: is every lane a draw of the factory's own initialization?

Each leaf of each lane is held to the same leaf of the *reference model*
(:mod:`sweeper.core.reference`), one more draw of the plain factory with an independent key,
so no initializer is assumed:

- std: under the null a lane's variance over the ratio of the reference's is F-distributed,
  ``F(d, d)`` with ``d = 2 (P - 1) / (kappa - 1)`` (``kappa``: the reference's kurtosis, at
  least 3, the Gaussian's; lighter tails, as uniform, truncated normal or orthogonal draws
  have, only make the test conservative);
- mean: the lane's mean minus the reference's, over ``sqrt(2 v / P)`` (``v``: the pooled
  variance), is standard normal.

The false-alarm rate is split over every (lane, leaf, statistic) test (Bonferroni), so a
healthy ensemble fails with probability at most ``false_alarm``. A leaf whose reference is
constant (zeros, ones) must equal it bit for bit in every lane; a leaf equal to the reference
in every lane is deterministic by design and is not tested further.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from scipy import special

from sweeper.core.lanes import _lane_words

DEFAULT_FALSE_ALARM = 1e-6  # per job and verdict: the chance that a healthy ensemble fails it


def _equal_rows(leaf: jax.Array, row: jax.Array) -> jax.Array:
    """``(N,)``: lanes of ``leaf`` equal to ``row`` (one lane's shape) bit for bit."""
    n = leaf.shape[0]
    words, ref = _lane_words(leaf), _lane_words(row[None].astype(leaf.dtype))
    if words is None:
        return jnp.all(jnp.reshape(leaf == row[None], (n, -1)), axis=1)
    return jnp.all(words == ref, axis=1)


def leaf_stats(leaves: Mapping[str, jax.Array], reference: Mapping[str, jax.Array] | None) -> dict[str, Any]:
    """Per leaf, traceable: each lane's mean and std, whether all lanes are equal, and the reference's moments.

    Stacked over the L leaves, in their order: ``mean``, ``std``, ``matches`` ``(L, N)``; the rest ``(L,)``.
    """
    out: dict[str, Any] = {"mean": [], "std": [], "identical": []}
    if reference is not None:
        out.update(matches=[], ref_mean=[], ref_std=[], ref_kurtosis=[])
    for name, leaf in leaves.items():
        n = leaf.shape[0]
        lanes = jnp.reshape(leaf, (n, -1)).astype(jnp.float32)
        out["mean"].append(jnp.mean(lanes, axis=1))
        out["std"].append(jnp.std(lanes, axis=1))
        out["identical"].append(jnp.all(_equal_rows(leaf, leaf[0])))
        if reference is not None:
            ref = jnp.reshape(reference[name], (-1,)).astype(jnp.float32)
            mean, std = jnp.mean(ref), jnp.std(ref)
            out["matches"].append(_equal_rows(leaf, reference[name]))
            out["ref_mean"].append(mean)
            out["ref_std"].append(std)
            out["ref_kurtosis"].append(jnp.mean((ref - mean) ** 4) / jnp.maximum(std**4, jnp.finfo(jnp.float32).tiny))
    return {k: jnp.stack(v) for k, v in out.items()}  # (leaves, ...): few arrays to fetch


def _lanes_text(lanes: Sequence[int]) -> str:
    lanes = [int(i) for i in lanes]
    shown = ", ".join(map(str, lanes[:5]))
    more = f" (+{len(lanes) - 5} more)" if len(lanes) > 5 else ""
    return f"lane {shown}" if len(lanes) == 1 else f"lanes {shown}{more}"


def fidelity(names: Sequence[str], sizes: Sequence[int], stats: Mapping[str, Any], false_alarm: float) -> dict:
    """The verdict from :func:`leaf_stats`' host arrays: metrics, deterministic leaves and a reason."""
    n = len(stats["mean"][0])
    deterministic = [k for k, match in zip(names, stats["matches"], strict=True) if np.all(match)]
    tested = [
        i for i, k in enumerate(names) if k not in deterministic and float(stats["ref_std"][i]) > 0 and sizes[i] >= 2
    ]
    tests = 2 * n * max(1, len(tested))
    ratios, widest, reason = [], 0.0, ""
    for i, name in enumerate(names):
        if name in deterministic:
            continue
        ref_std, ref_mean = float(stats["ref_std"][i]), float(stats["ref_mean"][i])
        if ref_std == 0:  # a constant initializer: every lane must be that constant
            off = np.flatnonzero(~np.asarray(stats["matches"][i]))
            reason = reason or (
                f"{name}: the factory initializes it to the constant {ref_mean:.4g}, but it differs in "
                f"{_lanes_text(off)} (std {float(np.max(stats['std'][i])):.3g})"
            )
            continue
        if i not in tested:
            continue
        std = np.asarray(stats["std"][i], np.float64)
        dof = 2 * (sizes[i] - 1) / (max(3.0, float(stats["ref_kurtosis"][i])) - 1)
        lo = math.sqrt(float(special.fdtri(dof, dof, false_alarm / tests / 2)))
        hi = 1 / lo  # F(d, d) is symmetric under 1 / x
        ratio = std / ref_std
        ratios.append(ratio)
        widest = max(widest, hi - 1, 1 - lo)
        if reason:
            continue
        if np.any(bad := (ratio < lo) | (ratio > hi)):
            worst = int(np.argmax(np.abs(np.log(np.maximum(ratio, 1e-30)))))
            reason = (
                f"{name}: {_lanes_text(np.flatnonzero(bad))} std {std[worst]:.3g} is {ratio[worst]:.3g}x the reference "
                f"model's {ref_std:.3g} (allowed {lo:.3g}..{hi:.3g}x at false-alarm rate {false_alarm:g})"
            )
            continue
        mean = np.asarray(stats["mean"][i], np.float64)
        pooled = (np.sum(std**2) + ref_std**2) / (n + 1)
        z = (mean - ref_mean) / math.sqrt(2 * pooled / sizes[i])
        limit = -float(special.ndtri(false_alarm / tests / 2))
        if np.any(bad := np.abs(z) > limit):
            worst = int(np.argmax(np.abs(z)))
            reason = (
                f"{name}: {_lanes_text(np.flatnonzero(bad))} mean {mean[worst]:.3g} vs the reference model's "
                f"{ref_mean:.3g} (|z| {abs(z[worst]):.3g} > {limit:.3g} at false-alarm rate {false_alarm:g})"
            )
    flat = np.concatenate(ratios) if ratios else None
    return {
        "scale_ratio_min": None if flat is None else float(flat.min()),
        "scale_ratio_max": None if flat is None else float(flat.max()),
        "scale_tolerance": None if flat is None else float(widest),
        "deterministic_leaves": deterministic,
        "reason": reason,
    }
