"""Sweep-level work, as a Hydra Callback: progress lines, the summary, the exit status.

Hydra skips ``on_multirun_end`` when a job raises, and ``on_job_end`` may run on another
machine; so jobs never raise (a failure is a record) and the summary is rebuilt from the
``result.json`` files in the job directories, never from memory.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from sweeper.cli.redact import job_name, typed_command
from sweeper.interrupts import Interrupted, shielded
from sweeper.records import job_dirs, job_record, one_line, read_record, write_record
from sweeper.report import summary
from sweeper.report.groups import group_rows
from sweeper.report.shared_lanes import find_shared_lanes
from sweeper.report.table import format_table, key_numbers

log = logging.getLogger("sweeper")
_launching_pid: int | None = None  # the process that runs the sweep; launchers may run its jobs in others
_sweep: dict[str, Any] = {}  # the sweep this process runs (its config and start), for an interrupted end


def in_launching_process() -> bool:
    """False in a launcher's worker (joblib, submitit, Ray): sweep-level work is left to the launching process."""
    return _launching_pid == os.getpid()


def sweep_config(config: DictConfig, sweep_dir: Path) -> dict[str, Any]:
    """The sweep's W&B run config: its id, directory, grid, overrides and command line, as typed.

    ``config`` is the whole config, or a job's (an interrupted job ends the sweep): then the
    Hydra settings are the running job's.
    """
    from hydra.core.hydra_config import HydraConfig

    from sweeper.cli.app import sweep_id

    hydra = config.hydra if "hydra" in config else HydraConfig.get()
    typed = lambda node: OmegaConf.to_container(node, resolve=False) if node is not None else {}  # noqa: E731
    overrides = typed(hydra.overrides.task)  # unresolved: ${oc.env:...} stays as typed, never its value
    params = typed(OmegaConf.select(hydra, "sweeper.params"))
    return {
        "sweep_id": sweep_id(str(sweep_dir)),
        "sweep_dir": str(sweep_dir.resolve()),
        "grid": {k: str(v) for k, v in params.items()} | dict(o.split("=", 1) for o in overrides if "=" in o),
        "overrides": overrides,
        "command": shlex.join([Path(sys.argv[0]).name, *typed_command()]),
    }


def how_to_look(mode: str, sweep_dir: Path, url: str | None) -> str:
    """The end of a sweep's output: where to see it."""
    if url:
        return f"W&B: {url}"
    if mode == "offline":
        runs = sweep_dir / "wandb"
        return f"look: wandb leet {runs}   upload: wandb sync {runs}/offline-run-*"
    if mode == "online":  # the sweep's run could not be made: the jobs' records say what W&B said
        return "W&B: the sweep's run is not online (see the errors above)"
    return "W&B: off (wandb.mode=disabled)"


def _seconds(s: float) -> str:
    return f"{s * 1000:.0f} ms" if s < 1 else f"{s:.2f} s"


class SweepCallback(Callback):
    def __init__(self) -> None:
        self.total: int | None = None
        self.started = time.perf_counter()

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from sweeper.cli.start import prepare_sweep, refusing

        global _launching_pid
        _launching_pid = os.getpid()
        self.started = time.perf_counter()
        self.total, first_line = refusing(prepare_sweep, config)  # the grid, its paths, its directory: before any job
        sweep_dir = Path(config.hydra.sweep.dir)  # where the claim put it
        _sweep.update(
            config=config, started=self.started, earlier=set(job_dirs(sweep_dir)) if sweep_dir.is_dir() else set()
        )
        # JAX and Flax load here, once the grid is valid, so the launcher's gc.freeze() takes them in
        import sweeper.job  # noqa: F401

        log.info(first_line)

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        if job_return.status == JobStatus.FAILED and not isinstance(job_return._return_value, Exception):
            return  # a signal or sys.exit ended the job (Hydra 1.4 reports those too): the job said so itself
        record = job_return.return_value if job_return.status == JobStatus.COMPLETED else None
        if record is None:
            verdict = f"crashed: {job_return._return_value!r}"
        else:
            verdict = "ok" if record["status"] == "ok" else f"FAILED: {record['error']}"
            if "time/total_s" in record["metrics"]:
                verdict += f" ({_seconds(record['metrics']['time/total_s'])})"
        if record is not None and record.get("resumed"):
            verdict = "ok (done in an earlier run: skipped)"
        name = job_name(config.hydra)
        num = OmegaConf.select(config, "hydra.job.num")
        position = "" if num is None else f"[{num + 1}/{self.total or '?'}] "
        log.info("%s%s: %s", position, name, verdict)
        if num is not None and config.stop_on_failure and (record is None or record["status"] != "ok"):
            if not in_launching_process():  # jobs run in parallel elsewhere: the others are under way
                log.info("sweeper: stop_on_failure=true stops the default launcher only; here the other jobs go on")
                return
            print("sweeper: stopping at the first failure (stop_on_failure=true)", flush=True)
            finish_sweep(Path(config.hydra.sweep.dir), config, time.perf_counter() - self.started)
            sys.exit(1)

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        from sweeper.cli.start import prepare_run, refusing

        refusing(prepare_run, config)

    def on_run_end(self, config: DictConfig, **kwargs: Any) -> None:
        output_dir = Path(config.hydra.runtime.output_dir)
        record = read_record(output_dir)
        if record is not None and record.get("metrics"):
            print(key_numbers(record), flush=True)
            print(f"record: {output_dir / 'result.json'}", flush=True)
            if run_dir := record.get("wandb"):
                offline = Path(run_dir).name.startswith("offline-run-")
                hint = f"  (look: wandb leet {run_dir}; upload: wandb sync {run_dir})" if offline else ""
                print(f"W&B run: {run_dir}{hint}", flush=True)
        if record is None or record["status"] != "ok":
            reason = "no result.json was written" if record is None else record["error"]
            print(f"sweeper: job failed: {reason}", file=sys.stderr)
            sys.exit(1)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if isinstance(sys.exc_info()[1], SystemExit | KeyboardInterrupt | Interrupted):
            return  # Hydra 1.4 calls this as a stopped sweep unwinds: what stopped it writes the summary
        sweep_dir = Path(config.hydra.sweep.dir)
        ok = finish_sweep(sweep_dir, config, time.perf_counter() - self.started)
        _sweep.clear()
        if not ok:
            sys.exit(1)  # SystemExit: Hydra turns a callback's Exception into a warning, never this


