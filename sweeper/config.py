"""The config contract: dataclass schemas carry the types, ``conf/`` carries the values.

:func:`job_settings` is the one door from a composed config to the typed, validated
values the job runs on; everything behind it sees plain Python, never a DictConfig.
"""

from __future__ import annotations

import math
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from typing import Any

from sweeper.core.ensemble import CONSTRUCTORS
from sweeper.core.models import MODELS

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
class ShardingConfig:
    devices: int | None = None  # split the N lanes over k devices (N % k == 0); 1: none; None: all that divide N


@dataclass
class SweeperConfig:
    seed: int = 0  # PRNG seed of the whole ensemble, 0 .. 2**32-1
    num_inits: int = 8  # N: lanes (independent models) in the ensemble
    features: int = 16  # F: model width (Linear(F, F))
    constructor: ConstructorConfig = field(default_factory=ConstructorConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    forward_batch: int = 32  # B: rows of the shared input batch of the forward check
    diversity_budget: int = 2**32  # multiply-adds for exact pairwise statistics; beyond: estimate
    memory_budget_gb: float | None = None  # refuse jobs estimated above it; None: half of free memory
    stop_on_failure: bool = False  # stop the sweep at the first failed job (basic launcher)
    resume: bool = False  # rerun into an existing hydra.sweep.dir: skip the jobs already ok
    dry_run: bool = False  # print the sweep's jobs and exit: nothing runs, nothing is written
    max_jobs: int = 100_000  # refuse a grid of more jobs than this, before any job
    sharding: ShardingConfig = field(default_factory=ShardingConfig)
    wandb: WandbConfig = field(default_factory=WandbConfig)


_SOURCE_KEYS = {
    "constructor": "constructor.name",
    "model": "model.name",
    "model_factory": "model.factory",
    "sharding_devices": "sharding.devices",
}


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
    memory_budget_gb: float | None = None
    sharding_devices: int | None = None  # None: all devices that divide N; resolved in the job

    @property
    def factory(self) -> str:
        """What :func:`sweeper.build_ensemble` takes as ``model``."""
        return self.model_factory if self.model == "custom" else self.model

    def as_record(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @staticmethod
    def source_key(name: str) -> str:
        """The config key a field comes from: ``model_factory`` <- ``model.factory``."""
        return _SOURCE_KEYS.get(name, name)


def _integer(low: int, high: int | None = None):
    def check(key: str, value: Any) -> int:
        too_high = high is not None and isinstance(value, int) and value > high
        if isinstance(value, bool) or not isinstance(value, int) or value < low or too_high:
            bound = f"an integer in [{low}, {high}]" if high is not None else f"an integer >= {low}"
            raise ConfigError(f"{key}={value!r}: must be {bound}")
        return value

    return check


def _below_2_63(check):
    """A count of elements: JAX's int64 shapes end at 2**63 (bigger ones would pass here and crash in the job)."""

    def checked(key: str, value: Any) -> int:
        if isinstance(value, int) and not isinstance(value, bool) and value >= 2**63:
            raise ConfigError(f"{key}={value!r}: must be less than 2**63")
        return check(key, value)

    return checked


def _choice(*choices: str):
    def check(key: str, value: Any) -> str:
        if value not in choices:
            raise ConfigError(f"{key}={value!r}: must be one of {', '.join(choices)}")
        return value

    return check


def _positive_or_null(key: str, value: Any) -> float | None:
    if value is None or (isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < math.inf):
        return value
    raise ConfigError(f"{key}={value!r}: must be a positive number of GB, or null for the default")


def _devices(key: str, value: Any) -> int | None:
    # only the type here: the device count is JAX's to say, inside the job
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
        return value
    raise ConfigError(f"{key}={value!r}: must be an integer >= 1 (devices to split the lanes over), or null for all")


def _boolean(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{key}={value!r}: must be true or false")
    return value


# every value with a rule is checked, on the command line before any job and in each job
RULES = {
    "seed": _integer(0, MAX_SEED),
    "num_inits": _below_2_63(_integer(1)),
    "features": _below_2_63(_integer(1)),
    "forward_batch": _integer(1),
    "diversity_budget": _integer(1),
    "memory_budget_gb": _positive_or_null,
    "stop_on_failure": _boolean,
    "resume": _boolean,
    "dry_run": _boolean,
    "max_jobs": _integer(1),
    "sharding.devices": _devices,
    "constructor.name": _choice(*CONSTRUCTORS),
    "model.name": _choice(*MODELS, "custom"),
    "wandb.mode": _choice(*WANDB_MODES),
}
GROUPS = {"constructor": RULES["constructor.name"], "model": RULES["model.name"]}  # group=option


def schema_keys(schema: type | None = None, prefix: str = "") -> set[str]:
    """Every dotted key the schema defines: ``seed``, ``wandb.mode``, ..."""
    keys = set()
    for f in fields(schema or SweeperConfig):
        nested = f.default_factory if f.default_factory is not MISSING else None
        if nested is not None and is_dataclass(nested):
            keys |= schema_keys(nested, f"{prefix}{f.name}.")
        else:
            keys.add(prefix + f.name)
    return keys


SCHEMA_KEYS = frozenset(schema_keys())


def check(key: str, value: Any) -> Any:
    """Validate one ``key=value``; unknown keys are refused, so a typo costs nothing."""
    if key in RULES:
        return RULES[key](key, value)
    if key in GROUPS:
        return GROUPS[key](key, value)
    if key not in SCHEMA_KEYS:
        raise ConfigError(f"{key}={value!r}: unknown key (`sweeper --help` lists the config)")
    return value


def _flatten(cfg: Any, prefix: str = ""):
    for key in cfg:
        value = cfg[key]
        if hasattr(value, "keys"):
            yield from _flatten(value, f"{prefix}{key}.")
        else:
            yield prefix + str(key), value


def job_settings(cfg: Any) -> JobSettings:
    """Validate a composed config (a DictConfig, or nested dicts) into :class:`JobSettings`."""
    values = {key: check(key, value) for key, value in _flatten(cfg)}
    model, factory = values["model.name"], values["model.factory"]
    if model == "custom" and (not isinstance(factory, str) or ":" not in factory):
        raise ConfigError(f"model.factory={factory!r}: model=custom needs an import path 'pkg.module:function'")
    return JobSettings(
        seed=values["seed"],
        num_inits=values["num_inits"],
        features=values["features"],
        constructor=values["constructor.name"],
        model=model,
        model_factory=factory if model == "custom" else None,
        forward_batch=values["forward_batch"],
        diversity_budget=values["diversity_budget"],
        memory_budget_gb=values["memory_budget_gb"],
        sharding_devices=values["sharding.devices"],
    )
