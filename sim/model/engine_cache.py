"""Whether the compiled engine is already in numba's cache, and a note when the first run must compile it.

numba compiles the kernel (`sim/model/kernel.py`, `@njit(cache=True)`) on its
first call and keeps the machine code in its on-disk cache: next to the module
(`sim/model/__pycache__`) or under $NUMBA_CACHE_DIR. Compiling takes tens of
seconds and prints nothing, so the first run after an install (or after the
kernel changed) would look hung; one line on stderr says why it waits.
The kernel's code is not touched: the check reads numba's cache index the way
numba itself does when it looks for a compiled version.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing

from sim.model import kernel

# the kernel functions Python calls; the functions they call are cached and compiled with them
ENTRY_POINTS = ("run_days", "by_run")
# measured on the project's busy 2-core machine (Python 3.13, numba 0.68): 10-16 s of compiling, up to
# 30 s on a busier day (README, Performance)
COMPILE_TIME = "usually 10-30 seconds"
NOTE = (
    f"sim: note: compiling the simulation engine, once after installing ({COMPILE_TIME}); later runs reuse it"
)

_log = logging.getLogger("sim")
_checked: list[bool] = []  # once per process


def _cached(dispatcher) -> bool:
    """True when numba's cache index holds a compiled version of `dispatcher` for this machine and source."""
    index = dispatcher._cache._cache_file._load_index()  # {} when missing, or stale (another source stamp)
    magic = dispatcher.targetctx.codegen().magic_tuple()  # the CPU and its features
    code = hashlib.sha256(dispatcher.py_func.__code__.co_code).hexdigest()
    # numba's index key: (signature, codegen.magic_tuple(), (sha256 of the bytecode, of the closure))
    return any(key[1] == magic and key[2][0] == code for key in index)


def engine_cached() -> bool:
    """Whether the first call of the kernel will load it from the cache (True) or compile it (False).

    A numba whose cache internals differ counts as cached: better no note than a wrong one.
    """
    try:
        return all(_cached(getattr(kernel, name)) for name in ENTRY_POINTS)
    except Exception:
        return True


def note_if_compiling() -> bool:
    """Log NOTE (once per process, on the `sim` logger) when the engine is not yet compiled; return whether.

    Worker processes stay quiet: the process that started them has already said it.
    """
    if _checked or multiprocessing.parent_process() is not None:
        return False
    _checked.append(True)
    if engine_cached():
        return False
    _log.warning(NOTE)
    return True
