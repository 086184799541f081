"""A tiny ONC RPC client of its own: one call (AUTH_NULL) on a fresh connection, GF-DUMP DUMP
and the portmapper's PORTBYBRICK.

It is independent of gfrpc's stack **on purpose**: no ``gfrpc.wire``, ``gfrpc.rpc`` or
``gfrpc.programs``, its own record marking and its own program numbers (reference §5.1), written
again from the wire facts. A test that checks gfrpc's server with gfrpc's own codec would pass
if both shared a bug; this probe would not. Keep it that way: do not "deduplicate" it.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import struct

from gfrpc.testing.realgluster.base import GLUSTERD_ADDRESS, GlusterError

# RPC numbers of this probe, written down again on purpose (see above).
GF_DUMP_PROGRAM, GF_DUMP_VERSION, GF_DUMP_DUMP = 123451501, 1, 1
PMAP_PROGRAM, PMAP_VERSION, PMAP_PORTBYBRICK = 34123456, 1, 1


def _xdr_string(s: str | bytes) -> bytes:
    b = s.encode() if isinstance(s, str) else s
    return struct.pack(">I", len(b)) + b + b"\0" * (-len(b) % 4)


def rpc_call(
    address: tuple[str, int],
    prog: int,
    vers: int,
    proc: int,
    args: bytes = b"",
    *,
    ssl_context: ssl.SSLContext | None = None,
    timeout: float = 10.0,
    xid: int = 1,
) -> bytes:
    """One RPC call (AUTH_NULL) on a fresh connection; returns the accepted reply's results.

    Raises ``GlusterError`` for a denied/unsuccessful reply and ``OSError``/``EOFError`` when
    the peer closes or resets the connection.
    """
    msg = struct.pack(">IIIIII", xid, 0, 2, prog, vers, proc) + struct.pack(">IIII", 0, 0, 0, 0)
    msg += args
    with socket.create_connection(address, timeout=timeout) as raw:
        sock: socket.socket = raw
        if ssl_context is not None:
            sock = ssl_context.wrap_socket(raw)
        try:
            sock.sendall(struct.pack(">I", len(msg) | 0x80000000) + msg)
            record = recv_record(sock)
        finally:
            if sock is not raw:
                with contextlib.suppress(OSError):
                    sock.close()
    rxid, mtype, reply_stat = struct.unpack_from(">III", record)
    if rxid != xid or mtype != 1:
        raise GlusterError(f"unexpected reply header xid={rxid} type={mtype}")
    if reply_stat != 0:
        raise GlusterError(f"RPC denied (reply_stat={reply_stat})")
    _flavor, vlen = struct.unpack_from(">II", record, 12)
    off = 20 + vlen + (-vlen % 4)
    (accept_stat,) = struct.unpack_from(">I", record, off)
    if accept_stat != 0:
        raise GlusterError(f"RPC not accepted (accept_stat={accept_stat})")
    return record[off + 4 :]


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError("connection closed by peer")
        buf += chunk
    return bytes(buf)


def recv_record(sock: socket.socket) -> bytes:
    """One whole RPC record from a blocking socket (its fragments joined)."""
    out = bytearray()
    while True:
        (mark,) = struct.unpack(">I", _recv_exact(sock, 4))
        out += _recv_exact(sock, mark & 0x7FFFFFFF)
        if mark & 0x80000000:
            return bytes(out)


def gf_dump(
    address: tuple[str, int], *, ssl_context: ssl.SSLContext | None = None, timeout: float = 10.0
) -> list[tuple[str, int, int]]:
    """GF-DUMP DUMP: the (name, program, version) list a glusterd or brick advertises."""
    body = rpc_call(
        address,
        GF_DUMP_PROGRAM,
        GF_DUMP_VERSION,
        GF_DUMP_DUMP,
        struct.pack(">Q", 0),
        ssl_context=ssl_context,
        timeout=timeout,
    )
    _gfs_id, op_ret, op_errno, more = struct.unpack_from(">QiiI", body)
    if op_ret != 0:
        raise GlusterError(f"DUMP failed: op_ret={op_ret} op_errno={op_errno}")
    off, progs = 20, []
    while more:
        (n,) = struct.unpack_from(">I", body, off)
        name = body[off + 4 : off + 4 + n].decode()
        off += 4 + n + (-n % 4)
        prog, ver, more = struct.unpack_from(">QQI", body, off)
        off += 20
        progs.append((name, prog, ver))
    return progs


def pmap_port_by_brick(
    brick_path: str, address: tuple[str, int] = GLUSTERD_ADDRESS, timeout: float = 10.0
) -> int:
    """Ask glusterd's portmapper which port serves ``brick_path`` (-1 if unknown)."""
    body = rpc_call(
        address,
        PMAP_PROGRAM,
        PMAP_VERSION,
        PMAP_PORTBYBRICK,
        _xdr_string(brick_path),
        timeout=timeout,
    )
    op_ret, _op_errno, _status, port = struct.unpack_from(">iiii", body)
    return port if op_ret == 0 else -1
