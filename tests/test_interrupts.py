"""SIGTERM and SIGINT become an exception the job can record, but never inside W&B's start or finish."""

import os
import signal

import pytest

from sweeper.interrupts import Interrupted, shielded, signals_raise

pytestmark = pytest.mark.next_hydra  # CI runs these on Hydra 1.4 too


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_raises_interrupted_with_the_shell_exit_code(signum):
    with pytest.raises(Interrupted) as err, signals_raise():
        os.kill(os.getpid(), signum)
        for _ in range(1000):  # the handler runs between bytecodes
            pass
    assert err.value.signum == signum and err.value.exit_code == 128 + signum


def test_a_signal_inside_a_shielded_block_waits_for_its_end():
    order = []
    with pytest.raises(Interrupted), signals_raise():
        with shielded():
            os.kill(os.getpid(), signal.SIGTERM)
            order.append("shielded block finished")
        order.append("not reached")
    assert order == ["shielded block finished"]


def test_handlers_are_restored_afterwards():
    before = signal.getsignal(signal.SIGTERM)
    with signals_raise():
        assert signal.getsignal(signal.SIGTERM) is not before
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_signal_inside_a_gc_callback_is_not_lost():
    """Raised inside a gc callback, an exception is printed and dropped: the signal must arrive after it."""
    import gc
    import os
    import signal
    import time

    from sweeper.interrupts import Interrupted, signals_raise

    def callback(phase, info):
        if phase == "start":
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(1000):  # Python code: the handler runs here, inside the callback
                pass

    with pytest.raises(Interrupted), signals_raise():
        gc.callbacks.append(callback)
        try:
            gc.collect()
        finally:
            gc.callbacks.remove(callback)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            time.sleep(0.01)
