"""The config model: one schema carries every key's type, default and meaning.

``conf/config.yaml`` holds the defaults list only, ``conf/hydra/default.yaml`` Hydra's own
settings, ``conf/sweep/`` the preset grids; the ``constructor`` and ``model`` groups are made
here from :mod:`sweeper.core.catalog`. :func:`job_settings` is the one door from a composed
config to the typed, validated :class:`SweeperConfig` a job runs on; behind it no code sees
a DictConfig. This module imports no JAX, so ``sweeper --help`` and every refusal are fast.

To add a key: a field below with its default and a comment; a rule in :data:`RULES` unless
every value of its type is valid; ``metadata=SWEEP_LEVEL`` if it says how the sweep runs
rather than what a job computes (then a job's record does not carry it; list it in the
``exclude_keys`` of ``conf/hydra/default.yaml`` too, so no job's name does: a test holds the two equal).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator, Sequence
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from typing import Any

from sweeper.core.catalog import CONSTRUCTORS, CUSTOM_MODEL, MODELS, PARAM_DTYPES

MAX_SEED = 2**32 - 1  # without jax_enable_x64, JAX keeps a seed's low 32 bits: larger ones collide
WANDB_MODES = ("offline", "online", "disabled")
SWEEP_LEVEL = {"sweep_level": True}  # a field's metadata: it says how the sweep runs, not what a job computes


class ConfigError(ValueError):
    """Bad input, reported in one line that names the key and the value."""


@dataclass
class ConstructorConfig:
    name: str = "vmap"  # how N lanes are built: a name of sweeper.core.catalog.CONSTRUCTORS


@dataclass
class ModelConfig:
    name: str = "linear"  # linear | mlp | custom (sweeper.core.catalog.MODELS, or your own)
    factory: str | None = None  # custom only: "pkg.module:function" taking (features, rngs)

    @property
    def spec(self) -> str:
        """What :func:`sweeper.build_ensemble` takes as ``model``: the name, or the custom import path."""
        return self.factory if self.name == CUSTOM_MODEL else self.name


@dataclass
class ShardingConfig:
    devices: int | None = None  # split the N lanes over k devices (N % k == 0); 1: none; None: all that divide N


@dataclass
class WandbConfig:
    mode: str = "offline"  # offline (no account needed) | online | disabled
    project: str = "sweeper"  # W&B project
    entity: str | None = None  # W&B user or team; None: the account's default
    group: str | None = None  # None: the sweep's id, so one sweep is one group
    tags: list[str] = field(default_factory=list)  # tags on every run
    job_type: str = "ensemble"  # job type of the job runs (the sweep's own run is sweep-summary)


@dataclass
class SweeperConfig:
    """Every config key of ``sweeper``: ``sweeper --help`` prints these defaults."""

    seed: int = 0  # PRNG seed of the whole ensemble, 0 .. 2**32-1
    num_inits: int = 8  # N: lanes (independent models) in the ensemble
    features: int = 16  # F: model width (Linear(F, F))
    param_dtype: str = "float32"  # dtype of the parameters, passed to the model: float32 | bfloat16 | float16
    constructor: ConstructorConfig = field(default_factory=ConstructorConfig)  # group: constructor=<name>
    model: ModelConfig = field(default_factory=ModelConfig)  # group: model=<name>
    forward_batch: int = 32  # B: rows of the shared input batch of the forward check
    diversity_budget: int = 2**37  # multiply-adds for exact pairwise statistics (N=1024 at F=256); beyond: a subset
    memory_budget_gb: float | None = None  # refuse jobs estimated above it; None: half of free memory
    stop_on_failure: bool = field(default=False, metadata=SWEEP_LEVEL)  # end the sweep at the first failed job
    resume: bool = field(default=False, metadata=SWEEP_LEVEL)  # rerun into hydra.sweep.dir: skip the jobs already ok
    dry_run: bool = field(default=False, metadata=SWEEP_LEVEL)  # list the sweep's jobs and exit: nothing runs
    max_jobs: int = field(default=100_000, metadata=SWEEP_LEVEL)  # refuse a bigger grid before any job
    sharding: ShardingConfig = field(default_factory=ShardingConfig)  # lanes over devices
    wandb: WandbConfig = field(default_factory=WandbConfig, metadata=SWEEP_LEVEL)  # where the runs are logged


def register_configs() -> None:
    """Put the schema and the ``constructor`` and ``model`` groups in Hydra's ConfigStore."""
    from hydra.core.config_store import ConfigStore

    store = ConfigStore.instance()
    store.store(name="sweeper_schema", node=SweeperConfig, provider="sweeper")
    for name in CONSTRUCTORS:
        store.store(group="constructor", name=name, node=ConstructorConfig(name), provider="sweeper")
    for name in (*MODELS, CUSTOM_MODEL):
        store.store(group="model", name=name, node=ModelConfig(name), provider="sweeper")


