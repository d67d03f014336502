"""Refuse bad input before any job starts, in one line that names the key and the value.

The command line and the sweep preset are parsed with Hydra's own override parser and
every value of every sweep is checked against :mod:`sweeper.config`'s rules, so a typo in
the 90th value of a grid costs nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException

from sweeper.config import ConfigError, check


def _values(override) -> Iterable:
    if override.is_sweep_override():
        return override.sweep_iterator()
    return [override.value()]


def check_overrides(arguments: list[str]) -> int | None:
    """Validate ``key=value`` overrides, sweeps included.

    Returns how many jobs Hydra's basic sweeper makes of them (a later override of a key
    replaces an earlier one, as a command line replaces its preset's grid), or None for
    a sweep it cannot enumerate (``interval(...)``, another sweeper's to sample).
    """
    parser = OverridesParser.create()
    overrides = []
    for argument in arguments:
        try:
            overrides += parser.parse_overrides([argument])
        except HydraException as err:
            raise ConfigError(f"{argument}: {str(err).strip().splitlines()[0]}") from None
    repository = _config_repository(overrides)
    for override in overrides:
        key = override.key_or_group
        if key in ("hydra.sweep.subdir", "hydra.run.dir"):
            check_subdir(key, override.value())
        if override.is_sweep_override() and not override.is_discrete_sweep():
            continue  # an interval has no values to check: the sampling sweeper draws them
        if not override.is_delete() and repository.group_exists(key):
            options = repository.get_group_options(key)
            for value in _values(override):
                if value not in options:
                    raise ConfigError(f"{key}={value!r}: must be one of {', '.join(options)}")
        if override.is_delete() or key.startswith("hydra") or key == "sweep" or override.package:
            continue  # Hydra's own settings, and group choices: checked above
        for value in _values(override):
            if not (isinstance(value, str) and "${" in value):  # interpolations: checked once resolved
                check(key, value)
    return job_count(overrides)


def job_count(overrides) -> int | None:
    """Jobs in the grid, expanded exactly as Hydra's basic sweeper expands it."""
    # Private: the grid's expansion is the basic sweeper's own (Hydra has no public one), which the
    # composing sweeper inherits. tests/test_hydra_plugin.py fails if it moves.
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

    try:
        return sum(len(batch) for batch in BasicSweeper.split_arguments(overrides, None))
    except HydraException:  # a sweep type the basic sweeper does not enumerate
        return None


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
    return list(args.overrides)
