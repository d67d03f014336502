"""The W&B adapter: one run per job, always finished, never shared.

``wandb`` is imported only here and only when a run starts. Offline mode (the default)
needs no account and no network: runs land in ``<dir>/wandb/offline-run-*`` and can be
read with ``wandb leet`` or uploaded later with ``wandb sync``.
"""

from __future__ import annotations

import hashlib
import os
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


def silence_wandb() -> None:
    """W&B's own console lines (logins, artifact notes) stay out of the sweep's output.

    Before W&B starts (``wandb.setup``): its service reads this when it starts. A user's
    ``WANDB_SILENT=false`` wins.
    """
    os.environ.setdefault("WANDB_SILENT", "true")


def run_id(root: str, job: int | str) -> str:
    """The W&B run id of job ``job`` of the sweep in ``root``: the same for every attempt.

    A rerun (``resume=true``) therefore continues the interrupted job's run, and every
    attempt at a sweep's end updates its one summary run, instead of adding runs.
    """
    return hashlib.sha256(f"{Path(root).resolve()}\0{job}".encode()).hexdigest()[:16]


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
        run_id: str | None = None,  # given: an earlier run with this id is continued (resume="allow")
    ):
        self.settings, self.name, self.config, self.run_id = settings, name, config, run_id
        self.job_type = job_type or settings.job_type
        self.exit_code = 1
        self.run = None

    def __enter__(self) -> Run:
        silence_wandb()
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
                    mode=s.mode,
                    project=s.project,
                    entity=s.entity,
                    group=s.group,
                    name=self.name,
                    id=self.run_id,
                    resume="allow" if self.run_id else None,
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
    def url(self) -> str | None:
        """The run's page on the W&B server (online mode)."""
        return None if self.run is None or self.run.disabled or self.settings.mode != "online" else self.run.url

    @property
    def path(self) -> str | None:
        """The run's directory on disk (offline mode), for the user and the tests."""
        return None if self.run is None or self.run.disabled else str(Path(self.run.dir).parent)

    def log_job(self, record: dict[str, Any], lanes: list[dict[str, Any]], kernel_sample) -> None:
        """The job's metrics into the summary, the per-lane table and a kernel histogram; raises what W&B raises."""
        import numpy as np
        import wandb

        from sweeper.report.summary import job_scalars

        summary = job_scalars(record)  # lists split into numbers: every summary value can be charted
        summary.update(status=record["status"], error=record["error"])
        self.run.summary.update(summary)
        if lanes:
            columns = list(lanes[0])
            self.run.log({"lanes": wandb.Table(columns=columns, data=[[row[c] for c in columns] for row in lanes])})
        if kernel_sample is not None:
            values = np.asarray(kernel_sample, dtype=np.float64)
            values = values[np.isfinite(values)]  # W&B refuses a histogram of NaN; the job's own error names them
            if values.size:
                self.run.log({"kernel_values": wandb.Histogram(values)})

    def log_sweep(self, rows: list[dict[str, Any]], plots: dict[str, str], totals: dict[str, Any]) -> None:
        """The sweep's tables, native charts, plots and totals, on the sweep's own run."""
        import wandb

        from sweeper.report.charts import charts
        from sweeper.report.groups import group_rows

        for name, table_rows in (("jobs", rows), ("groups", group_rows(rows))):
            if table_rows:
                columns = list(dict.fromkeys(k for row in table_rows for k in row))
                data = [[_cell(row.get(c)) for c in columns] for row in table_rows]
                self.run.log({name: wandb.Table(columns=columns, data=data)})
        for chart in charts(rows):
            table = wandb.Table(columns=chart.columns, data=chart.data)
            plot = (
                wandb.plot.line(table, chart.x, chart.key, stroke="setting", title=chart.title)
                if chart.x
                else wandb.plot.bar(table, "setting", chart.key, title=chart.title)
            )
            self.run.log({f"charts/{chart.key}": plot})
        self.run.log({name: wandb.Image(path) for name, path in plots.items()})
        self.run.summary.update(totals)


def report_sweep(
    settings: TrackerSettings, rows: list[dict[str, Any]], sweep_dir: str, totals: dict, ok: bool, sweep: dict
) -> str | None:
    """The sweep's plots (PNG files in ``sweep_dir``) and its one W&B run: tables, charts, plots, totals.

    ``sweep`` is the run's config: ``sweep_id`` (its name), the grid, the overrides and the command.
    Returns the run's URL in online mode.
    """
    from sweeper.report.plots import write_plots

    plots = write_plots(rows, Path(sweep_dir), title=sweep["sweep_id"]) if rows else {}
    summary_id = run_id(sweep_dir, "summary")
    with Run(settings, sweep["sweep_id"], sweep, job_type="sweep-summary", run_id=summary_id) as run:
        run.log_sweep(rows, plots, totals)
        if ok:
            run.succeed()
    return run.url


def _cell(value: Any) -> Any:
    return value if value is None or isinstance(value, (int, float, str, bool)) else str(value)
