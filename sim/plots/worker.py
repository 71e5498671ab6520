"""A process that draws a run's figures while `sim run` simulates and writes its tables.

Drawing the two figures (and importing matplotlib) takes about a second of one
core; the run leaves the other core idle while it starts, between and within
blocks of runs, and while it writes its tables. `sim run` starts this worker
first, so it imports matplotlib while the run imports the engine; it hands
over the dyads' plot data as soon as their bands are made (the first thousand
runs) and the fan chart's when the runs are done, and writes the file contents
the worker sends back into its run folder. The figures are the bytes
`sim.plots.render` makes in any process.

The worker writes no file, runs in a session of its own (a Ctrl-C to the
terminal's process group is the command's to handle) and is killed when the
command ends, however it ends; if the command dies, the worker reads the end
of its input and exits. Should the worker fail, the command draws the figures
itself: a worker can only save time.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class FigureWorker:
    """The command's side: hand plot data over, collect each figure's files, stop the worker."""

    def __init__(self, formats: tuple[str, ...]):
        self.formats = tuple(formats)
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "sim.plots.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self._sent: list[str] = []
        self._files: dict[str, dict[str, bytes] | None] = {}
        self._failed = False  # a figure could not be handed over: the worker is gone
        self._ended = False  # the worker's answers have ended (it is gone, or it sent garbage)
        self._answers = threading.Condition()
        self._reader = threading.Thread(target=self._read, name="sim-figures", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        """Take each answer as it comes (so the worker never waits on a full pipe), until they end."""
        while True:
            try:
                done, files = pickle.load(self._proc.stdout)
            except Exception:  # the end of the answers (the worker is gone), or garbage
                with self._answers:
                    self._ended = True
                    self._answers.notify_all()
                return
            with self._answers:
                self._files[done] = files
                self._answers.notify_all()

    def has(self, kind: str) -> bool:
        """Whether `kind` was handed over already."""
        return kind in self._sent

    def submit(self, kind: str, plot: Any) -> None:
        """Hand over a figure's plot data; the worker draws it meanwhile. Never raises."""
        if self._failed or kind in self._sent:
            return
        try:
            pickle.dump((kind, plot, self.formats), self._proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            self._proc.stdin.flush()
        except (OSError, ValueError, pickle.PicklingError):
            self._failed = True
            return
        self._sent.append(kind)

    def collect(self, kind: str, formats: tuple[str, ...]) -> dict[str, bytes] | None:
        """The files of figure `kind` ({'png': b'...'}), waiting for them; None if the worker cannot say."""
        if kind not in self._sent or tuple(formats) != self.formats:
            return None
        with self._answers:
            while kind not in self._files and not self._ended:
                self._answers.wait()  # a signal still interrupts the wait
            return self._files.get(kind)

    def close(self) -> None:
        """Stop the worker now: it holds no file, so killing it loses nothing."""
        with contextlib.suppress(OSError):
            self._proc.kill()
        self._proc.wait()
        self._reader.join()  # it reads the end of the answers at once: the worker is gone
        for pipe in (self._proc.stdin, self._proc.stdout):
            with contextlib.suppress(OSError):
                pipe.close()


@contextmanager
def figure_worker(formats: tuple[str, ...]) -> Iterator[FigureWorker | None]:
    """A figure worker for the block (None where there is no second CPU to draw on), stopped after it."""
    from sim.model.cpus import cpu_count  # (not the executors: they import the engine)

    worker = None
    if cpu_count() > 1:
        try:
            worker = FigureWorker(formats)
        except (OSError, ValueError):  # no process to be had: the command draws the figures itself
            worker = None
    try:
        yield worker
    finally:
        if worker is not None:
            worker.close()


def _serve() -> None:
    """The worker's side: read (kind, plot, formats), answer (kind, files or None), until the input ends."""
    import queue
    import threading

    # the protocol owns the real stdout; anything a library prints goes to stderr (/dev/null)
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    requests = sys.stdin.buffer
    jobs: queue.Queue = queue.Queue()

    def read() -> None:  # drained at once, so the command never waits on a full pipe
        while True:
            try:
                jobs.put(pickle.load(requests))
            except Exception:  # the end of the input (the command is done or gone), or garbage
                jobs.put(None)
                return

    threading.Thread(target=read, daemon=True).start()
    from sim.plots.render import render  # matplotlib: imported while the command imports the engine

    while (job := jobs.get()) is not None:
        kind, plot, formats = job
        try:
            files = render(kind, plot, formats)
        except Exception:  # the command draws it itself and reports the error
            files = None
        try:
            pickle.dump((kind, files), replies, protocol=pickle.HIGHEST_PROTOCOL)
            replies.flush()
        except OSError:  # the command is gone
            return


if __name__ == "__main__":
    _serve()
