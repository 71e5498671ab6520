"""Output folders written atomically: every file appears together, or none does."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sim.errors import UserError


@contextmanager
def atomic_folder(out: str | Path) -> Iterator[Path]:
    """Yield a temporary folder beside `out`; rename it to `out` only if the block succeeds.

    An error or Ctrl-C inside the block leaves nothing behind; an existing,
    non-empty `out` is refused before anything is written.
    """
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError("already exists and is not empty; choose another --out", source=str(out))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    try:
        yield tmp
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def save_figure(fig, path: Path, **kwargs: Any) -> None:
    """Save a matplotlib figure without a creation date in the file, and free it."""
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=kwargs.pop("dpi", 150), metadata={"Software": None}, **kwargs)
    plt.close(fig)


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n")