def _nested(f) -> type | None:
    factory = f.default_factory if f.default_factory is not MISSING else None
    return factory if factory is not None and is_dataclass(factory) else None


def schema_keys(schema: type = SweeperConfig, prefix: str = "") -> set[str]:
    """Every dotted key the schema defines: ``seed``, ``wandb.mode``, ..."""
    keys = set()
    for f in fields(schema):
        nested = _nested(f)
        keys |= schema_keys(nested, f"{prefix}{f.name}.") if nested else {prefix + f.name}
    return keys


def sweep_level_keys(schema: type = SweeperConfig, prefix: str = "", inherited: bool = False) -> set[str]:
    """The keys that say how the sweep runs: no job's name, directory or record carries them."""
    keys = set()
    for f in fields(schema):
        level = inherited or bool(f.metadata.get("sweep_level"))
        nested = _nested(f)
        if nested:
            keys |= sweep_level_keys(nested, f"{prefix}{f.name}.", level)
        elif level:
            keys.add(prefix + f.name)
    return keys


def _recorded(schema: type = SweeperConfig) -> dict[str, str]:
    """A record's ``config`` key for every key of what a job computes: ``model.factory`` -> ``model_factory``."""
    names = {}
    for f in fields(schema):
        if f.metadata.get("sweep_level"):
            continue
        nested = _nested(f)
        for inner in fields(nested) if nested else ():
            names[f.name if inner.name == "name" else f"{f.name}_{inner.name}"] = f"{f.name}.{inner.name}"
        if not nested:
            names[f.name] = f.name
    return names


RECORDED = _recorded()  # the keys of a record's "config", in order, and the config key each comes from


def record_config(settings: SweeperConfig) -> dict[str, Any]:
    """A job's settings as its record's ``config``: flat, JSON-ready, in schema order."""
    return {name: functools.reduce(getattr, key.split("."), settings) for name, key in RECORDED.items()}


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


# W&B's own rules for the two W&B settings it checks itself at run start (``wandb.Settings``'s
# validators), checked here before any job; tests/test_config.py holds them to W&B's.
WANDB_PROJECT_MAX, WANDB_PROJECT_FORBIDDEN, WANDB_TAG_MAX = 128, "/\\#?%:", 64


def _wandb_project(key: str, value: Any) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= WANDB_PROJECT_MAX:
        raise ConfigError(f"{key}={value!r}: must be a W&B project name of 1 to {WANDB_PROJECT_MAX} characters")
    if found := "".join(c for c in WANDB_PROJECT_FORBIDDEN if c in value):
        raise ConfigError(f"{key}={value!r}: W&B refuses the characters {found!r} in a project name")
    return value


def _wandb_tags(key: str, value: Any) -> list[str]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ConfigError(f"{key}={value!r}: must be a list of tags, as in {key}=[a,b]")
    for tag in value:
        if not 0 < len(str(tag)) <= WANDB_TAG_MAX:
            raise ConfigError(f"{key}={value!r}: W&B takes tags of 1 to {WANDB_TAG_MAX} characters, not {tag!r}")
    return list(value)


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
    "model.name": _choice(*MODELS, CUSTOM_MODEL),
    "param_dtype": _choice(*PARAM_DTYPES),
    "wandb.mode": _choice(*WANDB_MODES),
    "wandb.project": _wandb_project,
    "wandb.tags": _wandb_tags,
}
GROUPS = {"constructor": RULES["constructor.name"], "model": RULES["model.name"]}  # group=option
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


def _flatten(cfg: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key in cfg:
        value = cfg[key]
        if hasattr(value, "keys"):
            yield from _flatten(value, f"{prefix}{key}.")
        elif isinstance(value, Sequence) and not isinstance(value, str):
            yield prefix + str(key), list(value)
        else:
            yield prefix + str(key), value


def _build(schema: type, values: dict[str, Any], prefix: str = "") -> Any:
    kwargs = {}
    for f in fields(schema):
        key = prefix + f.name
        nested = _nested(f)
        if nested:
            kwargs[f.name] = _build(nested, values, key + ".")
        elif key in values:
            kwargs[f.name] = values[key]
    return schema(**kwargs)


def job_settings(cfg: Any) -> SweeperConfig:
    """Validate a composed config (a DictConfig, or nested dicts) into a :class:`SweeperConfig`."""
    values = {key: check(key, value) for key, value in _flatten(cfg)}
    model, factory = values.get("model.name", ModelConfig.name), values.get("model.factory")
    if model == CUSTOM_MODEL and (not isinstance(factory, str) or ":" not in factory):
        raise ConfigError(f"model.factory={factory!r}: model=custom needs an import path 'pkg.module:function'")
    if model != CUSTOM_MODEL:
        values["model.factory"] = None  # a built-in model takes no factory
    return _build(SweeperConfig, values)
