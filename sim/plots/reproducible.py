"""Figure files that depend on nothing but the figure: no dates, no tool versions, no random ids.

Identical runs must write identical files, figures included; matplotlib would
stamp a creation date into PDF and SVG, its version into PNG, and salt SVG ids
with a random uuid.
"""

from __future__ import annotations

from typing import Any

# SVG ids are hashes salted with a random uuid unless a salt is set: a fixed salt makes two
# identical runs write identical SVG files.
SVG_SALT = "crisis-sim"


def figure_metadata(fmt: str) -> dict[str, Any]:
    """No creation dates or tool versions in figure files, so identical runs write identical files."""
    match fmt:
        case "png":
            return {"Software": None}
        case "svg":
            return {"Date": None}
        case "pdf":
            return {"CreationDate": None}
        case _:
            return {}
