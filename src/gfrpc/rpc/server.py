"""RPC server: listeners, connections and their admission, sessions, and GF-DUMP.

Theory of operation (wire behaviour of GlusterFS 10's rpcsvc, our own structure):

* Every call goes through ``dispatch.py``'s ``CallDispatcher``: the answers to calls that
  cannot be served, credentials, the outstanding-rpc-limit, the reply budget and where a
  handler runs are its rules, written at its top.
* What one peer may cost (``limits``, a ``transport.ServerLimits``): handshake, first-request
  and partial-record timeouts, ``max_connections`` and the server-wide budget for incomplete
  records are applied by the transport through one ``ConnectionGuard`` shared by all of this
  server's listeners.
* GF-DUMP (123451501 v1: DUMP lists every registered program, itself included; PING answers an
  all-zero ``gf_common_rsp``) is built in. Both are answered on the input thread, like GlusterFS:
  they are constant-time and a PING must not wait behind slow handlers in the worker queue, or
  busy servers would be dropped by their clients' ping-timeout (GlusterFS issue #2401).
* Admission: ``accept_connection(peername, peer_cn) -> bool`` (server-wide) and ``ssl_allow``
  (per listener, fnmatch globs on the TLS peer CN, GlusterFS ``auth.ssl-allow``) are checked in
  ``connection_made``, i.e. after the TLS handshake; a refused peer is closed with a logged
  reason before any of its records is looked at.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from gfrpc import transport
from gfrpc.errors import NotConnectedError, RemoteProtocolError, TLSError
from gfrpc.programs import dump as gfdump
from gfrpc.rpc.dispatch import KNOWN_FLAVORS, CallDispatcher
from gfrpc.rpc.reply_budget import ReplyAccount, ReplyBudget
from gfrpc.rpc.request import (
    GarbageArgs,
    Procedure,
    Program,
    Request,
    Session,
)
from gfrpc.rpc.workers import WorkerPool
from gfrpc.tls import cn_allowed, parse_ssl_allow
from gfrpc.wire import rpcmsg
from gfrpc.wire.xdr import XdrStruct

if TYPE_CHECKING:
    import ssl

    from gfrpc.transport import AddressLike, Endpoint, Listener, Poller, SocketOptions

__all__ = [
    "GF_DUMP_NAME",
    "KNOWN_FLAVORS",
    "GarbageArgs",
    "Procedure",
    "Program",
    "Request",
    "RpcServer",
    "Session",
]

log = logging.getLogger("gfrpc.rpc.server")

GF_DUMP_NAME = "GF-DUMP"


def _run_hook(hook: Callable[[Session], None], session: Session) -> None:
    try:
        hook(session)
    except Exception:
        log.exception("on_disconnect hook failed")


class _ServerConnection:
    """The transport ConnectionHandler of one accepted connection."""

    def __init__(self, server: RpcServer, ssl_allow: Sequence[str] | None) -> None:
        self.server = server
        self.calls = server.calls
        self.ssl_allow = ssl_allow
        self.ep: Endpoint | None = None
        self.lock = threading.Lock()
        self.outstanding = 0
        self.paused = False
        #: reply bytes reserved by running or unsent ``reply_size`` requests, and those waiting
        self.replies = ReplyAccount()
        self.refused = False
        self.close_reason: str | None = None
        self.session: Session = {}
        #: decoded credentials by (flavor, body): at most CREDENTIAL_CACHE, then cleared
        self.credentials: dict[tuple[int, bytes], rpcmsg.Credential | None] = {}

    @property
    def endpoint(self) -> Endpoint:
        """The connection's endpoint (given by ``connection_made``)."""
        ep = self.ep
        if ep is None:
            raise NotConnectedError("connection not made yet")
        return ep

    #: big WRITE payloads may stay in the socket until their handler moves them (tail.py)
    takes_tails = True

    def connection_made(self, ep: Endpoint) -> None:
        self.ep = ep
        self.replies.endpoint = ep
        self.server.replies.connected(self.replies, ep.peer_host())
        # requests answered on the input thread count while their replies wait unsent
        ep.limit_unsent_parts(self.server.outstanding_limit)
        self.server._admit(self, ep)

    def record_received(self, ep: Endpoint, record: memoryview) -> None:
        if self.refused or self.close_reason is not None:
            return
        self.calls.dispatch(self, ep, record)

    def connection_lost(self, ep: Endpoint, exc: Exception | None) -> None:
        # its waiting requests never start: nothing to answer on a closed connection
        calls = self.calls
        calls.start_all(calls.replies.forget(self.replies))
        self.server._forget(self)
        reason = self.close_reason or (str(exc) if exc is not None else "closed")
        log.info("connection from %s closed: %s", ep.peer_text(), reason)
        self.server._session_ended(self.session)

    def close(self, reason: str, exc: Exception | None = None) -> None:
        """Close with a reason that the one disconnect log line will give."""
        if self.close_reason is None:
            self.close_reason = reason
        self.endpoint.close(exc if exc is not None else RemoteProtocolError(reason))


