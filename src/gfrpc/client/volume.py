"""``Volume``: a GlusterFS volume as a pathlib/os-like API, resolved the way gfapi does.

Theory of operation:

* **Finding the bricks.** ``Volume.connect("gluster://HOST[:PORT][,HOST2...]/VOL")`` asks the
  volfile servers in order for the client volfile (GETSPEC, mgmt.py; shared.py for the backup
  servers), reads each ``protocol/client`` section (``remote-host``, ``remote-subvolume``,
  ``transport.socket.ssl-*``) and connects to every brick (connection.py: DUMP, PORTBYBRICK
  hop, SETVOLUME). Volume types gfrpc does not implement (replicate, disperse, sharded, ...)
  are refused by name before any brick is contacted. ``Volume.connect_brick`` skips glusterd
  and talks to one brick. Two ``connect`` of the same volume with the same identity share
  the brick connections, counted by reference (shared.py).
* **Paths and placement** (namespace.py): LOOKUP per component from the root gfid, a gfid
  cache per path with one retry on ENOENT/ESTALE, and DHT placement on distribute volumes.
  One-brick volumes made by glusterd are DHT with one subvolume: they skip hashing but still
  get layout xattrs on new directories, as DHT writes them.
* **What the graph asks for** (``volfile.client_options``): with ``performance/quick-read``
  in the graph (glusterd's default), whole-file reads of small files are one LOOKUP that
  brings the bytes (quickread.py, ``read_small``); DHT's ``lookup-optimize`` (default on)
  lets a miss on the hashed brick stand where the directory's commit hash is the volume's
  (namespace.py), so a new file there is one exclusive CREATE.
* **Listings** stream (listing.py): ``scandir`` holds one READDIRP reply at a time, ``walk``
  is ``os.walk`` on top of it.
* **Layers of the class.** ``Volume`` (connecting, closing, files) extends ``Entries``
  (entries.py: stat, listings, mkdir, unlink, rmdir, rename, links), which extends
  ``Attributes`` (attributes.py: modes, owners, times, xattrs, statvfs), which extends
  ``Namespace`` (namespace.py: path resolution).
* **Threads.** One ``Volume`` may be used by any number of threads at once. What is shared,
  and what guards it:

  - the path cache (``Namespace._cache``) and the set of open files: ``Namespace._lock`` (an
    RLock), held only for dict operations, never during a call to a brick. Two threads may
    look up the same path at once; both get the same gfid and the second store wins.
    ``Node.layout``/``Node.target`` are filled lazily without a lock: every writer stores the
    same value;
  - each ``BrickConnection``: its ``_lock`` guards (re)connecting; the ``RpcClient`` under it
    is thread-safe and pipelines the calls of all threads (xids, pending calls under its own
    lock);
  - the share of connections between Volumes (shared.py): its own locks.

  Per call, never shared: the arguments, the resolved ``Node`` chain, ``File`` objects and
  ``ScandirIterator`` objects (like built-in files and ``os.scandir``, one thread at a time
  each). Operations are not atomic across bricks: a listing made while another thread renames
  shows the old name, the new one, or (between DHT's steps) neither; a lookup racing an unlink
  or rename gets ENOENT, as on a local file system.
"""

from __future__ import annotations

import errno
import io
import os
import posixpath
from collections.abc import Sequence
from typing import Any

from gfrpc.client import shared
from gfrpc.client import volfile as vf
from gfrpc.client.url import GlusterURL, parse_url
from gfrpc.errors import ConfigError, GfrpcError
from gfrpc.programs.fops_types import (
    ROOT_GFID,
)
from gfrpc.transport import Poller

from .connection import BrickConnection, Identity
from .entries import Entries
from .errors import fop_error
from .file import DEFAULT_WINDOW, File
from .namespace import LOOKUP_XATTRS, Node, is_linkto_reply, node_of, norm_path
from .quickread import content_of, content_request
from .shared import tls_context

__all__ = ["Volume"]

