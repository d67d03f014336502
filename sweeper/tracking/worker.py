"""The W&B process's side: the functions a one-worker process pool runs for a sweep.

:mod:`sweeper.tracking.process` submits them in order; the worker carries them out one
at a time. Its runs are keyed by the run ids the jobs chose. The worker ignores SIGINT
and SIGTERM (the sweep decides when its runs end), and a watchdog thread finishes every
open run with exit code 1 once the sweep is gone (SIGKILL), then ends the worker.
Never imports JAX.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import os
import signal
import threading
import time
from contextlib import contextmanager
from typing import Any

from sweeper.tracking.job_run import JobRun
from sweeper.tracking.wandb_run import TrackerSettings, silence_wandb
from sweeper.tracking.wandb_run import report_sweep as _report_sweep

_runs: dict[str, JobRun] = {}
_busy: collections.Counter = collections.Counter()  # seconds spent on each kind of request, for the benchmark
_working = threading.Lock()  # a request and the watchdog never touch the runs at once
WATCH_INTERVAL_S = 0.2


def init(sweep_pid: int) -> None:
    """The pool's initializer: signals ignored, W&B and matplotlib loaded, the watchdog started."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    threading.Thread(target=_watch, args=(sweep_pid,), daemon=True).start()
    atexit.register(_abandon_open_runs)  # a run the sweep never finished (it was interrupted meanwhile)
    silence_wandb()
    import wandb

    with contextlib.suppress(Exception):  # a setting W&B refuses: each run's start meets it, its job records it
        wandb.setup()  # W&B's service starts while the sweep starts up
    _load_matplotlib()  # for the plots at the end


def _load_matplotlib() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot


def _watch(sweep_pid: int) -> None:
    while os.getppid() == sweep_pid:
        time.sleep(WATCH_INTERVAL_S)
    with _working:  # the request under way ends first
        _abandon_open_runs()
        os._exit(0)


def _abandon_open_runs() -> None:
    for run in _runs.values():
        run.abandon()
    _runs.clear()


@contextmanager
def _timed(op: str):
    with _working:
        began = time.perf_counter()
        try:
            yield
        finally:
            _busy[op] += time.perf_counter() - began


def ready() -> int:
    """Nothing: submitted first, so that the worker starts at once."""
    return os.getpid()


def start(run_id: str, settings: TrackerSettings, name: str, config: dict[str, Any]) -> None:
    with _timed("start"):
        _runs[run_id] = run = JobRun(settings, name, config, run_id)
        run.start()


def log(run_id: str, record: dict[str, Any], lanes: list[dict[str, Any]], kernel_sample) -> None:
    with _timed("log"):
        _runs[run_id].log(record, lanes, kernel_sample)


def finish(run_id: str, record: dict[str, Any], output_dir: str) -> dict[str, Any]:
    with _timed("finish"):
        return _runs.pop(run_id).finish(record, output_dir)


def report_sweep(*args) -> str | None:
    with _timed("report_sweep"):
        return _report_sweep(*args)


def busy_seconds() -> dict[str, float]:
    return dict(_busy)
