"""Shared helpers: run the CLI in-process, locate the repository's reference data."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.cli import main

REPO = Path(__file__).resolve().parents[1]
SCENARIOS = REPO / "scenarios"
SHARED = REPO.parent / "shared"


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    """Run `sim ARGV` in-process; return (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in argv])
    captured = capsys.readouterr()
    code = exit_info.value.code
    return (0 if code is None else int(code)), captured.out, captured.err


@pytest.fixture
def cli(capsys):
    return lambda *argv: run_cli(list(argv), capsys)