class RpcServer:
    """Serves registered programs on any number of listeners (see the module docstring)."""

    def __init__(
        self,
        poller: Poller,
        *,
        workers: int = 16,
        outstanding_limit: int = 64,
        accept_connection: Callable[[object, str | None], bool] | None = None,
        limits: transport.ServerLimits | None = None,
    ) -> None:
        self.poller = poller
        self.limits = limits or transport.ServerLimits()
        #: the limits, live connection count and memory budget shared by every listener
        self.guard = transport.ConnectionGuard(self.limits)
        #: reply bytes reserved, per connection and in all (``reply_budget.py``)
        self.replies = ReplyBudget(
            self.limits.max_unsent_bytes,
            self.limits.max_reply_bytes,
            stall_timeout=self.limits.finish_timeout,
        )
        self.guard.review_also(self.replies)
        self.accept_connection = accept_connection
        #: called once per closed connection with its ``session`` dict, on a worker
        self.on_disconnect: Callable[[Session], None] | None = None
        #: the worker pool; None with ``workers=0`` (every procedure runs inline)
        self.workers = WorkerPool(workers, name="gfrpc-rpc-worker") if workers > 0 else None
        #: every call's way from its record to its handler (``dispatch.py``)
        self.calls = CallDispatcher(
            workers=self.workers, outstanding_limit=outstanding_limit, replies=self.replies
        )
        self._lock = threading.Lock()
        self._conns: set[_ServerConnection] = set()
        self._listeners: list[Listener] = []
        self._closed = False
        self.register(
            Program(
                gfdump.GF_DUMP_PROGRAM,
                gfdump.GF_DUMP_VERSION,
                GF_DUMP_NAME,
                {
                    gfdump.DUMP: Procedure("DUMP", self._dump, inline=True),
                    gfdump.PING: Procedure("PING", _ping, inline=True),
                },
            )
        )

    @property
    def outstanding_limit(self) -> int:
        """Requests of one connection until their replies are sent (the dispatcher keeps it)."""
        return self.calls.outstanding_limit

    # -- programs ---------------------------------------------------------------------------
    def register(self, program: Program) -> None:
        """Add a program version; registering the same (prognum, progver) twice is an error."""
        self.calls.register(program)

    @property
    def programs(self) -> list[Program]:
        """Registered programs in registration order (GF-DUMP first)."""
        return self.calls.programs

    # -- listening --------------------------------------------------------------------------
    def listen(
        self,
        address: AddressLike,
        *,
        tls: ssl.SSLContext | None = None,
        ssl_allow: str | Iterable[str] | None = None,
        options: SocketOptions | None = None,
    ) -> Listener:
        """Listen on ``address``; returns the transport Listener (``.address``, ``.close()``).
        ``ssl_allow``: glob patterns (a list, or the option text "a,b c") the TLS peer CN must
        match (GlusterFS ``auth.ssl-allow``); None = every authenticated peer."""
        if ssl_allow is None:
            patterns = None
        elif isinstance(ssl_allow, str):
            patterns = parse_ssl_allow(ssl_allow)
        else:
            patterns = list(ssl_allow)
        if patterns is not None and tls is None:
            log.warning("ssl_allow given without TLS: every connection will be refused")
        listener = transport.listen(
            address,
            poller=self.poller,
            handler_factory=lambda: self.make_handler(patterns),
            tls=tls,
            options=options,
            guard=self.guard,
        )
        with self._lock:
            self._listeners.append(listener)
        return listener

    def make_handler(self, ssl_allow: Sequence[str] | None = None) -> _ServerConnection:
        """A ConnectionHandler for one connection (for callers that run their own listener)."""
        return _ServerConnection(self, ssl_allow)

    def close(self, timeout: float = 5.0) -> None:
        """Stop listening, close every connection and stop the workers (waiting at most
        ``timeout`` seconds for running handlers; their replies are dropped)."""
        with self._lock:
            self._closed = True
            listeners, self._listeners = self._listeners, []
            conns = list(self._conns)
        for listener in listeners:
            listener.close()
        for conn in conns:
            conn.close("server shutting down", NotConnectedError("server shutting down"))
        if self.workers is not None:
            self.workers.shutdown(wait=True, timeout=timeout)

    def __enter__(self) -> RpcServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- connections (transport input thread) -----------------------------------------------
    def _admit(self, conn: _ServerConnection, ep: Endpoint) -> None:
        exc: Exception | None = None
        if self._closed:
            exc = NotConnectedError("server is shutting down")
        elif conn.ssl_allow is not None and not cn_allowed(ep.peer_cn, conn.ssl_allow):
            exc = TLSError(f"peer CN {ep.peer_cn!r} is not allowed by ssl-allow")
        elif self.accept_connection is not None:
            try:
                allowed = self.accept_connection(ep.peername, ep.peer_cn)
            except Exception:
                log.exception("accept_connection hook failed")
                allowed = False
            if not allowed:
                exc = NotConnectedError("refused by accept_connection")
        if exc is not None:
            conn.refused = True  # the disconnect log line gives the reason
            conn.close(f"refused: {exc}", exc)
            return
        with self._lock:
            self._conns.add(conn)

    def _forget(self, conn: _ServerConnection) -> None:
        with self._lock:
            self._conns.discard(conn)

    def _session_ended(self, session: Session) -> None:
        """Run ``on_disconnect(session)`` once per connection, on a worker (it may do I/O,
        such as closing the files a client left open)."""
        hook = self.on_disconnect
        if hook is None:
            return
        if self.workers is None:
            _run_hook(hook, session)
            return
        try:
            self.workers.submit(_run_hook, hook, session)
        except RuntimeError:  # pool shut down: run it here
            _run_hook(hook, session)

    # -- GF-DUMP ----------------------------------------------------------------------------
    def _dump(self, request: Request) -> XdrStruct:
        req = gfdump.GfDumpReq.unpack(request.args)
        progs = [
            gfdump.GfProgDetail(progname=p.name, prognum=p.prognum, progver=p.progver)
            for p in self.programs
        ]
        return gfdump.GfDumpRsp(gfs_id=req.gfs_id, op_ret=0, op_errno=0, progs=progs)


_PING_REPLY: bytes | None = None


def _ping(request: Request) -> bytes:
    global _PING_REPLY
    if _PING_REPLY is None:
        _PING_REPLY = gfdump.GfCommonRsp(op_ret=0, op_errno=0, xdata=b"").pack()
    return _PING_REPLY
