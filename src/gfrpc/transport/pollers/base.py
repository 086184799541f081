"""What a poller drives, and what every poller promises.

A *pollable* is anything with a file descriptor that a poller watches: an ``Endpoint`` (one
connection) or a ``Listener``. The poller asks it what it wants (``interest()``), tells it
what happened (``handle_events()``), and when ``handle_events`` answers ``False`` the poller
stops watching the fd and calls ``finalize()`` once, on the same thread. That is the only
place an fd is closed, so no fd is ever closed while another thread still polls or reads it.

The rule that makes the three models safe: **exactly one thread handles a given pollable at a
time.** Other threads never touch its input; they change what it wants (more output queued,
reading paused or resumed, a close requested) and call ``poller.kick(pollable)``, which makes
the poller run ``handle_events(False, False, False)`` on the pollable's handling thread and
then watch the new interest.
"""

from __future__ import annotations

import abc
from typing import Protocol


class Pollable(Protocol):
    def fileno(self) -> int: ...

    def interest(self) -> tuple[bool, bool]:
        """(want to read, want to write) right now."""
        ...

    def handle_events(self, readable: bool, writable: bool, error: bool) -> bool:
        """Do the work the events allow; return False when the pollable is finished."""
        ...

    def finalize(self) -> None:
        """Called once, after the poller has stopped watching the fd: close it, notify."""
        ...

    def abort(self, reason: Exception) -> None:
        """Ask the pollable to finish (used when the poller stops)."""
        ...


class Poller(abc.ABC):
    """Drives pollables. Chosen once, by name, with :func:`gfrpc.transport.make_poller`."""

    name: str = ""

    @abc.abstractmethod
    def start(self) -> None:
        """Start the poller's threads (idempotent)."""

    @abc.abstractmethod
    def register(self, pollable: Pollable) -> None:
        """Start watching ``pollable`` and run its first ``handle_events`` soon."""

    @abc.abstractmethod
    def kick(self, pollable: Pollable) -> None:
        """Make the handling thread look at ``pollable`` again (thread-safe)."""

    @abc.abstractmethod
    def stop(self, timeout: float = 5.0) -> None:
        """Abort every pollable, wait for their cleanup, and stop the threads."""

    @abc.abstractmethod
    def pollable_count(self) -> int:
        """How many pollables are being watched (for leak checks)."""

    def __enter__(self) -> Poller:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
