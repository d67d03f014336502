"""The ``sweeper`` command's entry point: the command line checked, signals handled, W&B started.

Bad input is refused before anything loads (no JAX, no W&B process). Loading the app
(JAX, Flax, Hydra) takes most of a second; a sweep's W&B process
(:mod:`sweeper.tracking.process`) loads W&B and matplotlib meanwhile, on the other core.
From the start to the last line of the summary, SIGTERM and SIGINT raise
:class:`sweeper.interrupts.Interrupted`: the running job records itself as interrupted,
the end of the sweep (:func:`sweeper.cli.callback.end_interrupted_sweep`) writes the
summary of what ran, and the command exits 128 + signal.
"""

import os
import sys

from sweeper.interrupts import Interrupted, signals_raise


def main() -> None:
    if os.getcwd() not in sys.path:  # `python -m sweeper` imports a custom model from ./mypkg: so does `sweeper`
        sys.path.append(os.getcwd())
    with signals_raise():
        try:
            _run(sys.argv[1:])
        except Interrupted as signal:
            from sweeper.cli.callback import end_interrupted_sweep

            end_interrupted_sweep(signal)
            sys.exit(signal.exit_code)


def _run(args: list[str]) -> None:
    from sweeper.cli import redact
    from sweeper.cli.grid import choose_preset
    from sweeper.cli.preflight import check_overrides, command_line_overrides
    from sweeper.config import ConfigError

    try:
        overrides = command_line_overrides(args)
        check_overrides(overrides)
    except ConfigError as err:
        sys.exit(f"sweeper: {err} (nothing was run)")
    if {"-m", "--multirun"} & set(args) and (chosen := choose_preset(overrides)) != overrides:
        redact.TYPED_ARGV = list(args)  # what the sweep records as its command
        sys.argv.append(chosen[-1])  # sweep=none: the axes typed, and only those
    if {"-m", "--multirun"} & set(args):
        from sweeper.tracking import process as tracker_process

        tracker_process.start()
    from sweeper.cli.app import main as hydra_main

    try:
        try:
            hydra_main()
        finally:
            sys.stdout.flush()
    except BrokenPipeError:  # `sweeper --help | head`: the reader has gone, so end quietly (Python's own recipe)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
