"""What the RPC server hands a handler, and what it takes back.

``Program`` and ``Procedure`` describe what a server serves; a :class:`Request` is one call
being served (header, arguments, credential, the connection's ``session``); a handler returns
its results (``HandlerResult``) or answers later through ``defer()`` and exactly one of
``reply``/``reply_error``/``drop``. The dispatch rules are in ``dispatch.py``'s docstring.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from gfrpc.errors import LocalProtocolError, NotConnectedError, RemoteProtocolError
from gfrpc.rpc.calls import Buffer
from gfrpc.wire import rpcmsg
from gfrpc.wire.xdr import XdrStruct, XdrType, XdrValue

if TYPE_CHECKING:
    from gfrpc.rpc.dispatch import CallDispatcher
    from gfrpc.rpc.server import _ServerConnection
    from gfrpc.transport import Endpoint
    from gfrpc.transport.tail import UnreadTail

__all__ = [
    "GarbageArgs",
    "HandlerResult",
    "Procedure",
    "Program",
    "Request",
    "Session",
]

log = logging.getLogger("gfrpc.rpc.server")

#: Per-connection state shared by the requests of one connection (``Request.session``). The
#: programs above own its keys and values, so the RPC layer cannot type them.
Session = dict[str, Any]


class _Packable(Protocol):
    def pack(self) -> bytes: ...


#: what a handler returns: bytes-like results, a list of parts, a ``pack()``-able value (an
#: ``xdr.struct``) or None (no results). Handlers are typed as returning ``object`` because
#: the server checks the result when it sends it (anything else is answered SYSTEM_ERR).
HandlerResult = Buffer | Sequence[Buffer] | _Packable | None


class GarbageArgs(RemoteProtocolError):
    """Raised by a handler whose arguments do not decode (or come out of order); answered with
    GARBAGE_ARGS. A RemoteProtocolError: the caller broke the program's rules."""


@dataclass
class Procedure:
    """One procedure: ``handler(request)`` returns the results (``dispatch.py``'s docstring).

    ``args_type``, when given (an ``xdr.struct`` type), is decoded on the worker before the
    handler runs: ``request.decoded`` is the value, ``request.payload`` what follows it.
    ``inline`` runs the handler on the transport's input thread instead of the worker pool:
    ``True`` always, or a predicate ``inline(args) -> bool`` on the raw arguments (a READ or
    WRITE small enough not to block for long). ``reply_size(args) -> int``, when given, predicts
    the size of the reply from the raw arguments (a READ's ``size``): such requests of one
    connection start only while the replies being made or waiting to be sent fit in
    ``limits.max_unsent_bytes``, and those of all connections in ``max_reply_bytes`` (one at
    a time if a single one does not fit; ``rpc/reply_budget.py``). A prediction of 0 means
    a small reply: the request reserves nothing, and may run at once like one without.
    ``reserves_when_behind``: the reply is usually small but may be large (a LOOKUP's, up to
    some 200 KiB): a request that runs inline reserves only while replies of its connection
    wait in the out-queue for the kernel (``Endpoint.replies_queued``). Otherwise its reply
    is made before the connection's next request is looked at, and a big one is queued at
    once, so the next such request reserves if the kernel has not taken it: a connection has
    at most one big reply of these unreserved, besides the small ones of the batch being
    delivered (corked, 16 of at most 8 KiB).
    ``takes_tail(args, count) -> bool``, when given, says whether the handler of a request
    that runs inline may find the last ``count`` bytes of ``args`` still in the socket
    (``request.tail``, ``transport/tail.py``); any other request gets whole arguments.
    """

    name: str
    handler: Callable[[Request], object]  # returns a HandlerResult
    args_type: type[XdrStruct] | XdrType | None = None
    inline: bool | Callable[[memoryview], bool] = False
    reply_size: Callable[[memoryview], int] | None = None
    reserves_when_behind: bool = False
    takes_tail: Callable[[memoryview, int], bool] | None = None


@dataclass
class Program:
    """An RPC program version and its procedures, keyed by procedure number."""

    prognum: int
    progver: int
    name: str
    procedures: dict[int, Procedure] = field(default_factory=dict)


