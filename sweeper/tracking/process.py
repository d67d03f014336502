"""W&B in a process of its own, so that a sweep's jobs never wait on W&B.

Under the default launcher a sweep starts one tracker process (``python -m
sweeper.tracking.server``) beside it, on the machine's other core. A job hands over its
run's start, its metrics and its finish, and computes meanwhile; the tracker carries them
out with :class:`sweeper.tracking.wandb_run.Run`, exactly as the job would in its own process. The
job waits only for its run's directory, which its record names; a run start jumps the
queue of finishes so that this wait stays short. Before the summary is read, every run is
finished (:meth:`Tracker.drain`). The sweep's plots and its own run are made here too, with
matplotlib loaded while the jobs ran.

The tracker ignores SIGINT and SIGTERM: a Ctrl-C or a scheduler's signal reaches the sweep,
which records its job as interrupted and has the tracker finish that run with exit code 1.
If the sweep dies without a word (SIGKILL), the tracker reads the end of its pipe and
finishes every open run with exit code 1.

Messages are pickled tuples ``(op, key, wants_reply, args)`` on the tracker's stdin;
replies ``(key, ok, value)`` come back on its stdout, which nothing else writes to.
"""

from __future__ import annotations

import atexit
import itertools
import pickle
import subprocess
import sys
import threading
from typing import Any

from sweeper.interrupts import shielded
from sweeper.tracking.wandb_run import Run, TrackerSettings


class TrackerError(RuntimeError):
    """The tracker process failed a request, or is gone."""


class Tracker:
    """The sweep's end of the tracker process."""

    def __init__(self) -> None:
        command = [sys.executable, "-m", "sweeper.tracking.server"]
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.keys = itertools.count()
        self.replies: dict[int, tuple[bool, Any]] = {}
        self.sending, self.reading = threading.Lock(), threading.Lock()  # a thread-pool launcher's jobs share the pipes
        self.closed = False

    @property
    def alive(self) -> bool:
        return not self.closed and self.process.poll() is None

    def send(self, op: str, args: tuple = (), key: int | None = None, wants_reply: bool = False) -> int:
        key = next(self.keys) if key is None else key
        with shielded(), self.sending:  # a signal must not cut a message in half
            try:
                pickle.dump((op, key, wants_reply, args), self.process.stdin, protocol=pickle.HIGHEST_PROTOCOL)
                self.process.stdin.flush()
            except (BrokenPipeError, OSError) as err:
                raise TrackerError(f"the W&B tracker process is gone ({type(err).__name__})") from err
        return key

    def reply(self, key: int) -> Any:
        """The reply to request ``key``; raises :class:`TrackerError` if it failed."""
        with shielded(), self.reading:
            while key not in self.replies:
                try:
                    got, ok, value = pickle.load(self.process.stdout)
                except (EOFError, OSError, pickle.UnpicklingError) as err:
                    raise TrackerError(f"the W&B tracker process is gone (exit status {self.process.poll()})") from err
                self.replies[got] = (ok, value)
        ok, value = self.replies.pop(key)
        if not ok:
            raise TrackerError(value)
        return value

    def report_sweep(self, *args) -> str | None:
        """:func:`sweeper.tracking.wandb_run.report_sweep`, in the tracker process."""
        return self.reply(self.send("report_sweep", args, wants_reply=True))

    def drain(self) -> None:
        """Return once every request sent so far has been carried out."""
        self.reply(self.send("drain", wants_reply=True))

    def close(self) -> None:
        """Finish what is open and let the process go; W&B's own shutdown runs on as this one exits."""
        if self.closed:
            return
        self.closed = True
        try:
            self.reply(self.send("close", wants_reply=True))
        except TrackerError as err:
            print(f"sweeper: {err}", file=sys.stderr)
        self.process.stdin.close()
        self.process.stdout.close()  # nothing more to read: every reply is in


class RemoteRun:
    """:class:`sweeper.tracking.wandb_run.Run`'s interface, carried out by the tracker process."""

    def __init__(
        self,
        tracker: Tracker,
        settings: TrackerSettings,
        name: str,
        config: dict,
        job_type: str | None = None,
        run_id: str | None = None,
    ):
        self.tracker, self.args = tracker, (settings, name, config, job_type, run_id)
        self.exit_code = 1
        self.key: int | None = None

    def __enter__(self) -> RemoteRun:
        self.key = self.tracker.send("start", self.args, wants_reply=True)
        return self

    @property
    def path(self) -> str | None:
        if not hasattr(self, "_path"):
            self._path = self.tracker.reply(self.key)
        return self._path

    def succeed(self) -> None:
        self.exit_code = 0

    def log_job(self, record: dict, lanes: list, kernel_sample, output_dir) -> None:
        """Sent, not awaited: a W&B failure fails the job, and the tracker rewrites its record."""
        self.tracker.send("call", ("log_job", record, lanes, kernel_sample, output_dir), key=self.key)

    def __exit__(self, *exc) -> None:
        if self.key is not None:
            self.tracker.send("finish", (self.exit_code if exc[0] is None else 1,), key=self.key)


_tracker: Tracker | None = None
_started: list[Tracker] = []


@atexit.register  # registered first, so it runs last: the W&B shutdown overlaps this process's own
def _reap() -> None:
    for tracker in _started:
        tracker.close()
        tracker.process.wait()


def start() -> Tracker:
    """The sweep's tracker process, started on the first call."""
    global _tracker
    if _tracker is None or not _tracker.alive:
        _tracker = Tracker()
        _started.append(_tracker)
    return _tracker


def current() -> Tracker | None:
    """The live tracker process of this sweep, if it has one."""
    return _tracker if _tracker is not None and _tracker.alive else None


def stop() -> None:
    global _tracker
    if _tracker is not None:
        _tracker.close()
        _tracker = None


def open_run(
    settings: TrackerSettings, name: str, config: dict, job_type: str | None = None, run_id: str | None = None
) -> Run | RemoteRun:
    """A run through the sweep's tracker process if there is one, else in this process."""
    tracker = current()
    args = (settings, name, config, job_type, run_id)
    return Run(*args) if tracker is None else RemoteRun(tracker, *args)
