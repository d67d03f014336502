"""sweeper: build, check and sweep batched Flax NNX ensembles.

The core (this namespace) is pure JAX/Flax: no Hydra, no OmegaConf, no W&B.
The command line lives in :mod:`sweeper.app`. Names are imported on first use, so
processes that need no JAX (the W&B tracker process, ``sweeper --help``) start fast.
"""

import importlib

_HOMES = {
    "CONSTRUCTORS": "sweeper.ensemble",
    "CompiledBuilder": "sweeper.ensemble",
    "DiversityReport": "sweeper.diversity",
    "MLP": "sweeper.models",
    "MODELS": "sweeper.models",
    "PitfallError": "sweeper.ensemble",
    "ShardingError": "sweeper.sharding",
    "batched_init_count": "sweeper.ensemble",
    "build_ensemble": "sweeper.ensemble",
    "check_shapes": "sweeper.checks",
    "compiled_builder": "sweeper.ensemble",
    "ensemble_forward": "sweeper.forward",
    "expected_shapes": "sweeper.checks",
    "flat_params": "sweeper.tree",
    "forward_check": "sweeper.forward",
    "lane_diversity": "sweeper.diversity",
    "lane_mesh": "sweeper.sharding",
    "loop_build": "sweeper.ensemble",
    "param_bytes": "sweeper.tree",
    "prediction_spread": "sweeper.forward",
    "resolve_devices": "sweeper.sharding",
    "resolve_model": "sweeper.models",
    "shape_metrics": "sweeper.checks",
    "shard_shape": "sweeper.sharding",
    "timed_build": "sweeper.ensemble",
    "vmap_constructor": "sweeper.ensemble",
}
__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module 'sweeper' has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOMES[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOMES))
