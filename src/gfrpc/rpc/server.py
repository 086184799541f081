"""RPC server: programs, dispatch, the worker pool, GF-DUMP and the outstanding-request limit.

Theory of operation (wire behaviour of GlusterFS 10's rpcsvc, our own structure):

* The transport's input thread calls ``record_received`` with each whole record. There we
  only decode the CALL header and decide: rpcvers != 2 ⇒ MSG_DENIED/RPC_MISMATCH (2..2);
  unknown program ⇒ PROG_UNAVAIL; known program, other version ⇒ PROG_MISMATCH with the lowest
  and highest registered versions; unknown procedure ⇒ PROC_UNAVAIL. Those answers are sent at
  once. A valid call becomes a :class:`Request` queued to the worker pool (GlusterFS's
  io-threads); the handler decodes its own arguments there and returns the results.
* A handler returns ``bytes``-like results, a list of parts (``[xdr_header, payload]``), an
  object with ``pack()``, or None (no results). ``GarbageArgs`` or a ``RemoteProtocolError``
  while decoding ⇒ GARBAGE_ARGS; any other exception ⇒ SYSTEM_ERR (logged).
* Every accepted reply echoes the request's verifier (GlusterFS does; it is AUTH_NONE in
  practice). A request gets at most one reply: :class:`Request` refuses a second one.
* Credentials: flavors AUTH_NULL, AUTH_UNIX, AUTH_GLUSTERFS v1/v2/v3 are decoded (a malformed
  body ⇒ MSG_DENIED/AUTH_ERROR AUTH_BADCRED); any other flavor is accepted as AUTH_NULL, as
  GlusterFS does. A credential over 400 bytes, an undecodable header or a REPLY arriving at the
  server is a protocol error: the connection is closed with a logged reason.
* outstanding-rpc-limit (default 64, 0 = unlimited): a request counts from the moment its
  record is taken until its reply has left the out-queue for the kernel, not merely until the
  reply is queued; every request counts, the PINGs and DUMPs answered on the input thread and
  the error replies too. Two counters keep it. A request handed to the worker pool, held for
  a reply budget or deferred by its handler is counted here, until the endpoint's ``on_sent``;
  a request answered on the input thread before its handler returns (the usual one) is counted
  by the endpoint instead, as a part of its out-queue while its reply waits unsent
  (``Endpoint.limit_unsent_parts``, set to the limit on every connection), which costs it
  no bookkeeping when the kernel takes the reply at once. When a connection has that many of
  either, its endpoint stops reading and delivering records until one is sent. So a client
  that pipelines requests and never reads the replies stops being read once the kernel's
  socket buffers are full, and pins at most ``limit`` replies of each kind, plus the batch
  the input thread was answering (and the endpoint also pauses on ``max_unsent_bytes`` of
  unsent replies, see ``gfrpc.transport.limits``). Procedures that declare a ``reply_size``
  (the brick's READ, READDIR(P), (F)GETXATTR, LOOKUP, (F)XATTROP) reserve their predicted
  reply (none when it is 0: a small one) before they start, so the replies one connection
  has in the making or unsent stay within ``max_unsent_bytes`` even when many large READs
  arrive in one read, and those of all
  connections within ``max_reply_bytes`` (``reply_budget.py``: turns by peer machine, and
  peers that read nothing are closed when others wait). Unlike GlusterFS 10
  (where only gNFS turns the throttle on) the limit is always enforced, and it is not rounded up
  to a multiple of 8.
* What one peer may cost (``limits``, a ``transport.ServerLimits``): handshake, first-request
  and partial-record timeouts, ``max_connections`` and the server-wide budget for incomplete
  records are applied by the transport through one ``ConnectionGuard`` shared by all of this
  server's listeners.
* GF-DUMP (123451501 v1: DUMP lists every registered program, itself included; PING answers an
  all-zero ``gf_common_rsp``) is built in. Both are answered on the input thread, like GlusterFS:
  they are constant-time and a PING must not wait behind slow handlers in the worker queue, or
  busy servers would be dropped by their clients' ping-timeout (GlusterFS issue #2401).
* Where handlers run is a policy, not a rule (GlusterFS's io-threads is an optional
  translator too): a procedure marked ``inline`` (always, or when a predicate on its raw
  arguments says so) runs on the thread that read its request (a poller thread), the others
  on the ``workers`` pool; ``workers=0`` means no pool at all, and
  every procedure runs inline, as a GlusterFS brick without io-threads does. Under the GIL a
  hand-off costs two wake-ups and a contended lock, more than a STAT's own work; a handler that
  may block for long (disk I/O, fsync) belongs on the pool unless the operator chose none. A
  procedure with a ``reply_size`` reserves its reply first wherever it runs, and one held back
  by the reservation starts on the thread that sent the reply that made room.
* Admission: ``accept_connection(peername, peer_cn) -> bool`` (server-wide) and ``ssl_allow``
  (per listener, fnmatch globs on the TLS peer CN, GlusterFS ``auth.ssl-allow``) are checked in
  ``connection_made``, i.e. after the TLS handshake; a refused peer is closed with a logged
  reason before any of its records is looked at.
"""

