"""What every poller shares (pollers/base.py): the stop sequence, the epoll mask, the wake-up."""

from __future__ import annotations

import os
import select

import pytest

from gfrpc.transport.pollers.base import (
    EPOLL_ERR,
    Pollable,
    Poller,
    epoll_mask,
    take_wakeup,
)

pytestmark = pytest.mark.timeout(30)


class _Aborted:
    """A pollable that only records why it was aborted."""

    def __init__(self) -> None:
        self.reasons: list[Exception] = []

    def fileno(self) -> int:
        return -1

    def interest(self) -> tuple[bool, bool]:
        return False, False

    def handle_events(self, readable: bool, writable: bool, error: bool) -> bool:
        return True

    def finalize(self) -> None:
        pass

    def abort(self, reason: Exception) -> None:
        self.reasons.append(reason)


class _Scripted(Poller):
    """A poller whose stop hooks return what the test gives and log their calls."""

    def __init__(self, watched: list[Pollable] | None) -> None:
        self.watched = watched
        self.calls: list[str] = []

    def start(self) -> None:
        pass

    def register(self, pollable: Pollable) -> None:
        pass

    def kick(self, pollable: Pollable) -> None:
        pass

    def pollable_count(self) -> int:
        return 0

    def _stop_accepting(self) -> list[Pollable] | None:
        self.calls.append("stop_accepting")
        return self.watched

    def _wind_down(self, timeout: float) -> None:
        self.calls.append(f"wind_down {timeout}")


def test_stop_aborts_every_pollable_then_winds_down() -> None:
    """stop(): refuse new pollables, abort each watched one ("poller stopped"), then wait."""
    a, b = _Aborted(), _Aborted()
    poller = _Scripted([a, b])
    poller.stop(timeout=1.5)
    assert poller.calls == ["stop_accepting", "wind_down 1.5"]
    for p in (a, b):
        assert [str(r) for r in p.reasons] == ["poller stopped"]
        assert isinstance(p.reasons[0], RuntimeError)


def test_stop_of_a_stopped_poller_does_nothing() -> None:
    """When _stop_accepting says the poller was stopped already, nothing is aborted or joined."""
    poller = _Scripted(None)
    poller.stop()
    assert poller.calls == ["stop_accepting"]


def test_context_manager_stops() -> None:
    """Leaving ``with poller:`` runs the same stop sequence."""
    p = _Aborted()
    with _Scripted([p]) as poller:
        pass
    assert poller.calls == ["stop_accepting", "wind_down 5.0"] and len(p.reasons) == 1


@pytest.mark.parametrize(
    ("interest", "mask"),
    [
        ((False, False), 0),
        ((True, False), select.EPOLLIN | select.EPOLLRDHUP),
        ((False, True), select.EPOLLOUT),
        ((True, True), select.EPOLLIN | select.EPOLLRDHUP | select.EPOLLOUT),
    ],
)
def test_epoll_mask(interest: tuple[bool, bool], mask: int) -> None:
    """Reading asks for EPOLLIN and EPOLLRDHUP (the peer's FIN), writing for EPOLLOUT; errors
    (EPOLL_ERR) are never asked for, since epoll always reports them."""
    assert epoll_mask(interest) == mask
    assert epoll_mask(interest) & EPOLL_ERR == 0


@pytest.mark.parametrize("semaphore", [False, True])
def test_take_wakeup(semaphore: bool) -> None:
    """take_wakeup reads the eventfd once: True when a wake-up was there, False when it was
    empty (a spurious wake), never blocking; a semaphore eventfd gives one wake-up per read."""
    flags = os.EFD_NONBLOCK | os.EFD_CLOEXEC | (os.EFD_SEMAPHORE if semaphore else 0)
    fd = os.eventfd(0, flags)
    try:
        assert take_wakeup(fd) is False
        os.eventfd_write(fd, 2)
        assert take_wakeup(fd) is True
        assert take_wakeup(fd) is semaphore  # a plain eventfd was reset by the first read
        assert take_wakeup(fd) is False
    finally:
        os.close(fd)
