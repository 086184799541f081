"""Connecting a volume's bricks, backup volfile servers, and sharing the connections.

Theory of operation:

* **Volfile servers in order.** ``gluster://h1,h2:24008,[::1]/vol`` names several management
  daemons. GETSPEC is asked of each in turn, as gfapi's volfile-server list and mount's
  ``backup-volfile-servers`` do: one that is unreachable, refuses the connection, times out or
  answers with an error is skipped, and the next is tried. When none answers, one error names
  every server and why it failed. The bricks of the volfile are then reached through the
  server that answered (its portmapper, for bricks without ``remote-port``).
* **Sharing.** A process that opens the same volume twice with the same identity gets one set
  of brick connections. The key is (volfile servers, volume, identity): the caller's uid, gid
  and groups, the TLS settings of both ports, and the poller (by name and thread count, or the
  very object given). ``acquire`` counts users; the last ``release`` closes the bricks and
  stops the poller the share owns. Each ``Volume`` keeps its own path cache and open files.
* **Locking.** ``_lock`` guards the table of shares and every share's user count; it is never
  held during network I/O. Each share has its own ``lock``, held while it connects or closes:
  a second ``Volume.connect`` of the same key waits for the first one's handshake instead of
  making its own, while connects of other keys run in parallel. A share whose connect failed
  is left unconnected, and the next user tries again. A forked child starts with no shares
  (the parent's connections have no threads in it).
"""

from __future__ import annotations

import errno
import os
import stat
import threading
import uuid
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

from gfrpc.client import volfile as vf
from gfrpc.errors import ConfigError
from gfrpc.tls import TLSOptions, make_context
from gfrpc.transport import Poller, make_poller

from .connection import BrickConnection, Identity
from .mgmt import VolfileError, fetch_volfile
from .url import address_text

__all__ = [
    "Identity",
    "Share",
    "VolumeBricks",
    "acquire",
    "bricks_from_volfile",
    "fetch_volfile_from",
    "identity_key",
    "open_poller",
    "release",
    "shares",
    "start_bricks",
    "tls_context",
]


def tls_context(tls: Any) -> Any:
    """``tls=`` as an SSLContext: None, an SSLContext, TLSOptions, or a directory holding
    glusterfs.pem/.key/.ca (True: OpenSSL's default directory, as GlusterFS)."""
    if tls is None or tls is False:
        return None
    if isinstance(tls, TLSOptions):
        return make_context(tls, server_side=False)
    if isinstance(tls, str | os.PathLike):
        return make_context(TLSOptions.from_dir(tls), server_side=False)
    if tls is True:
        return make_context(TLSOptions.from_options({}), server_side=False)
    return tls


def _tls_key(tls: Any) -> Hashable:
    if tls is None or tls is False:
        return None
    if tls is True:
        return "default"
    if isinstance(tls, str | os.PathLike):
        return ("dir", os.path.realpath(os.fspath(tls)))
    if isinstance(tls, TLSOptions):
        return ("options", repr(tls))
    return ("object", id(tls))  # an SSLContext: only the same object (kept alive by the share)


def identity_key(
    servers: Sequence[tuple[str, int]],
    volume: str,
    identity: Identity,
    *,
    tls: Any,
    mgmt_tls: Any,
    poller: str | Poller,
    event_threads: int,
    options: Hashable = None,
) -> Hashable:
    """The sharing key of a ``Volume.connect`` (see the module essay); ``options``: anything
    else that changes the connections (such as timeouts that override the volfile's)."""
    pkey = (poller, event_threads) if isinstance(poller, str) else ("object", id(poller))
    return (tuple(servers), volume, identity, _tls_key(tls), _tls_key(mgmt_tls), pkey, options)


#: the client's polling model unless the caller picks one. One thread: measured against
#: ``pool`` x2 (docs/ARCHITECTURE.md, "Performance notes", 37), a second poller thread costs
#: the client more in GIL hand-offs and EPOLLONESHOT re-arms than it buys (STAT/s up 15-23 %
#: with one, sequential I/O within the spread). ``event_threads`` only counts for pool/sharded.
DEFAULT_POLLER = "single"


def open_poller(poller: str | Poller, event_threads: int) -> tuple[Poller, bool]:
    """(a started poller, whether the caller owns it)."""
    if isinstance(poller, str):
        p = make_poller(poller, event_threads)
        p.start()
        return p, True
    return poller, False


# -- volfile servers ----------------------------------------------------------------------------
def fetch_volfile_from(
    servers: Sequence[tuple[str, int]],
    volume: str,
    *,
    poller: Poller,
    tls: Any = None,
    timeout: float = 10.0,
) -> tuple[str, tuple[str, int]]:
    """(volfile text, the server that gave it), trying ``servers`` in order. With one server
    its own error is raised; with several, a VolfileError naming each one's failure."""
    failures: list[str] = []
    last: OSError | None = None
    for host, port in servers:
        try:
            text = fetch_volfile(host, volume, port=port, poller=poller, tls=tls, timeout=timeout)
        except OSError as exc:
            if len(servers) == 1:
                raise
            last = exc
            failures.append(f"{address_text(host, port)}: {_reason(exc)}")
            continue
        return text, (host, port)
    code = last.errno if last is not None and last.errno else errno.EHOSTUNREACH
    raise VolfileError(code, f"no volfile server gave {volume!r}: " + "; ".join(failures))


