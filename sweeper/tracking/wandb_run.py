"""The W&B adapter: one run per job, always finished, never shared.

``wandb`` is imported only here and only when a run starts. Offline mode (the default)
needs no account and no network: runs land in ``<dir>/wandb/offline-run-*`` and can be
read with ``wandb leet`` or uploaded later with ``wandb sync``.
"""

from __future__ import annotations

import os
import secrets
import string
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sweeper.interrupts import Interrupted, shielded

USER_DATA_DIR = os.environ.get("WANDB_DATA_DIR")  # else W&B's staging files stay with the runs, not in ~/.local


@dataclass(frozen=True)
class TrackerSettings:
    mode: str  # offline | online | disabled
    project: str
    entity: str | None
    group: str  # the sweep's id unless the user named one
    tags: Sequence[str] = ()
    job_type: str = "ensemble"
    dir: str = "."  # runs go to <dir>/wandb/


def _wandb_settings(wandb):
    # nothing a job does needs the console capture, system stats, git or code snapshots,
    # and each costs start-up time per run
    return wandb.Settings(
        console="off",
        silent=True,
        x_disable_stats=True,
        x_disable_meta=True,
        disable_git=True,
        save_code=False,
        x_save_requirements=False,  # else every run parses every installed package's metadata (~0.1 s)
    )


class Run:
    """A context manager around one W&B run, finished with exit code 1 unless :meth:`succeed` was called."""

    def __init__(
        self,
        settings: TrackerSettings,
        name: str,
        config: dict[str, Any],
        job_type: str | None = None,
        run_id: str | None = None,
    ):
        self.settings, self.name, self.config = settings, name, config
        self.job_type = job_type or settings.job_type
        self.run_id = run_id  # chosen by the job (:func:`new_run_id`), or by W&B
        self.exit_code = 1
        self.run = None

    def __enter__(self) -> Run:
        import wandb

        s = self.settings
        Path(s.dir).mkdir(parents=True, exist_ok=True)
        if not os.access(s.dir, os.W_OK):  # W&B would silently fall back to /tmp
            raise PermissionError(f"the W&B directory {s.dir} is not writable")
        if USER_DATA_DIR is None:  # W&B stages each table's file there; offline, `wandb sync` reads it back later
            os.environ["WANDB_DATA_DIR"] = str(Path(s.dir, "wandb", "data").resolve())
        try:
            with shielded():
                self.run = wandb.init(
                    id=self.run_id,
                    mode=s.mode,
                    project=s.project,
                    entity=s.entity,
                    group=s.group,
                    name=self.name,
                    job_type=self.job_type,
                    tags=list(s.tags),
                    config=self.config,
                    dir=str(Path(s.dir).resolve()),  # absolute: the W&B service may be an inherited one, elsewhere
                    reinit="create_new",  # a fresh run, even if a previous one in this process was left open
                    settings=_wandb_settings(wandb),
                )
        except Interrupted:
            if self.run is not None:  # started, then interrupted: finish it as failed
                self.run.finish(exit_code=1)
            raise
        return self

    def succeed(self) -> None:
        self.exit_code = 0

    def __exit__(self, *exc) -> None:
        self.finish(self.exit_code if exc[0] is None else 1)

    def finish(self, exit_code: int) -> None:
        if self.run is not None:
            with shielded():
                self.run.finish(exit_code=exit_code)

    @property
    def path(self) -> str | None:
        """The run's directory on disk (offline mode), for the user and the tests."""
        return None if self.run is None or self.run.disabled else str(Path(self.run.dir).parent)

    def log_job(self, record: dict[str, Any], lanes: list[dict[str, Any]], kernel_sample) -> None:
        """The job's metrics into the summary, the per-lane table and a kernel histogram; raises what W&B raises."""
        import wandb

        summary = {k: v for k, v in record["metrics"].items()}
        summary.update(status=record["status"], error=record["error"])
        self.run.summary.update(summary)
        if lanes:
            columns = list(lanes[0])
            self.run.log({"lanes": wandb.Table(columns=columns, data=[[row[c] for c in columns] for row in lanes])})
        if kernel_sample is not None:
            self.run.log({"kernel_values": wandb.Histogram(kernel_sample)})

    def log_sweep(self, rows: list[dict[str, Any]], plots: dict[str, str], totals: dict[str, Any]) -> None:
        """The sweep's table, plots and totals, on the sweep's own run."""
        import wandb

        if rows:
            columns = list(rows[0])
            data = [[_cell(row.get(c)) for c in columns] for row in rows]
            self.run.log({"summary": wandb.Table(columns=columns, data=data)})
        self.run.log({name: wandb.Image(path) for name, path in plots.items()})
        self.run.summary.update(totals)


def new_run_id() -> str:
    """A fresh W&B run id, as ``wandb.util.generate_id`` makes them (8 of ``[a-z0-9]``), without importing wandb."""
    return "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(8))


def report_sweep(settings: TrackerSettings, rows: list[dict[str, Any]], sweep_dir: str, totals: dict, ok: bool) -> None:
    """The sweep's plots (PNG files in ``sweep_dir``) and its own W&B run: table, plots, totals."""
    from sweeper.report.plots import write_plots

    plots = write_plots(rows, Path(sweep_dir)) if rows else {}
    with Run(settings, "sweep-summary", {"sweep_dir": sweep_dir}, job_type="sweep-summary") as run:
        run.log_sweep(rows, plots, totals)
        if ok:
            run.succeed()


def _cell(value: Any) -> Any:
    return value if value is None or isinstance(value, (int, float, str, bool)) else str(value)
