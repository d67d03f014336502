"""sweeper: build, check and sweep batched Flax NNX ensembles.

The library is the pure core (JAX and Flax only: no Hydra, no OmegaConf, no W&B); its public
names are the ones below, documented in README.md ("As a library"). The command line lives
in :mod:`sweeper.cli`. Names are imported on first use, so processes that need no JAX
(``sweeper --help``, the W&B process) start fast; type checkers see them through the
``TYPE_CHECKING`` imports.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

try:
    __version__ = version("sweeper")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"

if TYPE_CHECKING:
    from sweeper.core.catalog import CONSTRUCTORS, MODELS
    from sweeper.core.checks import check_shapes
    from sweeper.core.diversity import DiversityReport, lane_diversity
    from sweeper.core.ensemble import batched_init_count, build_ensemble, compiled_builder, vmap_constructor
    from sweeper.core.forward import ensemble_forward, forward_check
    from sweeper.core.models import resolve_model
    from sweeper.core.tree import flat_params

__all__ = [
    "CONSTRUCTORS",  # constructor names, each with what it is
    "MODELS",  # built-in model names, each with what it is
    "DiversityReport",
    "__version__",
    "batched_init_count",
    "build_ensemble",
    "check_shapes",
    "compiled_builder",
    "ensemble_forward",
    "flat_params",
    "forward_check",
    "lane_diversity",
    "resolve_model",
    "vmap_constructor",
]
_HOMES = {  # where each name lives, for the lazy import
    "sweeper.core.catalog": ("CONSTRUCTORS", "MODELS"),
    "sweeper.core.checks": ("check_shapes",),
    "sweeper.core.diversity": ("DiversityReport", "lane_diversity"),
    "sweeper.core.ensemble": ("batched_init_count", "build_ensemble", "compiled_builder", "vmap_constructor"),
    "sweeper.core.forward": ("ensemble_forward", "forward_check"),
    "sweeper.core.models": ("resolve_model",),
    "sweeper.core.tree": ("flat_params",),
}
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}


def __getattr__(name: str):
    if name not in _HOME_OF:
        raise AttributeError(f"module 'sweeper' has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOME_OF[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOME_OF))