def _reason(exc: OSError) -> str:
    if isinstance(exc, VolfileError):
        return exc.message.split(": ", 1)[-1]
    text = exc.strerror or str(exc) or type(exc).__name__
    return " ".join(str(text).split())


# -- bricks -------------------------------------------------------------------------------------
@dataclass
class VolumeBricks:
    """The connections of one volume, and what every ``Volume`` on them needs to know."""

    bricks: list[BrickConnection]
    subvolumes: list[str]
    kind: str
    poller: Poller
    own_poller: bool
    root_mode: int = stat.S_IFDIR | 0o755
    #: what the Volume takes from the volfile's graph (``volfile.client_options``)
    options: dict[str, bool] = field(default_factory=dict)

    def close(self) -> None:
        for c in self.bricks:
            c.close()
        if self.own_poller:
            self.poller.stop()


def bricks_from_volfile(
    text: str,
    *,
    volname: str,
    host: str | None,
    mgmt_port: int | None,
    tls: Any,
    mgmt_tls: Any,
    timeout: float,
    identity: Identity | None = None,
    ping_timeout: float | None = None,
    frame_timeout: float | None = None,
) -> tuple[list[BrickConnection], list[str], str]:
    """(unconnected BrickConnections in DHT order, subvolume names, volume kind) of a client
    volfile. A brick without ``remote-port`` is looked up in the portmapper of its host, on
    port 24007, or on ``mgmt_port`` when the brick's host is ``host`` (the volfile server).
    ``ping_timeout``/``frame_timeout``, when given, replace the volfile's options."""
    graph = vf.parse(text)
    kind = vf.check_supported(graph)
    order = vf.distribute_layout_order(graph)
    specs = {b.name: b for b in vf.client_bricks(graph)}
    ctx_id = str(uuid.uuid4())
    forced, mctx, by_opts = tls_context(tls), tls_context(mgmt_tls), {}
    conns = []
    for name in order:
        b = specs[name]
        ctx = forced
        if ctx is None and b.ssl_enabled:
            key = tuple(sorted(b.transport.items()))
            if key not in by_opts:
                by_opts[key] = make_context(
                    TLSOptions.from_options(graph[name].options), server_side=False
                )
            ctx = by_opts[key]
        rhost = b.remote_host or host
        if not rhost:
            raise ConfigError(f"volfile: client {name!r} has no remote-host")
        opts = graph[name].options
        conns.append(
            BrickConnection(
                rhost,
                b.remote_port or (mgmt_port if rhost == host else None),
                b.remote_subvolume,
                volname=volname,
                name=name,
                port_is_mgmt=b.remote_port is None,
                poller=None,
                tls=ctx,
                mgmt_tls=mctx,
                ctx_id=ctx_id,
                options=opts,
                ping_timeout=float(
                    opts.get("ping-timeout", 42) if ping_timeout is None else ping_timeout
                ),
                frame_timeout=float(
                    opts.get("frame-timeout", 1800) if frame_timeout is None else frame_timeout
                ),
                timeout=timeout,
                identity=identity,
            )
        )
    return conns, order, kind


def start_bricks(bricks: Sequence[BrickConnection]) -> int:
    """Connect every brick (closing them all if one fails); the root's mode."""
    try:
        for c in bricks:
            c.connect()
        return int(bricks[0].lookup_root().prestat.mode) or stat.S_IFDIR | 0o755
    except BaseException:
        for c in bricks:
            c.close()
        raise


# -- the table of shares ------------------------------------------------------------------------
@dataclass(eq=False)
class Share:
    """One set of brick connections and its users (see the module essay)."""

    key: Hashable
    users: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    connected: VolumeBricks | None = None


_lock = threading.Lock()
_shares: dict[Hashable, Share] = {}


def _forget_after_fork() -> None:
    """In a forked child the parent's connections have no threads behind them: start afresh
    (the child's Volumes inherited from the parent are not to be used, as with gfapi)."""
    global _lock
    _lock = threading.Lock()
    _shares.clear()


os.register_at_fork(after_in_child=_forget_after_fork)


def acquire(key: Hashable, connect: Callable[[], VolumeBricks]) -> tuple[Share, VolumeBricks]:
    """Join the share of ``key`` (connecting it with ``connect()`` if nobody has yet)."""
    with _lock:
        share = _shares.get(key)
        if share is None:
            share = _shares[key] = Share(key)
        share.users += 1
    try:
        with share.lock:
            if share.connected is None:
                share.connected = connect()
            return share, share.connected
    except BaseException:
        release(share)
        raise


def release(share: Share) -> None:
    """Leave ``share``; the last user closes its connections."""
    with _lock:
        share.users -= 1
        last = share.users == 0
        if last and _shares.get(share.key) is share:
            del _shares[share.key]
    if last:
        with share.lock:
            connected, share.connected = share.connected, None
        if connected is not None:
            connected.close()


def shares() -> dict[Hashable, int]:
    """The live shares of this process and their user counts (for tests and debugging)."""
    with _lock:
        return {k: s.users for k, s in _shares.items()}
