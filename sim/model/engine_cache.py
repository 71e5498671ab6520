"""Whether the compiled engine is already in numba's cache, a note when the first run must compile it,
a cache entry that cannot be read treated as missing, and the cached engine loaded without the rest.

numba compiles the kernel (`sim/model/kernel.py`, `@njit(cache=True)`) on its
first call and keeps the machine code in its on-disk cache: next to the module
(`sim/model/__pycache__`) or under $NUMBA_CACHE_DIR. Compiling takes tens of
seconds and prints nothing, so the first run after an install (or after the
kernel changed) would look hung; one line on stderr says why it waits.
The kernel's code is not touched: the check reads numba's cache index the way
numba itself does when it looks for a compiled version.

Before it loads a cached function, numba loads the typing and lowering rules of
everything it can compile (a few hundred registries: six hundredths of a second
of `sim run`, one at a time before the first block of runs). Machine code read
from the cache needs none of them, only numba's runtime (NRT) for its arrays;
so the engine's cache entries are loaded with the runtime started and nothing
else. Anything that compiles loads the rules first, as numba's compiler always
does; should numba's internals differ, its own loading does the work.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import multiprocessing

from numba.core.caching import Cache

from sim.model import kernel

# the kernel function whose compiling the note is about (the functions it calls are cached and compiled
# with it); `by_run`, the event log's reordering, compiles in well under a second and only where a run
# keeps its events, so a run without them (--events none) says nothing of it
ENTRY_POINTS = ("run_block",)
# measured on the project's 2-core machine (Python 3.13, numba 0.68): 9 s idle with the helper of
# sim/model/precompile.py, 10-16 s busy, up to 30 s on a busier day (README, Performance)
COMPILE_TIME = "usually 9-30 seconds"
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


def engine_cached(names: tuple[str, ...] = ENTRY_POINTS) -> bool:
    """Whether the first call of the kernel's functions `names` will load them from the cache (True) or
    compile them (False).

    A numba whose cache internals differ counts as cached: better no note than a wrong one.
    """
    try:
        return all(_cached(getattr(kernel, name)) for name in names)
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
    from sim.model import precompile

    precompile.start()  # the functions the engine calls, compiled on the other core meanwhile
    return True


def _lean_load(cache):
    """`cache.load_overload` without loading every typing and lowering rule first (see the module's
    docstring): the runtime is started, then the entry is read as numba reads it."""
    full = cache.load_overload
    try:
        from numba.core.runtime import rtsys

        read = cache._load_overload
        start_runtime = rtsys.initialize
    except (ImportError, AttributeError):  # another numba: its own loading
        return full

    def load_overload(sig, target_context):
        start_runtime(target_context)
        return read(sig, target_context)

    return load_overload


def _recovering_cache(cache, warned: list[bool]):
    """`cache.load_overload` (lean), except that an unreadable cache entry is discarded and recompiled.

    numba's on-disk cache is pickles; a truncated or corrupted file (a full disk,
    a crash mid-write, a stray edit) would otherwise fail every run until
    someone deletes it by hand.
    """
    load = _lean_load(cache)

    def load_overload(sig, target_context):
        try:
            return load(sig, target_context)
        except Exception as exc:
            if not warned:
                warned.append(True)
                _log.warning(
                    "sim: note: the compiled engine's cache in %s was unreadable (%s); recompiling it, once",
                    cache.cache_path,
                    type(exc).__name__,
                )
            with contextlib.suppress(OSError):
                cache.flush()  # an empty index: the fresh compilation is saved over the broken entries
            return None  # numba compiles, as if nothing were cached

    return load_overload


def guard_caches(*modules) -> None:
    """Make every numba cache of `modules` recover from an unreadable entry (see _recovering_cache)."""
    warned: list[bool] = []
    for module in modules:
        for value in vars(module).values():
            cache = getattr(value, "_cache", None)
            if isinstance(cache, Cache):
                cache.load_overload = _recovering_cache(cache, warned)
