"""The first compile on two cores: a helper process compiles the functions the engine calls while
this process compiles the engine itself.

numba compiles `run_block` in one thread. The thirty-odd compiled functions it calls (the formulas of
`mechanisms.py`, `kernel.situation`, the draw) are compiled when its type inference reaches their
calls, about two seconds in, and take about 1.7 s of the 9-10. A helper started with the note
(`engine_cache.note_if_compiling`) compiles them into the same cache meanwhile, from their argument
types (engine_signatures.txt beside this file, written by `python -m sim.model.precompile --write`
and checked by tests/test_startup.py); the engine's compile then reads them from the cache. The
machine code is the same either way (run folders byte-identical, engine time unchanged: README,
Performance). A helper that is slow, fails, or finds other signatures costs only its own core: the
engine's compile makes whatever the cache lacks, as it always did.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import os
import re
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

SIGNATURES = Path(__file__).with_name("engine_signatures.txt")
LITERAL = re.compile(r"Literal\[(?:int|bool)\]\(([^()]*)\)")  # how numba writes a constant's type
_helping = [True]  # off while `record` lists what the engine's own compile makes
HEADER = (
    "# The argument types of the compiled functions the engine calls, in the order its compile makes them\n"
    "# (written by `python -m sim.model.precompile --write`; tests/test_startup.py checks them)\n"
)


def signatures(text: str | None = None) -> list[tuple[str, str]]:
    """(qualified function name, argument types as numba writes them) of each line of the file."""
    text = SIGNATURES.read_text(encoding="utf-8") if text is None else text
    rows = [line.split("\t") for line in text.splitlines() if line and not line.startswith("#")]
    return [(name, types) for name, types in rows]


def compile_all(rows: list[tuple[str, str]]) -> int:
    """Compile (or find in the cache) each function for its argument types; how many were made."""
    from sim.model.lean_numba import load_numba_without_scipy

    load_numba_without_scipy()
    from numba.core import types

    names = {"__builtins__": {}, **vars(types), "literal": types.literal}
    done = 0
    for name, text in rows:
        module, _, attr = name.rpartition(".")
        try:
            dispatcher = getattr(importlib.import_module(module), attr)
            # numba's own type names (Array, UniTuple, float64); a constant argument's type is written
            # Literal[int](0), which is numba's types.literal(0)
            dispatcher.compile(eval(LITERAL.sub(r"literal(\1)", text), names))
        except Exception:  # another numba or a changed kernel: the engine's compile makes it instead
            continue
        done += 1
    return done


def start() -> subprocess.Popen | None:
    """Start the helper (where there is a second CPU); it is stopped when this process exits."""
    from sim.model.cpus import cpu_count

    if not _helping[0] or cpu_count() < 2 or not SIGNATURES.exists():
        return None
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sim.model.precompile"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C to the terminal is the command's to handle
        )
    except (OSError, ValueError):
        return None
    atexit.register(_stop, proc)
    # reaped as soon as it is done, so a long-lived process (the dashboard) keeps no zombie
    threading.Thread(target=proc.wait, name="sim-precompile", daemon=True).start()
    return proc


def _stop(proc: subprocess.Popen) -> None:
    """Stop the helper: numba writes each cache entry whole, so stopping it mid-way loses nothing."""
    with contextlib.suppress(OSError):
        proc.kill()
    with contextlib.suppress(Exception):
        proc.wait()


def record() -> str:
    """Compile the engine in an empty cache and list the functions it called, in the order it made them."""
    os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="sim-signatures-")
    _helping[0] = False
    from numba.core import event

    from sim.model.engine_cache import ENTRY_POINTS

    made: list[tuple[str, str]] = []

    class Listener(event.Listener):
        def on_start(self, ev: event.Event) -> None:
            pass

        def on_end(self, ev: event.Event) -> None:
            func = getattr(ev.data.get("dispatcher"), "py_func", None)
            if func is None or not func.__module__.startswith("sim.") or func.__name__ in ENTRY_POINTS:
                return
            row = (f"{func.__module__}.{func.__name__}", repr(tuple(ev.data["args"])))
            if row not in made:
                made.append(row)

    from sim.model.lockstep import Lockstep
    from sim.scenario.loader import DEFAULT_SCENARIO, load_scenario

    with event.install_listener("numba:compile", Listener()):
        Lockstep(load_scenario(DEFAULT_SCENARIO), replicates=2, days=3).run()
    return HEADER + "".join(f"{name}\t{types}\n" for name, types in made)


def main(argv: list[str]) -> None:
    if argv == ["--write"]:
        SIGNATURES.write_text(record(), encoding="utf-8")
    else:
        compile_all(signatures())


if __name__ == "__main__":  # the module as imported, not this copy run as __main__ (its `_helping`)
    importlib.import_module("sim.model.precompile").main(sys.argv[1:])