def end_interrupted_sweep(signal: Interrupted) -> None:
    """After SIGTERM or SIGINT: the summary of what ran, if this process was running a sweep.

    Further signals wait until the summary is written, and are then dropped: the command
    exits with the first one's status.
    """
    print(f"sweeper: interrupted by {signal.name}", file=sys.stderr, flush=True)
    if not _sweep:
        return
    config, started, earlier = _sweep.pop("config"), _sweep.pop("started"), _sweep.pop("earlier")
    sweep_dir = Path(config.hydra.sweep.dir)
    with contextlib.suppress(Interrupted), shielded():
        for job_dir in _job_dirs(sweep_dir) - earlier:
            if read_record(job_dir) is None:
                _record_interrupted(job_dir, signal)
        finish_sweep(sweep_dir, config, time.perf_counter() - started)


def _job_dirs(sweep_dir: Path) -> set[Path]:
    return set(job_dirs(sweep_dir)) if sweep_dir.is_dir() else set()


def _record_interrupted(job_dir: Path, signal: Interrupted) -> None:
    """A job this sweep started, stopped before its job function could record itself (in Hydra's part of the job)."""
    from sweeper.cli.app import recorded_config

    try:
        composed = OmegaConf.load(job_dir / ".hydra" / "config.yaml")
    except Exception:  # not written yet, or half
        composed = OmegaConf.create()
    config = recorded_config(composed, None)
    write_record(job_dir, job_record(config, error=f"interrupted by {signal.name}", status="interrupted"))


def finish_sweep(sweep_dir: Path, config: DictConfig, seconds: float | None = None) -> bool:
    """Write summary.csv and the plots, print the table and report, log the sweep's W&B run.

    Returns True when every job ran, every check held and every W&B run was finished;
    never raises an Exception (its failure is printed in one line, and returns False).
    Safe to call more than once: everything is rebuilt from the job directories.
    """
    from sweeper.tracking import process as tracker_process

    try:
        tracker_process.drain()  # every job's run finished or recorded as lost: the records are final
        return _report(sweep_dir, config, seconds)
    except Exception as err:
        print(f"sweeper: the end of the sweep failed: {one_line(err)}", file=sys.stderr, flush=True)
        return False
    finally:
        tracker_process.stop()


def _report(sweep_dir: Path, config: DictConfig, seconds: float | None) -> bool:
    from sweeper.cli.app import tracker_settings
    from sweeper.tracking import process as tracker_process
    from sweeper.tracking.wandb_run import report_sweep

    rows = summary.rows(sweep_dir)
    summary.write_csv(rows, sweep_dir / "summary.csv")
    summary.write_csv(group_rows(rows), sweep_dir / "groups.csv")
    failed = summary.failures(rows)
    shared = find_shared_lanes(sweep_dir)
    totals = {"jobs": len(rows), "jobs_ok": len(rows) - len(failed), "jobs_failed": len(failed), "wall_s": seconds}
    totals["shared_lanes"] = shared.count
    print(format_table(rows), flush=True)
    print(summary.report(rows), flush=True)
    if shared.count:
        print(shared.report(), flush=True)
    settings = tracker_settings(config, sweep_dir)
    ok = not failed and not shared.count
    report = (settings, rows, str(sweep_dir), totals, ok, sweep_config(config, sweep_dir))
    reported, url = True, None
    try:  # plots and the sweep's W&B run: in the W&B process, which has matplotlib loaded by now
        url = tracker_process.report_sweep(*report) if tracker_process.current() else report_sweep(*report)
    except Exception as err:
        print(f"sweeper: the sweep's plots or W&B run failed: {one_line(err)}", file=sys.stderr)
        reported = False
    took = "" if seconds is None else f" ({seconds:.1f} s)"
    written = "summary.csv, groups.csv and plots" if reported else "summary.csv and groups.csv"
    print(f"sweep: {sweep_dir}{took}; {written} written there", flush=True)
    print(how_to_look(settings.mode, sweep_dir, url), flush=True)
    if failed:
        print(f"to rerun what failed: add  hydra.sweep.dir={sweep_dir} resume=true  to the same command", flush=True)
    return reported and not failed and not shared.count and bool(rows)
