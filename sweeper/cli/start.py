"""What happens before a sweep's first job: the grid typed, its size, its paths, its directory.

Called from the sweep's callback with the composed config, before Hydra's sweeper is made:
changing ``hydra.sweep.dir`` here changes where the sweep runs (``hydra.overrides.hydra``
carries a moved directory into every job's config).
"""

from __future__ import annotations

import copy
import os
import sys
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from sweeper.cli.config_checks import check_factory, check_values, typed_values
from sweeper.cli.grid import Grid, typed_grid, typed_overrides
from sweeper.cli.paths import check_job_paths, check_sweep_paths, set_values
from sweeper.cli.preflight import check_counts, check_overrides
from sweeper.cli.redact import REDACTED, SECRET_KEY, typed_command
from sweeper.cli.sweep_dir import claim
from sweeper.config import CUSTOM_MODEL, ConfigError
from sweeper.records import one_line


class DryRun(Exception):
    """``dry_run=true``: the jobs are listed, and nothing runs."""


def refusing(prepare, config: DictConfig):
    """``prepare(config)``; a refusal ends the command in one line, a dry run ends it after listing the jobs."""
    from sweeper.tracking import process as tracker_process

    try:
        return prepare(config)
    except ConfigError as err:
        tracker_process.stop()  # the W&B process started beside the sweep ends before this one
        sys.exit(f"sweeper: {err} (nothing was run)")
    except DryRun as done:
        print(done, flush=True)
        sys.exit(0)
    except Exception as err:  # Hydra 1.4 would turn it into a warning and run the sweep unchecked
        sys.exit(f"sweeper: before any job: {one_line(err)} (nothing was run)")


def prepare_sweep(config: DictConfig) -> tuple[int | None, str]:
    """Check the grid and its paths, claim the sweep directory; returns the job count and the first line.

    Raises :class:`ConfigError` (nothing was run) or :class:`DryRun` (the jobs were printed).
    """
    grid = typed_grid(config)
    searchpath = [o for o in typed_overrides(config, "hydra") if o.startswith("hydra.searchpath=")]  # groups' options
    jobs = check_overrides(searchpath + [axis.input_line for axis in grid.axes])
    described = f"{'?' if jobs is None else jobs} jobs ({grid.describe()})"
    if jobs is not None and jobs > config.max_jobs:
        raise ConfigError(f"{described}: more than max_jobs={config.max_jobs} (sweep fewer values, or raise max_jobs)")
    if config.dry_run:
        ignored = set(config.hydra.job.config.override_dirname.exclude_keys)
        for num, job in enumerate(grid.jobs_values()):
            print(f"#{num} {' '.join(text for text, key, _ in job if key not in ignored)}")
        raise DryRun(f"sweeper: dry run, {described}: nothing was run")
    check_values(config, grid.swept_values())
    check_counts(config)
    if _runs_custom_model(config, grid):
        check_factory(config)
    sweep_dir = Path(str(config.hydra.sweep.dir))
    check_sweep_paths(config, sweep_dir, _jobs(config, grid))
    named = any(o.startswith("hydra.sweep.dir=") for o in typed_overrides(config, "hydra"))
    record = {"command": typed_command(), "grid": grid_record(config, grid, jobs)}
    claimed = claim(sweep_dir, record, named=named, resume=bool(config.resume), unclaimed_grid=_multirun_grid)
    if claimed != sweep_dir:  # another sweep holds the default directory: this one moves next to it
        quoted = str(claimed).replace("\\", "\\\\").replace("'", "\\'")
        overrides = [*typed_overrides(config, "hydra"), f"hydra.sweep.dir='{quoted}'"]
        set_values(config, {"hydra.sweep.dir": str(claimed), "hydra.overrides.hydra": overrides})
    return jobs, f"sweeper: {described} -> {claimed}"


def prepare_run(config: DictConfig) -> None:
    """A single run: its ``.hydra`` files and log files stay in its run directory; ``dry_run`` lists its job."""
    if config.dry_run:
        print(f"#0 {' '.join(typed_overrides(config))}".rstrip())
        raise DryRun("sweeper: dry run, 1 job: nothing was run")
    check_values(config, {})
    if _runs_custom_model(config, None):
        check_factory(config)
    run_dir = Path(os.path.abspath(str(config.hydra.run.dir)))
    job = copy.deepcopy(config)
    set_values(job, {"hydra.runtime.output_dir": str(run_dir)})
    check_job_paths(job, run_dir, run_dir)


def _runs_custom_model(config: DictConfig, grid: Grid | None) -> bool:
    models = [OmegaConf.select(config, "model.name")]
    for axis in grid.axes if grid else ():
        if axis.key_or_group in ("model", "model.name"):
            models = list(axis.sweep_string_iterator()) if axis.is_sweep_override() else [axis.value()]
    return CUSTOM_MODEL in models


def _jobs(config: DictConfig, grid: Grid):
    """Each job's overrides and the plain values they set (config groups and Hydra's settings left out)."""
    groups = set(OmegaConf.select(config, "hydra.runtime.choices") or {})
    for job in grid.jobs_values():
        values = {key: value for _, key, value in job if key not in groups and not key.startswith("hydra")}
        yield [text for text, _, _ in job], values


def _multirun_grid(directory: Path) -> dict[str, Any] | None:
    """The grid that ran in ``directory`` before sweeps claimed theirs, from the config Hydra saved there."""
    try:
        config = OmegaConf.load(directory / "multirun.yaml")
    except FileNotFoundError:
        return None
    grid = typed_grid(config)
    return grid_record(config, grid, grid.jobs)


def grid_record(config: DictConfig, grid: Grid, jobs: int | None) -> dict[str, Any]:
    """Which grid ran: its axes as typed, its preset, its job count, and every key's values in it."""
    ignored = set(config.hydra.job.config.override_dirname.exclude_keys)
    space = {k: [str(v)] for k, v in typed_values(config) if k not in ignored}
    for axis in grid.axes:
        key = axis.key_or_group
        if key not in ignored and not key.startswith("hydra"):
            swept = axis.is_sweep_override()
            space[key] = list(axis.sweep_string_iterator()) if swept else [axis.get_value_element_as_str()]
    space = {k: [REDACTED] if SECRET_KEY.search(k) else v for k, v in space.items()}
    return {"axes": grid.describe(), "preset": grid.preset, "jobs": jobs, "space": space}
