"""An error/hang-up event is believed only when the socket agrees (fd-reuse race).

epoll reports events by fd number. A thread can take an old connection's HUP out of
``epoll_wait``, and before it looks the fd up, the old connection is retired, its fd closed and
the number reused by a new connection. These tests hand such a stale flag to a healthy
endpoint directly, with a poller that does nothing, so the outcome does not depend on timing.
"""

from __future__ import annotations

import gc
import socket
import struct
import weakref

import pytest
from transport_support import ManualPoller, Recorder

from gfrpc.errors import NotConnectedError
from gfrpc.transport import Endpoint, SocketOptions

pytestmark = pytest.mark.timeout(30)


def open_endpoint() -> tuple[Endpoint, Recorder, socket.socket]:
    ours, peer = socket.socketpair()
    handler = Recorder()
    ep = Endpoint(ours, handler=handler, poller=ManualPoller(), options=SocketOptions())  # type: ignore[arg-type]
    assert ep.handle_events(False, False, False)  # first handling: connection_made
    assert handler.made.is_set()
    return ep, handler, peer


def test_stale_hangup_on_a_healthy_socket_is_ignored() -> None:
    """An error flag with nothing to read and no socket error leaves the connection open."""
    ep, handler, peer = open_endpoint()
    assert ep.handle_events(True, False, True)
    assert not ep.closed
    peer.sendall(struct.pack(">I", 0x80000004) + b"data")
    assert ep.handle_events(True, False, False)
    assert handler.records == [b"data"]
    ep.close()
    assert not ep.handle_events(False, False, False)
    ep.finalize()
    peer.close()


def test_real_hangup_closes_the_connection() -> None:
    """An error flag after the peer has gone (EOF) closes with ENOTCONN."""
    ep, handler, peer = open_endpoint()
    peer.close()
    assert not ep.handle_events(False, False, True)
    ep.finalize()
    assert handler.lost_count == 1
    assert isinstance(handler.lost_exc, NotConnectedError)


def test_reset_is_reported_as_reset() -> None:
    """A pending socket error (RST) closes with that error's name."""
    server = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(server.getsockname())
    accepted, _ = server.accept()
    server.close()
    handler = Recorder()
    ep = Endpoint(client, handler=handler, poller=ManualPoller(), options=SocketOptions())  # type: ignore[arg-type]
    assert ep.handle_events(False, False, False)
    accepted.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    accepted.close()  # linger 0: RST
    assert not ep.handle_events(False, False, True)
    ep.finalize()
    assert isinstance(handler.lost_exc, NotConnectedError)
    assert "reset" in str(handler.lost_exc)


def test_a_failed_send_keeps_no_frame_of_its_caller() -> None:
    """Rule (endpoint_output.py, ``_send_alone``): a message whose send fails (its peer has
    gone) leaves no reference cycle that keeps its caller's frame: with the cyclic garbage
    collector off, the caller's locals are freed when it returns. (Before, the failed send's
    OSError, kept in ``_send_alone``'s frame, and its traceback kept each other and every
    frame up to the caller's: a worker thread's eventfd doorbell outlived the thread.)"""
    ep, handler, peer = open_endpoint()
    peer.close()

    class Local:
        pass

    def caller() -> weakref.ref[Local]:
        local = Local()
        ep.submit(b"12345678", b"a reply")
        return weakref.ref(local)

    gc.collect()
    gc.disable()
    try:
        ref = caller()
        assert ep.closed, "the send did not fail"
        assert ref() is None, "a failed send kept its caller's frame"
    finally:
        gc.enable()
    ep.finalize()
