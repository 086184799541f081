"""A deliberately simple blocking client that can send anything, and reply bookkeeping.

The campaign must send bytes no well-behaved client would (a broken header, a record mark
that lies), so it does not use ``gfrpc.rpc.RpcClient``: a :class:`RawConnection` is a
blocking socket (optionally TLS) plus a ``RecordDecoder`` for the replies. Replies are
counted, not matched: ``read_replies(n)`` waits until ``n`` records arrived, the server closed
the connection, or nothing came for ``idle`` seconds. :func:`classify` names a reply's kind for
the final table (``op_ret>=0``, ``op_ret=-1 ENOENT``, ``GARBAGE_ARGS``, ``denied AUTH_ERROR``...).
"""

from __future__ import annotations

import errno
import socket
import ssl
import struct
import time
from typing import Any, cast

from gfrpc.errors import RemoteProtocolError
from gfrpc.programs import dump
from gfrpc.wire import rpcmsg
from gfrpc.wire.record import NEED_DATA, RecordDecoder, record_mark

__all__ = ["RawConnection", "classify", "CUT", "NO_REPLY"]

CUT = "connection cut by server"
NO_REPLY = "no reply (idle timeout)"
_I2 = struct.Struct(">ii")


class RawConnection:
    """One blocking connection to ``127.0.0.1:port``; ``tls`` is a client SSLContext or None."""

    def __init__(
        self,
        port: int,
        tls: ssl.SSLContext | None = None,
        host: str = "127.0.0.1",
        timeout: float = 10.0,
    ) -> None:
        sock = socket.create_connection((host, port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock: socket.socket = tls.wrap_socket(sock) if tls is not None else sock
        self.decoder = RecordDecoder()
        self.closed = False
        self.sent = 0

    def send_records(self, records: list[bytes]) -> None:
        self.sock.sendall(b"".join(record_mark(len(r)) + r for r in records))
        self.sent += len(records)

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read_replies(self, n: int, idle: float) -> tuple[list[bytes], bool]:
        """Up to ``n`` reply records; the flag is True when the server closed the connection
        (or it broke); fewer than ``n`` with False means ``idle`` seconds of silence."""
        out: list[bytes] = []
        self.sock.settimeout(idle)
        while len(out) < n:
            try:
                rec = self.decoder.next_record()
            except RemoteProtocolError:
                return out, True
            if rec is not NEED_DATA:
                out.append(bytes(cast(memoryview, rec)))
                continue
            try:
                data = self.sock.recv(1 << 16)
            except TimeoutError:
                return out, False
            except (OSError, ssl.SSLError):
                return out, True
            if not data:
                return out, True
            self.decoder.receive_data(data)
        return out, False

    def call(self, record: bytes, timeout: float = 20.0) -> bytes:
        """Send one record and return one reply (``OSError`` when none comes)."""
        self.send_records([record])
        replies, cut = self.read_replies(1, timeout)
        if not replies:
            raise OSError(
                errno.ECONNRESET if cut else errno.ETIMEDOUT,
                "server closed the connection" if cut else "no reply",
            )
        return replies[0]

    def drain_until_closed(self, timeout: float) -> bool:
        """Read and discard until EOF; True when the server closed within ``timeout``."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                if not self.sock.recv(1 << 16):
                    return True
            except TimeoutError:
                return False
            except (OSError, ssl.SSLError):
                return True
        return False

    def shutdown_write(self, timeout: float = 2.0) -> None:
        """Half-close (TLS: send close_notify); never waits longer than ``timeout``."""
        try:
            self.sock.settimeout(timeout)
            if isinstance(self.sock, ssl.SSLSocket):
                self.sock.unwrap()
            else:
                self.sock.shutdown(socket.SHUT_WR)
        except (OSError, ssl.SSLError, ValueError):
            pass

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            try:
                self.sock.close()
            except OSError:
                pass


def _errno_name(code: int) -> str:
    return errno.errorcode.get(code, str(code))


def classify(reply: bytes, sent: dict[int, tuple[int, int]]) -> str:
    """The kind of one reply record; ``sent`` maps xid -> (prog, proc) of what we sent."""
    try:
        header, body = rpcmsg.decode_message(reply)
    except RemoteProtocolError as exc:
        return f"UNDECODABLE REPLY ({exc})"
    if not isinstance(header, rpcmsg.ReplyHeader):
        return "CALL sent back (server bug)"
    if header.reply_stat == rpcmsg.MSG_DENIED:
        assert header.reject_stat is not None
        return f"denied {header.reject_stat.name}"
    assert header.accept_stat is not None
    if header.accept_stat != rpcmsg.AcceptStat.SUCCESS:
        return header.accept_stat.name
    what = sent.get(header.xid)
    if what is None:
        return "SUCCESS (xid mutated)"
    prog, proc = what
    offset = 8 if (prog, proc) == (dump.GF_DUMP_PROGRAM, dump.DUMP) else 0
    if len(body) < offset + 8:
        return "SUCCESS (short body)" if len(body) < offset + 4 else "op_ret>=0"
    op_ret, op_errno = _I2.unpack_from(body, offset)
    if op_ret >= 0:
        return "op_ret>=0"
    return f"op_ret={op_ret} {_errno_name(op_errno)}"


def reply_op_ret(reply: bytes, offset: int = 0) -> tuple[Any, int, int]:
    """``(header, op_ret, op_errno)`` of an accepted SUCCESS reply (health checks)."""
    header, body = rpcmsg.decode_message(reply)
    if not isinstance(header, rpcmsg.ReplyHeader) or not header.ok:
        raise OSError(errno.EPROTO, f"RPC reply not SUCCESS: {header}")
    op_ret, op_errno = _I2.unpack_from(body, offset)
    return header, op_ret, op_errno
