"""numba's start-up in a process of our own, without scipy.

`import numba` imports scipy only to check its version (scipy's package with its
test utilities: a few hundredths of a second of `sim run`'s start-up), and
numba's numpy support (`numba.np.arraymath`) imports `scipy.linalg` (and
through it numpy.f2py, argparse and unittest: a fifth of a second) only to learn
whether BLAS is at hand for `np.dot` in compiled code. An engine that is in
numba's cache is loaded without numba's numpy support or anything else numba
compiles with (`sim.model.engine_cache`). So in a process that compiles nothing
but the engine (the `sim` command), numba is imported with scipy out of reach,
and its numpy support as well only if the engine must be compiled (the first run
after an install); then scipy is importable again. numba then computes inner
products in compiled code with its own loop instead of BLAS, which no code of
the engine does. Not for the Python API: a notebook's own numba code keeps
numba's defaults.
"""

from __future__ import annotations

import sys

BLAS_CHECK = "numba.np.arraymath"  # the numba module whose import looks for scipy's BLAS


def load_numba_without_scipy() -> None:
    """Import numba, and its numpy support if the engine must be compiled, with scipy out of reach
    (best effort; a no-op if either is in)."""
    if BLAS_CHECK in sys.modules or "scipy.linalg" in sys.modules:
        return
    # an import of either raises ImportError, which numba takes as "no scipy" and "no BLAS"
    hidden = ["scipy.linalg"] + ([] if "scipy" in sys.modules else ["scipy"])
    for name in hidden:
        sys.modules[name] = None
    try:
        import numba

        from sim.model.engine_cache import engine_cached

        if not engine_cached():  # to be compiled: numba's numpy support now, as before
            import numba.np.arraymath  # noqa: F401
    except ImportError:  # another numba: its own start-up will do
        pass
    finally:
        for name in hidden:
            del sys.modules[name]
