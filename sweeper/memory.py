"""The memory guard: estimate a job's peak bytes from shapes alone, before allocating.

``nnx.eval_shape`` gives every parameter's shape for free, so a job that would not fit
is refused with its estimate and the budget, instead of aborting the process or
thrashing the machine. No shape reaches XLA's allocator unchecked.
"""

from __future__ import annotations

import os
import resource

import jax

from sweeper.diversity import DEFAULT_MAX_LANES

DEFAULT_FRACTION = 0.5  # of the memory free when the job starts


class MemoryBudgetError(RuntimeError):
    """The job's estimated peak memory is above the budget."""


def estimate_peak_bytes(param_bytes: int, n: int, features: int, batch: int) -> int:
    """Parameters plus the metrics' working set.

    Three copies of the parameters (the built ensemble, the random bits drawn for it,
    the temporaries of the per-lane statistics), six N x N float32 matrices for the
    pairwise statistics (N capped where they switch to sampling), and the forward pass's
    input, hidden and output activations.
    """
    lanes = min(n, DEFAULT_MAX_LANES)
    return 3 * param_bytes + 6 * 4 * lanes * lanes + 3 * 4 * n * batch * features


def available_bytes() -> tuple[int, str]:
    """Free memory where the ensemble will live, and what it was read from."""
    stats = jax.devices()[0].memory_stats() or {}
    if "bytes_limit" in stats:
        return stats["bytes_limit"] - stats.get("bytes_in_use", 0), f"free on {jax.devices()[0].device_kind}"
    try:
        with open("/proc/meminfo") as f:
            info = dict(line.split(":", 1) for line in f)
        return int(info["MemAvailable"].split()[0]) * 1024, "available RAM"
    except (OSError, KeyError, ValueError):
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES"), "free RAM"


def budget_bytes(budget_gb: float | None) -> tuple[int, str]:
    if budget_gb is not None:
        return int(budget_gb * 1e9), "memory_budget_gb"
    free, where = available_bytes()
    return int(free * DEFAULT_FRACTION), f"{DEFAULT_FRACTION:.0%} of {where}"


def gigabytes(n: float) -> str:
    return f"{n / 1e9:.3g} GB"


def check_fits(param_bytes: int, n: int, features: int, batch: int, budget_gb: float | None) -> int:
    """The estimate, or :class:`MemoryBudgetError` in one line when it is over the budget."""
    need = estimate_peak_bytes(param_bytes, n, features, batch)
    budget, source = budget_bytes(budget_gb)
    if need > budget:
        raise MemoryBudgetError(
            f"num_inits={n} features={features}: needs an estimated {gigabytes(need)} "
            f"(parameters {gigabytes(param_bytes)}), over the memory budget of {gigabytes(budget)} "
            f"({source}); lower num_inits or features, or set memory_budget_gb"
        )
    return need


def max_rss_bytes() -> int:
    """The process's peak resident memory so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def largest_n(features: int, budget_bytes_: float, batch: int = 32, bytes_per_param: int = 4) -> int:
    """The largest N whose estimate fits the budget, for a Linear(F, F) ensemble."""
    lo, hi = 0, 1
    per_lane = (features * features + features) * bytes_per_param
    while estimate_peak_bytes(hi * per_lane, hi, features, batch) <= budget_bytes_:
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        fits = estimate_peak_bytes(mid * per_lane, mid, features, batch) <= budget_bytes_
        lo, hi = (mid, hi) if fits else (lo, mid)
    return lo


__all__ = ["MemoryBudgetError", "check_fits", "estimate_peak_bytes", "largest_n", "max_rss_bytes"]
