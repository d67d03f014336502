"""Run by tests/test_sharding.py in a subprocess with four forced CPU devices.

``XLA_FLAGS=--xla_force_host_platform_device_count=4 python tests/helpers/four_devices.py OUT``
builds sharded ensembles and measures them, and writes what it saw to ``OUT/``: the
parameters (``<case>.npz``) and ``seen.json``. The test compares them with an unsharded
build in its own, one-device process.
"""

import json
import re
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from sweeper.config import ShardingConfig, SweeperConfig
from sweeper.core.diversity import lane_diversity
from sweeper.core.ensemble import build_ensemble, compiled_builder
from sweeper.core.forward import forward_check
from sweeper.core.lanes import lane_hashes
from sweeper.core.measure import compiled_measure, state_spec
from sweeper.core.pairs import pair_stats
from sweeper.core.sharding import ShardingError, mesh_of, resolve_devices, shard_shape
from sweeper.core.tree import flat_params
from sweeper.job import measure

jax.config.update("jax_numpy_dtype_promotion", "strict")
jax.config.update("jax_numpy_rank_promotion", "raise")

CASES = {  # name: (seed, N, F, model, constructor, devices)
    "linear_8x4_on_4": (1, 8, 4, "linear", "vmap", 4),
    "linear_8x5_on_2": (1, 8, 5, "linear", "vmap", 2),
    "mlp_8x6_on_4": (1, 8, 6, "mlp", "vmap", 4),
    "linear_64x64_on_4": (2, 64, 64, "linear", "vmap", 4),
    "loop_8x4_on_4": (1, 8, 4, "linear", "loop", 4),
    "broadcast_16x4_on_4": (0, 16, 4, "linear", "pitfall_broadcast", 4),
}


def measured(name, seed, n, f, model, constructor, devices, out: Path) -> dict:
    ensemble = build_ensemble(seed, n, f, model=model, constructor=constructor, devices=devices)
    leaves = flat_params(ensemble)
    np.savez(out / f"{name}.npz", **{k: np.asarray(v) for k, v in leaves.items()})
    report = lane_diversity(leaves)
    return {
        "shard_shapes": {k: [list(s.data.shape) for s in v.addressable_shards] for k, v in leaves.items()},
        "shard_devices": {k: sorted(s.device.id for s in v.addressable_shards) for k, v in leaves.items()},
        "shard_shape": {k: list(shard_shape(v)) for k, v in leaves.items()},
        "split": {k: mesh_of(v) is not None for k, v in leaves.items()},
        "hashes": [h.hex() for h in lane_hashes(leaves)],
        "diversity": report.as_metrics(),
        "nearest_l2": None if report.nearest_l2 is None else report.nearest_l2.tolist(),
        "forward": forward_check(ensemble, f) if name == "linear_8x4_on_4" else None,
    }


def error(fn, *args) -> str | None:
    try:
        fn(*args)
    except ShardingError as err:
        return str(err)
    return None


def compile_once() -> dict:
    compiled_builder.cache_clear()
    kernels = [np.asarray(build_ensemble(seed, 8, 4, devices=4).kernel[...]) for seed in range(3)]
    info = compiled_builder.cache_info()
    return {"misses": info.misses, "hits": info.hits, "distinct_seeds": len({k.tobytes() for k in kernels})}


def memory() -> dict:
    """Per-device bytes of the compiled builder and of the diversity kernel, N = 64, F = 64."""
    one = compiled_builder("linear", "vmap", 64, 64, 1).executable.memory_analysis()
    four = compiled_builder("linear", "vmap", 64, 64, 4).executable.memory_analysis()
    ensemble = build_ensemble(0, 64, 64, devices=4)
    leaves = flat_params(ensemble)
    same = jnp.asarray(np.eye(64, dtype=bool))
    blocks = tuple(jnp.reshape(v, (64, -1)) for v in leaves.values())
    means = tuple(jnp.mean(b, axis=1) for b in blocks)
    sizes, identical = tuple(float(b.shape[1]) for b in blocks), (False,) * len(blocks)
    stats = pair_stats.lower(blocks, means, sizes, identical, same, 64, mesh_of(leaves["kernel"])).compile()
    hlo = stats.as_text()
    graphdef, state = nnx.split(ensemble)
    job = compiled_measure(graphdef, state_spec(state), 64, 32, 2**32).executable.memory_analysis()
    return {
        "builder_one": one.temp_size_in_bytes + one.output_size_in_bytes,
        "builder_four": four.temp_size_in_bytes + four.output_size_in_bytes,
        "stats_four": stats.memory_analysis().temp_size_in_bytes + stats.memory_analysis().argument_size_in_bytes,
        "collectives": sorted(set(re.findall(r"\b(all-gather|all-to-all|all-reduce|collective-permute)\(", hlo))),
        "measure_four": job.temp_size_in_bytes + job.argument_size_in_bytes,
    }


def job(seed: int, n: int, f: int) -> dict:
    """A whole job on four devices: its record's metrics, lane rows and kernel sample."""
    settings = SweeperConfig(seed=seed, num_inits=n, features=f, sharding=ShardingConfig(devices=4))
    outcome = measure(settings)
    return {"metrics": outcome.record["metrics"], "lanes": outcome.lanes, "sample": outcome.kernel_sample.tolist()}


def main(out: Path) -> None:
    seen = {
        "device_count": jax.device_count(),
        "threefry_partitionable": bool(jax.config.jax_threefry_partitionable),
        "compile_once": compile_once(),  # first: the cache starts empty
        "cases": {name: measured(name, *case, out) for name, case in CASES.items()},
        "memory": memory(),
        "job": job(2, 64, 16),
        "resolved": {str(n): resolve_devices(None, n) for n in (1, 6, 7, 8)},
        "errors": {
            "not_divisible": error(resolve_devices, 4, 10),
            "too_many": error(resolve_devices, 5, 10),
            "builder": error(compiled_builder, "linear", "vmap", 6, 4, 4),
            "loop": error(lambda: build_ensemble(0, 6, 4, constructor="loop", devices=4)),
        },
    }
    (out / "seen.json").write_text(json.dumps(seen))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
