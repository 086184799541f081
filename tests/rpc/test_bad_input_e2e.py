"""Bad input over real sockets: the peer that sent it is cut off (or answered with an RPC
error), every other connection goes on, on every poller."""

from __future__ import annotations

import logging
import os
import socket
import struct
import threading

import pytest

from gfrpc.programs import dump as gfdump
from gfrpc.rpc.client import RpcClient
from gfrpc.rpc.server import Procedure, Program, RpcServer
from gfrpc.transport import POLLER_NAMES, make_poller
from gfrpc.wire import rpcmsg
from gfrpc.wire.record import record_mark

pytestmark = pytest.mark.timeout(60)

ECHO_PROG, ECHO_VERS = 0x20000123, 1


@pytest.fixture(params=POLLER_NAMES)
def served(request: pytest.FixtureRequest):
    poller = make_poller(request.param)
    poller.start()
    server = RpcServer(poller, workers=4)
    server.register(
        Program(ECHO_PROG, ECHO_VERS, "echo", {1: Procedure("ECHO", lambda req: bytes(req.args))})
    )
    listener = server.listen("127.0.0.1:0")
    yield poller, listener.address
    server.close()
    poller.stop()


class Chatter(threading.Thread):
    """A well-behaved client that keeps calling while others misbehave."""

    def __init__(self, poller, address) -> None:
        super().__init__(daemon=True)
        self.client = RpcClient(address, poller=poller, ping_timeout=0)
        self.client.connect(timeout=10)
        self.stop = threading.Event()
        self.calls = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                body = os.urandom(64)
                assert (
                    bytes(self.client.call(ECHO_PROG, ECHO_VERS, 1, body, timeout=10).body) == body
                )
                self.calls += 1
        except BaseException as exc:  # reported by finish()
            self.error = exc

    def finish(self) -> int:
        self.stop.set()
        self.join(20)
        self.client.close()
        assert self.error is None, self.error
        return self.calls


def _raw(address) -> socket.socket:
    s = socket.create_connection(address.sockaddr, timeout=10)
    return s


def _closed_by_server(s: socket.socket) -> bool:
    try:
        while True:
            if s.recv(65536) == b"":
                return True
    except ConnectionResetError:
        return True


def _call(
    xid: int, prog: int, vers: int, proc: int, cred: rpcmsg.OpaqueAuth, args: bytes = b""
) -> bytes:
    msg = rpcmsg.encode_call(xid, prog, vers, proc, cred=cred) + args
    return record_mark(len(msg)) + msg


def test_garbage_bytes_cut_off_only_that_peer(served, caplog) -> None:
    """A record of random bytes closes that connection with a logged reason; a concurrent
    client's calls all succeed."""
    caplog.set_level(logging.INFO, logger="gfrpc")
    poller, address = served
    chatter = Chatter(poller, address)
    chatter.start()
    for _ in range(5):
        s = _raw(address)
        junk = b"\x00\x00\x00\x07" + os.urandom(60)  # xid then msg_type 7
        s.sendall(record_mark(len(junk)) + junk)
        assert _closed_by_server(s)
        s.close()
    assert chatter.finish() > 0
    assert any(
        "protocol error" in r.getMessage() or "closing" in r.getMessage() for r in caplog.records
    )


def test_credential_over_400_bytes_cuts_off_only_that_peer(served) -> None:
    """A CALL whose credential body is over 400 bytes closes that connection only."""
    poller, address = served
    chatter = Chatter(poller, address)
    chatter.start()
    s = _raw(address)
    cred = rpcmsg.OpaqueAuth(rpcmsg.AUTH_GLUSTERFS_V2, b"\x00" * 404)
    head = struct.pack(">IIIIII", 9, 0, 2, ECHO_PROG, ECHO_VERS, 1)
    body = head + struct.pack(">II", cred.flavor, len(cred.body)) + cred.body + b"\x00" * 8
    s.sendall(record_mark(len(body)) + body)
    assert _closed_by_server(s)
    s.close()
    assert chatter.finish() > 0


def test_unknown_program_is_rejected_and_the_connection_goes_on(served) -> None:
    """An unknown program gets PROG_UNAVAIL; the same connection then serves a good call."""
    poller, address = served
    client = RpcClient(address, poller=poller, ping_timeout=0)
    client.connect(timeout=10)
    try:
        with pytest.raises(Exception) as info:
            client.call(0x20009999, 1, 1, b"", timeout=10)
        assert (
            "PROG_UNAVAIL" in str(info.value) or getattr(info.value, "stat", "") == "PROG_UNAVAIL"
        )
        client.call(gfdump.GF_DUMP_PROGRAM, gfdump.GF_DUMP_VERSION, gfdump.PING, b"", timeout=10)
        assert bytes(client.call(ECHO_PROG, ECHO_VERS, 1, b"abcd", timeout=10).body) == b"abcd"
    finally:
        client.close()


def test_huge_fragment_header_cuts_off_only_that_peer(served) -> None:
    """A fragment header announcing 2 GiB - 1 (>= the 1 GiB limit) closes that connection at
    once, before anything of that size is allocated."""
    poller, address = served
    chatter = Chatter(poller, address)
    chatter.start()
    s = _raw(address)
    s.sendall(struct.pack(">I", 0xFFFFFFFF) + b"x" * 64)
    assert _closed_by_server(s)
    s.close()
    assert chatter.finish() > 0
