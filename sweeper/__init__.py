"""sweeper: build, check and sweep batched Flax NNX ensembles.

The core (this namespace) is pure JAX/Flax: no Hydra, no OmegaConf, no W&B.
The command line lives in :mod:`sweeper.cli.app`. Names are imported on first use, so
processes that need no JAX (the W&B tracker process, ``sweeper --help``) start fast.
"""

import importlib

_HOMES = {
    "CONSTRUCTORS": "sweeper.core.ensemble",
    "CompiledBuilder": "sweeper.core.ensemble",
    "DiversityReport": "sweeper.core.diversity",
    "MLP": "sweeper.core.models",
    "MODELS": "sweeper.core.models",
    "PitfallError": "sweeper.core.ensemble",
    "ShardingError": "sweeper.core.sharding",
    "batched_init_count": "sweeper.core.ensemble",
    "build_ensemble": "sweeper.core.ensemble",
    "check_shapes": "sweeper.core.checks",
    "compiled_builder": "sweeper.core.ensemble",
    "ensemble_forward": "sweeper.core.forward",
    "expected_shapes": "sweeper.core.checks",
    "flat_params": "sweeper.core.tree",
    "forward_check": "sweeper.core.forward",
    "lane_diversity": "sweeper.core.diversity",
    "lane_mesh": "sweeper.core.sharding",
    "loop_build": "sweeper.core.ensemble",
    "param_bytes": "sweeper.core.tree",
    "prediction_spread": "sweeper.core.forward",
    "resolve_devices": "sweeper.core.sharding",
    "resolve_model": "sweeper.core.models",
    "shape_metrics": "sweeper.core.checks",
    "shard_shape": "sweeper.core.sharding",
    "timed_build": "sweeper.core.ensemble",
    "vmap_constructor": "sweeper.core.ensemble",
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
