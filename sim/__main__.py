"""The `sim` command's entry point (also `python -m sim`): signals first, then the CLI.

Importing the CLI takes a few tenths of a second (typer, rich, pydantic); a
command that simulates then imports numpy, pandas, numba and the engine:
seconds on a busy machine. A Ctrl-C or SIGTERM in that time must end the program with one
line and exit 130 or 143, never a KeyboardInterrupt traceback, so the handlers
are armed before anything else is imported: with the C module `_signal`, since
even `signal` imports `enum`, which takes milliseconds. Nothing has been
written yet at that point, so the start-up handler ends the process at once.
(Python itself needs a few hundredths of a second to start before this module
runs; a signal in that time is Python's own to handle.)
"""

from __future__ import annotations

import _signal
import os

# the same as sim.errors.EXIT_CODES and INTERRUPTED (a test checks), which are imported only later
_EXIT_CODES = {_signal.SIGINT: 130, _signal.SIGTERM: 143}
_INTERRUPTED = "sim: interrupted; nothing written"


def _stop_during_startup(signum: int, _frame: object) -> None:
    os.write(2, (_INTERRUPTED + "\n").encode())
    os._exit(_EXIT_CODES.get(signum, 128 + signum))


def entry(argv: list[str] | None = None) -> None:
    """Arm SIGINT and SIGTERM, import the CLI, run it."""
    # also when the shell started us with SIGINT ignored (a background job): Ctrl-C must work
    for signum in _EXIT_CODES:
        _signal.signal(signum, _stop_during_startup)
    from sim.errors import report_stage

    report_stage("armed")
    from sim.cli import main  # slow; a signal now ends the process with one line

    try:
        main(argv)
    finally:
        # The files are written and closed. At exit Python would sweep every object numba, scipy, pandas
        # and matplotlib made for cycles, several times over: tenths of a second spent freeing memory the
        # process is about to hand back whole. Frozen objects are left out of those sweeps; atexit
        # handlers (temporary folders, worker pools) still run.
        import gc

        gc.freeze()


if __name__ == "__main__":
    entry()
