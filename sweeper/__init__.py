"""sweeper: build, check and sweep batched Flax NNX ensembles.

The core (this namespace) is pure JAX/Flax: no Hydra, no OmegaConf, no W&B.
The command line lives in :mod:`sweeper.app`.
"""

from sweeper.checks import check_shapes, expected_shapes, shape_metrics
from sweeper.diversity import DiversityReport, lane_diversity
from sweeper.ensemble import (
    CONSTRUCTORS,
    CompiledBuilder,
    PitfallError,
    batched_init_count,
    build_ensemble,
    compiled_builder,
    loop_build,
    timed_build,
    vmap_constructor,
)
from sweeper.forward import ensemble_forward, forward_check, prediction_spread
from sweeper.models import MLP, MODELS, resolve_model
from sweeper.sharding import ShardingError, lane_mesh, resolve_devices, shard_shape
from sweeper.tree import flat_params, param_bytes

__all__ = [
    "CONSTRUCTORS",
    "MLP",
    "MODELS",
    "CompiledBuilder",
    "DiversityReport",
    "PitfallError",
    "ShardingError",
    "batched_init_count",
    "build_ensemble",
    "check_shapes",
    "compiled_builder",
    "ensemble_forward",
    "expected_shapes",
    "flat_params",
    "forward_check",
    "lane_diversity",
    "lane_mesh",
    "loop_build",
    "param_bytes",
    "prediction_spread",
    "resolve_devices",
    "resolve_model",
    "shape_metrics",
    "shard_shape",
    "timed_build",
    "vmap_constructor",
]
