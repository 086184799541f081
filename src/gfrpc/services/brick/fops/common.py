"""What every FOP actor of the brick shares: the call, its caller, reply types, helpers.

* :class:`FopCall` is one decoded FOP request: the RPC ``request``, its decoded ``args`` (the
  v400 request struct), the WRITE ``payload``, the connection's ``BrickClient`` (its fd table,
  lock-owner id and deferred requests: ``session.py``) and the ``caller`` (uid, gid, groups of
  the RPC credential, as GlusterFS's server puts them in the frame).
* An actor is ``actor(svc, call) -> FopReply``: the reply struct, the parts of a READ reply, or
  :data:`DEFERRED` when it answers later (``request.defer()`` was called).
* Anonymous fd (``GF_ANON_FD_NO`` = -2): GlusterFS's server resolves it to ``fd_anonymous``,
  an fd opened by gfid for the duration of the call. ``BrickClient.file`` does the same.
* Iatts: the store builds the wire's ``gfx_iattx`` itself (``store.iatt``); the root's gfid
  00..01 already gives ino 1, which is what ``server4_post_lookup`` forces.
"""

from __future__ import annotations

import dataclasses
import enum
import os
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Final, TypeAlias

from gfrpc.programs.fops import Buffer
from gfrpc.rpc.server import Request
from gfrpc.services.brick.session import BrickClient
from gfrpc.services.brick.store import Caller, PosixStore
from gfrpc.services.brick.store.xattr import KeySetMemo
from gfrpc.wire.rpcmsg import AuthUnix, GlusterCredV1
from gfrpc.wire.xdr import XdrStruct

if TYPE_CHECKING:
    from gfrpc.services.brick.fops import FopService
    from gfrpc.transport.outqueue import FileRegion


class _Deferred(enum.Enum):
    DEFERRED = "deferred"

    def __repr__(self) -> str:
        return "DEFERRED"


#: returned by an actor that answers later (``request.defer()`` was called)
DEFERRED: Final = _Deferred.DEFERRED
#: what an actor returns: a reply struct, the parts of a READ reply, or DEFERRED
FopReply: TypeAlias = "XdrStruct | Sequence[Buffer | FileRegion] | _Deferred"
#: the signature of every FOP actor
Actor: TypeAlias = "Callable[[FopService, FopCall], FopReply]"
#: a request's xdata as decoded (``gfdict``: int, str, bytes, float, UUID or GfValue values)
Xdata: TypeAlias = "Mapping[str, object]"
ROOT_CALLER: Final = Caller(0, 0, ())

# O_DIRECT needs aligned buffers, which Python's bytes are not; GlusterFS's posix also only
# opens with O_DIRECT when its own o-direct option asks for it.
_STRIP_OPEN_FLAGS: Final = getattr(os, "O_DIRECT", 0)


def open_flags(flags: int) -> int:
    """Client open flags as the brick applies them (see ``_STRIP_OPEN_FLAGS``)."""
    return flags & ~_STRIP_OPEN_FLAGS


def caller_of(request: Request) -> Caller:
    """uid, gid and groups of the request's credential (AUTH_GLUSTERFS v1/v2/v3 or AUTH_UNIX);
    AUTH_NULL (no credential) is root, as GlusterFS's auth-null leaves the frame's ids at 0."""
    cred = request.credential
    if cred is None:
        return ROOT_CALLER
    # the RPC server decodes each credential of a connection once and hands the same object
    # to every request that carries it: its Caller is made once too (the entry keeps the
    # credential alive, so its id cannot be reused while the entry exists)
    known = _CALLERS.get(id(cred))
    if known is not None and known[0] is cred:
        return known[1]
    groups = cred.gids if isinstance(cred, AuthUnix) else cred.groups
    caller = Caller(int(cred.uid), int(cred.gid), tuple(int(g) for g in groups))
    if len(_CALLERS) >= _CALLERS_MAX:
        _CALLERS.clear()
    _CALLERS[id(cred)] = (cred, caller)
    return caller


_CALLERS: dict[int, tuple[object, Caller]] = {}
_CALLERS_MAX: Final = 1024


def pid_of(request: Request) -> int:
    """The credential's pid (AUTH_GLUSTERFS; 0 for AUTH_UNIX and AUTH_NULL)."""
    cred = request.credential
    if cred is None or isinstance(cred, AuthUnix):
        return 0
    return int(cred.pid or 0)


def lk_owner_of(request: Request) -> bytes:
    """The credential's lk_owner (GlusterFS's ``frame->root->lk_owner``): AUTH_GLUSTERFS v1's
    u_quad as 8 bytes, v2/v3's as sent, else the pid's 4 bytes (``default_lk_owner``)."""
    cred = request.credential
    owner = None if cred is None or isinstance(cred, AuthUnix) else cred.lk_owner
    if owner is None:
        pid = pid_of(request)
        return pid.to_bytes(4, "little", signed=False) if pid >= 0 else b""
    if isinstance(cred, GlusterCredV1):
        return int(owner).to_bytes(8, "big")
    return bytes(owner)


def gfid_req(xdata: Xdata | None) -> bytes | None:
    """The ``gfid-req`` a client puts in LOOKUP/CREATE/MKDIR/... xdata (GFUUID or 16 bytes)."""
    if not xdata:
        return None
    value = xdata.get("gfid-req")
    if isinstance(value, uuid.UUID):
        return value.bytes
    if isinstance(value, bytes | bytearray | memoryview) and len(value) == 16:
        return bytes(value)
    return None


@dataclasses.dataclass(slots=True)
class FopCall:
    """One FOP request being served (see the module docstring)."""

    request: Request
    args: XdrStruct
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
        return not self.strict and pid_of(self.request) < 0


#: xattr name spaces a client may name in xdata (LOOKUP/READDIRP asks, create-time keys)
XATTR_NAMESPACES: Final = ("trusted.", "user.", "security.", "system.")


def asked_xattrs(
    store: PosixStore,
    gfid: bytes,
    xdata: Xdata | None,
    content_size: int = -1,
    reader: Caller | None = None,
) -> dict[str, bytes]:
    """The extended attributes a LOOKUP or READDIRP asks for by naming them in its xdata, as
    GlusterFS's posix layer answers them (DHT asks for ``trusted.glusterfs.dht`` and its linkto
    key this way, and drops READDIRP entries that are linkto files; md-cache asks for
    ``security.capability`` and ``security.ima``). Keys that are not xattr names, or that the
    entry lacks, are left out. With ``content_size`` >= 0 the file's bytes are read too (the
    caller has checked the request, see ``entry.content_size``) and answered under
    :data:`CONTENT_KEY` when the file still has that size and ``reader`` (None: a trusted
    caller) may read it."""
    keys = _ASKED_NAMES.answer(tuple(xdata), _xattr_names) if xdata else ()
    if not keys and content_size < 0:
        return {}
    try:
        out, content = store.named_xattrs(bytes(gfid), keys, content_size, reader=reader)
    except OSError:
        return {}
    if content is not None:
        out[CONTENT_KEY] = content
    return out


def _xattr_names(asked: tuple[object, ...]) -> tuple[str, ...]:
    """The keys among ``asked`` that name extended attributes, in order."""
    return tuple(k for k in asked if isinstance(k, str) and k.startswith(XATTR_NAMESPACES))


#: :func:`_xattr_names` kept per key set (bounded: a client chooses the keys)
_ASKED_NAMES = KeySetMemo()


#: quick-read's request for a small file's bytes in the LOOKUP reply (``GF_CONTENT_KEY``)
CONTENT_KEY: Final = "glusterfs.content"
