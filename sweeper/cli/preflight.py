"""Refuse bad input before any job starts, in one line that names the key and the value as typed.

The command line and the sweep preset are parsed with Hydra's own override parser, and
each axis is checked against :mod:`sweeper.config`'s rules without enumerating it: a
list's every value, a range's two ends (its values lie between them), so a typo in the
90th value of a grid costs nothing and a grid of 2**32 seeds is refused at once.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from hydra.core.override_parser.types import ChoiceSweep, Glob, Override, RangeSweep

from sweeper.cli.grid import Grid, axis_size, parse
from sweeper.cli.hydra_compat import TRUSTED_TARGETS, bad_trusted_target, untrusted
from sweeper.config import GROUPS, SCHEMA_KEYS, ConfigError, check

_POSITIVE_OR_NULL = {"hydra.sweeper.max_batch_size": "jobs per batch", "hydra.launcher.n_jobs": "parallel jobs"}


def _values(override: Override) -> Iterable:
    """The values to check: a list's every one, a range's first and last, a plain value itself."""
    value = override.value()
    if isinstance(value, RangeSweep):
        size = axis_size(override)
        return [] if not size else [value.start, value.start + (size - 1) * value.step]
    if isinstance(value, ChoiceSweep):
        return value.list
    return [value]


def check_overrides(arguments: list[str]) -> int | None:
    """Validate ``key=value`` overrides, sweeps included.

    Returns how many jobs Hydra's basic sweeper makes of them (a later override of a key
    replaces an earlier one, as a command line replaces its preset's grid), or None for
    a sweep it cannot enumerate (``interval(...)``, another sweeper's to sample).
    """
    if pattern := bad_trusted_target():
        raise ConfigError(f"{TRUSTED_TARGETS}: {pattern!r} is not a dotted name, or one ending in .* (mypkg.*)")
    overrides = parse(arguments)
    repository = _config_repository(overrides)
    glob_sizes = {}
    for override in overrides:
        key, typed = override.key_or_group, override.input_line
        if key in ("hydra.sweep.subdir", "hydra.run.dir"):
            check_subdir(key, override.value())
        if key.startswith("hydra.callbacks.") and key.endswith("._target_") and untrusted(str(override.value())):
            package = str(override.value()).split(".")[0]
            raise ConfigError(
                f"{typed}: Hydra 1.4 instantiates only trusted targets: trust it from the environment, "
                f"as in {TRUSTED_TARGETS}='{package}.*'"
            )
        if override.is_sweep_override() and not override.is_discrete_sweep():
            continue  # an interval has no values to check: the sampling sweeper draws them
        if axis_size(override) == 0:
            raise ConfigError(f"{typed}: sweeps no value, so the grid is empty")
        if not override.is_delete() and repository.group_exists(key):
            options = repository.get_group_options(key)
            if isinstance(override.value(), Glob):
                glob_sizes[key] = len(override.value().filter(options))
                continue
            for value in _values(override):
                if value not in options:
                    raise ConfigError(f"{key}={value!r}: must be one of {', '.join(options)}")
        elif isinstance(override.value(), Glob):
            raise ConfigError(f"{typed}: glob() selects options of a config group, and {key} is not one")
        if key in _POSITIVE_OR_NULL:
            _check_positive_or_null(key, typed, _values(override))
        if key.startswith("hydra") or key == "sweep" or override.package:
            continue  # Hydra's own settings, and group choices: checked above
        if override.is_delete():
            raise ConfigError(f"{typed}: sweeper's settings cannot be deleted (set a value instead)")
        if override.is_add() and key in SCHEMA_KEYS:
            raise ConfigError(f"{typed}: {key} is already in the config: drop the '+'")
        for value in _values(override):
            if not (isinstance(value, str) and "${" in value):
                check(key, value)
            elif key not in SCHEMA_KEYS and key not in GROUPS:  # the value is checked once resolved, quoted as typed
                raise ConfigError(f"{typed}: unknown key (`sweeper --help` lists the config)")
    if any(override.key_or_group == "model.factory" for override in overrides) and not _chooses_custom(overrides):
        raise ConfigError("model.factory is used with model=custom only: add model=custom")
    sizes = [glob_sizes.get(axis.key_or_group) or axis_size(axis) for axis in Grid.of(arguments).axes]
    return None if None in sizes else math.prod(sizes)


def check_counts(config) -> None:
    """``hydra.sweeper.max_batch_size`` and ``hydra.launcher.n_jobs`` as composed: set by a preset too."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    for key in _POSITIVE_OR_NULL:
        parent, _, leaf = key.rpartition(".")
        node = OmegaConf.select(config, parent)
        if node is None or leaf not in node:
            continue
        typed = OmegaConf.to_container(node, resolve=False)[leaf]  # quoted as typed: never a resolved value
        try:
            value = OmegaConf.select(config, key, throw_on_missing=True)
        except OmegaConfBaseException:
            raise ConfigError(f"{key}={typed}: cannot be resolved") from None
        _check_positive_or_null(key, f"{key}={typed}", [value])


def _chooses_custom(overrides: list[Override]) -> bool:
    return any(o.key_or_group in ("model", "model.name") and "custom" in _values(o) for o in overrides)


def _check_positive_or_null(key: str, shown: str, values: Iterable) -> None:
    for value in values:
        bad = value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1)
        if bad and not (key == "hydra.launcher.n_jobs" and value == -1):  # joblib's -1: every core
            raise ConfigError(f"{shown}: must be a positive number of {_POSITIVE_OR_NULL[key]}")


def _config_repository(overrides):
    """Hydra's view of the config groups (``sweep``, ``hydra/launcher``, ...), command-line search path included."""
    # Private: Hydra's public config loader lists a group's options only once @hydra.main has set it up,
    # and never with the command line's hydra.searchpath. tests/test_hydra_plugin.py fails if these move.
    from hydra._internal.config_repository import ConfigRepository
    from hydra._internal.utils import create_config_search_path

    search_path = create_config_search_path("pkg://sweeper.conf")
    for override in overrides:
        if override.key_or_group == "hydra.searchpath":
            for path in override.value() or []:
                search_path.append(provider="command-line", path=path)
    return ConfigRepository(config_search_path=search_path)


def check_subdir(key: str, value) -> None:
    """A job directory must stay inside its sweep directory: no absolute path, no ``..``."""
    text = str(value)
    if key == "hydra.sweep.subdir" and (text.startswith("/") or ".." in text.replace("\\", "/").split("/")):
        raise ConfigError(f"{key}={text!r}: a job's directory must stay inside its sweep directory")


def command_line_overrides(argv: list[str]) -> list[str]:
    """The overrides of a ``sweeper`` command line, as Hydra's argument parser reads them."""
    # Private: @hydra.main's own parser (its flags, e.g. -cn, -cp, --info), which Hydra does not export.
    # tests/test_hydra_plugin.py fails if it moves.
    from hydra._internal.utils import get_args_parser

    args, _ = get_args_parser().parse_known_args(argv)
    modes = [flag for flag in ("run", "multirun", "cfg", "info", "shell_completion") if getattr(args, flag, None)]
    if len(modes) > 1:  # Hydra would raise a ValueError with its traceback
        shown = " and ".join(f"--{flag.replace('_', '-')}" for flag in modes)
        raise ConfigError(f"{shown}: only one of --run, --multirun, --cfg, --info, --shell-completion at a time")
    return list(args.overrides)
