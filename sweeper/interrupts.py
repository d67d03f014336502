"""SIGTERM and SIGINT as an exception, so a killed job can still record itself.

Slurm, a scheduler or Ctrl-C stop a job with a signal. Inside :func:`signals_raise`,
the signal raises :class:`Interrupted` in the main thread; the job then writes its
record as interrupted and finishes its W&B run with a non-zero exit code. ``Interrupted``
is a ``BaseException``, so the job's ``except Exception`` (a failure is data) cannot
swallow it. SIGKILL cannot be caught: resume reruns what it cut short.
"""

from __future__ import annotations

import gc
import os
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


_shield = {"depth": 0, "pending": None}


@contextmanager
def shielded():
    """Hold a signal back until the block is done (W&B's run start and finish must not be cut)."""
    _shield["depth"] += 1
    try:
        yield
    finally:
        _shield["depth"] -= 1
    if _shield["depth"] == 0 and _shield["pending"] is not None:
        signum, _shield["pending"] = _shield["pending"], None
        raise Interrupted(signum)


@contextmanager
def signals_blocked(signums=(signal.SIGTERM, signal.SIGINT)):
    """Hold these signals back until the block ends; a process started inside it inherits them blocked."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, signums)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _in_gc_callback(frame) -> bool:
    """Whether ``frame`` runs inside a garbage-collector callback (JAX registers one)."""
    codes = {getattr(callback, "__code__", None) for callback in gc.callbacks}
    while frame is not None:
        if frame.f_code in codes:
            return True
        frame = frame.f_back
    return False


@contextmanager
def signals_raise(signums=(signal.SIGTERM, signal.SIGINT)):
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may handle signals (a thread-pool launcher's workers)
        return

    def handler(signum, frame):
        if _shield["depth"]:
            _shield["pending"] = signum
        elif _in_gc_callback(frame):  # raised there, it would be printed and dropped: deliver it again shortly
            resend = threading.Timer(0.01, os.kill, (os.getpid(), signum))
            resend.daemon = True
            resend.start()
        else:
            raise Interrupted(signum)

    previous = {signum: signal.signal(signum, handler) for signum in signums}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
