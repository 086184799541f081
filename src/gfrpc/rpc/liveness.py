"""The liveness of an RPC client's connection: frame-timeout and ping-timeout.

Theory of operation (wire behaviour of GlusterFS 10's rpc-clnt, our own structure).
:class:`Liveness` is the part of :class:`gfrpc.rpc.client.RpcClient` that runs on the shared
timer thread (:mod:`gfrpc.rpc.timers`); it reads and writes a connection's timers and its
pending-call table under the client's lock, as the rest of the client does.

* **frame-timeout** (default 1800 s): each call keeps its deadline, and one timer per
  connection (on the shared timer thread, :mod:`gfrpc.rpc.timers`) is armed at the earliest
  deadline of its pending calls; when it fires it fails the calls that are due and is armed
  again at the next deadline. (GlusterFS's call-bail sweeps every few seconds instead; a
  timer per call would cost every call a heap push and a cancel, each under a lock.) A call
  rarely moves the timer: with the client's own frame-timeout every new deadline is later
  than the armed one. A timed-out call fails with :class:`~gfrpc.errors.TimeoutError_`
  (ETIMEDOUT); its xid leaves the table but is never reused. *Choice:* unlike GlusterFS, which
  disconnects when the late reply arrives (the xid is unknown by then), we remember the xids that
  timed out on a connection (the most recent 65536) and drop one late reply for each with a
  debug log; a second reply for the same xid is unknown and disconnects. One slow call should not
  cost every other call on the connection its answer, and since xids are never reused the late
  reply cannot be mistaken for another call's.
* **ping-timeout** (default 42 s, 0 = off): when a call is made and no ping cycle is running,
  a GF-DUMP PING (123451501 v1 proc 2, no args) is sent and an expiry timer armed. Each PING
  reply schedules the next PING *half* a ping-timeout later, but only while calls are pending;
  the cycle stops when nothing is pending. On expiry the connection is closed if nothing at all
  was *received* for ping-timeout seconds, otherwise the expiry is re-armed. (GlusterFS also
  counts data *sent*; we count only what the peer proves by talking.) *Choice:* GlusterFS pings
  once per ping-timeout, so a peer that freezes just after answering a PING is given up to two
  ping-timeouts; pinging twice as often bounds it to 1.5 (a frozen brick with a 2 s
  ping-timeout fails the pending calls 2 to 3 s after it stopped, cf. tests/faults).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING

from gfrpc.errors import TimeoutError_
from gfrpc.programs import dump as gfdump
from gfrpc.rpc.calls import Reply, fail
from gfrpc.rpc.timers import TimerThread

if TYPE_CHECKING:
    from gfrpc.rpc.client import _Call, _Connection
    from gfrpc.transport import AddressLike, Endpoint
    from gfrpc.wire import rpcmsg

__all__ = ["LATE_XIDS_KEPT", "Liveness"]

log = logging.getLogger("gfrpc.rpc.client")

#: how many timed-out xids a connection remembers, to drop their late replies
LATE_XIDS_KEPT = 65536


class Liveness:
    """Frame-timeout and ping of :class:`~gfrpc.rpc.client.RpcClient` (its base class)."""

    # what it uses of the client (set by RpcClient.__init__)
    address: AddressLike
    ping_timeout: float
    _lock: threading.Lock
    _timers: TimerThread
    _cred_v3: rpcmsg.OpaqueAuth

    _start_call: Callable[..., tuple[Endpoint, float] | None]  # RpcClient._start_call
    _teardown: Callable[[_Connection, Exception | str], None]  # RpcClient._teardown

    def _arm_bail_locked(self, conn: _Connection, when: float) -> None:
        if conn.bail is not None:
            conn.bail.cancel()
        conn.bail = self._timers.call_at(when, self._bail, conn)

    def _bail(self, conn: _Connection) -> None:
        """The frame-timeout timer: fail the calls that are due, arm for the next deadline."""
        now = time.monotonic()
        expired: list[_Call] = []
        with self._lock:
            conn.bail = None
            if conn.lost:
                return
            earliest = 0.0
            for call in conn.pending.values():
                deadline = call.deadline
                if not deadline:
                    continue
                if deadline <= now:
                    expired.append(call)
                elif not earliest or deadline < earliest:
                    earliest = deadline
            for call in expired:
                del conn.pending[call.xid]
                if not call.is_ping:
                    conn.user_calls -= 1
                conn.timed_out[call.xid] = None
                if len(conn.timed_out) > LATE_XIDS_KEPT:
                    del conn.timed_out[next(iter(conn.timed_out))]
            if earliest:
                self._arm_bail_locked(conn, earliest)
        for call in expired:
            log.warning("call xid %d to %s timed out (frame-timeout)", call.xid, self.address)
            fail(call.future, TimeoutError_(f"call xid {call.xid} to {self.address} timed out"))

    # -- ping -------------------------------------------------------------------------------
    def _send_ping(self, conn: _Connection) -> None:
        """Send one GF-DUMP PING and arm its expiry, if calls are still pending."""
        with self._lock:
            conn.ping_next = None
            if conn.lost or conn.ep is None:
                return
            if conn.user_calls == 0:
                conn.ping_active = False
                return
            if conn.ping_expiry is None:
                conn.ping_expiry = self._timers.call_later(
                    self.ping_timeout, self._ping_expired, conn
                )
        future: Future[Reply] = Future()
        future.set_running_or_notify_cancel()
        future.add_done_callback(lambda f: self._ping_done(conn, f))
        self._start_call(
            gfdump.GF_DUMP_PROGRAM,
            gfdump.GF_DUMP_VERSION,
            gfdump.PING,
            (),
            self._cred_v3,
            0,
            future,
            is_ping=True,
        )

    def _ping_done(self, conn: _Connection, future: Future[Reply]) -> None:
        if future.exception() is not None:
            return  # disconnected; _teardown has cleaned up
        with self._lock:
            if conn.lost:
                return
            if conn.ping_expiry is not None:
                conn.ping_expiry.cancel()
                conn.ping_expiry = None
            if conn.ping_next is None:  # half a ping-timeout: see the module docstring
                conn.ping_next = self._timers.call_later(
                    self.ping_timeout / 2, self._send_ping, conn
                )

    def _ping_expired(self, conn: _Connection) -> None:
        with self._lock:
            conn.ping_expiry = None
            if conn.lost or conn.ep is None:
                return
            deadline = conn.last_received + self.ping_timeout
            if time.monotonic() < deadline:
                conn.ping_expiry = self._timers.call_at(deadline, self._ping_expired, conn)
                return
            ep = conn.ep
        exc = TimeoutError_(f"nothing received for {self.ping_timeout:g} s (ping-timeout)")
        self._teardown(conn, exc)
        ep.close(exc)
