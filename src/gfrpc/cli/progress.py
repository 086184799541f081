"""The progress bar of ``gfrpc cp``/``put -r``/``get -r``: bytes, rate, ETA, files done/total.

A bar is drawn only when it helps a person: on a terminal (stderr is a TTY), without
``--quiet``, and when ``rich`` is installed (an optional dependency, imported only here and
only then). Otherwise the copy reports nothing extra, so scripts and pipes see only errors.
Tests pass a ``console`` of their own to see what would be drawn without a terminal.
"""

from __future__ import annotations

import sys
import threading
from typing import IO, Any

from gfrpc.client.transfer import NullProgress, Progress

__all__ = ["BarProgress", "make_progress", "wants_bar"]


def wants_bar(quiet: bool, stream: IO[str] | None = None) -> bool:
    """Whether a bar belongs on ``stream`` (default stderr): a TTY, and not ``--quiet``."""
    if quiet:
        return False
    s = sys.stderr if stream is None else stream
    try:
        return bool(s.isatty())
    except (AttributeError, ValueError):
        return False


def make_progress(quiet: bool, *, console: Any = None, stream: IO[str] | None = None) -> Progress:
    """A bar (``BarProgress``) when :func:`wants_bar` says so, or on the ``console`` given (a
    ``rich.console.Console``); else a progress that shows nothing."""
    if quiet:
        return NullProgress()
    if console is None:
        if not wants_bar(quiet, stream):
            return NullProgress()
        try:
            from rich.console import Console
        except ImportError:
            return NullProgress()
        console = Console(file=sys.stderr if stream is None else stream)
    return BarProgress(console)


class BarProgress:
    """A rich bar; counts are kept here too (``files_done``, ``bytes_done``) under a lock, as
    the engine reports from several threads."""

    def __init__(self, console: Any) -> None:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )
        from rich.progress import Progress as RichProgress

        self._bar = RichProgress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(binary_units=True),
            TransferSpeedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[files]}"),
            console=console,
            transient=False,
        )
        self._lock = threading.Lock()
        self._task: Any = None
        self.files_done = self.files_total = self.bytes_done = self.bytes_total = 0

    def _files_text(self) -> str:
        return f"{self.files_done}/{self.files_total} files"

    def begin(self, files: int, total_bytes: int) -> None:
        self.files_total, self.bytes_total = files, total_bytes
        self._bar.start()
        self._task = self._bar.add_task("copying", total=total_bytes, files=self._files_text())

    def advance(self, nbytes: int) -> None:
        with self._lock:
            self.bytes_done += nbytes
        self._bar.update(self._task, advance=nbytes)

    def file_done(self) -> None:
        with self._lock:
            self.files_done += 1
            text = self._files_text()
        self._bar.update(self._task, files=text)

    def message(self, text: str) -> None:
        """One line above the bar (an error), so the bar is not torn."""
        self._bar.console.print(text, markup=False, highlight=False, soft_wrap=True)

    def end(self) -> None:
        if self._task is not None:
            self._bar.update(self._task, files=self._files_text())
        self._bar.stop()
