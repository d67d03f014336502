"""Nothing is written outside the sweep (or run) directory, and no two jobs share one.

Every path Hydra writes for a job is computed here after interpolation, as Hydra will
compute it, before the first write: the job directory (``hydra.sweep.subdir``), its
``.hydra`` files (``hydra.output_subdir``) and every logging file handler's ``filename``.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict, read_write
from omegaconf.errors import OmegaConfBaseException

from sweeper.config import ConfigError

_DEFAULT_SUBDIR = "${hydra.job.num}"
_SAME_FOR_EVERY_JOB = ("${hydra.runtime.output_dir}", "${hydra.job.name}")  # references that vary by directory only


def _raw(config: DictConfig, key: str) -> str:
    """The value as typed (interpolations unresolved): what an error may quote."""
    parent, _, leaf = key.rpartition(".")
    return str(OmegaConf.to_container(OmegaConf.select(config, parent), resolve=False)[leaf])


def _resolved(config: DictConfig, key: str) -> str:
    try:
        return str(OmegaConf.select(config, key, throw_on_missing=True))
    except OmegaConfBaseException as err:
        raise ConfigError(f"{key}={_raw(config, key)}: {type(err).__name__}: cannot be resolved") from None


def _inside(path: Path, root: Path) -> bool:
    return Path(os.path.abspath(path)).is_relative_to(os.path.abspath(root))


def _file_handler_keys(config: DictConfig) -> Iterator[str]:
    for logging_key in ("hydra.job_logging", "hydra.hydra_logging"):
        handlers = OmegaConf.select(config, f"{logging_key}.handlers") or {}
        for name, handler in handlers.items():
            if isinstance(handler, DictConfig) and "filename" in handler:
                yield f"{logging_key}.handlers.{name}.filename"


def check_job_paths(config: DictConfig, root: Path, output_dir: Path) -> None:
    """The ``.hydra`` directory and log files of the job whose config (with ``hydra``) this is stay in ``root``."""
    output_subdir = OmegaConf.select(config, "hydra.output_subdir")
    if output_subdir is not None and not _inside(output_dir / _resolved(config, "hydra.output_subdir"), root):
        raise ConfigError(
            f"hydra.output_subdir={_raw(config, 'hydra.output_subdir')}: must stay inside the job's directory"
        )
    for key in _file_handler_keys(config):
        if not _inside(Path(_resolved(config, key)), root):
            raise ConfigError(f"{key}={_raw(config, key)}: a log file must stay inside {root}")


def set_values(config: DictConfig, values: dict[str, Any]) -> None:
    """Set dotted keys, read-only and struct flags notwithstanding (Hydra 1.4 marks ``hydra.job`` read-only)."""
    for key, value in values.items():
        parent = (OmegaConf.select(config, key.rpartition(".")[0]) if "." in key else None) or config
        with read_write(config), open_dict(config), read_write(parent), open_dict(parent):
            OmegaConf.update(config, key, value, merge=False, force_add=True)


def _with_job(master: DictConfig, num: int, overrides: list[str], values: dict[str, Any]) -> DictConfig:
    config = copy.deepcopy(master)
    dirname = ",".join(o for o in overrides if not o.startswith("hydra"))
    set_values(config, values | {"hydra.job.num": num, "hydra.job.id": str(num), "hydra.job.override_dirname": dirname})
    return config


def check_sweep_paths(master: DictConfig, sweep_dir: Path, jobs: Iterable[tuple[list[str], dict[str, object]]]) -> None:
    """Every job's directory is its own and inside ``sweep_dir``; so are its ``.hydra`` files and log files.

    ``jobs`` gives each job's overrides and the values they set. With Hydra's defaults
    (numbered job directories, ``.hydra``, ``job.log`` in the job's directory) one job
    stands for all.
    """
    raw = OmegaConf.to_container(master.hydra, resolve=False)
    uniform = raw["sweep"]["subdir"] == _DEFAULT_SUBDIR and not any(
        "${" in _strip_uniform(_raw(master, key)) for key in ("hydra.output_subdir", *_file_handler_keys(master))
    )
    seen: dict[Path, int] = {}
    for num, (overrides, values) in enumerate(jobs):
        config = _with_job(master, num, overrides, values)
        subdir = _resolved(config, "hydra.sweep.subdir")
        output_dir = Path(os.path.abspath(sweep_dir / subdir))
        typed = f"hydra.sweep.subdir={raw['sweep']['subdir']}"
        if not _inside(output_dir, sweep_dir) or output_dir == Path(os.path.abspath(sweep_dir)):
            raise ConfigError(f"{typed}: job {num}'s directory must be a directory inside the sweep directory")
        if output_dir in seen:
            raise ConfigError(f"{typed}: jobs {seen[output_dir]} and {num} would share the directory {subdir}")
        seen[output_dir] = num
        set_values(config, {"hydra.runtime.output_dir": str(output_dir)})
        check_job_paths(config, sweep_dir, output_dir)
        if uniform:
            return


def _strip_uniform(text: str) -> str:
    for reference in _SAME_FOR_EVERY_JOB:
        text = text.replace(reference, "")
    return text
