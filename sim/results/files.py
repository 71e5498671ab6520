"""Output folders and files written atomically: every file appears together, or none does."""

from __future__ import annotations

import errno
import json
import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sim.errors import UserError, check_interrupted, one_line
from sim.plots.reproducible import SVG_SALT, figure_metadata

# errors of the place written to, not of the program: reported as one line about the output
WRITE_ERRORS = {
    errno.ENOSPC,
    errno.EDQUOT,
    errno.EFBIG,
    errno.EROFS,
    errno.EACCES,
    errno.EPERM,
    errno.ENAMETOOLONG,
    errno.EIO,
}


def umask() -> int:
    """The process's umask, read without changing it where the system allows."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # elsewhere: read it by setting it, and put it back at once
    os.umask(mask)
    return mask


def _cannot_write(exc: OSError, path: Path) -> UserError:
    reason = exc.strerror or one_line(exc)
    return UserError(f"cannot write here: {reason}", source=str(path))


def check_out(out: str | Path) -> Path:
    """Refuse an output folder that cannot be written, before any work is done.

    It must not be an existing file or non-empty folder; its name must fit
    the file system; its nearest existing parent must be a folder this process
    may write into. Each problem is a one-line UserError (exit 2).
    """
    text = str(out)
    if not text.strip():
        raise UserError("expected a folder to write, found an empty path", field="--out")
    path = Path(out)
    try:
        absolute = Path(os.path.abspath(path))
        if absolute in (Path(os.getcwd()), Path(absolute.anchor)):
            which = "the current folder" if absolute == Path(os.getcwd()) else "the root folder"
            raise UserError(f"expected a new folder, found {which}; choose another --out", source=text)
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise UserError("already exists and is not empty; choose another --out", source=text)
        parent = absolute.parent
        while not parent.exists():
            parent = parent.parent
        if not parent.is_dir():
            raise UserError(f"cannot write here: {parent} is not a folder", source=text)
        limit = os.pathconf(parent, "PC_NAME_MAX") if hasattr(os, "pathconf") else 255
        for part in absolute.relative_to(parent).parts:
            if len(os.fsencode(part)) > limit:
                raise _cannot_write(OSError(errno.ENAMETOOLONG, os.strerror(errno.ENAMETOOLONG)), path)
        if not os.access(parent, os.W_OK | os.X_OK):
            raise _cannot_write(OSError(errno.EACCES, os.strerror(errno.EACCES)), path)
    except OSError as exc:  # a name too long for the path as a whole, a loop of links, ...
        raise _cannot_write(exc, path) from None
    return path


@contextmanager
def atomic_folder(out: str | Path) -> Iterator[Path]:
    """Yield a temporary folder beside `out`; rename it to `out` only if the block succeeds.

    An error or a signal inside the block leaves nothing behind; an existing,
    non-empty `out` is refused before anything is written. The folder gets the
    permissions the umask gives a new folder (not the temporary folder's 0700).
    A folder that cannot be written (permissions, a full disk) is a one-line error.
    """
    out = check_out(out)
    # The name is chosen before the folder is made and the clean-up guards the making itself, so a
    # signal that lands while the folder is being created cannot leave it behind.
    tmp = partial_name(out.parent)
    try:
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp.mkdir(mode=0o700)
        except OSError as exc:
            raise _cannot_write(exc, out) from None
        os.chmod(tmp, 0o777 & ~umask())
        yield tmp
        check_interrupted()  # a signal whose exception got lost must not leave a folder behind
        try:
            os.replace(tmp, out)  # onto a missing or empty folder
        except OSError as exc:
            if exc.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR):  # someone wrote there meanwhile
                raise UserError(
                    "already exists and is not empty; choose another --out", source=str(out)
                ) from None
            raise
    except OSError as exc:
        if exc.errno in WRITE_ERRORS:  # a full disk, a quota, a read-only file system while writing
            raise _cannot_write(exc, out) from None
        raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def partial_name(folder: Path) -> Path:
    """A fresh temporary name beside the output (`.sim-<16 hex digits>.partial`), not yet created."""
    return Path(folder or ".") / f".sim-{secrets.token_hex(8)}.partial"


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write a text file whole or not at all (a temporary file beside it, then a rename)."""
    path = Path(path)
    if path.is_dir():
        raise UserError("is a folder; expected a file name", source=str(path))
    name = str(partial_name(path.parent))
    try:
        with open(name, "x", encoding="utf-8") as fh:  # inside the clean-up, like atomic_folder's
            fh.write(text)
        os.chmod(name, 0o666 & ~umask())
        os.replace(name, path)
    except OSError as exc:
        raise _cannot_write(exc, path) from None
    finally:
        if os.path.exists(name):
            os.unlink(name)
    return path


def save_figure(fig, path: Path, **kwargs: Any) -> None:
    """Save a matplotlib figure reproducibly (no dates, fixed SVG ids), and free it."""
    import matplotlib
    import matplotlib.pyplot as plt

    fmt = kwargs.get("format") or Path(path).suffix.lstrip(".") or "png"
    try:
        with matplotlib.rc_context({"svg.hashsalt": SVG_SALT}):
            fig.savefig(path, dpi=kwargs.pop("dpi", 150), metadata=figure_metadata(fmt), **kwargs)
    finally:
        plt.close(fig)


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n")
