"""The grid a sweep runs: its axes as the user typed them, counted without making a job.

Hydra's basic sweeper makes one axis per key (a later override of a key replaces an
earlier one, in the earlier one's place) and runs their product. Here the same axes are
sized arithmetically, so ``seed=range(0,4294967295)`` is counted, and refused, at once.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, Override, RangeSweep
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf

from sweeper.config import ConfigError


def parse(arguments: list[str]) -> list[Override]:
    """Hydra's own parse of ``key=value`` arguments; a syntax error is one line naming the argument."""
    parser = OverridesParser.create()
    overrides = []
    for argument in arguments:
        try:
            overrides += parser.parse_overrides([argument])
        except HydraException as err:
            raise ConfigError(f"{argument}: {str(err).strip().splitlines()[0]}") from None
    return overrides


def axis_size(override: Override) -> int | None:
    """How many values the override sweeps (1 for a plain value); None for an interval, a sampler's to draw."""
    if not override.is_sweep_override():
        return 1
    value = override.value()
    if isinstance(value, ChoiceSweep):
        return len(value.list)
    if isinstance(value, RangeSweep):
        if value.step == 0:
            raise ConfigError(f"{override.input_line}: a range's step must not be 0")
        if all(isinstance(x, int) for x in (value.start, value.stop, value.step)):
            return len(range(value.start, value.stop, value.step))  # arithmetic: nothing is enumerated
        start, stop, step = (Decimal(str(x)) for x in (value.start, value.stop, value.step))
        return max(0, math.ceil((stop - start) / step))
    if override.is_discrete_sweep():  # glob(): its options are counted where the config groups are known
        return None
    return None  # interval(): not enumerable


@dataclass(frozen=True)
class Grid:
    """The axes of a sweep, in Hydra's order, and which preset (if any) they came from."""

    axes: tuple[Override, ...]
    preset: str | None  # the ``sweep=`` preset whose params are part of the grid; None: the command line alone

    @classmethod
    def of(cls, arguments: list[str], preset: str | None = None) -> Grid:
        axes: dict[str, Override] = {}
        for override in parse(arguments):
            axes[override.get_key_element()] = override  # a dict keeps the first position, holds the last value
        return cls(tuple(axes.values()), preset)

    @property
    def jobs(self) -> int | None:
        sizes = [axis_size(axis) for axis in self.axes]
        return None if None in sizes else math.prod(sizes)

    def describe(self) -> str:
        """The swept axes as typed: ``sweep=default: seed=0,1 num_inits=1,8,64 features=16,64``."""
        swept = " ".join(axis.input_line for axis in self.axes if axis.is_sweep_override())
        return f"sweep={self.preset}: {swept}" if self.preset else swept or "one job"

    def swept_values(self) -> dict[str, list[Any]]:
        """Each swept key's values, parsed: a list's every one; a range's (numbers all) are not listed."""
        return {
            axis.key_or_group: list(axis.value().list) if isinstance(axis.value(), ChoiceSweep) else []
            for axis in self.axes
            if axis.is_sweep_override()
        }

    def jobs_values(self) -> Iterator[list[tuple[str, str, Any]]]:
        """Each job's ``(override, key, value)`` triples, in Hydra's order; the count is checked first."""
        lists = []
        for axis in self.axes:
            key = axis.get_key_element()
            if axis.is_sweep_override():
                pairs = zip(axis.sweep_string_iterator(), axis.sweep_iterator(), strict=True)
            else:
                pairs = [(axis.get_value_element_as_str(), axis.value())]
            lists.append([(f"{key}={text}", axis.key_or_group, value) for text, value in pairs])
        return (list(job) for job in itertools.product(*lists))


def typed_overrides(config: DictConfig, which: str = "task") -> list[str]:
    """``hydra.overrides.task`` (or ``.hydra``) as typed: read resolved, ``seed=${oc.env:X}`` would resolve."""
    return OmegaConf.to_container(config.hydra.overrides[which], resolve=False)


NO_PRESET = "sweep=none"


def choose_preset(overrides: list[str]) -> list[str]:
    """The command line's overrides, with ``sweep=none`` added when it sweeps a key and names no preset:
    then it runs exactly the axes it types, not those merged into the default preset's."""
    typed = parse(overrides)
    if any(o.is_sweep_override() for o in typed) and not any(o.key_or_group == "sweep" for o in typed):
        return [*overrides, NO_PRESET]
    return overrides


def typed_grid(config: DictConfig) -> Grid:
    """The grid Hydra's basic sweeper runs: the preset's params, then the command line's overrides
    (a later value of a key replaces the earlier one in its place)."""
    task = typed_overrides(config)
    params = OmegaConf.to_container(config.hydra.sweeper, resolve=False).get("params") or {}
    preset = OmegaConf.select(config, "hydra.runtime.choices.sweep")
    return Grid.of([f"{k}={v}" for k, v in params.items()] + task, preset if params else None)
