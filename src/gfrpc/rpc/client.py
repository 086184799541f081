"""RPC client: xids, the table of pending calls, replies and reconnect.

Theory of operation (wire behaviour of GlusterFS 10's rpc-clnt, our own structure):

* **xids** come from one counter per client that starts at 2 and is never reset, not even on
  reconnect, so an xid is never reused by a client (it wraps after 2**32 - 2 calls).
* **Pending calls** live in a table per connection keyed by xid. The transport's input thread
  calls :meth:`_Connection.record_received` with each whole record; it decodes the reply header
  only, pops the entry and completes the future with a :class:`Reply` whose ``body`` is a
  memoryview of the results (+ raw payload). Future callbacks therefore run on the transport's
  input thread: keep them short. Replies may arrive in any order. A synchronous ``call`` has
  no Future: its caller sleeps on its thread's doorbell (``waiter.py``), which the input
  thread rings with the GIL released, and decodes the body itself (a record's memory is
  never written again once handed out).
* **Unknown xid** ⇒ the peer broke the protocol ⇒ the connection is closed and every pending
  call fails with :class:`~gfrpc.errors.NotConnectedError` (ENOTCONN), as GlusterFS does.
* **frame-timeout** and **ping-timeout**: :mod:`gfrpc.rpc.liveness`.
* **Disconnect**: every pending call completes with NotConnectedError; calls made while not
  connected fail at once with NotConnectedError. With ``reconnect=True`` a new connection is
  tried every ``reconnect_interval`` seconds (GlusterFS: 3 s) from a short-lived thread (a
  blocking connect must not hold up the timer thread).
* **Credentials**: per call, else per client, else what GlusterFS sends: AUTH_GLUSTERFS_v2 for
  GF-DUMP DUMP, AUTH_GLUSTERFS_v3 for everything else (pid, uid, gid of this process, no
  groups, lk_owner = pid little-endian). The verifier is always AUTH_NONE.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING

from gfrpc import transport
from gfrpc.errors import (
    NotConnectedError,
    RemoteProtocolError,
    TimeoutError_,
    TransportError,
)
from gfrpc.programs import dump as gfdump
from gfrpc.rpc.calls import (
    DISCARD,
    Args,
    Buffer,
    Completion,
    CredentialLike,
    Reply,
    default_credential,
    fail,
    reply_error,
    to_auth,
)
from gfrpc.rpc.liveness import Liveness
from gfrpc.rpc.timers import TimerHandle, TimerThread, shared_timers
from gfrpc.rpc.waiter import Waiter
from gfrpc.wire import rpcmsg

if TYPE_CHECKING:
    import ssl

    from gfrpc.transport import AddressLike, Endpoint, Poller, SocketOptions

__all__ = [
    "FIRST_XID",
    "Args",
    "CredentialLike",
    "Reply",
    "RpcClient",
    "default_credential",
    "reply_error",
]

#: one item per synchronous call waiting in this process (``RpcClient.call``): only a call
#: that waits alone reads its own reply. With several, the poller is awake for their
#: replies anyway and takes several per wake-up, while callers that each read their own
#: connection would fight over the GIL at every system call (measured: docs/ARCHITECTURE.md,
#: "Performance notes", 15)
_WAITING: list[None] = []


def _always() -> bool:
    return True


log = logging.getLogger("gfrpc.rpc.client")

FIRST_XID = 2
_XID_LIMIT = 0xFFFFFFFF


class _Call:
    __slots__ = ("xid", "future", "deadline", "is_ping")

    def __init__(self, xid: int, future: Completion, deadline: float, is_ping: bool) -> None:
        self.xid = xid
        self.future = future
        self.deadline = deadline  # time.monotonic() of its frame-timeout; 0.0: none
        self.is_ping = is_ping


class _Connection:
    """The transport ConnectionHandler of one connection attempt of an RpcClient.

    A fresh one per attempt, so events of an old connection can never touch a newer one.
    All mutable state is guarded by the client's lock.
    """

    def __init__(self, client: RpcClient) -> None:
        self.client = client
        self.ep: Endpoint | None = None
        self.pending: dict[int, _Call] = {}
        self.user_calls = 0  # pending calls that are not our own PINGs
        self.timed_out: dict[int, None] = {}  # ordered: oldest first
        self.last_received = time.monotonic()
        self.ping_active = False
        self.ping_expiry: TimerHandle | None = None
        self.ping_next: TimerHandle | None = None
        self.bail: TimerHandle | None = None  # armed at the earliest deadline of ``pending``
        self.lost = False
        self.announced = False

    # -- ConnectionHandler ------------------------------------------------------------------
    def connection_made(self, ep: Endpoint) -> None:
        self.client._attach(self, ep)

    def record_received(self, ep: Endpoint, record: memoryview) -> None:
        self.client._on_record(self, ep, record)

    def connection_lost(self, ep: Endpoint, exc: Exception | None) -> None:
        self.client._teardown(self, exc if exc is not None else "connection closed")


class RpcClient(Liveness):
    """An ONC RPC client over one gfrpc transport connection (see the module docstring).

    ``call``/``call_async`` are thread-safe. Hooks ``on_connect(client)`` and
    ``on_disconnect(client, reason)`` (attributes, default None) run on the transport's or the
    caller's thread and must not block; ``on_callback(header, body)`` receives server→client
    CALLs (GlusterFS callback program), which get no reply.
    """

    def __init__(
        self,
        address: AddressLike,
        *,
        poller: Poller,
        tls: ssl.SSLContext | None = None,
        options: SocketOptions | None = None,
        frame_timeout: float = 1800.0,
        ping_timeout: float = 42.0,
        reconnect: bool = False,
        reconnect_interval: float = 3.0,
        cred: CredentialLike | None = None,
        timers: TimerThread | None = None,
    ) -> None:
        self.address = address
        self.poller = poller
        self.tls = tls
        self.options = options
        self.frame_timeout = float(frame_timeout)
        self.ping_timeout = float(ping_timeout)
        self.reconnect = reconnect
        self.reconnect_interval = float(reconnect_interval)
        self.cred = cred
        self.on_connect: Callable[[RpcClient], None] | None = None
        self.on_disconnect: Callable[[RpcClient, Exception | str], None] | None = None
        self.on_callback: Callable[[rpcmsg.CallHeader, memoryview], None] | None = None
        self._timers = timers or shared_timers()
        self._lock = threading.Lock()
        self._connect_lock = threading.Lock()
        self._connected = threading.Event()
        self._next_xid = FIRST_XID
        self._conn: _Connection | None = None
        self._closed = False
        self._connect_timeout = 10.0
        self._reconnect_timer: TimerHandle | None = None
        self._cred_v2 = to_auth(default_credential(gfdump.GF_DUMP_PROGRAM, gfdump.DUMP))
        self._cred_v3 = to_auth(default_credential(gfdump.GF_DUMP_PROGRAM, gfdump.PING))
        self._client_auth = None if cred is None else to_auth(cred)

    # -- connection management --------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def endpoint(self) -> Endpoint | None:
        """The current transport Endpoint, or None."""
        conn = self._conn
        return conn.ep if conn is not None else None

    def connect(self, timeout: float = 10.0) -> None:
        """Connect (TCP + TLS handshake) unless connected. Raises TransportError subclasses;
        with ``reconnect=True`` a failed attempt also schedules the next one."""
        self._connect_timeout = timeout
        with self._lock:
            if self._closed:
                raise NotConnectedError("client is closed")
        try:
            self._connect_once(timeout)
        except Exception:
            self._schedule_reconnect()
            raise

    def wait_connected(self, timeout: float | None = None) -> bool:
        """Block until a connection is up (e.g. after a reconnect); False on timeout."""
        return self._connected.wait(timeout)

    def close(self) -> None:
        """Close the connection, stop reconnecting; pending calls fail with ENOTCONN."""
        with self._lock:
            self._closed = True
            conn = self._conn
            if self._reconnect_timer is not None:
                self._reconnect_timer.cancel()
                self._reconnect_timer = None
        if conn is not None:
            self._teardown(conn, "closed by the client")
            if conn.ep is not None:
                conn.ep.close(None)

    def __enter__(self) -> RpcClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _connect_once(self, timeout: float) -> None:
        with self._connect_lock:
            with self._lock:
                if self._closed or self._conn is not None:
                    return
            conn = _Connection(self)
            ep = transport.connect(
                self.address,
                poller=self.poller,
                handler=conn,
                tls=self.tls,
                options=self.options,
                timeout=timeout,
            )
            self._attach(conn, ep)
            if conn.lost:
                raise NotConnectedError(
                    f"connection to {self.address} closed as soon as it was made"
                )

    def _attach(self, conn: _Connection, ep: Endpoint) -> None:
        """Make ``conn`` current; called by connection_made and after connect() returns."""
        with self._lock:
            if conn.lost or conn.announced:
                return
            closed = self._closed
            if not closed:
                conn.ep = ep
                conn.announced = True
                conn.last_received = time.monotonic()
                self._conn = conn
                self._connected.set()
        if closed:
            ep.close(None)
            return
        log.debug("connected to %s", self.address)
        hook = self.on_connect
        if hook is not None:
            try:
                hook(self)
            except Exception:
                log.exception("on_connect hook failed")

    def _teardown(self, conn: _Connection, reason: Exception | str) -> None:
        """Forget ``conn`` and fail its pending calls; idempotent."""
        with self._lock:
            if conn.lost:
                return
            conn.lost = True
            pending, conn.pending = conn.pending, {}
            conn.user_calls = 0
            for handle in (conn.ping_expiry, conn.ping_next):
                if handle is not None:
                    handle.cancel()
            conn.ping_expiry = conn.ping_next = None
            if conn.bail is not None:
                conn.bail.cancel()
                conn.bail = None
            was_current = self._conn is conn
            if was_current:
                self._conn = None
                self._connected.clear()
            closed = self._closed
        if was_current:
            level = (
                logging.WARNING
                if isinstance(reason, TimeoutError_ | RemoteProtocolError)
                else logging.INFO
            )
            log.log(
                level,
                "disconnected from %s: %s (%d pending calls failed)",
                self.address,
                reason,
                len(pending),
            )
        error = NotConnectedError(f"disconnected from {self.address}: {reason}")
        for call in pending.values():
            fail(call.future, error)
        if was_current:
            hook = self.on_disconnect
            if hook is not None:
                try:
                    hook(self, reason)
                except Exception:
                    log.exception("on_disconnect hook failed")
            if not closed:
                self._schedule_reconnect()

    def _protocol_error(self, conn: _Connection, ep: Endpoint, reason: str) -> None:
        exc = RemoteProtocolError(reason)
        self._teardown(conn, exc)
        ep.close(exc)

    def _schedule_reconnect(self) -> None:
        if not self.reconnect:
            return
        with self._lock:
            if self._closed or self._reconnect_timer is not None or self._conn is not None:
                return
            self._reconnect_timer = self._timers.call_later(
                self.reconnect_interval, self._reconnect_due
            )

    def _reconnect_due(self) -> None:
        with self._lock:
            self._reconnect_timer = None
            if self._closed or self._conn is not None:
                return
        threading.Thread(
            target=self._reconnect_attempt, name="gfrpc-reconnect", daemon=True
        ).start()

    def _reconnect_attempt(self) -> None:
        try:
            self._connect_once(self._connect_timeout)
        except Exception as exc:
            log.debug("reconnect to %s failed: %s", self.address, exc)
            self._schedule_reconnect()

    # -- calls ------------------------------------------------------------------------------
    def call(
        self,
        prog: int,
        vers: int,
        proc: int,
        args: Args = b"",
        *,
        cred: CredentialLike | None = None,
        timeout: float | None = None,
    ) -> Reply:
        """Send a CALL and wait for its reply. Raises NotConnectedError, TimeoutError_
        (frame-timeout) or RpcError (MSG_DENIED / accept_stat != SUCCESS)."""
        waiter = Waiter()
        waiting = _WAITING
        waiting.append(None)  # a count without a lock: append and pop are atomic
        try:
            # the only call of the process that waits reads its reply on this thread if the
            # poller lends the connection (taken before the CALL leaves, so the reply does
            # not wake the poller); else it waits as usual
            conn = self._conn
            ep = conn.ep if conn is not None and len(waiting) == 1 else None
            lent = ep is not None and ep.borrow_input()
            sent = None
            try:
                sent = self._start_call(
                    prog, vers, proc, args, cred, timeout, waiter, is_ping=False
                )
            finally:
                if lent:
                    assert ep is not None
                    # read_until gives the connection back, at once if the call did not go
                    # out on it (it failed, or a reconnect came between)
                    if sent is not None and sent[0] is ep:
                        ep.read_until(waiter.done, sent[1])
                    else:
                        ep.read_until(_always)
            return waiter.result()
        finally:
            waiting.pop()

    def call_async(
        self,
        prog: int,
        vers: int,
        proc: int,
        args: Args = b"",
        *,
        cred: CredentialLike | None = None,
        timeout: float | None = None,
    ) -> Future[Reply]:
        """Send a CALL; the future completes on the transport's input thread. ``args`` is one
        bytes-like object or an iterable of them (e.g. ``[xdr_header, payload]``); ``timeout``
        overrides frame-timeout for this call (0 = none)."""
        future: Future[Reply] = Future()
        future.set_running_or_notify_cancel()
        self._start_call(prog, vers, proc, args, cred, timeout, future, is_ping=False)
        return future

    def send(
        self,
        prog: int,
        vers: int,
        proc: int,
        args: Args = b"",
        *,
        cred: CredentialLike | None = None,
    ) -> None:
        """Send a CALL whose reply is read and dropped, as GlusterFS clients send RELEASE:
        nothing waits for it, and nothing is raised (a failure, or no connection, is logged
        at debug level). Its xid is pending like any call's until the reply comes."""
        self._start_call(prog, vers, proc, args, cred, None, DISCARD, is_ping=False)

    def _auth(self, prog: int, proc: int, cred: CredentialLike | None) -> rpcmsg.OpaqueAuth:
        """The credential of one call: its own, else the client's, else GlusterFS's default."""
        if cred is not None:
            return to_auth(cred)
        if self._client_auth is not None:
            return self._client_auth
        if prog == gfdump.GF_DUMP_PROGRAM and proc == gfdump.DUMP:
            return self._cred_v2
        return self._cred_v3

    def _start_call(
        self,
        prog: int,
        vers: int,
        proc: int,
        args: Args,
        cred: CredentialLike | None,
        timeout: float | None,
        future: Completion,
        *,
        is_ping: bool,
    ) -> tuple[Endpoint, float] | None:
        """Send one CALL whose outcome goes to ``future``; returns its connection and deadline
        (0: none) once sent, None when it failed at once (``future`` holds why)."""
        auth = self._auth(prog, proc, cred)
        start_ping = False
        frame_timeout = self.frame_timeout if timeout is None else timeout
        deadline = time.monotonic() + frame_timeout if frame_timeout > 0 else 0.0
        with self._lock:
            conn = self._conn
            if conn is None or conn.ep is None or self._closed:
                conn = None
            else:
                xid = self._next_xid
                while xid in conn.pending:  # only possible after 2**32 calls: skip live xids
                    xid = xid + 1 if xid < _XID_LIMIT else 1
                self._next_xid = xid + 1 if xid < _XID_LIMIT else 1
                call = _Call(xid, future, deadline, is_ping)
                conn.pending[xid] = call
                if deadline and (conn.bail is None or deadline < conn.bail.when):
                    self._arm_bail_locked(conn, deadline)
                if not is_ping:
                    conn.user_calls += 1
                    if self.ping_timeout > 0 and not conn.ping_active:
                        conn.ping_active = start_ping = True
                ep = conn.ep
        if conn is None:
            fail(future, NotConnectedError(f"not connected to {self.address}"))
            return None
        try:
            header = rpcmsg.encode_call(xid, prog, vers, proc, cred=auth)
            ep.submit(header, *_parts(args))
        except Exception as exc:
            with self._lock:
                mine = conn.pending.pop(xid, None) is call
                if mine and not is_ping:
                    conn.user_calls -= 1
            if mine:
                if isinstance(exc, TransportError):
                    error: Exception = NotConnectedError(f"not connected to {self.address}: {exc}")
                    error.__cause__ = exc
                else:
                    error = exc
                fail(future, error)
            return None
        if start_ping:
            self._send_ping(conn)
        return ep, deadline

    # -- input (transport thread) -----------------------------------------------------------
    def _on_record(self, conn: _Connection, ep: Endpoint, record: memoryview) -> None:
        conn.last_received = time.monotonic()
        if conn.lost:
            return
        try:
            header, body = rpcmsg.decode_message(record)
        except RemoteProtocolError as exc:
            self._protocol_error(conn, ep, f"bad message from {self.address}: {exc}")
            return
        if isinstance(header, rpcmsg.CallHeader):
            hook = self.on_callback
            if hook is None:
                log.debug("ignoring callback CALL prog %d proc %d", header.prog, header.proc)
            else:
                try:
                    hook(header, body)
                except Exception:
                    log.exception("on_callback hook failed")
            return
        xid = header.xid
        late = False
        with self._lock:
            call = conn.pending.pop(xid, None)
            if call is None:
                late = conn.timed_out.pop(xid, 0) is None
            elif not call.is_ping:
                conn.user_calls -= 1
        if call is None:
            if late:
                log.debug("dropping late reply for timed-out xid %d", xid)
                return
            self._protocol_error(conn, ep, f"reply with unknown xid {xid} from {self.address}")
            return
        error = reply_error(header)
        try:
            if error is None:
                call.future.set_result(Reply(header, body))
            else:
                call.future.set_exception(error)
        except Exception:  # the future was already completed
            pass


def _parts(args: Args) -> tuple[Buffer, ...]:
    if isinstance(args, bytes | bytearray | memoryview):
        return (args,)
    return tuple(args)
