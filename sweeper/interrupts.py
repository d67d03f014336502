"""SIGTERM and SIGINT as an exception, so a killed job can still record itself.

Slurm, a scheduler or Ctrl-C stop a job with a signal. Inside :func:`signals_raise`,
the signal raises :class:`Interrupted` in the main thread; the job then writes its
record as interrupted and finishes its W&B run with a non-zero exit code. ``Interrupted``
is a ``BaseException``, so the job's ``except Exception`` (a failure is data) cannot
swallow it. SIGKILL cannot be caught: resume reruns what it cut short.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager


class Interrupted(BaseException):
    def __init__(self, signum: int):
        self.signum = signum
        self.name = signal.Signals(signum).name
        super().__init__(f"interrupted by {self.name}")

    @property
    def exit_code(self) -> int:
        return 128 + self.signum  # the shell's convention for "killed by signal N"


@contextmanager
def signals_raise(signums=(signal.SIGTERM, signal.SIGINT)):
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may handle signals (a thread-pool launcher's workers)
        return

    def handler(signum, frame):
        raise Interrupted(signum)

    previous = {signum: signal.signal(signum, handler) for signum in signums}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