class Request:
    """One call being served: ``header`` (``rpcmsg.CallHeader``), ``args`` (memoryview of the
    arguments and any raw payload), the peer (``peername``, ``peer_cn``, ``endpoint``) and the
    decoded ``credential`` (None for AUTH_NULL and unknown flavors; ``auth`` is the raw one).

    A handler normally just returns its results. To answer later it calls :meth:`defer` and
    then, from any thread, exactly one of :meth:`reply`, :meth:`reply_error` or :meth:`drop`.
    """

    def __init__(
        self,
        calls: CallDispatcher,
        conn: _ServerConnection,
        header: rpcmsg.CallHeader,
        args: memoryview,
        credential: rpcmsg.Credential | None,
        procedure: Procedure,
    ) -> None:
        self.calls = calls  # the dispatcher that made it, told when it is answered
        self.header = header
        #: the CALL's numbers (copied once: the header does not change)
        self.xid, self.prog, self.vers, self.proc = header[:4]
        self.args = args
        self.credential = credential
        self.procedure = procedure
        ep = conn.ep
        self.endpoint: Endpoint = ep if ep is not None else conn.endpoint
        self.session = conn.session  # per-connection state shared by its requests
        self._conn = conn

    # The rest of a request's state starts as these class defaults (a request is made for
    # every call: each attribute not set in __init__ is work not done).
    #: the arguments decoded with ``procedure.args_type`` (None without one); their type is
    #: the procedure's, which only its handler knows
    decoded: XdrValue = None
    payload: memoryview | None = None
    #: the end of ``args`` still in the socket, while the handler runs (``Procedure.takes_tail``)
    tail: UnreadTail | None = None
    #: guards the one reply once the request is deferred (before that only the thread running
    #: the handler can answer it)
    _lock: threading.Lock | None = None
    _deferred = False
    _done = False
    _counted = False
    _reserved = 0  # reply bytes reserved for it (procedures with ``reply_size``)

    @property
    def peername(self) -> object:
        return self.endpoint.peername

    @property
    def peer_cn(self) -> str | None:
        return self.endpoint.peer_cn

    @property
    def auth(self) -> rpcmsg.OpaqueAuth:
        return self.header.cred

    @property
    def replied(self) -> bool:
        return self._done

    def defer(self) -> None:
        """Answer later: the server will not reply when the handler returns."""
        if self._lock is None:
            self._lock = threading.Lock()
        self._deferred = True
        if not self._counted:  # run inline, so not counted yet: outstanding from now on
            self.calls.count(self._conn)
            self._counted = True

    def reply(self, result: HandlerResult | object = None) -> None:
        """Send the SUCCESS reply with ``result`` (bytes, parts, ``pack()``-able or None)."""
        parts = _result_parts(result)
        self._send(
            rpcmsg.encode_accepted_reply(
                self.xid, rpcmsg.AcceptStat.SUCCESS, verf=self.header.verf
            ),
            parts,
        )

    def reply_error(self, accept_stat: int) -> None:
        """Send an accepted reply with an error ``accept_stat`` (GARBAGE_ARGS, SYSTEM_ERR, ...)."""
        self._send(rpcmsg.encode_accepted_reply(self.xid, accept_stat, verf=self.header.verf), ())

    def drop(self) -> None:
        """Never answer this request (as GlusterFS does for PMAP BRICKBYPORT)."""
        self._take()
        self.calls.finished(self)

    def _take(self) -> None:
        """Mark the request answered; LocalProtocolError if it already was."""
        lock = self._lock
        if lock is None:  # not deferred: only the handler's thread has it
            if self._done:
                raise LocalProtocolError(f"request xid {self.xid} was already answered")
            self._done = True
            return
        with lock:
            if self._done:
                raise LocalProtocolError(f"request xid {self.xid} was already answered")
            self._done = True

    def _send(self, header: bytes, parts: Sequence[Buffer]) -> None:
        self._take()
        finished = self._finished
        try:
            self.endpoint.submit(header, *parts, on_sent=finished if self._counted else None)
        except NotConnectedError:
            log.debug("reply to xid %d not sent: connection closed", self.xid)
            finished()
        except BaseException:
            finished()
            raise

    def _finished(self) -> None:
        # CallDispatcher.finished, one call less on every reply's way out
        if self._reserved:
            self.calls.release(self)
        if self._counted:
            self._counted = False
            self.calls.uncount(self._conn)


def _result_parts(result: object) -> Sequence[Buffer]:
    if result is None:
        return ()
    pack = getattr(result, "pack", None)  # an xdr.struct: the usual result
    if pack is not None:
        return (pack(),)
    if isinstance(result, bytes | bytearray | memoryview):
        return (result,)
    if isinstance(result, list | tuple):
        return result  # type: ignore[return-value]  # parts: checked by the endpoint
    raise LocalProtocolError(f"handler returned {type(result).__name__}, not bytes or parts")
