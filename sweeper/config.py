"""The config contract: dataclass schemas carry the types, ``conf/`` carries the values.

:func:`job_settings` is the one door from a composed config to the typed, validated
values the job runs on; everything behind it sees plain Python, never a DictConfig.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any

from sweeper.ensemble import CONSTRUCTORS
from sweeper.models import MODELS

MAX_SEED = 2**32 - 1  # without jax_enable_x64, JAX keeps a seed's low 32 bits: larger ones collide
WANDB_MODES = ("offline", "online", "disabled")


class ConfigError(ValueError):
    """Bad input, reported in one line that names the key and the value."""


@dataclass
class ConstructorConfig:
    name: str = "vmap"  # vmap (the recipe) | loop (baseline) | pitfall_broadcast | pitfall_no_split


@dataclass
class ModelConfig:
    name: str = "linear"  # linear | mlp | custom
    factory: str | None = None  # custom only: "pkg.module:function" taking (features, rngs)


@dataclass
class WandbConfig:
    mode: str = "offline"  # offline (no account needed) | online | disabled
    project: str = "sweeper"
    entity: str | None = None  # W&B user or team; None: the account's default
    group: str | None = None  # None: the sweep's id, so one sweep is one group
    tags: list[str] = field(default_factory=list)
    job_type: str = "ensemble"


@dataclass
class SweeperConfig:
    seed: int = 0  # PRNG seed of the whole ensemble, 0 .. 2**32-1
    num_inits: int = 8  # N: lanes (independent models) in the ensemble
    features: int = 16  # F: model width (Linear(F, F))
    constructor: ConstructorConfig = field(default_factory=ConstructorConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    forward_batch: int = 32  # B: rows of the shared input batch of the forward check
    diversity_budget: int = 2**32  # multiply-adds for exact pairwise statistics; beyond: estimate
    wandb: WandbConfig = field(default_factory=WandbConfig)


@dataclass(frozen=True)
class JobSettings:
    """What one job runs on: validated plain values."""

    seed: int
    num_inits: int
    features: int
    constructor: str
    model: str  # the chosen name: linear | mlp | custom
    model_factory: str | None  # the import path when model == "custom"
    forward_batch: int
    diversity_budget: int

    @property
    def factory(self) -> str:
        """What :func:`sweeper.build_ensemble` takes as ``model``."""
        return self.model_factory if self.model == "custom" else self.model

    def as_record(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


_SCHEMAS = {"constructor": ConstructorConfig, "model": ModelConfig, "wandb": WandbConfig}


def _select(cfg: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        cfg = cfg[part]
    return cfg


def _integer(key: str, value: Any, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        bound = f"an integer in [{low}, {high}]" if high is not None else f"an integer >= {low}"
        raise ConfigError(f"{key}={value!r}: must be {bound}")
    return value


def _choice(key: str, value: Any, choices) -> str:
    if value not in choices:
        raise ConfigError(f"{key}={value!r}: must be one of {', '.join(choices)}")
    return value


def unknown_keys(cfg: Any, schema: type = SweeperConfig, prefix: str = "") -> list[str]:
    """Dotted keys of ``cfg`` that the schema does not define (``+typo=4`` lands here)."""
    known = {f.name: f.type for f in fields(schema)}
    out = []
    for key in cfg:
        if key not in known:
            out.append(prefix + str(key))
        elif is_dataclass(nested := _SCHEMAS.get(key)) and hasattr(cfg[key], "keys"):
            out.extend(unknown_keys(cfg[key], nested, f"{prefix}{key}."))
    return out


def job_settings(cfg: Any) -> JobSettings:
    """Validate a composed config (a DictConfig, or a dict-like with attribute access)."""
    if unknown := unknown_keys(cfg):
        key = unknown[0]
        raise ConfigError(f"{key}={_select(cfg, key)!r}: unknown key (see `sweeper --help` for the config)")
    model = _choice("model.name", cfg.model.name, (*MODELS, "custom"))
    factory = cfg.model.factory
    if model == "custom" and (not isinstance(factory, str) or ":" not in factory):
        raise ConfigError(f"model.factory={factory!r}: model=custom needs an import path 'pkg.module:function'")
    _choice("wandb.mode", cfg.wandb.mode, WANDB_MODES)
    return JobSettings(
        seed=_integer("seed", cfg.seed, 0, MAX_SEED),
        num_inits=_integer("num_inits", cfg.num_inits, 1),
        features=_integer("features", cfg.features, 1),
        constructor=_choice("constructor.name", cfg.constructor.name, CONSTRUCTORS),
        model=model,
        model_factory=factory if model == "custom" else None,
        forward_batch=_integer("forward_batch", cfg.forward_batch, 1),
        diversity_budget=_integer("diversity_budget", cfg.diversity_budget, 1),
    )
