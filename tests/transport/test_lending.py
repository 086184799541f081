"""Lending (``pollers/base.py``, ``Endpoint.borrow_input`` / ``read_until``): a thread that
waits for input on one connection may borrow it from its poller and read it itself. These
tests hold lending to the poller contract: one handling thread at a time, nothing the poller
was asked meanwhile is lost, a hang-up ends the lend and closes the connection once, the lend
is bounded in time, and afterwards the poller reads the connection again. On every poller
(``own-thread`` lends nothing) with and without TLS."""

from __future__ import annotations

import threading
import time

import pytest
from transport_support import Accepted, Recorder

from gfrpc.transport import connect, endpoint, listen, make_poller

pytestmark = pytest.mark.timeout(60)

LENDERS = ("single", "pool", "sharded")


class Client(Recorder):
    """Records the name of the thread each record was delivered on."""

    def __init__(self) -> None:
        super().__init__()
        self.delivered_on: list[str] = []

    def record_received(self, ep, record) -> None:
        self.delivered_on.append(threading.current_thread().name)
        super().record_received(ep, record)


@pytest.fixture
def pair(poller, tls):
    """A client endpoint on ``poller`` (its handler a ``Client``) connected to a server on a
    poller of its own that answers every record with its first 8 bytes and ``ok``, after one
    round trip; the server's handler too."""
    server_ctx, client_ctx = tls
    server_poller = make_poller("single")
    server_poller.start()
    servers = Accepted(lambda: Recorder(reply=True))
    listener = listen("127.0.0.1:0", poller=server_poller, handler_factory=servers, tls=server_ctx)
    client = Client()
    ep = connect(str(listener.address), poller=poller, handler=client, tls=client_ctx)
    try:
        ep.submit(b"warmup00")
        client.wait_records(1)
        yield ep, client, servers.get(0)
    finally:
        ep.close()
        server_poller.stop()


def _borrow(ep) -> None:
    """Borrow ``ep``, waiting while its poller still handles it (it may, just after a reply)."""
    end = time.monotonic() + 10
    while not ep.borrow_input():
        assert time.monotonic() < end, "the poller never lent the connection"
        time.sleep(0.001)


def _never() -> bool:
    return False


def test_a_lent_connection_is_read_on_the_borrowing_thread(pair, poller):
    """Rule: while a thread holds a borrowed connection, every record that comes is delivered
    on that thread; a poller that does not lend says so, and its thread keeps reading."""
    ep, client, _ = pair
    me = threading.current_thread().name
    if poller.name not in LENDERS:
        assert not ep.borrow_input()
        ep.submit(b"request1")
        client.wait_records(2)
        assert client.delivered_on[-1] != me
        return
    for i in range(20):
        _borrow(ep)
        ep.submit(b"req%05d" % i)
        ep.read_until(lambda i=i: len(client.records) >= i + 2)
        assert len(client.records) == i + 2
        assert client.records[-1] == b"req%05dok" % i
        assert client.delivered_on[-1] == me


@pytest.mark.parametrize("poller", LENDERS, indirect=True)
def test_the_poller_keeps_off_a_lent_connection_and_misses_nothing(pair, poller, monkeypatch):
    """Rule: the poller does not handle a lent connection, even when kicked; what it was asked
    meanwhile is handled on a poller thread once the connection is given back, and input
    that comes later is read by the poller again."""
    ep, client, server = pair
    me = threading.current_thread().name
    handled: list[str] = []
    after_give_back = threading.Event()
    real = ep.handle_events

    def handle_events(readable, writable, error):
        handled.append(threading.current_thread().name)
        if threading.current_thread().name != me:
            after_give_back.set()
        return real(readable, writable, error)

    monkeypatch.setattr(ep, "handle_events", handle_events)
    monkeypatch.setattr(endpoint, "LEND_SLICE", 0.3)
    _borrow(ep)
    poller.kick(ep)
    server.endpoint.submit(b"unasked!")  # input while lent: read by the borrower
    ep.read_until(_never)
    assert handled and set(handled) == {me}
    assert client.records[-1] == b"unasked!" and client.delivered_on[-1] == me
    assert after_give_back.wait(10), "the kick made while lent was never handled"
    server.endpoint.submit(b"later!!!")
    client.wait_records(3)
    assert client.delivered_on[-1] != me


@pytest.mark.parametrize("poller", LENDERS, indirect=True)
def test_a_lent_connection_cannot_be_borrowed_again(pair, poller):
    """Rule: one handling thread at a time: a lent connection is not lent to a second thread
    until it is given back."""
    ep, _, _ = pair
    _borrow(ep)
    second: list[bool] = []
    t = threading.Thread(target=lambda: second.append(ep.borrow_input()))
    t.start()
    t.join(10)
    assert second == [False]
    ep.read_until(lambda: True)  # gives it back at once
    _borrow(ep)
    ep.read_until(lambda: True)


@pytest.mark.parametrize("poller", LENDERS, indirect=True)
def test_a_hang_up_while_lent_ends_the_lend_and_closes_once(pair, poller, monkeypatch):
    """Rule: when the peer closes a lent connection the borrower stops reading at once (not
    at the end of its slice), and the connection is closed with ``connection_lost`` called
    exactly once."""
    ep, client, server = pair
    monkeypatch.setattr(endpoint, "LEND_SLICE", 30.0)
    _borrow(ep)
    threading.Thread(target=server.endpoint.close).start()
    t0 = time.monotonic()
    ep.read_until(_never)
    assert time.monotonic() - t0 < 10
    assert client.lost.wait(10)
    assert ep.closed and client.lost_count == 1
    assert poller.pollable_count() <= 1  # the client endpoint is retired (a listener: none)


@pytest.mark.parametrize("poller", LENDERS, indirect=True)
def test_a_lend_is_bounded_in_time_and_the_deadline_too(pair, poller, monkeypatch):
    """Rule: a borrower that waits for something that never comes gives the connection back
    after ``LEND_SLICE``, or at its deadline if that is sooner; the connection then works
    through the poller."""
    ep, client, _ = pair
    monkeypatch.setattr(endpoint, "LEND_SLICE", 0.2)
    _borrow(ep)
    t0 = time.monotonic()
    ep.read_until(_never)
    assert 0.2 <= time.monotonic() - t0 < 5
    _borrow(ep)
    t0 = time.monotonic()
    ep.read_until(_never, deadline=t0 + 0.05)
    assert time.monotonic() - t0 < 0.2 - 0.01
    ep.submit(b"afterall")
    client.wait_records(2)
    assert client.records[-1] == b"afterallok"
    assert client.delivered_on[-1] != threading.current_thread().name
