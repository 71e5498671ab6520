"""A run's figures as file contents: drawn from their plot data, the same bytes in any process.

`Result.save` writes what this returns, whether it drew the figures itself or
a figure worker (`sim/plots/worker.py`) drew them beside the run.
"""

from __future__ import annotations

import io
import warnings

from sim.plots import figures
from sim.plots.plotdata import DyadsPlot, TensionPlot
from sim.plots.reproducible import SVG_SALT, figure_metadata

DPI = 150


def draw(kind: str, plot: TensionPlot | DyadsPlot):
    """The matplotlib Figure of `kind` (one of plotdata.KINDS) from its plot data."""
    return {"tension": figures.tension_figure, "dyads": figures.dyads_figure}[kind](plot)


def render(kind: str, plot: TensionPlot | DyadsPlot, formats: tuple[str, ...]) -> dict[str, bytes]:
    """Each format's file contents ({'png': b'...'}): no dates or tool versions, fixed SVG ids."""
    import matplotlib
    import matplotlib.pyplot as plt

    with warnings.catch_warnings():
        # matplotlib's remarks on very short runs' date axes are not the user's to act on
        warnings.simplefilter("ignore", UserWarning)
        fig = draw(kind, plot)
        try:
            files = {}
            with matplotlib.rc_context({"svg.hashsalt": SVG_SALT}):
                for fmt in formats:
                    buffer = io.BytesIO()
                    fig.savefig(buffer, format=fmt, dpi=DPI, metadata=figure_metadata(fmt))
                    files[fmt] = buffer.getvalue()
            return files
        finally:
            plt.close(fig)
