"""The brick's per-connection state: one typed object in the RPC session.

The RPC server gives each connection a ``session`` mapping that lives as long as the connection.
The brick keeps everything it knows about a connection in ONE :class:`BrickSession` stored
there under :data:`SESSION_KEY`, read through :func:`find_session` / :func:`brick_session`
(which check its type) and made by :func:`open_session`:

* SETVOLUME makes it (GlusterFS makes its ``client_t`` there, ``server_setvolume``): the
  client's identity (:class:`ClientInfo`) and its :class:`BrickClient`, the FOP state
  GlusterFS's ``client_t`` holds (fd table, lock-owner identity, deferred lock requests). A
  second SETVOLUME on the connection replaces the identity and keeps the fds.
* Every FOP reads it; a connection without a SETVOLUME'd session gets GARBAGE_ARGS.
* The disconnect hook closes it (every fd, every lock and waiter). If SETVOLUME is still
  running on another worker, the closed session is already there when it finishes, so nothing
  can be registered on it afterwards: an fd is closed at once (ENOTCONN), a lock released.
  ``open_session`` makes the object with ``dict.setdefault``, so two threads always agree on
  one.
"""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import Final, Generic, TypeVar

from gfrpc.programs.fops import GF_ANON_FD_NO
from gfrpc.rpc.server import GarbageArgs, Request
from gfrpc.services.brick.store import FdTable, OpenDir, OpenFile, PosixStore, Target

__all__ = [
    "SESSION_KEY",
    "BrickClient",
    "BrickSession",
    "ClientInfo",
    "brick_session",
    "find_session",
    "open_session",
]

#: the one key of the RPC session under which the brick keeps its BrickSession
SESSION_KEY: Final = "gfrpc.brick"


@dataclass
class ClientInfo:
    """Who is on a connection, as SETVOLUME told us."""

    process_uuid: str
    peer: str
    peer_cn: str | None
    client_version: str = ""
    options: dict[str, str] = field(default_factory=dict)


class BrickClient:
    """The FOP state of a connection (GlusterFS's ``client_t``): the fd table (fds are per
    connection), the lock-owner identity and the deferred lock requests. Once the connection
    is gone it is *closed*: an fd that a still-running CREATE/OPEN registers afterwards is
    closed at once (nothing stays half-registered), and locks granted after the disconnect
    are released again."""

    def __init__(self, max_open_fds: int | None = None) -> None:
        self.fds = FdTable(max_open_fds)
        self.lock_id = object()  # the "client" part of every lock owner of this connection
        self._lock = threading.Lock()
        self._closed = False
        self._deferred: set[Request] = set()

    @property
    def closed(self) -> bool:
        return self._closed

    def add_fd(self, obj: OpenFile | OpenDir) -> int:
        """Register an open file/dir; after the disconnect it is closed instead (ENOTCONN)."""
        with self._lock:
            if not self._closed:
                return self.fds.add(obj)
        obj.close()
        raise OSError(errno.ENOTCONN, "client disconnected")

    def track(self, request: Request) -> bool:
        """Remember a deferred request (False if the connection is already gone)."""
        with self._lock:
            if self._closed:
                return False
            self._deferred.add(request)
            return True

    def untrack(self, request: Request) -> None:
        with self._lock:
            self._deferred.discard(request)

    def close(self) -> list[Request]:
        """The connection is gone: close every fd; returns the deferred requests to drop."""
        with self._lock:
            self._closed = True
            pending = list(self._deferred)
            self._deferred.clear()
        self.fds.close_all()
        return pending

    def file(
        self,
        store: PosixStore,
        gfid: bytes,
        fd_no: int,
        flags: int = os.O_RDWR,
        on_dir: int = errno.EBADF,
    ) -> Lent[OpenFile]:
        """For one ``with`` block: the open file of ``fd_no`` (a directory's fd is ``on_dir``),
        or for the anonymous fd one opened by ``gfid`` for this call (O_RDWR, falling back to
        O_RDONLY like GlusterFS's anonymous fds) and closed at the end."""
        if fd_no != GF_ANON_FD_NO:
            return Lent(self.fds.get_file(fd_no, on_dir), False)
        try:
            try:
                f = store.open(gfid, flags)
            except PermissionError:
                f = store.open(gfid, os.O_RDONLY)
        except OSError as exc:  # what glusterfsd answers for an anonymous fd of these
            if exc.errno == errno.ELOOP:
                raise OSError(errno.EBADF, "an anonymous fd of a symlink") from exc
            if exc.errno == errno.EISDIR:
                raise OSError(on_dir, "an anonymous fd of a directory") from exc
            raise
        return Lent(f, True)

    def directory(self, store: PosixStore, gfid: bytes, fd_no: int) -> Lent[OpenDir]:
        """For one ``with`` block: the open directory of ``fd_no`` (or an anonymous one opened
        by ``gfid``, closed at the end)."""
        if fd_no != GF_ANON_FD_NO:
            return Lent(self.fds.get_dir(fd_no), False)
        return Lent(store.opendir(gfid), True)

    def target(self, gfid: bytes, fd_no: int) -> Target:
        """What an f-FOP acts on: the open object of ``fd_no``, or the gfid for the anonymous fd
        (the store opens by gfid itself)."""
        if fd_no == GF_ANON_FD_NO:
            return bytes(gfid)
        return self.fds.get(fd_no)


_O = TypeVar("_O", OpenFile, OpenDir)


class Lent(Generic[_O]):
    """An open file or directory lent to one ``with`` block, closed at its end when it was
    opened for the block alone (an anonymous fd). A class, not a generator's context manager:
    every FOP on an fd takes one, and ``@contextmanager`` costs three times as much."""

    __slots__ = ("obj", "_owned")

    def __init__(self, obj: _O, owned: bool) -> None:
        self.obj: _O = obj
        self._owned = owned

    def __enter__(self) -> _O:
        return self.obj

    def __exit__(self, *exc: object) -> None:
        if self._owned:
            self.obj.close()


@dataclass(slots=True, eq=False)
class BrickSession:
    """Everything the brick keeps about one connection (see the module notes)."""

    #: fds, lock-owner identity and deferred lock requests of the connection
    client: BrickClient
    #: who SETVOLUME admitted; None until then (the FOP program answers GARBAGE_ARGS)
    identity: ClientInfo | None = None


def find_session(session: MutableMapping[str, object]) -> BrickSession | None:
    """The connection's BrickSession, or None if it has none yet."""
    found = session.get(SESSION_KEY)
    if found is None or isinstance(found, BrickSession):
        return found
    raise TypeError(f"session key {SESSION_KEY!r} holds a {type(found).__name__}")


def open_session(
    session: MutableMapping[str, object], max_open_fds: int | None = None
) -> BrickSession:
    """The connection's BrickSession, made now if it has none (``max_open_fds``: the fd cap of
    a new one; None: ``store.fds``' default)."""
    found = find_session(session)
    if found is None:
        session.setdefault(SESSION_KEY, BrickSession(BrickClient(max_open_fds)))
        found = find_session(session)
        assert found is not None
    return found


def brick_session(request: Request) -> BrickSession:
    """The BrickSession of a request's connection, which SETVOLUME admitted (GARBAGE_ARGS
    otherwise: GlusterFS finds no client bound to the transport)."""
    found = find_session(request.session)
    if found is None or found.identity is None:
        raise GarbageArgs("no SETVOLUME on this connection yet")
    return found
