"""``GlusterFileSystem``: a GlusterFS volume as an fsspec file system (``gluster://``).

Theory of operation:

* **One instance, one volume.** ``gluster://HOST[:PORT]/VOLUME/path``: fsspec turns the URL
  into constructor arguments (``paths.url_kwargs``) and a path inside the volume
  (``paths.strip``), both by ``gfrpc.client.url.parse_url``. fsspec's instance cache keeps
  one instance per (arguments, storage options, thread); the ``Volume`` behind it is
  connected on first use, not in the constructor, and again in a forked or new process.
  Pickling is fsspec's: by constructor arguments, so an instance shipped to a Dask worker
  reconnects there.
* **Listings without extra STATs.** ``ls(detail=True)`` is the client's ``scandir``, whose
  entries carry the stat READDIRP returned; only symbolic links cost more (READLINK and a
  STAT of the target, as fsspec's local file system reports links).
* **Moves and copies on the server.** ``mv`` of one path is one RENAME (DHT-style on a
  distribute volume); ``cp_file`` sends COPY_FILE_RANGE when both files live on the same
  brick (GlusterFS 10.3's posix xlator implements it with ``copy_file_range(2)``, one call
  per FOP, so it loops) and otherwise streams in ``copy_chunk`` pieces of pipelined
  READs/WRITEs. A brick that answers EXDEV, EOPNOTSUPP, ENOSYS or EINVAL gets the stream.
* **Errors** are the client's: ``OSError`` subclasses with the brick's errno
  (FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError,
  PermissionError...), which is what fsspec and its callers catch.
"""

from __future__ import annotations

import datetime
import errno
import inspect
import os
import posixpath
import stat
import threading
from typing import Any

from fsspec.spec import AbstractFileSystem
from fsspec.utils import stringify_path

from gfrpc.client import Volume
from gfrpc.client import volfile as vf
from gfrpc.client.mgmt import fetch_volfile
from gfrpc.client.shared import DEFAULT_POLLER
from gfrpc.client.volume import tls_context
from gfrpc.programs import fops
from gfrpc.transport import make_poller

from . import paths
from .file import GlusterFile

__all__ = ["GlusterFileSystem"]

COPY_CHUNK = 64 << 20  # bytes per streamed copy step (pipelined inside)
SERVER_COPY_CHUNK = 1 << 30  # bytes asked of one COPY_FILE_RANGE
_NO_SERVER_COPY = {errno.EXDEV, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL, errno.EBADF}


