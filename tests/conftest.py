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


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def variant(folder: Path, body: str, name: str = "v.yaml") -> Path:
    """A scenario that extends a copy of the bundled 2021 one, in `folder`."""
    if not (folder / "base.yaml").exists():
        write(folder, "base.yaml", (SCENARIOS / "kosovo_2021.yaml").read_text())
    return write(folder, name, f"name: v\nextends: base.yaml\n{body}")


def one_error(cli, *argv) -> str:
    """Run `sim ARGV`, expect exit 2 and exactly one line on stderr; return it."""
    code, _, err = cli(*argv)
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("sim: error: ")
    return lines[0]
