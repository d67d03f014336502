"""What a long job is doing, on a terminal: one line redrawn in place, gone when the job ends.

``building (3 s)``: shown only once a job has run ``after`` seconds, only when the stream
is a terminal; in logs and pipes nothing is written.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO


class Progress:
    def __init__(self, name: str, stream: TextIO | None = None, after: float = 2.0, every: float = 0.5) -> None:
        self.name, self.stream, self.after, self.every = name, stream or sys.stderr, after, every
        self.doing = "starting"
        self.started = time.perf_counter()
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None
        self.width = 0  # of the line on screen, to clear it

    def phase(self, doing: str) -> None:
        """What the job does now: ``building``, ``compiling the measurement``, ``measuring``, ..."""
        self.doing = doing

    def _draw(self) -> None:
        if self.stop.wait(self.after):
            return
        while True:
            line = f"  {self.name}: {self.doing} ({time.perf_counter() - self.started:.0f} s)"
            self.stream.write("\r" + line.ljust(self.width))
            self.stream.flush()
            self.width = len(line)
            if self.stop.wait(self.every):
                return

    def __enter__(self) -> Progress:
        if self.stream.isatty():
            self.thread = threading.Thread(target=self._draw, name="sweeper-progress", daemon=True)
            self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.thread is not None:
            self.stop.set()
            self.thread.join()
            if self.width:
                self.stream.write("\r" + " " * self.width + "\r")
                self.stream.flush()
