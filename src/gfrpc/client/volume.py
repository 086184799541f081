"""``Volume``: a GlusterFS volume as a pathlib/os-like API, resolved the way gfapi does.

Theory of operation:

* **Finding the bricks.** ``Volume.connect("gluster://HOST[:PORT]/VOL")`` asks glusterd on HOST
  for the client volfile (GETSPEC, mgmt.py), reads each ``protocol/client`` section
  (``remote-host``, ``remote-subvolume``, ``transport.socket.ssl-*``) and connects to every
  brick (connection.py: DUMP, PORTBYBRICK hop, SETVOLUME). Volume types gfrpc does not
  implement (replicate, disperse, sharded, ...) are refused by name before any brick is
  contacted. ``Volume.connect_brick`` skips glusterd and talks to one brick.
* **Paths and placement** (namespace.py): LOOKUP per component from the root gfid, a gfid
  cache per path with one retry on ENOENT/ESTALE, and DHT placement on distribute volumes.
  One-brick volumes made by glusterd are DHT with one subvolume: they skip hashing but still
  get layout xattrs on new directories, as DHT writes them.
* **Threads.** A ``Volume`` may be shared between threads: the cache is locked, and each brick
  connection pipelines the calls of all threads (``File`` objects, like built-in files, are
  for one thread at a time).
"""

from __future__ import annotations

import errno
import io
import math
import os
import posixpath
import stat
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

from gfrpc.client import volfile as vf
from gfrpc.client.url import GlusterURL, parse_url
from gfrpc.errors import ConfigError
from gfrpc.programs.fops_types import (
    GF_ATTR_ATIME_NOW,
    GF_ATTR_MTIME_NOW,
    GF_SET_ATTR_ATIME,
    GF_SET_ATTR_GID,
    GF_SET_ATTR_MODE,
    GF_SET_ATTR_MTIME,
    GF_SET_ATTR_UID,
    ROOT_GFID,
)
from gfrpc.tls import TLSOptions, make_context
from gfrpc.transport import Poller, make_poller

from .connection import BrickConnection, xattr_bytes
from .dht_rename import make_linkto, rename_path
from .errors import fop_error
from .file import DEFAULT_WINDOW, DirEntry, File, StatResult, stat_from_iatt
from .mgmt import fetch_volfile
from .namespace import Namespace, Node, ignore_enoent, norm_path

__all__ = ["Volume"]

_MODES = {  # mode letter -> (flags, readable, writable)
    "r": (os.O_RDONLY, True, False),
    "w": (os.O_WRONLY | os.O_CREAT | os.O_TRUNC, False, True),
    "a": (os.O_WRONLY | os.O_CREAT, False, True),
    "x": (os.O_WRONLY | os.O_CREAT | os.O_EXCL, False, True),
}


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


