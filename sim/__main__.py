"""The `sim` command's entry point (also `python -m sim`): signals first, then the CLI.

Importing the CLI pulls in numpy, pandas, numba and the engine: seconds on a
busy machine. A Ctrl-C or SIGTERM in that time must end the program with one
line and exit 130 or 143, never a KeyboardInterrupt traceback, so this module
imports nothing heavy and arms the handlers before it imports the rest.
Nothing has been written yet at that point, so the start-up handler can end
the process at once.
"""

from __future__ import annotations

import os
import signal

from sim.errors import EXIT_CODES, INTERRUPTED, report_stage


def _stop_during_startup(signum: int, _frame: object) -> None:
    os.write(2, (INTERRUPTED + "\n").encode())
    os._exit(EXIT_CODES.get(signum, 128 + signum))


def entry(argv: list[str] | None = None) -> None:
    """Arm SIGINT and SIGTERM, import the CLI, run it."""
    # also when the shell started us with SIGINT ignored (a background job): Ctrl-C must work
    for signum in EXIT_CODES:
        signal.signal(signum, _stop_during_startup)
    report_stage("armed")
    from sim.cli import main  # slow; a signal now ends the process with one line

    main(argv)


if __name__ == "__main__":
    entry()
