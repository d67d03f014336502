"""One executable per shape measures a built ensemble.

Everything a job reads off the device (lane probes and checksums, per-leaf lane means and
stds, the reference model's, the Gram pair statistics, the forward pass's spread and
finiteness, the histogram sample) comes from one compiled function and reaches the host in
one transfer. Like :func:`sweeper.core.ensemble.compiled_builder` it is compiled once per
shape: the graph, the leaves' shapes, dtypes and shardings, F, B, the diversity budget and
the model (the reference model is built inside, from a key derived from the seed).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from sweeper.core.diversity import DEFAULT_MAX_LANES, lane_stats, plan_for
from sweeper.core.ensemble import compiler_options
from sweeper.core.forward import apply_lanes, forward_input, forward_summary
from sweeper.core.models import Factory
from sweeper.core.pairs import LanePlan
from sweeper.core.reference import reference_key, reference_params
from sweeper.core.sharding import mesh_of
from sweeper.core.tree import flat_params, kernels

HISTOGRAM_VALUES = 100_000  # kernel values kept for the W&B histogram

StateSpec = tuple[Any, tuple[tuple[Any, ...], ...]]  # (treedef, (shape, dtype, weak_type, sharding) per leaf)


def state_spec(state: Any) -> StateSpec:
    """What an executable is compiled for: the state's structure and each leaf's aval and sharding."""
    leaves, treedef = jax.tree.flatten(state)
    return treedef, tuple((x.shape, x.dtype, getattr(x, "weak_type", False), x.sharding) for x in leaves)


@dataclass(frozen=True)
class CompiledMeasure:
    """The measurements of one shape, compiled; call it with the ensemble's ``nnx.State`` and seed."""

    executable: Any
    plan: LanePlan  # the lanes behind the pairwise statistics
    x: np.ndarray  # the forward pass's input batch (B, F)
    forward_shape: tuple[int, ...]  # (N, B, F_out)
    compile_s: float
    first_kernel: int | None  # the position of the first kernel among the leaves: the lane table's

    def __call__(self, state: Any, seed: int = 0) -> dict[str, Any]:
        """Every statistic as host arrays: ``diversity`` (for :func:`diversity_report`),
        ``forward`` (spread, finite) and, with a kernel, ``lane_mean``, ``lane_std``, ``sample``."""
        stats = jax.device_get(self.executable(state, self.plan.lanes, self.x, np.uint32(seed)))
        if self.first_kernel is not None:
            leaves = stats["diversity"]["leaves"]
            stats["lane_mean"], stats["lane_std"] = leaves["mean"][self.first_kernel], leaves["std"][self.first_kernel]
        return stats


@functools.lru_cache(maxsize=128)
def compiled_measure(
    graphdef: Any,
    spec: StateSpec,
    features: int,
    batch: int,
    budget: int,
    max_lanes: int = DEFAULT_MAX_LANES,
    model: str | Factory | None = None,
    param_dtype: str = "float32",
) -> CompiledMeasure:
    """Trace and compile the measurements for one shape; cached, so each shape pays once.

    With ``model``, the lanes are held to one model of it built with an independent key.
    """
    start = time.perf_counter()
    treedef, specs = spec
    avals = [jax.ShapeDtypeStruct(shape, dtype, weak_type=weak, sharding=where) for shape, dtype, weak, where in specs]
    abstract = jax.tree.unflatten(treedef, avals)
    leaves = flat_params(nnx.merge(graphdef, abstract))
    plan = plan_for(leaves, budget, max_lanes)
    first = next(iter(kernels(leaves)), None)
    mesh = mesh_of(next(iter(leaves.values())))
    forward_shape = []

    def measure(state, lanes, x, seed):
        ensemble = nnx.merge(graphdef, state)
        leaves = flat_params(ensemble)
        reference = None if model is None else reference_params(reference_key(seed), features, model, param_dtype)
        diversity = lane_stats(leaves, reference, lanes, mesh)
        out = {"diversity": diversity}
        if first is not None:
            flat = jnp.reshape(leaves[first], (-1,))
            out["sample"] = flat[:: max(1, flat.size // HISTOGRAM_VALUES)]
        outputs = apply_lanes(ensemble, x.astype(next(iter(leaves.values())).dtype))  # the parameters' dtype
        forward_shape.extend(outputs.shape)  # known while tracing
        out["forward"] = forward_summary(outputs)
        return out

    x = forward_input(features, batch)
    executable = jax.jit(measure).lower(abstract, plan.lanes, x, np.uint32(0)).compile(compiler_options())
    at = None if first is None else list(leaves).index(first)
    return CompiledMeasure(executable, plan, x, tuple(forward_shape), time.perf_counter() - start, at)


def lane_rows(stats: Mapping[str, Any], nearest: np.ndarray | None) -> list[dict[str, Any]]:
    """One W&B table row per lane: its kernel's mean and std, and its nearest lane's L2 distance."""
    if "lane_mean" not in stats:
        return []
    means, stds = (np.asarray(stats[k], np.float64).tolist() for k in ("lane_mean", "lane_std"))
    near = [None] * len(means) if nearest is None else np.asarray(nearest, np.float64).tolist()
    return [
        {"lane": lane, "kernel_mean": mean, "kernel_std": std, "nearest_l2": d}
        for lane, (mean, std, d) in enumerate(zip(means, stds, near, strict=True))
    ]
