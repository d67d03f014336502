"""One grid point: validated settings in, a result record out. No Hydra, no W&B.

The record (:func:`sweeper.records.job_record`) is what ``result.json`` holds. Its
``status`` is ``ok`` only when the job ran *and* every check held; otherwise ``error``
says why in one line (an exception, or the failed check's verdict).
"""

from __future__ import annotations

import functools
import math
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jax
import numpy as np
from flax import nnx

from sweeper.config import SweeperConfig, record_config
from sweeper.core.checks import compare_shapes, expected_shapes, shape_metrics, shape_verdict
from sweeper.core.diversity import diversity_report
from sweeper.core.ensemble import abstract_ensemble, timed_build
from sweeper.core.forward import forward_metrics
from sweeper.core.job_memory import JobPeak
from sweeper.core.measure import compiled_measure, lane_rows, state_spec
from sweeper.core.memory import check_fits, device_peak_bytes, max_rss_bytes
from sweeper.core.sharding import resolve_devices, sharding_metrics
from sweeper.core.tree import flat_params, leaf_bytes, param_bytes
from sweeper.records import job_record, one_line


@dataclass
class JobOutcome:
    record: dict[str, Any]
    lanes: list[dict[str, Any]] = field(default_factory=list)  # one row per lane, for a W&B table
    kernel_sample: np.ndarray | None = None  # kernel values, for a W&B histogram
    lane_digests: list[str] = field(default_factory=list)  # one per lane, kept in the job directory
    traceback: str | None = None  # the full traceback of a job that raised


def environment() -> dict[str, Any]:
    """Everything needed to reproduce a result: versions, device, PRNG settings."""
    import flax

    device = jax.devices()[0]
    return {
        "jax": jax.__version__,
        "flax": flax.__version__,
        "device": f"{device.platform}:{device.device_kind}",
        "device_count": jax.device_count(),
        "prng_impl": str(jax.config.jax_default_prng_impl),
        "threefry_partitionable": bool(jax.config.jax_threefry_partitionable),
        "x64": bool(jax.config.jax_enable_x64),
    }


def _timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


@functools.lru_cache(maxsize=128)
def _abstract_bytes(model, constructor: str, n: int, features: int, param_dtype: str) -> int:
    return param_bytes(abstract_ensemble(model, constructor, n, features, param_dtype))


def _quiet(doing: str) -> None:
    pass


def measure(settings: SweeperConfig, phase: Callable[[str], None] = _quiet) -> JobOutcome:
    """Build, check, measure: the work of one job. Raises on failure. ``phase`` hears what it does now."""
    s = settings
    metrics: dict[str, Any] = {}
    model, constructor = s.model.spec, s.constructor.name
    devices = resolve_devices(s.sharding.devices, s.num_inits)
    bytes_ = _abstract_bytes(model, constructor, s.num_inits, s.features, s.param_dtype)
    estimate = check_fits(bytes_, s.num_inits, s.features, s.forward_batch, s.memory_budget_gb, devices)
    build = {"model": model, "constructor": constructor, "devices": devices, "param_dtype": s.param_dtype}
    phase("building (trace, compile, run)")
    built = timed_build(s.seed, s.num_inits, s.features, **build)
    graphdef, state = nnx.split(built.ensemble)
    leaves = flat_params(state)
    found = {path: tuple(leaf.shape) for path, leaf in leaves.items()}
    records, checks_s = _timed(compare_shapes, found, expected_shapes(model, s.num_inits, s.features))
    shapes = shape_metrics(records)
    metrics["count"] = [s.num_inits, s.features, shapes["shape/leading"]]
    metrics.update(shapes)
    if not shapes["shape/ok"]:  # no lane axis to measure
        metrics.update({"time/compile_s": built.compile_s, "time/build_s": built.build_s, "time/checks_s": checks_s})
        return JobOutcome(job_record(record_config(settings), metrics, shape_verdict(records), environment()))
    # one executable per shape computes every statistic below, the forward pass included:
    # its run is counted in time/diversity_s, its trace + compile in time/compile_s
    spec, shape = state_spec(state), (s.features, s.forward_batch, s.diversity_budget)
    phase("compiling the measurement")
    meter, compile_s = _timed(compiled_measure, graphdef, spec, *shape, model=model, param_dtype=s.param_dtype)
    phase("measuring")
    stats, device_s = _timed(meter, state, s.seed)
    diversity, diversity_s = _timed(diversity_report, leaves, meter.plan, stats["diversity"])
    forward, forward_s = _timed(forward_metrics, meter.forward_shape, *stats["forward"])
    metrics.update(sharding_metrics(leaves, devices))
    metrics.update(diversity.as_metrics())
    metrics.update(forward)
    metrics.update(
        {
            "time/compile_s": built.compile_s + compile_s,
            "time/build_s": built.build_s,
            "time/checks_s": checks_s,
            "time/diversity_s": device_s + diversity_s,
            "time/forward_s": forward_s,
            "memory/param_bytes": leaf_bytes(leaves),
            "memory/estimated_peak_bytes": estimate.total,
            "memory/estimated_peak_bytes_per_device": estimate.per_device,
            "memory/process_peak_bytes": max_rss_bytes(),
            "memory/device_peak_bytes": device_peak_bytes(),
        }
    )
    failures = []
    if not_finite := [k for k, v in metrics.items() if isinstance(v, float) and not math.isfinite(v)]:
        failures.append(f"non-finite metrics: {', '.join(not_finite)}")
        metrics.update(dict.fromkeys(not_finite))
    if not diversity.ok:
        failures.append(diversity.reason)
    if not forward["forward/finite"]:
        failures.append("forward pass produced non-finite outputs")
    record = job_record(record_config(settings), metrics, "; ".join(failures) or None, environment())
    return JobOutcome(record, lane_rows(stats, diversity.nearest_l2), stats.get("sample"), diversity.digests)


def run_job(settings: SweeperConfig, phase: Callable[[str], None] = _quiet) -> JobOutcome:
    """:func:`measure`, with any exception turned into a failed record. Never raises."""
    start, peak = time.perf_counter(), JobPeak()
    try:
        outcome = measure(settings, phase)
    except Exception as err:
        record = job_record(record_config(settings), {}, one_line(err), environment())
        outcome = JobOutcome(record, traceback=traceback.format_exc())
    outcome.record["metrics"]["time/total_s"] = time.perf_counter() - start
    outcome.record["metrics"].update(peak.metrics())
    return outcome
