"""The memory guard: estimate a job's peak bytes from shapes alone, before allocating.

``nnx.eval_shape`` gives every parameter's shape for free, so a job that would not fit
is refused with its estimate and the budget, instead of aborting the process or
thrashing the machine. No shape reaches XLA's allocator unchecked.

A sharded job (:mod:`sweeper.core.sharding`) is estimated per device: the parameters and the
activations divide over the devices, the small N x N matrices are on every device.
``python -m sweeper.core.memory`` prints the largest N that fits, per GB and device count.
"""

from __future__ import annotations

import argparse
import math
import os
import resource
from typing import NamedTuple

import jax

from sweeper.core.diversity import DEFAULT_MAX_LANES

DEFAULT_FRACTION = 0.5  # of the memory free when the job starts


class MemoryBudgetError(RuntimeError):
    """The job's estimated peak memory is above the budget."""


class PeakEstimate(NamedTuple):
    total: int  # over all devices
    per_device: int  # on each device (equal to total when unsharded)


def estimate_peak_bytes(param_bytes: int, n: int, features: int, batch: int, devices: int = 1) -> int:
    """Peak bytes on one device: its share of the parameters plus the metrics' working set.

    Three copies of the parameters (the built ensemble, the random bits drawn for it,
    the temporaries of the per-lane statistics), six N x N float32 matrices for the
    pairwise statistics (N capped where they switch to sampling; every device holds
    them), and the forward pass's input, hidden and output activations. Parameters and
    activations divide over ``devices``.
    """
    lanes = min(n, DEFAULT_MAX_LANES)
    share = math.ceil(n / devices)
    return 3 * math.ceil(param_bytes / devices) + 6 * 4 * lanes * lanes + 3 * 4 * share * batch * features


def shares_host_memory() -> bool:
    """CPU devices (forced with XLA_FLAGS) all draw on the same RAM; accelerators have their own."""
    return jax.devices()[0].platform == "cpu"


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


def check_fits(
    param_bytes: int, n: int, features: int, batch: int, budget_gb: float | None, devices: int = 1
) -> PeakEstimate:
    """The estimate, or :class:`MemoryBudgetError` in one line when it is over the budget.

    The budget (``memory_budget_gb``, or half of what is free) is per device on
    accelerators, each with its own memory, and for the total on CPU devices, which share RAM.
    """
    per_device = estimate_peak_bytes(param_bytes, n, features, batch, devices)
    estimate = PeakEstimate(per_device * devices, per_device)
    budget, source = budget_bytes(budget_gb)
    each = devices > 1 and not shares_host_memory()
    need = estimate.per_device if each else estimate.total
    if need > budget:
        where = f" on each of {devices} devices" if each else ""
        raise MemoryBudgetError(
            f"num_inits={n} features={features}: needs an estimated {gigabytes(need)}{where} "
            f"(parameters {gigabytes(param_bytes)}), over the memory budget of {gigabytes(budget)} "
            f"({source}); lower num_inits or features, or set memory_budget_gb"
        )
    return estimate


def max_rss_bytes() -> int:
    """The process's peak resident memory so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def device_peak_bytes() -> int | None:
    """The accelerators' peak allocated memory so far, summed over devices; None where JAX keeps no count (CPU)."""
    peaks = [(d.memory_stats() or {}).get("peak_bytes_in_use") for d in jax.local_devices()]
    return None if None in peaks else sum(peaks)


def largest_n(features: int, budget_bytes_: float, batch: int = 32, bytes_per_param: int = 4, devices: int = 1) -> int:
    """The largest N whose estimate fits ``budget_bytes_`` on each device, for a Linear(F, F)
    ensemble; a multiple of ``devices``, so that it splits evenly (0: not even one lane each).
    """
    per_lane = (features * features + features) * bytes_per_param

    def fits(shares: int) -> bool:  # N = shares * devices
        n = shares * devices
        return estimate_peak_bytes(n * per_lane, n, features, batch, devices) <= budget_bytes_

    lo, hi = 0, 1
    while fits(hi):
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo * devices


def capacity_table(features=(64, 256, 1024), gigabytes_=(1, 16, 80), devices=(1, 4, 8), batch: int = 32) -> str:
    """A Markdown table of :func:`largest_n`: one row per (GB per device, devices), one column per F."""
    head = ["GB per device", "devices", *(f"F={f}" for f in features)]
    rows = [
        [f"{gb:g}", str(d), *(f"{largest_n(f, gb * 1e9, batch, devices=d):,}" for f in features)]
        for gb in gigabytes_
        for d in devices
    ]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = ["| " + " | ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in [head, *rows]]
    rule = "|" + "|".join("-" * (w + 1) + ":" for w in widths) + "|"
    return "\n".join([lines[0], rule, *lines[1:]])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m sweeper.core.memory",
        description="Largest N (Linear(F, F) lanes, float32) whose estimated peak fits, per GB and device count.",
    )
    parser.add_argument("--features", type=int, nargs="+", default=[64, 256, 1024])
    parser.add_argument("--gb", type=float, nargs="+", default=[1, 16, 80], help="memory per device, GB")
    parser.add_argument("--devices", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--batch", type=int, default=32, help="forward_batch")
    args = parser.parse_args(argv)
    print(capacity_table(args.features, args.gb, args.devices, args.batch))


if __name__ == "__main__":
    main()
