"""User-facing errors: one line, naming the file, the field and what was expected."""

from __future__ import annotations


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
