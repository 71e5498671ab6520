"""User-facing errors: one line, naming the file, the field and what was expected."""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager


class UserError(Exception):
    """A mistake in the user's input; the CLI prints it on one line and exits 2."""

    exit_code = 2

    def __init__(self, message: str, *, source: str | None = None, field: str | None = None):
        self.source = source
        self.field = field
        self.detail = message
        parts = [p for p in (source, field) if p]
        super().__init__(one_line(": ".join([*parts, message])))


class ScenarioError(UserError):
    """A scenario file (or an override applied to it) is not a valid scenario."""


def one_line(text: str) -> str:
    """Fold a message onto one line so it never breaks a terminal or a log."""
    return " ".join(str(text).split())


# ------------------------------------------------------------------ signals
# Ctrl-C (SIGINT) and SIGTERM end the program the same way: one line, the
# shell's usual exit code (128 + the signal's number), and nothing left behind.
# `sim/__main__.py` arms a first handler before anything heavy is imported;
# `sim.cli.main` then raises `Interrupted` so that every `finally` and
# `except BaseException` on the way out (atomic folders, the spill, worker
# pools) cleans up.

EXIT_CODES = {2: 130, 15: 143}  # SIGINT, SIGTERM
INTERRUPTED = "sim: interrupted; nothing written"


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived; unwinds like KeyboardInterrupt, but no library catches it."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum
        self.exit_code = EXIT_CODES.get(signum, 128 + signum)


_received: list[int] = []  # signals received since handling was armed


def on_signal(signum: int, _frame: object) -> None:
    """Signal handler: the first SIGINT or SIGTERM unwinds; later ones (during the clean-up) are noted.

    Python runs a handler wherever the main thread happens to be, also inside
    a weakref callback or a finalizer, where the exception is swallowed; the
    signal stays recorded, so `check_interrupted()` raises it again at the next
    checkpoint (each block of runs, each chunk written, before a folder is renamed).
    """
    first = not _received
    _received.append(signum)
    if first:
        raise Interrupted(signum)


def check_interrupted() -> None:
    """A checkpoint: raise Interrupted if a signal has arrived (even if its first exception was lost)."""
    if _received:
        raise Interrupted(_received[0])


@contextmanager
def signals_handled() -> Iterator[None]:
    """SIGINT and SIGTERM raise Interrupted inside the block; the previous handlers come back after it."""
    _received.clear()
    previous = {signum: signal.signal(signum, on_signal) for signum in EXIT_CODES}
    hook = sys.unraisablehook

    def quiet(unraisable) -> None:  # the lost first exception: no "Exception ignored in" traceback
        if not isinstance(unraisable.exc_value, Interrupted):
            hook(unraisable)

    sys.unraisablehook = quiet
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        sys.unraisablehook = hook
        _received.clear()


def report_stage(name: str) -> None:
    """Append `name` to the file named by $SIM_STAGE_FILE, if set (for tests and supervisors).

    It says how far a command got (armed, running, saving), so a test can send
    a signal at a known stage instead of after a guessed delay.
    """
    import os

    target = os.environ.get("SIM_STAGE_FILE")
    if target:
        try:
            with open(target, "a", encoding="utf-8") as fh:
                fh.write(name + "\n")
        except OSError:  # a report nobody can read must not stop the command
            pass


def regular_file(path, expected: str):
    """`path` as a Path when it is a regular file; otherwise a one-line error (a FIFO would block the read).

    `expected` says what the file should be, e.g. "a CSV of CAMEO-coded events".
    """
    from pathlib import Path

    shown = str(path)
    path = Path(path)
    if not path.exists():
        raise UserError("file not found", source=shown)
    if not path.is_file():
        raise UserError(f"expected a regular file ({expected})", source=shown)
    return path
