"""The ``sweeper`` command's entry point: a sweep's W&B tracker process starts first.

Loading the app (JAX, Flax, Hydra) takes most of a second; the tracker process
(:mod:`sweeper.tracking.process`) loads W&B and matplotlib meanwhile, on the other core.
"""

import os
import sys


def main() -> None:
    if os.getcwd() not in sys.path:  # `python -m sweeper` imports a custom model from ./mypkg: so does `sweeper`
        sys.path.append(os.getcwd())
    if {"-m", "--multirun"} & set(sys.argv[1:]):
        from sweeper.tracking import process as tracker_process

        tracker_process.start()
    from sweeper.cli.app import cli

    try:
        try:
            cli()
        finally:
            sys.stdout.flush()
    except BrokenPipeError:  # `sweeper --help | head`: the reader has gone, so end quietly (Python's own recipe)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
