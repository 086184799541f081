"""A slow or stalled network under the client, from the fault proxy: the stream trickled one
byte per segment, and a 5 s stall shorter and longer than ping-timeout.

Pool-poller brick subprocess shared by the module. TLS: on for the trickle (TLS records cut
at every byte) and the long stall, off for the short stall. Rules: slow calls still succeed,
each with its own answer; a stall longer than ping-timeout fails the pending calls with
ENOTCONN and the next call reconnects; the client keeps no fd or thread afterwards.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from fault_support import (
    BrickProcess,
    TlsDirs,
    Workload,
    assert_no_leaks,
    baseline,
    through_proxy,
    wait_all,
)
from proxy_support import FaultProxy

pytestmark = pytest.mark.timeout(90)

STALL = 5.0


def test_a_byte_by_byte_trickle_is_slow_but_correct(
    shared_bricks: Callable[[bool], BrickProcess],
    tls_dirs: TlsDirs,
    proxy_factory: Callable[..., FaultProxy],
    client_poller: str,
) -> None:
    """Rule: with every byte in both directions sent as its own TCP segment (TLS on), pipelined
    READs and STATs all succeed, each with the answer to its own request."""
    brick = shared_bricks(True)
    before = baseline()
    proxy = proxy_factory(("127.0.0.1", brick.port))
    vol = through_proxy(proxy, brick, tls_dirs, client_poller)
    try:
        work = Workload(vol, "trickle", blocks=6, block_size=1024, files=6)
        pipe = proxy.pipes[0]
        alone = pipe.trickled("down")
        proxy.trickle(0.0001)
        start = time.monotonic()
        calls = work.issue()
        wait_all([f for _, _, f in calls], 60)
        elapsed = time.monotonic() - start
        work.check(calls)
        # counted by the bytes sent alone: a send decided before trickling began (a reply
        # still in flight when the test started) may land after this test's snapshot
        trickled = pipe.trickled("down") - alone
        print(f"FAULTS trickle: {len(calls)} calls, {trickled} bytes one by one, {elapsed:.2f} s")
        assert trickled > 6 * 1024
        proxy.trickle(None)
        work.verify_through_the_volume()
        assert proxy.connections == 1  # nothing was lost on the way
    finally:
        vol.close()
        proxy.close()
    assert_no_leaks(before)


def test_a_stall_shorter_than_ping_timeout_only_delays_calls(
    shared_bricks: Callable[[bool], BrickProcess],
    proxy_factory: Callable[..., FaultProxy],
    client_poller: str,
) -> None:
    """Rule: a 5 s stall of both directions with ping-timeout 8 s delays the calls made
    during it by the stall, and then they all succeed on the same connection."""
    brick = shared_bricks(False)
    before = baseline()
    proxy = proxy_factory(("127.0.0.1", brick.port))
    vol = through_proxy(proxy, brick, None, client_poller, ping_timeout=8.0)
    try:
        work = Workload(vol, "stall-short", blocks=8, block_size=64 * 1024)
        proxy.stall(STALL)
        start = time.monotonic()
        calls = work.issue()
        wait_all([f for _, _, f in calls], 30)
        elapsed = time.monotonic() - start
        work.check(calls)
        print(f"FAULTS short stall: {len(calls)} calls answered after {elapsed:.2f} s")
        assert elapsed >= STALL - 0.5, "the calls were answered during the stall"
        assert proxy.connections == 1 and vol.bricks[0].generation == 1
    finally:
        vol.close()
        proxy.close()
    assert_no_leaks(before)


def test_a_stall_longer_than_ping_timeout_fails_calls_and_the_client_recovers(
    shared_bricks: Callable[[bool], BrickProcess],
    tls_dirs: TlsDirs,
    proxy_factory: Callable[..., FaultProxy],
    client_poller: str,
) -> None:
    """Rule: a 5 s stall with ping-timeout 2 s (TLS on) fails the pending calls with ENOTCONN
    2 to 3.6 s into the stall (ping-timeout, at most 1.5 of it late), and the next call
    reconnects on a new connection while the old one is still stalled."""
    brick = shared_bricks(True)
    before = baseline()
    proxy = proxy_factory(("127.0.0.1", brick.port))
    vol = through_proxy(proxy, brick, tls_dirs, client_poller, ping_timeout=2.0)
    try:
        work = Workload(vol, "stall-long", blocks=8, block_size=64 * 1024)
        proxy.stall(STALL)
        start = time.monotonic()
        calls = work.issue()
        wait_all([f for _, _, f in calls], 30)
        elapsed = time.monotonic() - start
        ok, failed = work.check(calls, may_fail=True)
        print(f"FAULTS long stall: {len(failed)} calls failed after {elapsed:.2f} s")
        assert ok == 0 and 1.9 <= elapsed <= 3.6, f"{ok} answered, failed after {elapsed:.2f} s"
        work.verify_through_the_volume()
        assert time.monotonic() - start < STALL, "recovered only after the stall ended"
        assert proxy.connections == 2 and vol.bricks[0].generation == 2
    finally:
        vol.close()
        proxy.close()
    assert_no_leaks(before)
