"""W&B in a process of its own, so that a sweep's jobs never wait on W&B.

Under the default launcher a sweep starts one tracker process (``python -m
sweeper.tracker_process``) beside it, on the machine's other core. A job hands over its
run's start, its metrics and its finish, and computes meanwhile; the tracker carries them
out with :class:`sweeper.tracking.Run`, exactly as the job would in its own process. The
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
import collections
import gc
import itertools
import json
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from sweeper.interrupts import shielded
from sweeper.records import one_line
from sweeper.tracking import Run, TrackerSettings, report_sweep


class TrackerError(RuntimeError):
    """The tracker process failed a request, or is gone."""


class Tracker:
    """The sweep's end of the tracker process."""

    def __init__(self) -> None:
        command = [sys.executable, "-m", "sweeper.tracker_process"]
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

    def report_sweep(self, *args) -> None:
        """:func:`sweeper.tracking.report_sweep`, in the tracker process."""
        self.reply(self.send("report_sweep", args, wants_reply=True))

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


class RemoteRun:
    """:class:`sweeper.tracking.Run`'s interface, carried out by the tracker process."""

    def __init__(
        self, tracker: Tracker, settings: TrackerSettings, name: str, config: dict, job_type: str | None = None
    ):
        self.tracker, self.args = tracker, (settings, name, config, job_type)
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


def open_run(settings: TrackerSettings, name: str, config: dict, job_type: str | None = None) -> Run | RemoteRun:
    """A run through the sweep's tracker process if there is one, else in this process."""
    tracker = current()
    return (
        Run(settings, name, config, job_type)
        if tracker is None
        else RemoteRun(tracker, settings, name, config, job_type)
    )


# ---- the tracker process -------------------------------------------------------------


class Inbox:
    """Requests read off the pipe by a thread; run starts are served first."""

    def __init__(self, stream) -> None:
        self.queue: collections.deque = collections.deque()
        self.ready = threading.Condition()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream) -> None:
        while True:
            try:
                message = pickle.load(stream)
            except Exception:  # EOF: the sweep is gone, or closed the pipe
                message = None
            with self.ready:
                self.queue.append(message)
                self.ready.notify()
            if message is None:
                return

    def next(self) -> tuple | None:
        with self.ready:
            self.ready.wait_for(lambda: self.queue)
            start = next((m for m in self.queue if m is not None and m[0] == "start"), None)
            if start is None:
                return self.queue.popleft()
            self.queue.remove(start)
            return start


class Runs:
    """The tracker process's runs, one per request key, and the seconds spent on each kind of request."""

    def __init__(self) -> None:
        self.open: dict[int, Run] = {}
        self.failed_starts: dict[int, str] = {}
        self.busy: collections.Counter = collections.Counter()

    def start(self, key: int, *args) -> str | None:
        run = Run(*args)
        try:
            self.open[key] = run.__enter__()
        except Exception as err:
            self.failed_starts[key] = f"W&B: {one_line(err)}"
            raise TrackerError(self.failed_starts[key]) from err
        return run.path

    def call(self, key: int, method: str, *args) -> None:
        if key in self.failed_starts:
            raise TrackerError(self.failed_starts[key])
        getattr(self.open[key], method)(*args)

    def finish(self, key: int, exit_code: int) -> None:
        self.failed_starts.pop(key, None)
        if (run := self.open.pop(key, None)) is not None:
            if exit_code == 0:
                run.succeed()
            run.__exit__(None, None, None)

    def report_sweep(self, key: int, *args) -> None:
        report_sweep(*args)

    def drain(self, key: int) -> None:
        pass  # requests are served in order: every one sent before this is done

    def close_all(self) -> None:
        for run in self.open.values():  # never finished by the sweep: it ended early
            run.__exit__(None, None, None)
        self.open.clear()


def serve(inbox: Inbox, out) -> None:
    runs = Runs()

    def answer(key: int, ok: bool, value: Any) -> None:
        pickle.dump((key, ok, value), out, protocol=pickle.HIGHEST_PROTOCOL)
        out.flush()

    while (message := inbox.next()) is not None and message[0] != "close":
        op, key, wants_reply, args = message
        began = time.perf_counter()
        try:
            value = getattr(runs, op)(key, *args)
        except Exception as err:
            if wants_reply:
                answer(key, False, str(err) if isinstance(err, TrackerError) else one_line(err))
            else:
                print(f"sweeper: W&B tracker: {op} failed: {one_line(err)}", file=sys.stderr, flush=True)
        else:
            if wants_reply:
                answer(key, True, value)
        runs.busy[op] += time.perf_counter() - began
    runs.close_all()
    if where := os.environ.get("SWEEPER_TRACKER_PROFILE"):  # for the sweep benchmark
        Path(where).write_text(json.dumps({"busy_s": dict(runs.busy)}))
    if message is not None:
        answer(message[1], True, None)


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the sweep decides when its runs end
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # stray prints must not corrupt the replies
    inbox = Inbox(sys.stdin.buffer)
    import wandb

    wandb.setup()  # W&B's service starts while the sweep starts up
    _load_matplotlib()  # for the plots at the end; by the first job's end, start-up is over
    gc.freeze()  # W&B's own objects live on: full collections between runs skip them
    serve(inbox, out)


def _load_matplotlib() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot


if __name__ == "__main__":
    main()
