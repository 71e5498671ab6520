"""The package's layout: each stage imports only the stages before it, and no module imports in a circle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "sim"
# The stages in the order the data flows; `plots` draws from plain arrays and frames, so results and
# analysis can both draw with it; `runner` (the API's `run`: scenario -> ensemble -> Result) serves the
# analyses; the front ends come last.
STAGES = ["errors", "scenario", "model", "ensemble", "plots", "results", "runner", "analysis", "app", "cli"]
TOP = {"__init__": "cli", "__main__": "cli"}


def _stage(module: str) -> str:
    """sim.model.kernel -> model; sim.cli -> cli."""
    part = module.split(".")[1]
    return TOP.get(part, part)


def _imports(path: Path) -> list[tuple[str, int]]:
    """The sim modules a file imports at run time (imports under `if TYPE_CHECKING:` are left out)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            typing_only.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    found = []
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("sim"):
            if node.module == "sim":
                found += [(f"sim.{alias.name}", node.lineno) for alias in node.names]
            else:
                found += [(node.module, node.lineno)]
        elif isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names if a.name.startswith("sim.")]
    return found


def _module(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__" and len(parts) > 2:
        parts = parts[:-1]
    return ".".join(parts)


FILES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_belongs_to_a_stage():
    for path in FILES:
        assert _stage(_module(path)) in STAGES, path


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_stage_imports_a_later_one(path: Path):
    mine = STAGES.index(_stage(_module(path)))
    for module, line in _imports(path):
        if module in ("sim", "sim.data") or module.startswith("sim.data."):
            continue
        theirs = STAGES.index(_stage(module))
        assert theirs <= mine, f"{path.relative_to(PACKAGE)}:{line} imports {module}, a later stage"


def test_no_circular_imports():
    graph = {_module(p): {m for m, _ in _imports(p)} for p in FILES}
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in graph.get(node, ()):
            if state.get(nxt) == 1:
                pytest.fail("circular import: " + " -> ".join([*trail, node, nxt]))
            if nxt in graph and not state.get(nxt):
                visit(nxt, [*trail, node])
        state[node] = 2

    for node in graph:
        if not state.get(node):
            visit(node, [])


def test_the_checker_sees_a_violation(tmp_path: Path):
    """Control: a file that imports a later stage is caught by the same parser."""
    bad = tmp_path / "bad.py"
    bad.write_text("from sim.analysis.calibrate import calibrate\n")
    ((module, _),) = _imports(bad)
    assert STAGES.index(_stage(module)) > STAGES.index("model")


def test_the_checker_sees_imports_inside_functions(tmp_path: Path):
    """Control: a deferred import (the CLI and `sim/__init__.py` import on use) is held to the order too."""
    bad = tmp_path / "bad.py"
    bad.write_text("def later():\n    import sim.runner\n    from sim.app import dashboard\n")
    assert [module for module, _ in _imports(bad)] == ["sim.runner", "sim.app"]