class Volume(Namespace):
    """A connected GlusterFS volume (plain or distribute). Use ``Volume.connect(url)``."""

    def __init__(
        self,
        bricks: Sequence[BrickConnection],
        *,
        volname: str,
        subvolumes: Sequence[str] | None = None,
        kind: str = "plain",
        poller: Poller | None = None,
        own_poller: bool = False,
        max_write: int = 1 << 20,
        max_read: int = 1 << 20,
        window: int = DEFAULT_WINDOW,
        umask: int = 0o022,
    ) -> None:
        if not bricks:
            raise ConfigError("a volume needs at least one brick")
        super().__init__(bricks, subvolumes, kind)
        self.volname = volname
        self.max_write, self.max_read, self.window, self.umask = max_write, max_read, window, umask
        self._poller, self._own_poller = poller, own_poller
        self._files: set[File] = set()
        self._closed = False

    # -- connecting -------------------------------------------------------------------------
    @classmethod
    def connect(
        cls,
        url: str | GlusterURL,
        *,
        tls: Any = None,
        mgmt_tls: Any = None,
        poller: str | Poller = "pool",
        event_threads: int = 2,
        timeout: float = 10.0,
        **kwargs: Any,
    ) -> Volume:
        """Connect to ``gluster://HOST[:PORT]/VOLNAME`` via glusterd's GETSPEC and portmapper.

        ``tls`` (SSLContext, TLSOptions or a cert directory) is used for every brick; without
        it, bricks whose volfile section says ``ssl-enabled on`` use the volfile's ssl files.
        ``mgmt_tls`` is for glusterd's port (default: plain TCP, as without secure-access).
        ``kwargs``: ``max_write``, ``max_read``, ``window``, ``umask``.
        """
        u = parse_url(url) if isinstance(url, str) else url
        p, owned = _poller(poller, event_threads)
        try:
            text = fetch_volfile(
                u.host, u.volume, port=u.port, poller=p, tls=tls_context(mgmt_tls), timeout=timeout
            )
            return cls.from_volfile(
                text,
                volname=u.volume,
                host=u.host,
                mgmt_port=u.port,
                tls=tls,
                mgmt_tls=mgmt_tls,
                poller=p,
                own_poller=owned,
                timeout=timeout,
                **kwargs,
            )
        except BaseException:
            if owned:
                p.stop()
            raise

    @classmethod
    def connect_brick(
        cls,
        host: str,
        port: int,
        brick_path: str,
        volname: str = "gfrpc",
        *,
        tls: Any = None,
        mgmt_tls: Any = None,
        poller: str | Poller = "pool",
        event_threads: int = 2,
        timeout: float = 10.0,
        ping_timeout: float = 42.0,
        frame_timeout: float = 1800.0,
        **kwargs: Any,
    ) -> Volume:
        """Connect straight to one brick (``remote-subvolume`` = ``brick_path``) at host:port;
        port 24007 goes through glusterd's portmapper first. ``ping_timeout``, ``frame_timeout``:
        the protocol/client options (seconds)."""
        p, owned = _poller(poller, event_threads)
        conn = BrickConnection(
            host,
            port,
            brick_path,
            volname=volname,
            poller=p,
            tls=tls_context(tls),
            mgmt_tls=tls_context(mgmt_tls),
            timeout=timeout,
            ping_timeout=ping_timeout,
            frame_timeout=frame_timeout,
        )
        vol = cls([conn], volname=volname, poller=p, own_poller=owned, **kwargs)
        vol._start()
        return vol

    @classmethod
    def from_volfile(
        cls,
        text: str,
        *,
        volname: str,
        host: str | None = None,
        mgmt_port: int | None = None,
        tls: Any = None,
        mgmt_tls: Any = None,
        poller: str | Poller = "pool",
        own_poller: bool | None = None,
        event_threads: int = 2,
        timeout: float = 10.0,
        **kwargs: Any,
    ) -> Volume:
        """Connect to the bricks of a client volfile (its ``protocol/client`` sections).

        A brick without ``remote-port`` is looked up in the portmapper of its host, on port
        24007, or on ``mgmt_port`` when the brick's host is ``host`` (the volfile server: a
        management daemon on another port maps its own bricks)."""
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
            port = b.remote_port or (mgmt_port if rhost == host else None)
            conns.append(
                BrickConnection(
                    rhost,
                    port,
                    b.remote_subvolume,
                    volname=volname,
                    name=name,
                    port_is_mgmt=b.remote_port is None,
                    poller=None,
                    tls=ctx,
                    mgmt_tls=mctx,
                    ctx_id=ctx_id,
                    options=opts,
                    ping_timeout=float(opts.get("ping-timeout", 42)),
                    frame_timeout=float(opts.get("frame-timeout", 1800)),
                    timeout=timeout,
                )
            )
        p, owned = _poller(poller, event_threads)
        for c in conns:
            c.poller = p
        vol = cls(
            conns,
            volname=volname,
            subvolumes=order,
            kind=kind,
            poller=p,
            own_poller=owned if own_poller is None else own_poller,
            **kwargs,
        )
        vol._start()
        return vol

    def _start(self) -> None:
        try:
            for c in self.bricks:
                c.connect()
            modes = [c.lookup_root().prestat.mode for c in self.bricks]
            self._cache["/"] = Node(ROOT_GFID, modes[0] or stat.S_IFDIR, 0)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Close open files (FLUSH + RELEASE), disconnect, stop an owned poller."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            files, self._files = list(self._files), set()
        for f in files:
            try:
                f.close()
            except OSError:
                pass
        for c in self.bricks:
            c.close()
        if self._own_poller and self._poller is not None:
            self._poller.stop()

    def __enter__(self) -> Volume:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Volume {self.volname} ({self.kind}, {len(self.bricks)} bricks)>"

    # -- files ------------------------------------------------------------------------------
    def open(self, path: str | os.PathLike[str], mode: str = "rb", buffering: int = -1) -> Any:
        """Open a file like the built-in ``open`` in binary mode ('rb', 'wb', 'ab', 'xb', with
        '+'); returns a BufferedReader/Writer/Random over a ``File`` (buffering=0: the File)."""
        letters = set(mode)
        kinds = letters & set(_MODES)
        if len(kinds) != 1 or not letters <= set("rwaxb+") or len(mode) != len(letters):
            raise ValueError(f"invalid mode: {mode!r} (binary modes only: r, w, a, x, +, b)")
        flags, readable, writable = _MODES[kinds.pop()]
        if "+" in letters:
            flags = (flags & ~(os.O_WRONLY | os.O_RDONLY)) | os.O_RDWR
            readable = writable = True
        p = norm_path(path)
        if p == "/":
            raise fop_error(errno.EISDIR, p)
        raw = self._in_parent(p, lambda par, pp, name: self._open(par, pp, name, p, flags))
        conn, gfid, fd = raw
        f = File(
            self.bricks[conn],
            gfid,
            fd,
            p,
            readable=readable,
            writable=writable,
            append="a" in letters,
            max_write=self.max_write,
            max_read=self.max_read,
            window=self.window,
            flags=flags,
            on_close=self._file_closed,
        )
        with self._lock:
            self._files.add(f)
        if buffering == 0:
            return f
        size = buffering if buffering > 1 else max(self.max_write, self.max_read)
        if readable and writable:
            return io.BufferedRandom(f, size)
        return io.BufferedWriter(f, size) if writable else io.BufferedReader(f, size)

    def _open(
        self, parent: Node, parent_path: str, name: str, path: str, flags: int
    ) -> tuple[int, bytes, int]:
        try:
            node: Node | None = self._resolve(path)
        except FileNotFoundError:
            node = None
        if node is None:
            if not flags & os.O_CREAT:
                raise fop_error(errno.ENOENT, path)
            h = self._hashed(parent, parent_path, name, path)
            rsp = self.bricks[h].create(
                parent.gfid, name, flags, 0o666 & ~self.umask, umask=self.umask, path=path
            )
            gfid = bytes(rsp.stat.ia_gfid)
            with self._lock:
                self._cache[posixpath.join(parent_path, name)] = Node(gfid, rsp.stat.mode, h)
            return h, gfid, int(rsp.fd)
        if flags & os.O_EXCL:
            raise fop_error(errno.EEXIST, path)
        if node.is_dir:
            raise fop_error(errno.EISDIR, path)
        fd = self.bricks[node.brick].open(node.gfid, flags & ~(os.O_CREAT | os.O_EXCL), path=path)
        return node.brick, node.gfid, fd

    def _file_closed(self, f: File) -> None:
        with self._lock:
            self._files.discard(f)

    def read_bytes(self, path: str) -> bytes:
        with self.open(path, "rb") as f:
            return bytes(f.read())

    def write_bytes(self, path: str, data: Any) -> int:
        with self.open(path, "wb") as f:
            return int(f.write(data))

    # -- metadata ---------------------------------------------------------------------------
    def stat(self, path: str | os.PathLike[str]) -> StatResult:
        """STAT (fresh, not cached) of ``path``."""
        p = norm_path(path)
        return self._retry(p, lambda n: stat_from_iatt(self.bricks[n.brick].stat(n.gfid, path=p)))

    def lstat(self, path: str | os.PathLike[str]) -> StatResult:
        """Like ``stat``, but of a symbolic link itself rather than what it points to."""
        p = norm_path(path)
        return self._retry(
            p, lambda n: stat_from_iatt(self.bricks[n.brick].stat(n.gfid, path=p)), follow=False
        )

    def exists(self, path: str | os.PathLike[str]) -> bool:
        try:
            self.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            return False
        return True

    def is_dir(self, path: str | os.PathLike[str]) -> bool:
        try:
            return stat.S_ISDIR(self.stat(path).st_mode)
        except (FileNotFoundError, NotADirectoryError):
            return False

    def scandir(self, path: str | os.PathLike[str] = "/") -> Iterator[DirEntry]:
        """Entries of a directory (READDIRP on every brick, merged), without . and .."""
        p = norm_path(path)
        entries = self._retry(p, lambda n: self._readdir(n, p))
        return iter(
            [DirEntry(name, posixpath.join(p, name), stat_from_iatt(ia)) for name, ia in entries]
        )

    def listdir(self, path: str | os.PathLike[str] = "/") -> list[str]:
        return [e.name for e in self.scandir(path)]

    def mkdir(self, path: str | os.PathLike[str], mode: int = 0o777) -> None:
        p = norm_path(path)
        if p == "/":
            raise fop_error(errno.EEXIST, p)

        def op(parent: Node, parent_path: str, name: str) -> None:
            perm, gfid = mode & ~self.umask & 0o7777, uuid.uuid4().bytes
            h = self._hashed(parent, parent_path, name, p)
            rsp = self.bricks[h].mkdir(parent.gfid, name, perm, umask=self.umask, gfid=gfid, path=p)
            for i, c in enumerate(self.bricks):
                if i != h:
                    try:
                        c.mkdir(parent.gfid, name, perm, umask=self.umask, gfid=gfid, path=p)
                    except FileExistsError:
                        pass
            node = Node(bytes(rsp.stat.ia_gfid), rsp.stat.mode, h)
            real = posixpath.join(parent_path, name)
            if self.kind == "distribute":
                node.layout = self._write_layout(node, real)
            with self._lock:
                self._cache[real] = node

        self._in_parent(p, op)

    def makedirs(
        self, path: str | os.PathLike[str], mode: int = 0o777, exist_ok: bool = False
    ) -> None:
        p = norm_path(path)
        if p != "/" and not self.is_dir(posixpath.dirname(p)):
            self.makedirs(posixpath.dirname(p), mode, exist_ok=True)
        try:
            self.mkdir(p, mode)
        except OSError as exc:
            if not (exist_ok and exc.errno == errno.EEXIST and self.is_dir(p)):
                raise

    def unlink(self, path: str | os.PathLike[str]) -> None:
        p = norm_path(path)

        def op(parent: Node, parent_path: str, name: str) -> None:
            real = posixpath.join(parent_path, name)
            node = self._resolve(real, follow=False)
            if node.is_dir:
                raise fop_error(errno.EISDIR, p)
            self.bricks[node.brick].unlink(parent.gfid, name, path=p)
            self._forget(real)
            # then the linkto, on the hashed brick (DHT's unlink) and wherever one was found
            h = self._hashed(parent, parent_path, name, p)
            for i in {h, node.linkto or h} - {node.brick}:
                ignore_enoent(self.bricks[i].unlink, parent.gfid, name, path=p)

        self._in_parent(p, op)

    remove = unlink

    def rmdir(self, path: str | os.PathLike[str]) -> None:
        p = norm_path(path)

        def op(parent: Node, parent_path: str, name: str) -> None:
            real = posixpath.join(parent_path, name)
            node = self._resolve(real, follow=False)
            if not node.is_dir:
                raise fop_error(errno.ENOTDIR, p)
            h = self._hashed(parent, parent_path, name, p)
            for i in [i for i in range(len(self.bricks)) if i != h] + [h]:  # hashed last
                if i == h:
                    self.bricks[i].rmdir(parent.gfid, name, path=p)
                else:
                    ignore_enoent(self.bricks[i].rmdir, parent.gfid, name, path=p)
            self._forget(real)

        self._in_parent(p, op)

    def rename(self, src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        """Rename ``src`` to ``dst`` (replacing a file at ``dst``), DHT-style on distribute:
        a file's data stays on its brick (``dht_rename.py``)."""
        rename_path(self, norm_path(src), norm_path(dst))

    # -- links ------------------------------------------------------------------------------
    def symlink(self, target: str, path: str | os.PathLike[str]) -> None:
        """Make ``path`` a symbolic link to ``target`` (like ``os.symlink(target, path)``); it
        lives on the brick its name hashes to, as DHT places it."""
        p = norm_path(path)
        if not target or "\0" in target:
            raise fop_error(errno.ENOENT if not target else errno.EINVAL, p)

        def op(parent: Node, parent_path: str, name: str) -> None:
            h = self._hashed(parent, parent_path, name, p)
            rsp = self.bricks[h].symlink(parent.gfid, name, target, umask=self.umask, path=p)
            with self._lock:
                self._cache[posixpath.join(parent_path, name)] = Node(
                    bytes(rsp.stat.ia_gfid), rsp.stat.mode, h, target=target
                )

        self._in_parent(p, op)

    def readlink(self, path: str | os.PathLike[str]) -> str:
        """The target of the symbolic link ``path`` (EINVAL if it is not one)."""
        p = norm_path(path)

        def op(n: Node) -> str:
            if not n.is_symlink:
                raise fop_error(errno.EINVAL, p)
            return self.bricks[n.brick].readlink(n.gfid, path=p)

        return self._retry(p, op, follow=False)  # type: ignore[no-any-return]

    def link(self, src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        """Make ``dst`` a new name (hard link) for the file ``src``. On a distribute volume the
        link is made on the file's brick, with a linkto file on ``dst``'s hashed brick, as DHT
        does."""
        s, d = norm_path(src), norm_path(dst)

        def op(parent: Node, parent_path: str, name: str) -> None:
            node = self._resolve(s, follow=False)
            if node.is_dir:
                raise fop_error(errno.EPERM, s)
            self.bricks[node.brick].link(node.gfid, parent.gfid, name, path=d)
            h = self._hashed(parent, parent_path, name, d)
            if h != node.brick:
                make_linkto(self, h, parent.gfid, name, node.gfid, node.brick, d)
            self._forget(posixpath.join(parent_path, name))

        self._in_parent(d, op)

    # -- attributes ---------------------------------------------------------------------------
    def _setattr(self, p: str, valid: int, **fields: int) -> None:
        def op(n: Node) -> None:
            for i in range(len(self.bricks)) if n.is_dir else [n.brick]:
                self.bricks[i].setattr(n.gfid, valid, path=p, **fields)

        self._retry(p, op)

    def chmod(self, path: str | os.PathLike[str], mode: int) -> None:
        """Set the permission bits (``mode & 0o7777``) of what ``path`` names."""
        self._setattr(norm_path(path), GF_SET_ATTR_MODE, mode=mode & 0o7777)

    def chown(self, path: str | os.PathLike[str], uid: int, gid: int) -> None:
        """Set the owner and group; -1 leaves one unchanged (like ``os.chown``)."""
        valid = (GF_SET_ATTR_UID if uid != -1 else 0) | (GF_SET_ATTR_GID if gid != -1 else 0)
        if valid:
            self._setattr(norm_path(path), valid, uid=max(uid, 0), gid=max(gid, 0))

    def utime(
        self,
        path: str | os.PathLike[str],
        times: tuple[float, float] | None = None,
        *,
        ns: tuple[int, int] | None = None,
    ) -> None:
        """Set access and modification times like ``os.utime``: ``times`` in seconds or
        ``ns`` in nanoseconds, or the brick's current time when neither is given."""
        p = norm_path(path)
        if times is not None and ns is not None:
            raise ValueError("utime: give times or ns, not both")
        if times is None and ns is None:
            self._setattr(
                p, GF_SET_ATTR_ATIME | GF_SET_ATTR_MTIME | GF_ATTR_ATIME_NOW | GF_ATTR_MTIME_NOW
            )
            return
        if ns is None:
            assert times is not None
            ns = (_to_ns(times[0]), _to_ns(times[1]))
        self._setattr(p, GF_SET_ATTR_ATIME | GF_SET_ATTR_MTIME, atime_ns=ns[0], mtime_ns=ns[1])

    def truncate(self, path: str | os.PathLike[str], length: int) -> None:
        p = norm_path(path)
        self._retry(p, lambda n: self.bricks[n.brick].truncate(n.gfid, length, path=p))

    def getxattr(self, path: str | os.PathLike[str], name: str) -> bytes:
        p = norm_path(path)

        def op(n: Node) -> bytes:
            value = xattr_bytes(self.bricks[n.brick].getxattr(n.gfid, name, path=p).get(name))
            if value is None:
                raise fop_error(errno.ENODATA, p)
            return value

        return self._retry(p, op)  # type: ignore[no-any-return]

    def setxattr(
        self, path: str | os.PathLike[str], name: str, value: bytes | str, flags: int = 0
    ) -> None:
        p = norm_path(path)
        raw = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else value

        def op(n: Node) -> None:
            for i in range(len(self.bricks)) if n.is_dir else [n.brick]:
                self.bricks[i].setxattr(n.gfid, {name: bytes(raw)}, flags, path=p)

        self._retry(p, op)

    def removexattr(self, path: str | os.PathLike[str], name: str) -> None:
        """Remove the extended attribute ``name`` (ENODATA if it is not set)."""
        p = norm_path(path)

        def op(n: Node) -> None:
            for i in range(len(self.bricks)) if n.is_dir else [n.brick]:
                self.bricks[i].removexattr(n.gfid, name, path=p)

        self._retry(p, op)

    def statvfs(self, path: str | os.PathLike[str] = "/") -> os.statvfs_result:
        """STATFS, summed over the bricks as DHT does."""
        p = norm_path(path)
        sts = self._retry(p, lambda n: [c.statfs(n.gfid, path=p) for c in self.bricks])
        first = sts[0]

        def total(field: str) -> int:
            return sum(int(getattr(s, field)) for s in sts)

        return os.statvfs_result(
            (
                first.bsize,
                first.frsize,
                total("blocks"),
                total("bfree"),
                total("bavail"),
                total("files"),
                total("ffree"),
                total("favail"),
                first.flag,
                first.namemax,
                first.fsid,
            )
        )


def _to_ns(seconds: float) -> int:
    """Seconds as nanoseconds the way ``os.utime`` splits them (whole seconds exactly)."""
    whole = math.floor(seconds)
    return whole * 1_000_000_000 + round((seconds - whole) * 1e9)


def _poller(poller: str | Poller, event_threads: int) -> tuple[Poller, bool]:
    if isinstance(poller, str):
        p = make_poller(poller, event_threads)
        p.start()
        return p, True
    return poller, False
