"""Waiting for what has no event to wait on: a condition that becomes true, a count that stops
changing (threads, RSS, open fds, a peer's view of a connection).

Tests wait on events where there is one; these poll, with a deadline, for the rest. Each
failure names what was awaited, as an ``AssertionError`` (a test failure, not an error).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["settled", "wait_for"]

T = TypeVar("T")


def wait_for(
    condition: Callable[[], object],
    timeout: float = 30.0,
    what: str = "condition",
    *,
    interval: float = 0.02,
) -> None:
    """Return once ``condition()`` is true; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout:g} s waiting for {what}"
        time.sleep(interval)


def settled(
    value: Callable[[], T],
    quiet: float = 0.5,
    timeout: float = 30.0,
    *,
    interval: float = 0.05,
) -> T:
    """``value()`` once it has not changed for ``quiet`` seconds; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    last, since = value(), time.monotonic()
    while time.monotonic() - since < quiet:
        assert time.monotonic() < deadline, f"the value never settled within {timeout:g} s"
        time.sleep(interval)
        now = value()
        if now != last:
            last, since = now, time.monotonic()
    return last
