"""A sweep directory belongs to one sweep: its claim, and resume matched by settings.

A sweep claims its directory before any job by creating ``sweep.json`` exclusively
(``O_EXCL``: of two sweeps started in the same second exactly one wins). The claim holds
the sweep's id, command and grid: every key of the config with the values the grid gives
it. Another sweep that would land in a claimed or non-empty directory moves to a fresh
one (``<dir>_1``, ...) when the directory is Hydra's default, and is refused when the user
named it. ``resume=true`` refuses a directory whose grid differs (for a sweep from before
claims, the grid its ``multirun.yaml`` ran) and matches the earlier jobs by their settings,
from an index of their records taken before any job runs.
"""

from __future__ import annotations

import errno
import itertools
import json
import os
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from sweeper.config import ConfigError
from sweeper.records import read_record, write_atomic

CLAIM = "sweep.json"
EARLIER = ".earlier-records.json"  # resume: the ok records found when the sweep started, by settings


def claim(
    sweep_dir: Path,
    record: dict[str, Any],
    *,
    named: bool,
    resume: bool,
    unclaimed_grid: Callable[[Path], dict[str, Any] | None] = lambda directory: None,
) -> Path:
    """Take ``sweep_dir`` (or, when not ``named``, the first free ``<dir>_N``) for this sweep; returns it.

    ``unclaimed_grid``: the grid of a directory a sweep ran in before sweeps claimed theirs, if known.
    """
    fresh = (sweep_dir.with_name(f"{sweep_dir.name}_{n}") for n in itertools.count(1))
    candidates = itertools.chain([sweep_dir], fresh)
    for directory in candidates:
        _make(directory)
        record = record | {"id": "_".join(directory.parts[-2:])}  # as the W&B group is named
        if resume and named and any(directory.iterdir()):
            _check_resumable(directory, record, unclaimed_grid)
            _index_earlier_records(directory)
            write_atomic(directory / CLAIM, json.dumps(record, indent=2) + "\n")
            return directory
        if not any(directory.iterdir()):
            try:
                fd = os.open(directory / CLAIM, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            except FileExistsError:  # another sweep took it a moment ago
                pass
            else:
                with os.fdopen(fd, "w") as f:
                    f.write(json.dumps(record, indent=2) + "\n")
                return directory
        if named:
            raise ConfigError(
                f"hydra.sweep.dir={sweep_dir}: holds another sweep's files (choose an empty directory, "
                "or add resume=true to finish that sweep)"
            )
    raise AssertionError("unreachable")


def _make(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / f".sweeper-write-test.{os.getpid()}"
        probe.touch()
        probe.unlink()
    except FileExistsError:
        raise ConfigError(f"hydra.sweep.dir={directory}: is a file, not a directory") from None
    except NotADirectoryError:
        raise ConfigError(f"hydra.sweep.dir={directory}: a part of the path is a file") from None
    except OSError as err:
        if err.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise
        raise ConfigError(f"hydra.sweep.dir={directory}: is not writable") from None


def _check_resumable(directory: Path, record: dict[str, Any], unclaimed_grid) -> None:
    try:
        grid = json.loads((directory / CLAIM).read_text())["grid"]
    except (FileNotFoundError, json.JSONDecodeError):
        grid = unclaimed_grid(directory)
    if grid is None:
        raise ConfigError(f"resume=true: {directory} has no {CLAIM} nor multirun.yaml, so its grid is unknown")
    if difference := grid_difference(grid["space"], record["grid"]["space"]):
        raise ConfigError(f"resume=true: {difference} from the sweep in {directory}")


def grid_difference(there: dict[str, list[str]], here: dict[str, list[str]]) -> str | None:
    """The first key whose values differ between two grids, in words; None when they are the same grid."""
    for key in sorted(there.keys() | here.keys()):
        a, b = there.get(key), here.get(key)
        if a is None or b is None or sorted(a) != sorted(b):
            shown = ["(not set)" if v is None else ",".join(v) for v in (a, b)]
            return f"{key} differs ({shown[0]} there, {shown[1]} here)"
    return None


def _settings_key(config: dict[str, Any]) -> str:
    return json.dumps(config, sort_keys=True)


def _index_earlier_records(directory: Path) -> None:
    """Every ok record of the directory by its settings, kept across resumes (newer records win)."""
    index = _read_index(directory / EARLIER)
    for job_dir in directory.iterdir():
        if job_dir.is_dir() and job_dir.name.isdigit():
            record = read_record(job_dir)
            if record and record["status"] == "ok" and record.get("wandb_finished", True):  # False: killed mid-W&B
                index[_settings_key(record["config"])] = record
    write_atomic(directory / EARLIER, json.dumps(index) + "\n")


def _read_index(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return {}


@cache
def _index(path: Path) -> dict[str, Any]:
    return _read_index(path)  # written once before the first job, read once per process


def earlier_record(sweep_dir: Path, settings: dict[str, Any]) -> dict[str, Any] | None:
    """With ``resume=true``: this job's ok record from before, whichever job directory held it."""
    record = _index(Path(sweep_dir).resolve() / EARLIER).get(_settings_key(settings))
    return None if record is None else dict(record)
