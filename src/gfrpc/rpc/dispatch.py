"""Incoming calls: from a whole record to its handler, and the rules on the way.

Theory of operation (wire behaviour of GlusterFS 10's rpcsvc, our own structure). The
:class:`CallDispatcher` is the part of an ``RpcServer`` (``server.py``) that every call goes
through; the server owns the connections, and each connection's state that matters here
(its outstanding count, its reply account, its decoded credentials) is kept on the
server's ``_ServerConnection``.

* The transport's input thread calls the connection's ``record_received`` with each whole
  record, which hands it to :meth:`CallDispatcher.dispatch`. There we only decode the CALL
  header and decide: rpcvers != 2 ⇒ MSG_DENIED/RPC_MISMATCH (2..2); unknown program ⇒
  PROG_UNAVAIL; known program, other version ⇒ PROG_MISMATCH with the lowest and highest
  registered versions; unknown procedure ⇒ PROC_UNAVAIL. Those answers are sent at once. A
  valid call becomes a :class:`Request` that runs inline or on the worker pool (GlusterFS's
  io-threads; "Where handlers run", below); its handler decodes its own arguments there and
  returns the results.
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
* Where handlers run is a policy, not a rule (GlusterFS's io-threads is an optional
  translator too): a procedure marked ``inline`` (always, or when a predicate on its raw
  arguments says so) runs on the thread that read its request (a poller thread), the others
  on the ``workers`` pool; ``workers=0`` means no pool at all, and
  every procedure runs inline, as a GlusterFS brick without io-threads does. Under the GIL a
  hand-off costs two wake-ups and a contended lock, more than a STAT's own work; a handler that
  may block for long (disk I/O, fsync) belongs on the pool unless the operator chose none. A
  procedure with a ``reply_size`` reserves its reply first wherever it runs, and one held back
  by the reservation starts on the thread that sent the reply that made room.
* The programs served are a table of (program, version) read without a lock on every call:
  :meth:`CallDispatcher.register` replaces it whole.
"""

from __future__ import annotations

import logging
import struct
import threading
from typing import TYPE_CHECKING

from gfrpc.errors import LocalProtocolError, NotConnectedError, RemoteProtocolError
from gfrpc.rpc.request import GarbageArgs, Program, Request
from gfrpc.wire import rpcmsg
from gfrpc.wire.xdr import XdrReader

if TYPE_CHECKING:
    from gfrpc.rpc.reply_budget import ReplyBudget
    from gfrpc.rpc.server import _ServerConnection
    from gfrpc.rpc.workers import WorkerPool
    from gfrpc.transport import Endpoint

__all__ = ["CREDENTIAL_CACHE", "KNOWN_FLAVORS", "CallDispatcher"]

log = logging.getLogger("gfrpc.rpc.server")

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


class CallDispatcher:
    """Decides what each call gets, and runs it where the policy says (module docstring)."""

    def __init__(
        self, *, workers: WorkerPool | None, outstanding_limit: int, replies: ReplyBudget
    ) -> None:
        #: the worker pool; None with ``workers=0`` (every procedure runs inline)
        self.workers = workers
        self.outstanding_limit = outstanding_limit
        #: reply bytes reserved, per connection and in all (``reply_budget.py``)
        self.replies = replies
        self._lock = threading.Lock()
        self._programs: dict[int, dict[int, Program]] = {}
        #: (prognum, progver) -> Program, replaced whole on register: read without the lock
        self._by_number: dict[tuple[int, int], Program] = {}
        self._order: list[Program] = []

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
        """Registered programs in registration order."""
        with self._lock:
            return list(self._order)

    # -- a record comes in (the transport's input thread) -----------------------------------
    def dispatch(self, conn: _ServerConnection, ep: Endpoint, record: memoryview) -> None:
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
        self.count(conn)
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
            self.finished(request)
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

    def release(self, request: Request) -> None:
        """The reply of ``request`` has left (or will never be sent): start what now fits, on
        this connection or another."""
        self.start_all(self.replies.release(request, request._conn.replies))

    def start_all(self, ready: list[Request]) -> None:
        for waiting in ready:
            self._start(waiting._conn, waiting)

    def _accepted_error(
        self, conn: _ServerConnection, header: rpcmsg.CallHeader, stat: int
    ) -> None:
        self._submit(conn, rpcmsg.encode_accepted_reply(header.xid, stat, verf=header.verf))

    def _submit(self, conn: _ServerConnection, message: bytes) -> None:
        """Send an error reply made on the input thread; it counts until sent, like any."""
        self.count(conn)
        try:
            conn.endpoint.submit(message, on_sent=lambda: self.uncount(conn))
        except NotConnectedError:
            self.uncount(conn)

    def count(self, conn: _ServerConnection) -> None:
        with conn.lock:
            conn.outstanding += 1
            if 0 < self.outstanding_limit <= conn.outstanding and not conn.paused:
                conn.paused = True
                # under conn.lock: pause/resume keep the count's order
                conn.endpoint.pause_reading()

    def uncount(self, conn: _ServerConnection) -> None:
        with conn.lock:
            conn.outstanding -= 1
            if conn.paused and conn.outstanding < self.outstanding_limit:
                conn.paused = False
                ep = conn.endpoint
                if not ep.closed:
                    ep.resume_reading()

    # -- running a request (its thread: the reader's, or a worker) ---------------------------
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

    def finished(self, request: Request) -> None:
        request._finished()
