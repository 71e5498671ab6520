"""numba's start-up in a process of our own, without the scipy it imports to check and look for BLAS.

When numba loads its first compiled function it imports its numpy support,
which imports `scipy.linalg` (and, through scipy, numpy.f2py, argparse and
unittest) only to learn whether BLAS is at hand for `np.dot` in compiled code:
a fifth of a second or more of `sim run`'s start-up, for a kernel that uses no
BLAS. `import numba` itself imports scipy only to check its version (scipy's
package, with its test utilities: a few hundredths of a second). In a process
that compiles nothing but the engine (the `sim` command), numba is loaded with
scipy out of reach, then scipy is importable again. numba then computes inner
products in compiled code with its own loop instead of BLAS, which no code of
the engine does. Not for the Python API: a notebook's own numba code keeps
numba's defaults.
"""

from __future__ import annotations

import sys

BLAS_CHECK = "numba.np.arraymath"  # the numba module whose import looks for scipy's BLAS


def load_numba_without_scipy() -> None:
    """Import numba and its numpy support with scipy out of reach (best effort; a no-op if either is in)."""
    if BLAS_CHECK in sys.modules or "scipy.linalg" in sys.modules:
        return
    # an import of either raises ImportError, which numba takes as "no scipy" and "no BLAS"
    hidden = ["scipy.linalg"] + ([] if "scipy" in sys.modules else ["scipy"])
    for name in hidden:
        sys.modules[name] = None
    try:
        import numba.np.arraymath  # noqa: F401
    except ImportError:  # another numba: its own start-up will do
        pass
    finally:
        for name in hidden:
            del sys.modules[name]