class GlusterFileSystem(AbstractFileSystem):  # type: ignore[misc]
    """A GlusterFS volume for fsspec: ``fsspec.filesystem("gluster", host=..., volume=...)``.

    ``host``/``port``: glusterd (or ``gfrpc mgmtd``) handing out the volfile; ``servers``:
    every volfile server in order, when a URL lists backups. ``tls``: the client's TLS
    directory (glusterfs.pem/.key/.ca) for the bricks, ``mgmt_tls`` the same for glusterd's
    port; ``ping_timeout``/``frame_timeout`` override the volfile's (seconds); ``uid``,
    ``gid``, ``groups``: the identity FOPs are sent as (default: this process's); ``timeout``
    bounds connecting; ``poller``/``event_threads`` choose the polling model; ``auto_mkdir``
    (default True) makes missing parent directories when writing or copying.
    """

    protocol = paths.PROTOCOLS
    root_marker = "/"
    sep = "/"

    def __init__(
        self,
        host: str = "localhost",
        volume: str | None = None,
        port: int = 24007,
        *,
        servers: Any = None,
        tls: Any = None,
        mgmt_tls: Any = None,
        ping_timeout: float | None = None,
        frame_timeout: float | None = None,
        uid: int | None = None,
        gid: int | None = None,
        groups: Any = None,
        timeout: float = 10.0,
        poller: str = DEFAULT_POLLER,
        event_threads: int = 2,
        auto_mkdir: bool = True,
        copy_chunk: int = COPY_CHUNK,
        **storage_options: Any,
    ) -> None:
        super().__init__(**storage_options)
        if not volume:
            raise ValueError("GlusterFileSystem needs a volume (gluster://HOST[:PORT]/VOLUME)")
        self.host, self.port, self.volname = host, int(port), volume
        self.servers = tuple((h, int(p)) for h, p in servers) if servers else ((host, int(port)),)
        self.tls, self.mgmt_tls = _tls_arg(tls), _tls_arg(mgmt_tls)
        self.ping_timeout, self.frame_timeout = ping_timeout, frame_timeout
        self.identity = {"uid": uid, "gid": gid, "groups": tuple(groups) if groups else None}
        self.timeout, self.poller, self.event_threads = timeout, poller, event_threads
        self.auto_mkdir, self.copy_chunk = auto_mkdir, int(copy_chunk)
        self._volume: Volume | None = None
        self._volume_pid = 0
        self._connect_lock = threading.Lock()

    # -- URLs ------------------------------------------------------------------------------
    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        return paths.strip(stringify_path(path))

    @staticmethod
    def _get_kwargs_from_urls(path: str) -> dict[str, Any]:
        return paths.url_kwargs(stringify_path(path))

    def unstrip_protocol(self, name: str) -> str:
        if paths.is_url(name):
            return name
        return paths.url_for(self.host, self.port, self.volname, paths.norm(name), self.servers)

    @property
    def url(self) -> str:
        """The ``gluster://`` URL of the volume's root."""
        return paths.url_for(self.host, self.port, self.volname, "/", self.servers)

    @property
    def fsid(self) -> str:
        return f"gluster:{self.url}"

    def __repr__(self) -> str:
        state = "connected" if self._volume is not None else "not connected"
        return f"<GlusterFileSystem {self.url} ({state})>"

    # -- the connection ----------------------------------------------------------------------
    @property
    def volume(self) -> Volume:
        """The connected ``Volume`` (connected on first use, again after a fork)."""
        v, pid = self._volume, os.getpid()
        if v is not None and self._volume_pid == pid:
            return v
        with self._connect_lock:
            if self._volume is None or self._volume_pid != pid:
                self._volume = self._connect()
                self._volume_pid = pid
            return self._volume

    def _connect(self) -> Volume:
        url = self.url
        common: dict[str, Any] = {
            "tls": self.tls,
            "mgmt_tls": self.mgmt_tls,
            "poller": self.poller,
            "event_threads": self.event_threads,
            "timeout": self.timeout,
        }
        overrides: dict[str, Any] = {
            k: v
            for k, v in (("ping_timeout", self.ping_timeout), ("frame_timeout", self.frame_timeout))
            if v is not None
        }
        common |= {k: v for k, v in self.identity.items() if v is not None}
        accepted = inspect.signature(Volume.connect).parameters
        if all(k in accepted for k in overrides):
            return Volume.connect(url, **common, **overrides)
        return self._connect_with_timeouts(overrides, common)

    def _connect_with_timeouts(self, overrides: dict[str, Any], common: dict[str, Any]) -> Volume:
        """``Volume.connect`` with the volfile's ping-timeout/frame-timeout replaced, as a
        mount option overrides them (used while ``Volume.connect`` takes no such arguments)."""
        poller = make_poller(self.poller, self.event_threads)
        poller.start()
        try:
            text = fetch_volfile(
                self.host,
                self.volname,
                port=self.port,
                poller=poller,
                tls=tls_context(self.mgmt_tls),
                timeout=self.timeout,
            )
            graph = vf.parse(text)
            for brick in vf.client_bricks(graph):
                opts = graph[brick.name].options
                for key, value in overrides.items():
                    opts[key.replace("_", "-")] = str(value)
            common = {k: v for k, v in common.items() if k not in ("poller", "event_threads")}
            return Volume.from_volfile(
                vf.render(graph),
                volname=self.volname,
                host=self.host,
                mgmt_port=self.port,
                poller=poller,
                own_poller=True,
                **common,
            )
        except BaseException:
            poller.stop()
            raise

    def close(self) -> None:
        """Disconnect (the next use connects again)."""
        with self._connect_lock:
            v, self._volume = self._volume, None
        if v is not None and self._volume_pid == os.getpid():
            v.close()

    # -- metadata ----------------------------------------------------------------------------
    def info(self, path: Any, **kwargs: Any) -> dict[str, Any]:
        p = self._strip_protocol(path)
        vol = self.volume
        st = vol.lstat(p)
        if not stat.S_ISLNK(st.st_mode):
            return _entry(p, st)
        target = vol.stat(p)  # a dangling link is FileNotFoundError, as os.stat says
        out = _entry(p, target)
        out["islink"], out["destination"] = True, vol.readlink(p)
        return out

    def ls(self, path: Any, detail: bool = True, **kwargs: Any) -> list[Any]:
        p = self._strip_protocol(path)
        vol = self.volume
        try:
            found = [self._dir_entry(e) for e in vol.scandir(p)]
        except NotADirectoryError:
            found = [self.info(p)]
        if detail:
            return found
        return [e["name"] for e in found]

    def _dir_entry(self, entry: Any) -> dict[str, Any]:
        st = entry.stat()
        out = _entry(entry.path, st)
        if stat.S_ISLNK(st.st_mode):  # as fsspec's local fs: type "other", the target's size
            vol = self.volume
            try:
                out["size"] = vol.stat(entry.path).st_size
            except OSError:
                out["size"] = 0
            out["destination"] = vol.readlink(entry.path)
        return out

    def exists(self, path: Any, **kwargs: Any) -> bool:
        try:
            self.volume.stat(self._strip_protocol(path))
        except (FileNotFoundError, NotADirectoryError):
            return False
        return True

    def lexists(self, path: Any, **kwargs: Any) -> bool:
        try:
            self.volume.lstat(self._strip_protocol(path))
        except (FileNotFoundError, NotADirectoryError):
            return False
        return True

    def created(self, path: Any) -> datetime.datetime:
        """The inode's change time (GlusterFS keeps no birth time), as fsspec's local fs."""
        return _utc(self.info(path)["created"])

    def modified(self, path: Any) -> datetime.datetime:
        return _utc(self.info(path)["mtime"])

    # -- the namespace -------------------------------------------------------------------------
    def mkdir(self, path: Any, create_parents: bool = True, **kwargs: Any) -> None:
        p = self._strip_protocol(path)
        if create_parents:
            if self.exists(p):
                raise FileExistsError(errno.EEXIST, "File exists", p)
            self.volume.makedirs(p, exist_ok=True)
        else:
            self.volume.mkdir(p)

    def makedirs(self, path: Any, exist_ok: bool = False) -> None:
        self.volume.makedirs(self._strip_protocol(path), exist_ok=exist_ok)

    def _open_new(self, p: str, mode: str) -> Any:
        """``volume.open(p, mode)`` (unbuffered) of a file to write. With ``auto_mkdir`` a
        missing parent directory is made and the open tried once more: the parent is not
        looked at first, which would cost a STAT per file written into a known directory."""
        vol = self.volume
        try:
            return vol.open(p, mode, buffering=0)
        except FileNotFoundError:
            if not self.auto_mkdir:
                raise
        vol.makedirs(self._parent(p), exist_ok=True)
        return vol.open(p, mode, buffering=0)

    def rmdir(self, path: Any) -> None:
        self._rmdir(self._strip_protocol(path))

    def _rmdir(self, p: str) -> None:
        """RMDIR, refused (ENOTEMPTY) up front when a listing shows entries: the client's
        rmdir removes the directory from the other bricks before the hashed one finds it not
        empty, which would leave it half removed on a distribute volume."""
        vol = self.volume
        if vol.is_dir(p) and next(iter(vol.scandir(p)), None) is not None:
            raise OSError(errno.ENOTEMPTY, os.strerror(errno.ENOTEMPTY), p)
        vol.rmdir(p)

    def rm_file(self, path: Any) -> None:
        self.volume.unlink(self._strip_protocol(path))

    def _rm(self, path: Any) -> None:
        """One path of ``rm``: a file, a link or an (empty, by then) directory."""
        p = self._strip_protocol(path)
        try:
            self.volume.unlink(p)
        except IsADirectoryError:
            self._rmdir(p)

    def rm(self, path: Any, recursive: bool = False, maxdepth: int | None = None) -> None:
        for p in reversed(self.expand_path(path, recursive=recursive, maxdepth=maxdepth)):
            self._rm(p)

    def mv(
        self,
        path1: Any,
        path2: Any,
        recursive: bool = False,
        maxdepth: int | None = None,
        **kwargs: Any,
    ) -> None:
        """Move a file or a whole directory with one RENAME (into ``path2`` if that is a
        directory, or ends with ``/``); lists and globs go file by file."""
        if not (isinstance(path1, str) and isinstance(path2, str)) or _has_magic(path1):
            return super().mv(path1, path2, recursive=recursive, maxdepth=maxdepth, **kwargs)
        src, dst = self._strip_protocol(path1), self._strip_protocol(path2)
        if src == dst:
            return None
        vol = self.volume
        vol.lstat(src)  # FileNotFoundError before anything else
        if path2.endswith("/") or vol.is_dir(dst):
            dst = posixpath.join(dst, posixpath.basename(src))
        vol.rename(src, dst)
        return None

    def du(
        self,
        path: Any,
        total: bool = True,
        maxdepth: int | None = None,
        withdirs: bool = False,
        **kwargs: Any,
    ) -> Any:
        """fsspec's ``du``, each size taken from the listing that found the entry (READDIRP
        brings every entry's attributes), not from one more call per file as fsspec's own
        ``du`` asks ``info`` of each."""
        sizes: dict[str, int] = {}
        found = self.find(path, maxdepth=maxdepth, withdirs=withdirs, detail=True, **kwargs)
        for name, info in found.items():
            if "size" not in info:  # ``path`` is a file: find knows only its name
                info = self.info(name)
            sizes[info["name"]] = info["size"]
        return sum(sizes.values()) if total else sizes

    def touch(self, path: Any, truncate: bool = True, **kwargs: Any) -> None:
        p = self._strip_protocol(path)
        if truncate or not self.exists(p):
            self.pipe_file(p, b"")
        else:
            self.volume.utime(p)

    # -- data ----------------------------------------------------------------------------------
    def _open(
        self,
        path: str,
        mode: str = "rb",
        block_size: Any = None,
        autocommit: bool = True,
        cache_options: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> GlusterFile:
        return GlusterFile(
            self,
            self._strip_protocol(path),
            mode,
            block_size=block_size,
            autocommit=autocommit,
            cache_options=cache_options,
            **kwargs,
        )

    def cat_file(
        self, path: Any, start: int | None = None, end: int | None = None, **kw: Any
    ) -> bytes:
        """The bytes of a file (``start``/``end`` as slice bounds): a small file by the one
        LOOKUP that brings it whole (``Volume.read_small``), else by pipelined READs."""
        p = self._strip_protocol(path)
        data = self.volume.read_small(p)
        if data is not None:
            return data[start:end]
        with self.volume.open(p, "rb", buffering=0) as f:
            if start is None and end is None:
                return bytes(f.readall())
            size = f.stat().st_size
            lo, hi = slice(start, end).indices(size)[:2]
            if hi <= lo:
                return b""
            buf = bytearray(hi - lo)
            got = f.pread_into(memoryview(buf), lo)
            del buf[got:]
            return bytes(buf)

    def pipe_file(self, path: Any, value: Any, mode: str = "overwrite", **kwargs: Any) -> None:
        """Write ``value`` as the whole file (``mode="create"``: FileExistsError if it exists)."""
        p = self._strip_protocol(path)
        data = memoryview(value).cast("B")
        with self._open_new(p, "xb" if mode == "create" else "wb") as f:
            if data.nbytes and f.pwrite(data, 0) != data.nbytes:
                raise OSError(errno.EIO, "short write", p)

    def cp_file(self, path1: Any, path2: Any, **kwargs: Any) -> None:
        """Copy a file (a directory: make it) on the server when both ends share a brick."""
        src, dst = self._strip_protocol(path1), self._strip_protocol(path2)
        vol = self.volume
        if vol.is_dir(src):
            vol.makedirs(dst, exist_ok=True)
            return
        with vol.open(src, "rb", buffering=0) as fin, self._open_new(dst, "wb") as fout:
            size = fin.stat().st_size
            done = 0
            if fin.conn is fout.conn and size:
                done = _server_copy(fin, fout, size)
            if done < size:
                _stream_copy(fin, fout, done, self.copy_chunk, size)


def _server_copy(fin: Any, fout: Any, size: int) -> int:
    """COPY_FILE_RANGE from ``fin`` to ``fout`` (same brick) until ``size`` bytes or the end of
    the source; bytes copied (0 when the brick cannot: the caller streams)."""
    done = 0
    while done < size:
        req = fops.GfxCopyFileRangeReq(
            gfid1=fin.gfid,
            gfid2=fout.gfid,
            fd_in=fin.fd,
            fd_out=fout.fd,
            off_in=done,
            off_out=done,
            size=min(SERVER_COPY_CHUNK, size - done),
            flag=0,
        )
        try:
            rsp = fin.conn.fop(fops.FopProc.COPY_FILE_RANGE, req, path=fin.name)
        except OSError as exc:
            if done == 0 and exc.errno in _NO_SERVER_COPY:
                return 0
            raise
        n = int(rsp.op_ret)
        if n <= 0:
            break
        done += n
    return done


def _stream_copy(fin: Any, fout: Any, offset: int, chunk: int, size: int) -> None:
    """Copy from ``offset`` to the end of ``fin`` in pieces of pipelined I/O of at most
    ``chunk`` bytes. The first asks for what ``size`` leaves, and one byte more to see the end
    (a small file is one READ, not a ``chunk`` of them); a file that grew is read on."""
    view = memoryview(bytearray(max(1, min(chunk, size - offset + 1))))
    while True:
        got = fin.pread_into(view, offset)
        if got and fout.pwrite(view[:got], offset) != got:
            raise OSError(errno.EIO, "short write", fout.name)
        offset += got
        if got < len(view):
            return
        if len(view) < chunk:
            view = memoryview(bytearray(chunk))


def _entry(path: str, st: Any) -> dict[str, Any]:
    """An fsspec info dict from a StatResult (the fields fsspec's local fs gives, + gfid)."""
    mode = st.st_mode
    kind = "directory" if stat.S_ISDIR(mode) else "file" if stat.S_ISREG(mode) else "other"
    return {
        "name": path,
        "size": st.st_size,
        "type": kind,
        "created": st.st_ctime,
        "islink": stat.S_ISLNK(mode),
        "mode": mode,
        "uid": st.st_uid,
        "gid": st.st_gid,
        "mtime": st.st_mtime,
        "ino": st.st_ino,
        "nlink": st.st_nlink,
        "gfid": str(st.gfid),
    }


def _utc(seconds: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(seconds, tz=datetime.UTC)


def _has_magic(path: str) -> bool:
    return any(c in path for c in "*?[")


def _tls_arg(value: Any) -> Any:
    """``tls=DIR`` as a string (hashable and picklable for fsspec's cache and pickling)."""
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value