_MODES = {  # mode letter -> (flags, readable, writable)
    "r": (os.O_RDONLY, True, False),
    "w": (os.O_WRONLY | os.O_CREAT | os.O_TRUNC, False, True),
    "a": (os.O_WRONLY | os.O_CREAT, False, True),
    "x": (os.O_WRONLY | os.O_CREAT | os.O_EXCL, False, True),
}


class Volume(Entries):
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
        quick_read: bool = True,
        lookup_optimize: bool = True,
    ) -> None:
        if not bricks:
            raise ConfigError("a volume needs at least one brick")
        super().__init__(bricks, subvolumes, kind)
        self.volname = volname
        self.max_write, self.max_read, self.window, self.umask = max_write, max_read, window, umask
        #: whether ``read_small`` asks LOOKUPs for small files' bytes (the volfile's graph has
        #: quick-read; ``volume set V performance.quick-read off`` turns it off for new clients)
        self.quick_read = quick_read
        self.lookup_optimize = lookup_optimize
        self._poller, self._own_poller = poller, own_poller
        self._files: set[File] = set()
        self._closed = False
        self._share: shared.Share | None = None  # set when the bricks are shared (connect)

    # -- connecting -------------------------------------------------------------------------
    @classmethod
    def connect(
        cls,
        url: str | GlusterURL,
        *,
        tls: Any = None,
        mgmt_tls: Any = None,
        poller: str | Poller = shared.DEFAULT_POLLER,
        event_threads: int = 2,
        timeout: float = 10.0,
        uid: int | None = None,
        gid: int | None = None,
        groups: Sequence[int] | None = None,
        ping_timeout: float | None = None,
        frame_timeout: float | None = None,
        share: bool = True,
        **kwargs: Any,
    ) -> Volume:
        """Connect to ``gluster://HOST[:PORT][,HOST2[:PORT]...]/VOLNAME``: GETSPEC at the
        volfile servers in order (the next when one is down or refuses), then every brick.

        ``tls`` (SSLContext, TLSOptions or a cert directory) is used for every brick; without
        it, bricks whose volfile section says ``ssl-enabled on`` use the volfile's ssl files.
        ``mgmt_tls`` is for glusterd's port (default: plain TCP, as without secure-access).
        ``uid``/``gid``/``groups``: the identity FOPs are sent as (default: this process's uid
        and gid, no groups).
        ``ping_timeout``/``frame_timeout`` (seconds) replace the volfile's, as mount options do.
        With ``share`` (the default) Volumes of the same servers, volume and identity share
        their brick connections; the last ``close()`` closes them.
        ``kwargs``: ``max_write``, ``max_read``, ``window``, ``umask``, ``quick_read`` and
        ``lookup_optimize`` (default: what the volfile's graph says, ``volfile.client_options``).
        """
        u = parse_url(url) if isinstance(url, str) else url
        who = Identity.of(uid, gid, groups)
        given = None if uid is None and gid is None and groups is None else who

        def connect() -> shared.VolumeBricks:
            p, owned = shared.open_poller(poller, event_threads)
            try:
                text, (host, port) = shared.fetch_volfile_from(
                    u.servers, u.volume, poller=p, tls=tls_context(mgmt_tls), timeout=timeout
                )
                conns, order, kind = shared.bricks_from_volfile(
                    text,
                    volname=u.volume,
                    host=host,
                    mgmt_port=port,
                    tls=tls,
                    mgmt_tls=mgmt_tls,
                    timeout=timeout,
                    identity=given,
                    ping_timeout=ping_timeout,
                    frame_timeout=frame_timeout,
                )
                for c in conns:
                    c.poller = p
                root = shared.start_bricks(conns)
            except BaseException:
                if owned:
                    p.stop()
                raise
            options = vf.client_options(vf.parse(text))
            return shared.VolumeBricks(conns, order, kind, p, owned, root, options)

        if not share:
            return cls._on(connect(), u.volume, None, kwargs)
        key = shared.identity_key(
            u.servers,
            u.volume,
            who,
            tls=tls,
            mgmt_tls=mgmt_tls,
            poller=poller,
            event_threads=event_threads,
            options=(ping_timeout, frame_timeout),
        )
        held, vb = shared.acquire(key, connect)
        try:
            return cls._on(vb, u.volume, held, kwargs)
        except BaseException:
            shared.release(held)
            raise

    @classmethod
    def _on(
        cls, vb: shared.VolumeBricks, volname: str, held: shared.Share | None, kw: dict[str, Any]
    ) -> Volume:
        """A Volume on connected bricks (owning them unless ``held`` is their share)."""
        vol = cls(
            vb.bricks,
            volname=volname,
            subvolumes=vb.subvolumes,
            kind=vb.kind,
            poller=vb.poller,
            own_poller=vb.own_poller and held is None,
            **{**vb.options, **kw},
        )
        vol._share = held
        vol._cache["/"] = Node(ROOT_GFID, vb.root_mode, 0)
        return vol

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
        poller: str | Poller = shared.DEFAULT_POLLER,
        event_threads: int = 2,
        timeout: float = 10.0,
        ping_timeout: float = 42.0,
        frame_timeout: float = 1800.0,
        **kwargs: Any,
    ) -> Volume:
        """Connect straight to one brick (``remote-subvolume`` = ``brick_path``) at host:port;
        port 24007 goes through glusterd's portmapper first. ``ping_timeout``, ``frame_timeout``:
        the protocol/client options (seconds). Never shared."""
        p, owned = shared.open_poller(poller, event_threads)
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
        poller: str | Poller = shared.DEFAULT_POLLER,
        own_poller: bool | None = None,
        event_threads: int = 2,
        timeout: float = 10.0,
        **kwargs: Any,
    ) -> Volume:
        """Connect to the bricks of a client volfile (its ``protocol/client`` sections).

        A brick without ``remote-port`` is looked up in the portmapper of its host, on port
        24007, or on ``mgmt_port`` when the brick's host is ``host`` (the volfile server: a
        management daemon on another port maps its own bricks). Never shared."""
        conns, order, kind = shared.bricks_from_volfile(
            text,
            volname=volname,
            host=host,
            mgmt_port=mgmt_port,
            tls=tls,
            mgmt_tls=mgmt_tls,
            timeout=timeout,
        )
        p, owned = shared.open_poller(poller, event_threads)
        for c in conns:
            c.poller = p
        kwargs = {**vf.client_options(vf.parse(text)), **kwargs}
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
            root = shared.start_bricks(self.bricks)
        except BaseException:
            self.close()
            raise
        self._cache["/"] = Node(ROOT_GFID, root, 0)

    def close(self) -> None:
        """Close open files (FLUSH + RELEASE); then disconnect and stop an owned poller, or,
        when the bricks are shared, leave the share (its last user disconnects)."""
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
        if self._share is not None:
            shared.release(self._share)
            return
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
        if flags & os.O_CREAT and (not self._hashing or self._miss_is_final(parent, parent_path)):
            made = self._create_new(parent, parent_path, name, path, flags)
            if made is not None:
                return made
        try:  # O_CREAT|O_EXCL follows no symlink: a name that exists is EEXIST, as open(2)
            node: Node | None = self._resolve(path, follow=not flags & os.O_EXCL)
        except FileNotFoundError:
            node = None
        if node is None:
            if not flags & os.O_CREAT:
                raise fop_error(errno.ENOENT, path)
            h = self._hashed(parent, parent_path, name, path)
            return self._create(h, parent, parent_path, name, path, flags)
        if flags & os.O_EXCL:
            raise fop_error(errno.EEXIST, path)
        if node.is_dir:
            raise fop_error(errno.EISDIR, path)
        fd = self.bricks[node.brick].open(node.gfid, flags & ~(os.O_CREAT | os.O_EXCL), path=path)
        return node.brick, node.gfid, fd

    def _create(
        self, h: int, parent: Node, parent_path: str, name: str, path: str, flags: int
    ) -> tuple[int, bytes, int]:
        """CREATE ``name`` on brick ``h`` and remember the new file's node."""
        rsp = self.bricks[h].create(
            parent.gfid, name, flags, 0o666 & ~self.umask, umask=self.umask, path=path
        )
        gfid = bytes(rsp.stat.ia_gfid)
        with self._lock:
            self._cache[posixpath.join(parent_path, name)] = Node(gfid, rsp.stat.mode, h)
        return h, gfid, int(rsp.fd)

    def _create_new(
        self, parent: Node, parent_path: str, name: str, path: str, flags: int
    ) -> tuple[int, bytes, int] | None:
        """Open a name this Volume does not know by an exclusive CREATE first, without the
        LOOKUP that would only find it missing: a new file costs one call instead of two (on a
        distribute volume, instead of a LOOKUP on every brick and then the CREATE). The caller
        asks only where the brick the name hashes to would hold any entry of that name: one
        brick, or a directory laid out with the volume's commit hash (``_miss_is_final``).
        None when the brick refuses that CREATE, whatever its errno (the name exists, or a
        refusal that a brick or a quota may give before it looks at the name), and the caller
        then resolves the name as before: an existing file, a symbolic link or a directory is
        opened, followed or refused exactly as without this step, and a refusal that stands
        comes again from the second CREATE. With ``O_EXCL`` asked for, EEXIST is the answer.
        No answer at all (a lost connection, a timeout: ``GfrpcError``) is raised as it is,
        not waited for twice."""
        with self._lock:
            if posixpath.join(parent_path, name) in self._cache:
                return None
        h = self._hashed(parent, parent_path, name, path)
        try:
            return self._create(h, parent, parent_path, name, path, flags | os.O_EXCL)
        except GfrpcError:
            raise
        except OSError as exc:
            if exc.errno == errno.EEXIST and flags & os.O_EXCL:
                raise
        return None

    def _file_closed(self, f: File) -> None:
        with self._lock:
            self._files.discard(f)

    def read_bytes(self, path: str) -> bytes:
        data = self.read_small(path)
        if data is not None:
            return data
        with self.open(path, "rb", buffering=0) as f:
            return bytes(f.readall())

    def read_small(self, path: str | os.PathLike[str]) -> bytes | None:
        """The bytes of a small file by one LOOKUP that brings them (quick-read's way), or None
        when the file must be opened and read instead: bigger than ``QUICK_READ_MAX``, not
        readable by every class of caller, with an ACL, not a regular file (quickread.py).

        A missing name on a one-brick volume is FileNotFoundError, as from ``open``."""
        p = norm_path(path)
        if p == "/" or not self.quick_read:
            return None
        return self._in_parent(  # type: ignore[no-any-return]
            p, lambda parent, parent_path, name: self._read_small(parent, parent_path, name, p)
        )

    def _read_small(self, parent: Node, parent_path: str, name: str, path: str) -> bytes | None:
        real = posixpath.join(parent_path, name)
        with self._lock:
            node = self._cache.get(real)
        if node is not None and node.big:
            return None  # its last LOOKUP saw it too big: open it at once, as before
        if self._hashing:
            # the brick the data is known to be on, else the hashed one; a miss there is not
            # the end on a distribute volume (a linkto, or lookup-everywhere): the caller opens
            h = node.brick if node is not None else self._hashed(parent, parent_path, name, path)
            xdata = content_request(LOOKUP_XATTRS)
            final = self._miss_is_final(parent, parent_path)
            rsp = self._try_lookup(h, parent.gfid, name, path, xdata, final=final)
            if rsp is None or is_linkto_reply(rsp):
                return None
        else:
            h = 0
            rsp = self.bricks[0].lookup(parent.gfid, name, content_request(), path=path)
        found = node_of(rsp.prestat, h)
        if node is None or node.gfid != found.gfid:
            with self._lock:
                self._cache[real] = found
        else:
            node.big = found.big
        return content_of(rsp)

    def write_bytes(self, path: str, data: Any) -> int:
        """Make ``path`` hold ``data``: straight from the caller's buffer (no 1 MiB write buffer
        per file), pipelined WRITEs past ``max_write``; a short write is EIO."""
        view = memoryview(data).cast("B")
        with self.open(path, "wb", buffering=0) as f:
            done = int(f.write(view)) if view.nbytes else 0
            if done != view.nbytes:
                raise OSError(errno.EIO, f"short write ({done} of {view.nbytes} bytes)", path)
        return done
