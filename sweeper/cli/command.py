"""The ``sweeper`` command's entry point: signals handled from the start, a sweep's W&B process started first.

Loading the app (JAX, Flax, Hydra) takes most of a second; the W&B process
(:mod:`sweeper.tracking.process`) loads W&B and matplotlib meanwhile, on the other core.
From here to the last line of the summary, SIGTERM and SIGINT raise
:class:`sweeper.interrupts.Interrupted`: the running job records itself as interrupted,
the end of the sweep writes the summary of what ran, and the command exits 128 + signal.
"""

import sys

from sweeper.interrupts import Interrupted, signals_raise


def main() -> None:
    with signals_raise():
        try:
            if {"-m", "--multirun"} & set(sys.argv[1:]):
                from sweeper.tracking import process as tracker_process

                tracker_process.start()
            from sweeper.cli.app import cli

            cli()
        except Interrupted as signal:
            from sweeper.cli.callback import end_interrupted_sweep

            end_interrupted_sweep(signal)
            sys.exit(signal.exit_code)
