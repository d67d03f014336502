"""Checks of the composed config before any job: every value, interpolations, and a custom model's factory.

An error quotes the value as the user typed it (``seed=${oc.env:SEED}``), never what it
resolves to, which may be a secret. The factory is imported once and tried on abstract
arrays (``nnx.eval_shape``: nothing is allocated), after the cheap checks, since it needs JAX.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Iterator
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException, ValidationError

from sweeper.cli.paths import set_values
from sweeper.config import CUSTOM_MODEL, SCHEMA_KEYS, ConfigError, check

_ENV_NAME = re.compile(r"\$\{oc\.env:([^,}]+)\}")  # without a default: ${oc.env:NAME}


def typed_values(config: DictConfig) -> Iterator[tuple[str, Any]]:
    """``(dotted key, value as typed)`` for every key of the task config (``hydra`` left out)."""
    raw = OmegaConf.to_container(config, resolve=False)
    raw.pop("hydra", None)
    stack = [("", raw)]
    while stack:
        prefix, node = stack.pop()
        for key, value in node.items():
            if isinstance(value, dict):
                stack.append((f"{prefix}{key}.", value))
            else:
                yield f"{prefix}{key}", value


def _resolved(config: DictConfig, key: str, typed: str) -> Any:
    try:
        return OmegaConf.select(config, key, throw_on_missing=True)
    except OmegaConfBaseException as err:  # OmegaConf's message may quote the resolved value: not shown
        unset = [name for name in _ENV_NAME.findall(typed) if name not in os.environ]
        reason = f"the environment variable {unset[0]} is not set" if unset else f"{type(err).__name__}"
        if isinstance(err, ValidationError):
            reason = "its value is not of the type the key takes"
        raise ConfigError(f"{key}={typed}: cannot be resolved ({reason})") from None


def check_values(config: DictConfig, swept: dict[str, list[Any]]) -> None:
    """Every value of the composed config obeys its key's rule, wherever it was set (command line,
    preset, an interpolation); an error quotes the value as typed.

    ``swept``: each key the grid sets per job, with its values (their composed value here
    is not the jobs' own): an interpolation among them is resolved in a copy and checked.
    """
    for key, typed in typed_values(config):
        if key not in swept:
            _check_typed(config, key, typed)
    for key, values in swept.items():
        for typed in values:
            if isinstance(typed, str) and "${" in typed and key in SCHEMA_KEYS:
                job = copy.deepcopy(config)
                set_values(job, {key: typed})
                _check_typed(job, key, typed)
    model = OmegaConf.select(config, "model.name")
    factory = OmegaConf.select(config, "model.factory")
    if model != CUSTOM_MODEL and factory is not None and not {"model", "model.name"} & swept.keys():
        raise ConfigError(f"model.factory={_typed(config, 'model.factory')}: is used with model=custom only")


def _check_typed(config: DictConfig, key: str, typed: Any) -> None:
    interpolated = isinstance(typed, str) and "${" in typed
    value = _resolved(config, key, typed) if interpolated else typed
    try:
        check(key, value)
    except ConfigError as err:
        if not interpolated:
            raise
        reason = str(err).split(": ", 1)[1]  # "key=<resolved>: reason" -> "reason"
        raise ConfigError(f"{key}={typed}: {reason}") from None


def _typed(config: DictConfig, key: str) -> str:
    return dict(typed_values(config))[key]


def check_factory(config: DictConfig) -> None:
    """The custom model's factory imports, is callable, and returns an ``nnx.Module`` with parameters."""
    from flax import nnx

    from sweeper.core.models import resolve_model

    typed, path = _typed(config, "model.factory"), OmegaConf.select(config, "model.factory")
    shown = f"model.factory={typed}"
    if not isinstance(path, str) or ":" not in path:
        raise ConfigError(f"{shown}: model=custom needs an import path 'pkg.module:function'")
    try:
        factory = resolve_model(path)
    except ValueError as err:
        detail = f" ({str(err).split(': ', 1)[1]})" if typed == path else ""  # an interpolation's error may quote it
        raise ConfigError(f"{shown}: cannot be imported or is not callable{detail}") from None
    features = OmegaConf.select(config, "features")
    try:
        model = nnx.eval_shape(lambda: factory(features, nnx.Rngs(0)))
    except Exception as err:
        raise ConfigError(f"{shown}: calling it with (features={features}, rngs) raised {type(err).__name__}") from None
    if not isinstance(model, nnx.Module):
        kind = "an array" if hasattr(model, "shape") else f"a {type(model).__name__}"
        raise ConfigError(f"{shown}: returned {kind}, not an nnx.Module")
    if not nnx.state(model, nnx.Param):
        raise ConfigError(f"{shown}: returned an nnx.Module without parameters (nnx.Param)")
