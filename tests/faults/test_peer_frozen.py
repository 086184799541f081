"""A brick frozen by SIGSTOP: ping-timeout fails the pending calls, SIGCONT lets the client
recover.

Pool poller, TLS off and on. The brick is always sent SIGCONT (and stopped) in a finally.
"""

from __future__ import annotations

import errno
import os
import time
from typing import Any

import pytest
from fault_support import VOLNAME, TlsDirs, assert_no_leaks, baseline, wait_all

from gfrpc.client import Volume
from gfrpc.programs import fops
from gfrpc.programs.fops import FopProc

pytestmark = pytest.mark.timeout(120)

MIB = 1 << 20
PING_TIMEOUT = 2.0
HANDSHAKE_TIMEOUT = 1.5  # connect, TLS handshake and each handshake call


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
def test_a_frozen_brick_fails_pending_calls_after_ping_timeout_and_recovers(
    tls: bool, brick_factory: Any, tls_dirs: TlsDirs
) -> None:
    """Rule: with ping-timeout 2 s, calls pending on a SIGSTOPped brick fail with ENOTCONN
    2 to 3.6 s after the freeze (not before: the brick is only silent); a reconnect attempt
    while it is frozen fails with ENOTCONN after the handshake timeout; after SIGCONT the
    next call reconnects and works, with the data intact; nothing is left behind."""
    before = baseline()
    ident = tls_dirs if tls else None
    brick = brick_factory(poller="pool", tls=ident)
    vol = Volume.connect_brick(
        "127.0.0.1",
        brick.port,
        brick.brick_path,
        VOLNAME,
        tls=str(ident.client) if ident else None,
        poller="pool",
        ping_timeout=PING_TIMEOUT,
        timeout=HANDSHAKE_TIMEOUT,
    )
    try:
        conn = vol.bricks[0]
        conn.reconnect_interval = 0
        data = os.urandom(4 * MIB)
        vol.write_bytes("/a.bin", data)
        f = vol.open("/a.bin", "rb", buffering=0)
        brick.freeze()
        try:
            frozen = time.monotonic()
            calls = [conn.read_async(f.gfid, f.fd, i * MIB, MIB) for i in range(4)]
            calls.append(conn.fop_async(FopProc.STAT, fops.GfxStatReq(gfid=f.gfid)))
            wait_all(calls, 15)
            elapsed = time.monotonic() - frozen
            print(f"FAULTS frozen brick: {len(calls)} calls failed after {elapsed:.2f} s")
            errors = [c.exception(0) for c in calls]
            assert all(getattr(e, "errno", None) == errno.ENOTCONN for e in errors), errors
            assert PING_TIMEOUT - 0.1 <= elapsed <= 1.5 * PING_TIMEOUT + 0.6, (
                f"after {elapsed:.2f} s"
            )
            # still frozen: a reconnect attempt gets a TCP connection (the kernel's backlog)
            # but no TLS handshake or DUMP reply; it gives up after its timeout
            start = time.monotonic()
            with pytest.raises(OSError) as refused:
                vol.stat("/a.bin")
            waited = time.monotonic() - start
            assert refused.value.errno == errno.ENOTCONN
            assert waited <= 2 * HANDSHAKE_TIMEOUT + 1, f"reconnect attempt took {waited:.2f} s"
        finally:
            brick.thaw()
        assert vol.read_bytes("/a.bin") == data  # the next call reconnects
        assert conn.generation == 2  # the attempt while frozen did not count
        f.seek(MIB)
        assert f.read(MIB) == data[MIB : 2 * MIB]  # and the open file's fd is reopened
        f.close()
    finally:
        vol.close()
        brick.stop()
    assert_no_leaks(before)
