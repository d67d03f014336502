"""W&B in a process of its own, so that a sweep's jobs never wait on W&B.

Under the default launcher a sweep starts a one-worker process pool before the app
loads JAX; the worker (:mod:`sweeper.tracking.worker`, a fresh interpreter that never
inherits JAX) loads W&B and matplotlib meanwhile, on the machine's other core. A job
chooses its run's id, hands over its run's start, metrics and finish, and goes on; the
finish writes the job's final record (:class:`sweeper.tracking.job_run.JobRun`). Before
the summary is read, :func:`drain` waits for every hand-over. If the W&B process dies,
the jobs whose runs it had open are recorded as failed with a ``wandb_error`` (so
``resume=true`` redoes them), one line says so, and the next job starts a new process.
Single runs and the other launchers log from the job's own process.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, NamedTuple

from sweeper.interrupts import shielded, signals_blocked
from sweeper.records import one_line, write_record
from sweeper.tracking import worker
from sweeper.tracking.job_run import JobRun, new_run_id, tracked
from sweeper.tracking.wandb_run import TrackerSettings


class Handover(NamedTuple):
    future: Future
    pool: ProcessPoolExecutor
    if_failed: Callable[[BaseException], None] | None  # what to do in this process if it failed
    if_done: Callable[[Any], None] | None  # what to do with its result


_pool: ProcessPoolExecutor | None = None
_pending: list[Handover] = []  # hand-overs not yet settled
_dead: set[ProcessPoolExecutor] = set()  # pools whose process died (reported once each)


def start() -> ProcessPoolExecutor:
    """The sweep's W&B process, started now (its worker starts with SIGINT and SIGTERM blocked)."""
    global _pool
    if _pool is None or _pool in _dead:
        with signals_blocked():
            _pool = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),  # a fresh interpreter: never a copy of JAX's state
                initializer=worker.init,
                initargs=(os.getpid(),),
            )
            _submit(_pool, worker.ready)  # a pool starts its worker at the first submission
    return _pool


def current() -> ProcessPoolExecutor | None:
    """The sweep's W&B process, if it has one (restarted if it died)."""
    _settle()
    return None if _pool is None else start()


def _submit(pool: ProcessPoolExecutor, fn: Callable, *args, if_failed=None, if_done=None) -> Future:
    try:
        with shielded():  # a signal must not cut a hand-over in half
            future = pool.submit(fn, *args)
    except RuntimeError as err:  # BrokenProcessPool, or a pool shut down
        future = Future()
        future.set_exception(err)
        _check_alive(pool, err)
    _pending.append(Handover(future, pool, if_failed, if_done))
    return future


def _settle(block: bool = False) -> None:
    """Deal with the hand-overs that are done (all of them, with ``block``): a failed finish records its run as lost."""
    if block:
        wait([h.future for h in _pending])
    still = []
    for h in _pending:
        if not h.future.done():
            still.append(h)
            continue
        err = RuntimeError("cancelled") if h.future.cancelled() else h.future.exception()
        _check_alive(h.pool, err)
        if err is not None and h.if_failed is not None:
            h.if_failed(err)
        elif err is None and h.if_done is not None:
            h.if_done(h.future.result())
    _pending[:] = still


def _check_alive(pool: ProcessPoolExecutor, err: BaseException | None) -> None:
    """A pool's process that died is reported in one line, once."""
    if isinstance(err, BrokenProcessPool) and pool not in _dead:
        _dead.add(pool)
        print(
            f"sweeper: the W&B process died ({one_line(err)}); the runs it had open are recorded as "
            "not finished (resume=true redoes them), and the next job starts a new one",
            file=sys.stderr,
            flush=True,
        )


class RemoteRun:
    """:class:`sweeper.tracking.job_run.JobRun`'s interface, carried out by the W&B process; nothing waits."""

    def __init__(self, pool: ProcessPoolExecutor, settings: TrackerSettings, name: str, config: dict, run_id: str):
        self.pool, self.id, self.name = pool, run_id, name
        self.path = None  # known once the W&B process starts the run: its final record names it
        _submit(pool, worker.start, self.id, settings, name, config)

    def log(self, record: dict[str, Any], lanes: list[dict[str, Any]], kernel_sample) -> None:
        _submit(self.pool, worker.log, self.id, record, lanes, kernel_sample)

    def finish(self, record: dict[str, Any], output_dir: str) -> None:
        """Handed over: the W&B process writes the final record; if it cannot, :func:`drain` records the run as lost."""

        def lost(err: BaseException) -> None:
            error = f"W&B: the W&B process could not finish run {self.id} ({one_line(err)})"
            write_record(Path(output_dir), tracked(record, self.id, None, False, error))

        def failed_by_w_and_b(final: dict[str, Any]) -> None:  # its progress line said ok: say what changed
            if record["status"] == "ok" and final["status"] != "ok":
                print(f"sweeper: job {self.name} failed in W&B after all: {final['wandb_error']}", file=sys.stderr)

        _submit(self.pool, worker.finish, self.id, record, output_dir, if_failed=lost, if_done=failed_by_w_and_b)


def open_run(
    settings: TrackerSettings, name: str, config: dict[str, Any], run_id: str | None = None
) -> JobRun | RemoteRun:
    """A job's run (its id chosen by the job), through the sweep's W&B process if there is one, else in this process."""
    run_id = run_id or new_run_id()
    pool = current()
    if pool is not None:
        run = RemoteRun(pool, settings, name, config, run_id)
        if pool in _dead:  # found dead as the run was handed over: a new process starts it
            run = RemoteRun(start(), settings, name, config, run_id)
        return run
    run = JobRun(settings, name, config, run_id)
    run.start()
    return run


def drain() -> None:
    """Return once every hand-over so far is carried out, or recorded as lost."""
    _settle(block=True)


def report_sweep(*args) -> str | None:
    """:func:`sweeper.tracking.wandb_run.report_sweep`, in the W&B process (matplotlib is loaded there)."""
    return start().submit(worker.report_sweep, *args).result()  # restarted if it died


def stop() -> None:
    """Drain, then let the W&B process go (it finishes W&B's own shutdown as it ends)."""
    global _pool
    if _pool is None:
        return
    drain()
    if where := os.environ.get("SWEEPER_TRACKER_PROFILE"):  # for the sweep benchmark
        busy = _pool.submit(worker.busy_seconds).result()
        Path(where).write_text(json.dumps({"busy_s": busy}))
    _pool.shutdown()
    _pool = None
