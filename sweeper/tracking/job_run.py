"""One job's W&B run, whose failures never cost the job its record.

W&B's errors (a refused start, refused metrics, a failed finish) are kept, never raised;
:meth:`JobRun.finish` writes the job's final record with them beside the job's own
(:func:`tracked`). Runs here in the job's process, or in the W&B process
(:mod:`sweeper.tracking.worker`), alike.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from sweeper.records import one_line, write_record
from sweeper.tracking.wandb_run import Run, TrackerSettings


def new_run_id() -> str:
    """A fresh W&B run id, for a run no job named."""
    return secrets.token_hex(8)


def tracked(
    record: dict[str, Any], run_id: str, path: str | None, finished: bool, wandb_error: str | None
) -> dict[str, Any]:
    """The job's record once W&B is done with its run.

    ``wandb_finished`` says the run was finished with the exit code its status calls for
    (resume redoes a job whose run was not); a W&B failure fails the job and goes in
    ``wandb_error``, beside the job's own ``error``, which it fills only when there is none.
    """
    record = record | {
        "wandb": path,
        "wandb_id": run_id,
        "wandb_finished": finished and wandb_error is None,
        "wandb_error": wandb_error,
    }
    if wandb_error is not None:
        record.update(status="failed" if record["status"] == "ok" else record["status"])
        record["error"] = record["error"] or wandb_error
    return record


class JobRun:
    """One job's W&B run: started, logged, finished; W&B's first failure kept for the record."""

    def __init__(self, settings: TrackerSettings, name: str, config: dict[str, Any], run_id: str):
        self.id, self.run = run_id, Run(settings, name, config, run_id=run_id)
        self.error: str | None = None

    @property
    def path(self) -> str | None:
        return self.run.path

    def _attempt(self, step, *args) -> bool:
        try:
            step(*args)
        except Exception as err:
            self.error = self.error or f"W&B: {one_line(err)}"
            return False
        return True

    def start(self) -> None:
        self._attempt(self.run.__enter__)

    def log(self, record: dict[str, Any], lanes: list[dict[str, Any]], kernel_sample) -> None:
        if self.error is None:
            self._attempt(self.run.log_job, record, lanes, kernel_sample)

    def abandon(self) -> None:
        """Finish the run as failed: the sweep is gone, and the record it wrote says the run was not finished."""
        if self.run.run is not None:
            self._attempt(self.run.finish, 1)

    def finish(self, record: dict[str, Any], output_dir: str) -> dict[str, Any]:
        """Finish the run (exit code 0 only for an ok job W&B never failed) and write the job's final record."""
        exit_code = 0 if record["status"] == "ok" and self.error is None else 1
        finished = self.run.run is not None and self._attempt(self.run.finish, exit_code)
        final = tracked(record, self.id, self.run.path, finished, self.error)
        write_record(Path(output_dir), final)
        return final
