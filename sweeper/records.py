"""Job records: their one shape (:func:`job_record`) and, on disk, one ``result.json`` per job
directory, written atomically.

A record is written to a temporary file and renamed into place, so a kill at any moment
leaves either the old file or the new one, never half of one.

Who writes a job's ``result.json``, and when:

1. the job, as soon as its work is measured (``wandb_finished: false``), before anything
   is handed to W&B: the results are on disk whatever W&B does next;
2. the job again, on SIGTERM or SIGINT, as ``interrupted``;
3. the W&B side, once the job's run is finished (:meth:`sweeper.tracking.job_run.JobRun.finish`,
   in the W&B process under the default launcher, else in the job's process): the record
   with ``wandb`` (the run's directory), ``wandb_finished: true`` and, if W&B failed,
   ``status: failed`` and ``wandb_error``;
4. or, if the W&B process died first, the sweep, when it drains the W&B process: the
   record with ``wandb_error`` and ``wandb_finished: false``.

A record left at step 1 or 2 by a killed sweep says its run was not finished, and
``resume=true`` redoes the job.
"""

from __future__ import annotations

import json
import math
import os
import secrets
from pathlib import Path
from typing import Any

RESULT = "result.json"


def job_record(
    config: dict[str, Any],
    metrics: dict[str, Any] | None = None,
    error: str | None = None,
    env: dict[str, Any] | None = None,
    status: str | None = None,
) -> dict[str, Any]:
    """A job's record, as ``result.json`` holds it::

        {"status": "ok" | "failed" | "interrupted", "config": {...}, "metrics": {...},
         "error": None | "one line", "env": {...}}

    ``status`` is ``ok`` when there is no ``error``, ``failed`` otherwise, unless given
    (``interrupted``: the job was stopped by a signal). ``config`` is the job's settings
    (:func:`sweeper.config.record_config`); ``env`` what reproduces them (versions, device).
    """
    return {
        "status": status or ("failed" if error else "ok"),
        "config": config,
        "metrics": {} if metrics is None else metrics,
        "error": error,
        "env": {} if env is None else env,
    }


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the user's umask applies, as to open()
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity: such a number is written as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def write_record(job_dir: Path, record: dict[str, Any]) -> Path:
    path = Path(job_dir) / RESULT
    write_atomic(path, json.dumps(_finite(record), indent=2, allow_nan=False) + "\n")
    return path


def read_record(job_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((Path(job_dir) / RESULT).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def job_dirs(sweep_dir: Path) -> list[Path]:
    """The sweep's job directories (named by job number), in job order."""
    dirs = [p for p in Path(sweep_dir).iterdir() if p.is_dir() and p.name.isdigit()]
    return sorted(dirs, key=lambda p: int(p.name))


def one_line(err: BaseException) -> str:
    """``Type: first line of the message``: a record's ``error``, as short as an error report can be."""
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0][:300]}" if text else type(err).__name__
