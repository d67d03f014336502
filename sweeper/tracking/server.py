"""The tracker process itself (``python -m sweeper.tracking.server``): W&B runs for a sweep.

It reads pickled requests ``(op, key, wants_reply, args)`` from stdin and carries them
out with :class:`sweeper.tracking.wandb_run.Run`, serving run starts first; replies ``(key, ok,
value)`` go to the original stdout, to which nothing else writes. The sweep's side is
:mod:`sweeper.tracking.process`.
"""

from __future__ import annotations

import collections
import gc
import json
import os
import pickle
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from sweeper.records import one_line
from sweeper.tracking.process import TrackerError
from sweeper.tracking.wandb_run import Run, report_sweep, silence_wandb


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

    def report_sweep(self, key: int, *args) -> str | None:
        return report_sweep(*args)

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

    silence_wandb()
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
