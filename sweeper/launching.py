"""A faster basic launcher: each job's config composed once per config *structure*.

Hydra's basic sweeper composes every job's config to validate it, and its basic launcher
composes it again to run it: each composition rebuilds the defaults tree and reloads
every YAML file (~80 ms here), for jobs that differ only in a few values. Here a job's
config is composed by Hydra once per *structure* (its group choices and ``hydra.*``
overrides); the other jobs of that structure copy it and apply their value overrides
with the same ``OmegaConf.update`` call Hydra uses. The result equals Hydra's own
composition (``tests/test_launching.py`` compares them key by key), and every job still
gets its output directory, ``.hydra`` record, logging and callbacks from Hydra's
``run_job``, exactly as under the basic launcher.

Hydra loads plugins only from the ``hydra_plugins`` package: the sweeper and launcher
that use this live in ``hydra_plugins/sweeper_plugins``.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from hydra._internal.config_loader_impl import get_overrides_dirname
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from omegaconf import DictConfig, OmegaConf, open_dict


def _is_plain_value(override: Override, master: DictConfig) -> bool:
    """``key=value`` on a key the config already has, outside ``hydra``: no recomposition needed."""
    key = override.key_or_group
    if override.is_delete() or override.is_add() or override.is_force_add() or override.package is not None:
        return False
    if key.split(".")[0] == "hydra" or key in master.hydra.runtime.choices:
        return False  # Hydra's own settings and config group choices change the structure
    return OmegaConf.select(master, key, default="<absent>") != "<absent>"


class Composer:
    """Compose job configs as ``config_loader.load_sweep_config`` does, reusing one composition per structure."""

    def __init__(self, config_loader: Any, master: DictConfig):
        self.config_loader, self.master = config_loader, master
        self.parser = OverridesParser.create(config_loader=config_loader)
        self.templates: dict[tuple, DictConfig] = {}

    def __call__(self, overrides: Sequence[str], *, fresh: bool = True) -> DictConfig:
        """The job's config; ``fresh=False`` (validation only) may return a shared, reused object."""
        parsed = self.parser.parse_overrides(list(overrides))
        plain = [_is_plain_value(o, self.master) for o in parsed]
        values = [o for o, is_value in zip(parsed, plain, strict=True) if is_value]
        pairs = zip(parsed, plain, strict=True)
        structure = tuple(o.key_or_group if is_value else o.input_line for o, is_value in pairs)
        template = self.templates.get(structure)
        if template is None:
            config = self.config_loader.load_sweep_config(self.master, list(overrides))
            self.templates[structure] = config
            return copy.deepcopy(config) if fresh else config
        # every value key of the structure is set below, so a reused template keeps no stale value
        config = copy.deepcopy(template) if fresh else template
        for override in values:  # as Hydra's ConfigLoaderImpl._apply_overrides_to_config
            OmegaConf.update(config, override.key_or_group, override.value(), merge=True)
        task = [o for o in parsed if not o.is_hydra_override()]
        with open_dict(config.hydra):
            config.hydra.overrides.task = [o.input_line for o in task]
            settings = config.hydra.job.config.override_dirname
            config.hydra.job.override_dirname = get_overrides_dirname(
                overrides=task,
                kv_sep=settings.kv_sep,
                item_sep=settings.item_sep,
                exclude_keys=list(settings.exclude_keys),
            )
        return config


class ComposingLoader:
    """The config loader, with ``load_sweep_config`` answered by a shared :class:`Composer`."""

    def __init__(self, loader: Any, composer: Composer):
        self._loader, self._composer = loader, composer

    def load_sweep_config(self, master_config: DictConfig, sweep_overrides: list[str]) -> DictConfig:
        return self._composer(sweep_overrides)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)


_composers: dict[int, Composer] = {}


def composer_for(config_loader: Any, master: DictConfig) -> Composer:
    key = id(master)  # one sweep: its sweeper and launcher share the compositions
    if key not in _composers:
        _composers.clear()
        _composers[key] = Composer(config_loader, master)
    return _composers[key]
