"""The ``sweeper`` command's entry point: a sweep's W&B tracker process starts first.

Loading the app (JAX, Flax, Hydra) takes most of a second; the tracker process
(:mod:`sweeper.tracking.process`) loads W&B and matplotlib meanwhile, on the other core.
"""

import sys


def main() -> None:
    if {"-m", "--multirun"} & set(sys.argv[1:]):
        from sweeper.tracking import process as tracker_process

        tracker_process.start()
    from sweeper.cli.app import cli

    cli()
