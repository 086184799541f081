"""What every FOP actor of the brick shares: the call, the connection's state, conversions.

* :class:`FopCall` is one decoded FOP request: the RPC ``request``, its decoded ``args`` (the
  v400 request struct), the WRITE ``payload``, the connection's :class:`BrickClient` and the
  ``caller`` (uid, gid, groups of the RPC credential, as GlusterFS's server puts them in the
  frame).
* :class:`BrickClient` is the per-connection state GlusterFS keeps in its ``client_t``: the fd
  table (fds are per connection), the lock-owner identity and the deferred lock requests. Once
  the connection is gone it is *closed*: an fd that a still-running CREATE/OPEN registers
  afterwards is closed at once (nothing stays half-registered), and locks granted after the
  disconnect are released again.
* Anonymous fd (``GF_ANON_FD_NO`` = -2): GlusterFS's server resolves it to ``fd_anonymous``,
  an fd opened by gfid for the duration of the call. :meth:`BrickClient.file` does the same.
* Iatts: the store's ``Iatt`` has the field names and order of ``gfx_iattx``;
  :func:`wire_iatt` copies it. The root's gfid 00..01 already gives ino 1 (``gfid_to_ino``),
  which is what ``server4_post_lookup`` forces.
"""

from __future__ import annotations

import dataclasses
import errno
import operator
import os
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

from gfrpc.programs import fops_types
from gfrpc.programs.fops import GF_ANON_FD_NO
from gfrpc.rpc.server import Request
from gfrpc.services.brick.store import Caller, FdTable, Iatt, OpenDir, OpenFile, PosixStore

#: session key of a connection's BrickClient
SESSION_FOPS: Final = "brick-fops"
#: returned by an actor that answers later (``request.defer()`` was called)
DEFERRED: Final = object()
ROOT_CALLER: Final = Caller(0, 0, ())

_IATT_FIELDS: Final = tuple(f.name for f in dataclasses.fields(Iatt))
_iatt_values: Final = operator.attrgetter(*_IATT_FIELDS)  # all fields, in order, in one call
# O_DIRECT needs aligned buffers, which Python's bytes are not; GlusterFS's posix also only
# opens with O_DIRECT when its own o-direct option asks for it.
_STRIP_OPEN_FLAGS: Final = getattr(os, "O_DIRECT", 0)


def wire_iatt(st: Iatt | None) -> Any:
    """The ``gfx_iattx`` of a store ``Iatt`` (None: the all-zero iatt GlusterFS sends)."""
    if st is None:
        return None
    return fops_types.Iatt(*_iatt_values(st))


def open_flags(flags: int) -> int:
    """Client open flags as the brick applies them (see ``_STRIP_OPEN_FLAGS``)."""
    return flags & ~_STRIP_OPEN_FLAGS


def caller_of(request: Request) -> Caller:
    """uid, gid and groups of the request's credential (AUTH_GLUSTERFS v1/v2/v3 or AUTH_UNIX);
    AUTH_NULL is root, as GlusterFS's auth-null leaves the frame's ids at 0."""
    cred = request.credential
    if cred is None:
        return ROOT_CALLER
    groups = getattr(cred, "groups", None)
    if groups is None:
        groups = getattr(cred, "gids", None) or ()
    return Caller(int(cred.uid), int(cred.gid), tuple(int(g) for g in groups))


def lk_owner_of(request: Request) -> bytes:
    """The credential's lk_owner (GlusterFS's ``frame->root->lk_owner``)."""
    cred = request.credential
    owner = getattr(cred, "lk_owner", None)
    if owner is None:
        pid = int(getattr(cred, "pid", 0))
        return pid.to_bytes(4, "little", signed=False) if pid >= 0 else b""
    if isinstance(owner, int):
        return owner.to_bytes(8, "big")
    return bytes(owner)


def gfid_req(xdata: dict[str, Any] | None) -> bytes | None:
    """The ``gfid-req`` a client puts in LOOKUP/CREATE/MKDIR/... xdata (GFUUID or 16 bytes)."""
    if not xdata:
        return None
    value = xdata.get("gfid-req")
    if isinstance(value, uuid.UUID):
        return value.bytes
    if isinstance(value, bytes | bytearray | memoryview) and len(value) == 16:
        return bytes(value)
    return None


class BrickClient:
    """Per-connection state: fd table, lock-owner id, deferred lock requests."""

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

    @contextmanager
    def file(
        self, store: PosixStore, gfid: bytes, fd_no: int, flags: int = os.O_RDWR
    ) -> Iterator[OpenFile]:
        """The open file of ``fd_no``, or for the anonymous fd one opened by ``gfid`` for this
        call (O_RDWR, falling back to O_RDONLY like GlusterFS's anonymous fds)."""
        if fd_no != GF_ANON_FD_NO:
            yield self.fds.get_file(fd_no)
            return
        try:
            f = store.open(gfid, flags)
        except PermissionError:
            f = store.open(gfid, os.O_RDONLY)
        try:
            yield f
        finally:
            f.close()

    @contextmanager
    def directory(self, store: PosixStore, gfid: bytes, fd_no: int) -> Iterator[OpenDir]:
        """The open directory of ``fd_no`` (or an anonymous one opened by ``gfid``)."""
        if fd_no != GF_ANON_FD_NO:
            yield self.fds.get_dir(fd_no)
            return
        d = store.opendir(gfid)
        try:
            yield d
        finally:
            d.close()

    def target(self, gfid: bytes, fd_no: int) -> Any:
        """What an f-FOP acts on: the open object of ``fd_no``, or the gfid for the anonymous fd
        (the store opens by gfid itself)."""
        if fd_no == GF_ANON_FD_NO:
            return bytes(gfid)
        return self.fds.get(fd_no)


@dataclasses.dataclass(slots=True)
class FopCall:
    """One FOP request being served (see the module docstring)."""

    request: Request
    args: Any
    payload: memoryview
    client: BrickClient
    caller: Caller
    #: the brick's ``--strict-access``: check FOPs on fds too, trust no negative pid
    strict: bool = False

    @property
    def internal(self) -> bool:
        """A GlusterFS-internal client (negative pid: rebalance, self-heal, gsyncd), which the
        access checks let through as GlusterFS does (``access.trusted``); never in strict mode,
        where any client could claim it."""
        return not self.strict and int(getattr(self.request.credential, "pid", 0) or 0) < 0


#: xattr name spaces a client may name in xdata (LOOKUP/READDIRP asks, create-time keys)
XATTR_NAMESPACES: Final = ("trusted.", "user.", "security.", "system.")


def asked_xattrs(store: PosixStore, gfid: bytes, xdata: dict[str, Any] | None) -> dict[str, Any]:
    """The extended attributes a LOOKUP or READDIRP asks for by naming them in its xdata, as
    GlusterFS's posix layer answers them (DHT asks for ``trusted.glusterfs.dht`` and its linkto
    key this way, and drops READDIRP entries that are linkto files). Keys that are not xattr
    names, or that the entry lacks, are left out."""
    out: dict[str, Any] = {}
    for key in xdata or ():
        if not isinstance(key, str) or "." not in key or not key.startswith(XATTR_NAMESPACES):
            continue
        try:
            out.update(store.getxattr(bytes(gfid), key))
        except OSError:
            continue
    return out