from __future__ import annotations

import logging
import struct
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from gfrpc import transport
from gfrpc.errors import LocalProtocolError, NotConnectedError, RemoteProtocolError, TLSError
from gfrpc.programs import dump as gfdump
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
from gfrpc.wire.xdr import XdrReader, XdrStruct

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
#: decoded credentials a connection keeps (a client uses a handful: one per pid and user)
CREDENTIAL_CACHE = 64

#: credential flavors decoded (a malformed body is AUTH_BADCRED); others count as AUTH_NULL
KNOWN_FLAVORS = frozenset(
    {
        rpcmsg.AUTH_NULL,
        rpcmsg.AUTH_UNIX,
        rpcmsg.AUTH_GLUSTERFS,
        rpcmsg.AUTH_GLUSTERFS_V2,
        rpcmsg.AUTH_GLUSTERFS_V3,
    }
)


def _run_hook(hook: Callable[[Session], None], session: Session) -> None:
    try:
        hook(session)
    except Exception:
        log.exception("on_disconnect hook failed")


class _ServerConnection:
    """The transport ConnectionHandler of one accepted connection."""

    def __init__(self, server: RpcServer, ssl_allow: Sequence[str] | None) -> None:
        self.server = server
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
        self.server._dispatch(self, ep, record)

    def connection_lost(self, ep: Endpoint, exc: Exception | None) -> None:
        # its waiting requests never start: nothing to answer on a closed connection
        self.server._start_all(self.server.replies.forget(self.replies))
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
        self.outstanding_limit = outstanding_limit
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
        self._lock = threading.Lock()
        self._programs: dict[int, dict[int, Program]] = {}
        #: (prognum, progver) -> Program, replaced whole on register: read without the lock
        self._by_number: dict[tuple[int, int], Program] = {}
        self._order: list[Program] = []
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

    # -- programs ---------------------------------------------------------------------------
    def register(self, program: Program) -> None:
        """Add a program version; registering the same (prognum, progver) twice is an error."""
        with self._lock:
            versions = self._programs.setdefault(program.prognum, {})
            if program.progver in versions:
                raise LocalProtocolError(
                    f"program {program.prognum} version {program.progver} is already registered"
                )
            versions[program.progver] = program
            self._by_number = {**self._by_number, (program.prognum, program.progver): program}
            self._order.append(program)

    @property
    def programs(self) -> list[Program]:
        """Registered programs in registration order (GF-DUMP first)."""
        with self._lock:
            return list(self._order)

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

    def _dispatch(self, conn: _ServerConnection, ep: Endpoint, record: memoryview) -> None:
        try:
            header, args = rpcmsg.decode_message(record)
        except RemoteProtocolError as exc:
            if not self._rpc_mismatch(conn, record):
                conn.close(f"protocol error: {exc}", exc)
            return
        if not isinstance(header, rpcmsg.CallHeader):
            conn.close(f"protocol error: REPLY (xid {header.xid}) sent to a server")
            return
        if header.rpcvers != rpcmsg.RPC_VERSION and self._rpc_mismatch(conn, record):
            return
        cred = header.cred
        credential = None
        if cred.flavor in KNOWN_FLAVORS:
            # a client sends the same few credentials again and again: decode each once
            key = (cred.flavor, cred.body)
            creds = conn.credentials
            credential = creds.get(key)
            if credential is None:
                try:
                    credential = rpcmsg.decode_credential(cred)
                except RemoteProtocolError as exc:
                    log.info(
                        "%s: bad credential (flavor %d) in xid %d: %s",
                        ep.peer_text(),
                        cred.flavor,
                        header.xid,
                        exc,
                    )
                    self._submit(
                        conn,
                        rpcmsg.encode_denied_reply(
                            header.xid,
                            rpcmsg.RejectStat.AUTH_ERROR,
                            auth_stat=rpcmsg.AuthStat.AUTH_BADCRED,
                        ),
                    )
                    return
                if len(creds) >= CREDENTIAL_CACHE:
                    creds.clear()
                creds[key] = credential
        program = self._by_number.get((header.prog, header.vers))
        if program is None:
            self._version_error(conn, header)
            return
        procedure = program.procedures.get(header.proc)
        if procedure is None:
            self._accepted_error(conn, header, rpcmsg.AcceptStat.PROC_UNAVAIL)
            return
        request = Request(self, conn, header, args, credential, procedure)
        tail = ep.unread_tail
        if tail is not None:  # a big record whose end is still in the socket (transport/tail.py)
            if self._keeps_tail(request, tail.remaining):
                request.tail = tail
            else:
                tail.fill()
        if procedure.reply_size is None:
            size = 0
        elif (
            procedure.reserves_when_behind
            and not ep.replies_queued()
            and self._runs_inline(request)
        ):
            size = 0  # made before the next request is looked at (Procedure)
        else:
            size = self._reply_size(request)
        if not size and self._runs_inline(request):
            # answered before this returns: nothing outstanding to count (a handler that
            # defers is counted then, Request.defer)
            self._run(request)
            return
        self._count(conn)
        request._counted = True
        if size and not self.replies.reserve(conn.replies, request, size):
            return  # started when earlier replies have been sent
        self._start(conn, request)

    def _rpc_mismatch(self, conn: _ServerConnection, record: memoryview) -> bool:
        """RFC 5531 §9: a CALL of another RPC version (the third word) gets RPC_MISMATCH,
        whatever follows; True if ``record`` was such a CALL and has been answered."""
        if len(record) < 12:
            return False
        xid, msg_type, rpcvers = struct.unpack_from(">III", record)
        if msg_type != rpcmsg.CALL or rpcvers == rpcmsg.RPC_VERSION:
            return False
        self._submit(
            conn,
            rpcmsg.encode_denied_reply(
                xid, rpcmsg.RejectStat.RPC_MISMATCH, low=rpcmsg.RPC_VERSION, high=rpcmsg.RPC_VERSION
            ),
        )
        return True

    def _version_error(self, conn: _ServerConnection, header: rpcmsg.CallHeader) -> None:
        """PROG_UNAVAIL, or PROG_MISMATCH with the versions of the program that exist."""
        with self._lock:
            versions = sorted(self._programs.get(header.prog, ()))
        if not versions:
            self._accepted_error(conn, header, rpcmsg.AcceptStat.PROG_UNAVAIL)
            return
        self._submit(
            conn,
            rpcmsg.encode_accepted_reply(
                header.xid,
                rpcmsg.AcceptStat.PROG_MISMATCH,
                verf=header.verf,
                low=versions[0],
                high=versions[-1],
            ),
        )

    def _runs_inline(self, request: Request) -> bool:
        """Whether ``request`` runs on the thread that read it (``Procedure.inline``)."""
        inline = request.procedure.inline
        return (
            self.workers is None or inline is True or (inline is not False and inline(request.args))
        )

    def _keeps_tail(self, request: Request, count: int) -> bool:
        """Whether ``request``'s handler may get its last ``count`` bytes still in the socket:
        its procedure takes them, and it starts at once on this thread (not held for a reply
        budget, not handed to a worker), so it runs before the endpoint reads on."""
        procedure = request.procedure
        takes_tail = procedure.takes_tail
        return (
            takes_tail is not None
            and procedure.reply_size is None
            and self._runs_inline(request)
            and takes_tail(request.args, count)
        )

    def _start(self, conn: _ServerConnection, request: Request) -> None:
        workers = self.workers
        if workers is None or self._runs_inline(request):
            self._run(request)
            return
        try:
            workers.submit(self._run, request)
        except RuntimeError:
            self._request_finished(request)
            conn.close("server shutting down", NotConnectedError("server shutting down"))

    @staticmethod
    def _reply_size(request: Request) -> int:
        """The reply bytes ``request`` reserves before it starts (a reply that cannot be sent
        pins memory: unread clients must not make the server build more than
        ``max_unsent_bytes`` of them each, nor ``max_reply_bytes`` in all); 0: none, it is
        small (``Procedure.reply_size``)."""
        try:
            return max(0, int(request.procedure.reply_size(request.args)))  # type: ignore[misc]
        except Exception:  # short arguments: the handler answers GARBAGE_ARGS
            return 0

    def _release(self, request: Request) -> None:
        """The reply of ``request`` has left (or will never be sent): start what now fits, on
        this connection or another."""
        self._start_all(self.replies.release(request, request._conn.replies))

    def _start_all(self, ready: list[Request]) -> None:
        for waiting in ready:
            self._start(waiting._conn, waiting)

    def _accepted_error(
        self, conn: _ServerConnection, header: rpcmsg.CallHeader, stat: int
    ) -> None:
        self._submit(conn, rpcmsg.encode_accepted_reply(header.xid, stat, verf=header.verf))

    def _submit(self, conn: _ServerConnection, message: bytes) -> None:
        """Send an error reply made on the input thread; it counts until sent, like any."""
        self._count(conn)
        try:
            conn.endpoint.submit(message, on_sent=lambda: self._uncount(conn))
        except NotConnectedError:
            self._uncount(conn)

    def _count(self, conn: _ServerConnection) -> None:
        with conn.lock:
            conn.outstanding += 1
            if 0 < self.outstanding_limit <= conn.outstanding and not conn.paused:
                conn.paused = True
                # under conn.lock: pause/resume keep the count's order
                conn.endpoint.pause_reading()

    def _uncount(self, conn: _ServerConnection) -> None:
        with conn.lock:
            conn.outstanding -= 1
            if conn.paused and conn.outstanding < self.outstanding_limit:
                conn.paused = False
                ep = conn.endpoint
                if not ep.closed:
                    ep.resume_reading()

    # -- requests (worker threads) ----------------------------------------------------------
    def _run(self, request: Request) -> None:
        procedure = request.procedure
        stat = None
        result = None
        try:
            if procedure.args_type is not None:
                reader = XdrReader.over(request.args)  # a view of the record (decode_message)
                request.decoded = procedure.args_type.decode(reader)
                request.payload = reader.rest()
            result = procedure.handler(request)
        except (GarbageArgs, RemoteProtocolError) as exc:
            log.debug("xid %d: garbage arguments for %s: %s", request.xid, procedure.name, exc)
            stat = rpcmsg.AcceptStat.GARBAGE_ARGS
        except Exception:
            log.exception(
                "handler %s failed (xid %d from %s)",
                procedure.name,
                request.xid,
                request.endpoint.peer_text(),
            )
            stat = rpcmsg.AcceptStat.SYSTEM_ERR
        if request._done or (request._deferred and stat is None):
            return
        try:
            if stat is None:
                try:
                    request.reply(result)
                except LocalProtocolError:
                    if request.replied:
                        raise
                    log.exception("handler %s returned a bad result", procedure.name)
                    request.reply_error(rpcmsg.AcceptStat.SYSTEM_ERR)
            else:
                request.reply_error(stat)
        except LocalProtocolError:
            log.exception("reply for xid %d not sent", request.xid)

    def _request_finished(self, request: Request) -> None:
        request._finished()

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
