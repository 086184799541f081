"""Typed FOP calls on one brick connection: ``BrickConnection``'s base class.

FOP calls are pipelined: :meth:`FopCalls.fop_async` returns a Future of the decoded
``(reply, data)``; many may be in flight on the one connection. :meth:`FopCalls.fop` waits and
turns ``op_ret < 0`` into ``OSError(op_errno)``. The typed helpers (``lookup``, ``create``,
``read_async``, ``setattr``, ...) build the v400 request of each FOP by keyword.

The base needs two things of the class that completes it (connection.py): ``live_client()``,
the connected ``RpcClient`` (reconnecting when due), and ``_cred``, the AUTH_GLUSTERFS_v3
credential of its ``Identity`` (None: this process's, at each call).
"""

from __future__ import annotations

import stat
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypedDict, Unpack

from gfrpc.programs import fops
from gfrpc.programs.fops import FopProc
from gfrpc.programs.fops_types import NULL_GFID, ROOT_GFID, Iatt
from gfrpc.rpc.client import Reply, RpcClient
from gfrpc.wire.rpcmsg import GlusterCredV3

from .errors import fop_error

__all__ = [
    "DEFAULT_UMASK",
    "CallOptions",
    "FopCalls",
    "NewEntry",
    "check",
    "gfid_req",
    "xattr_bytes",
]

Buffer = bytes | bytearray | memoryview


class CallOptions(TypedDict, total=False):
    """Keyword options of a FOP call: the ``xdata`` it sends, and ``path`` for error messages."""

    xdata: dict[str, Any] | None
    path: str | None


class NewEntry(CallOptions, total=False):
    """Keyword options of the calls that make a directory entry (create, mkdir, mknod,
    symlink): also ``umask`` (default 0o022; mknod 0) and the new entry's ``gfid`` (random
    when absent or None); ``xdata`` goes with the gfid request."""

    umask: int
    gfid: bytes | None


DEFAULT_UMASK = 0o022


def gfid_req(gfid: bytes | None = None) -> dict[str, Any]:
    """xdata asking the brick to give a new entry this gfid (random when None), as FUSE does."""
    return {"gfid-req": uuid.UUID(bytes=bytes(gfid)) if gfid else uuid.uuid4()}


def xattr_bytes(value: Any) -> bytes | None:
    """An xattr value from a gfx dict as bytes (PTR is bytes; STR loses its NUL on decode)."""
    if value is None:
        return None
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape") + b"\0"
    if isinstance(value, int):
        return str(value).encode()
    raw = getattr(value, "value", value)
    return bytes(raw) if isinstance(raw, bytes | bytearray | memoryview) else str(raw).encode()


def _fop_args(req: Any, payload: Buffer | None) -> Any:
    return fops.encode_write_request(req, payload) if payload is not None else req.pack()


class FopCalls:
    """The FOP calls of a brick connection (see the module docstring); ``BrickConnection``
    completes it with the connection itself."""

    _cred: GlusterCredV3 | None

    def live_client(self) -> RpcClient:
        """The connected RpcClient; ``BrickConnection`` reconnects first when due."""
        raise NotImplementedError

    def send_fop(
        self,
        proc: FopProc,
        req: Any,
        payload: Buffer | None = None,
        *,
        timeout: float | None = None,
    ) -> Future[Reply]:
        """Send one FOP; the Future yields the RPC reply, not yet decoded. Raises OSError
        when there is no connection (``live_client``)."""
        return self.live_client().call_async(
            fops.GLUSTER_FOP_PROGRAM,
            fops.GLUSTER_FOP_VERSION,
            proc,
            _fop_args(req, payload),
            cred=self._cred,
            timeout=timeout,
        )

    def call_fop(self, proc: FopProc, req: Any, payload: Buffer | None = None) -> Reply:
        """Send one FOP and wait for the RPC reply, not yet decoded (``send_fop``'s
        synchronous twin: no Future, the calling thread sleeps on its doorbell)."""
        return self.live_client().call(
            fops.GLUSTER_FOP_PROGRAM,
            fops.GLUSTER_FOP_VERSION,
            proc,
            _fop_args(req, payload),
            cred=self._cred,
        )

    def fop_async(
        self,
        proc: FopProc,
        req: Any,
        payload: Buffer | None = None,
        *,
        timeout: float | None = None,
    ) -> Future[tuple[Any, memoryview]]:
        """Send one FOP; the Future yields ``fops.decode_reply``'s ``(reply, data)``, decoded
        on the transport's input thread."""
        out: Future[tuple[Any, memoryview]] = Future()
        out.set_running_or_notify_cancel()
        try:
            inner = self.send_fop(proc, req, payload, timeout=timeout)
        except OSError as exc:
            out.set_exception(exc)
            return out

        def done(f: Future[Reply]) -> None:
            try:
                out.set_result(fops.decode_reply(proc, f.result().body))
            except BaseException as exc:  # noqa: BLE001 - handed to the waiter
                out.set_exception(exc)

        inner.add_done_callback(done)
        return out

    def fop(
        self, proc: FopProc, req: Any, payload: Buffer | None = None, *, path: str | None = None
    ) -> Any:
        """Send one FOP and wait; ``op_ret < 0`` raises ``OSError(op_errno, ..., path)``.

        The caller's thread decodes the reply: the transport's input thread only wakes it."""
        rsp, _ = fops.decode_reply(proc, self.call_fop(proc, req, payload).body)
        return check(rsp, path)

    def _call(
        self, proc: FopProc, request: Callable[..., Any], opts: CallOptions, **fields: Any
    ) -> Any:
        """``fop`` of the request ``request(**fields)`` with the xdata and path of ``opts``."""
        return self.fop(proc, request(**fields, xdata=opts.get("xdata")), path=opts.get("path"))

    def _new_entry(
        self,
        proc: FopProc,
        request: Callable[..., Any],
        pargfid: bytes,
        name: str,
        opts: NewEntry,
        default_umask: int = DEFAULT_UMASK,
        **fields: Any,
    ) -> Any:
        """A FOP that makes the entry ``name`` in ``pargfid``; its xdata asks for the gfid (see
        :func:`gfid_req`)."""
        xdata = gfid_req(opts.get("gfid")) | (opts.get("xdata") or {})
        umask = opts.get("umask", default_umask)
        req = request(pargfid=pargfid, bname=name, umask=umask, xdata=xdata, **fields)
        return self.fop(proc, req, path=opts.get("path"))

    # typed helpers (gfids are 16 bytes; dicts map str -> value as gfdict encodes them)
    def lookup(
        self,
        pargfid: bytes,
        name: str,
        xdata: dict[str, Any] | None = None,
        *,
        path: str | None = None,
    ) -> Any:
        """LOOKUP by parent gfid + basename; reply.prestat = entry, .xdata = asked xattrs."""
        return self.fop(
            FopProc.LOOKUP, fops.GfxLookupReq(pargfid=pargfid, bname=name, xdata=xdata), path=path
        )

    def lookup_gfid(
        self, gfid: bytes, xdata: dict[str, Any] | None = None, *, path: str | None = None
    ) -> Any:
        """Nameless LOOKUP by gfid (the root: gfid 00..01 with gfid-req, as FUSE does)."""
        return self.fop(
            FopProc.LOOKUP, fops.GfxLookupReq(gfid=gfid, pargfid=NULL_GFID, xdata=xdata), path=path
        )

    def lookup_root(self) -> Any:
        return self.lookup_gfid(ROOT_GFID, gfid_req(ROOT_GFID), path="/")

    def stat(self, gfid: bytes, *, path: str | None = None) -> Any:
        return self.fop(FopProc.STAT, fops.GfxStatReq(gfid=gfid), path=path).stat

    def fstat(self, gfid: bytes, fd: int, *, path: str | None = None) -> Any:
        return self.fop(FopProc.FSTAT, fops.GfxFstatReq(gfid=gfid, fd=fd), path=path).stat

    def create(
        self, pargfid: bytes, name: str, flags: int, mode: int, **opts: Unpack[NewEntry]
    ) -> Any:
        """CREATE; reply.fd is the remote fd, reply.stat the new file."""
        mode |= stat.S_IFREG
        return self._new_entry(
            FopProc.CREATE, fops.GfxCreateReq, pargfid, name, opts, flags=flags, mode=mode
        )

    def open(self, gfid: bytes, flags: int, *, path: str | None = None) -> int:
        return int(self.fop(FopProc.OPEN, fops.GfxOpenReq(gfid=gfid, flags=flags), path=path).fd)

    def read_async(
        self, gfid: bytes, fd: int, offset: int, size: int
    ) -> Future[tuple[Any, memoryview]]:
        return self.fop_async(
            FopProc.READ, fops.GfxReadReq(gfid=gfid, fd=fd, offset=offset, size=size)
        )

    def read_wait(self, gfid: bytes, fd: int, offset: int, size: int) -> tuple[Any, memoryview]:
        """``read_async`` and wait, without a Future: the reply is decoded on this thread."""
        req = fops.GfxReadReq(gfid=gfid, fd=fd, offset=offset, size=size)
        return fops.decode_reply(FopProc.READ, self.call_fop(FopProc.READ, req).body)

    def write_wait(self, gfid: bytes, fd: int, offset: int, data: Buffer) -> Any:
        """``write_async`` and wait, without a Future: the decoded reply (not checked)."""
        req = fops.GfxWriteReq(gfid=gfid, fd=fd, offset=offset, size=memoryview(data).nbytes)
        return fops.decode_reply(FopProc.WRITE, self.call_fop(FopProc.WRITE, req, data).body)[0]

    def write_async(
        self, gfid: bytes, fd: int, offset: int, data: Buffer
    ) -> Future[tuple[Any, memoryview]]:
        n = memoryview(data).nbytes
        return self.fop_async(
            FopProc.WRITE, fops.GfxWriteReq(gfid=gfid, fd=fd, offset=offset, size=n), data
        )

    def flush(self, gfid: bytes, fd: int, *, path: str | None = None) -> None:
        self.fop(FopProc.FLUSH, fops.GfxFlushReq(gfid=gfid, fd=fd), path=path)

    def fsync(
        self, gfid: bytes, fd: int, *, datasync: bool = False, path: str | None = None
    ) -> None:
        self.fop(FopProc.FSYNC, fops.GfxFsyncReq(gfid=gfid, fd=fd, data=int(datasync)), path=path)

    def forget_fop(self, proc: FopProc, req: Any) -> None:
        """Send one FOP whose reply is read and dropped (``RpcClient.send``); no connection
        means nothing to send (an fd dies with the connection it was opened on)."""
        try:
            client = self.live_client()
        except OSError:
            return
        client.send(
            fops.GLUSTER_FOP_PROGRAM,
            fops.GLUSTER_FOP_VERSION,
            proc,
            _fop_args(req, None),
            cred=self._cred,
        )

    def release(self, gfid: bytes, fd: int, *, directory: bool = False) -> None:
        """RELEASE/RELEASEDIR, fire and forget as GlusterFS does (the reply is dropped)."""
        if directory:
            self.forget_fop(FopProc.RELEASEDIR, fops.GfxReleasedirReq(gfid=gfid, fd=fd))
        else:
            self.forget_fop(FopProc.RELEASE, fops.GfxReleaseReq(gfid=gfid, fd=fd))

    def mkdir(self, pargfid: bytes, name: str, mode: int, **opts: Unpack[NewEntry]) -> Any:
        """MKDIR; reply.stat is the new directory."""
        return self._new_entry(
            FopProc.MKDIR, fops.GfxMkdirReq, pargfid, name, opts, mode=stat.S_IFDIR | mode
        )

    def mknod(self, pargfid: bytes, name: str, mode: int, **opts: Unpack[NewEntry]) -> Any:
        """MKNOD of ``mode`` (type bits included) with umask 0 unless given."""
        return self._new_entry(FopProc.MKNOD, fops.GfxMknodReq, pargfid, name, opts, 0, mode=mode)

    def unlink(self, pargfid: bytes, name: str, **opts: Unpack[CallOptions]) -> None:
        self._call(FopProc.UNLINK, fops.GfxUnlinkReq, opts, pargfid=pargfid, bname=name)

    def rmdir(self, pargfid: bytes, name: str, *, path: str | None = None) -> None:
        self.fop(FopProc.RMDIR, fops.GfxRmdirReq(pargfid=pargfid, bname=name), path=path)

    def rename(
        self, oldpar: bytes, oldname: str, newpar: bytes, newname: str, **opts: Unpack[CallOptions]
    ) -> Any:
        return self._call(
            FopProc.RENAME,
            fops.GfxRenameReq,
            opts,
            oldgfid=oldpar,
            oldbname=oldname,
            newgfid=newpar,
            newbname=newname,
        )

    def symlink(self, pargfid: bytes, name: str, target: str, **opts: Unpack[NewEntry]) -> Any:
        """SYMLINK ``name`` -> ``target``; reply.stat is the new link."""
        return self._new_entry(
            FopProc.SYMLINK, fops.GfxSymlinkReq, pargfid, name, opts, linkname=target
        )

    def readlink(self, gfid: bytes, *, size: int = 4096, path: str | None = None) -> str:
        return str(
            self.fop(FopProc.READLINK, fops.GfxReadlinkReq(gfid=gfid, size=size), path=path).path
        )

    def link(self, gfid: bytes, newpar: bytes, newname: str, **opts: Unpack[CallOptions]) -> Any:
        """LINK: a new name ``newname`` in ``newpar`` for the inode ``gfid``."""
        return self._call(
            FopProc.LINK, fops.GfxLinkReq, opts, oldgfid=gfid, newgfid=newpar, newbname=newname
        )

    def setattr(
        self,
        gfid: bytes,
        valid: int,
        *,
        mode: int = 0,
        uid: int = 0,
        gid: int = 0,
        atime_ns: int = 0,
        mtime_ns: int = 0,
        path: str | None = None,
    ) -> Any:
        """SETATTR of the fields named by ``valid`` (GF_SET_ATTR_* / GF_ATTR_*_NOW bits)."""
        stbuf = Iatt(
            mode=mode,
            ia_uid=uid,
            ia_gid=gid,
            ia_atime=atime_ns // 1_000_000_000,
            ia_atime_nsec=atime_ns % 1_000_000_000,
            ia_mtime=mtime_ns // 1_000_000_000,
            ia_mtime_nsec=mtime_ns % 1_000_000_000,
        )
        return self.fop(
            FopProc.SETATTR, fops.GfxSetattrReq(gfid=gfid, stbuf=stbuf, valid=valid), path=path
        )

    def removexattr(self, gfid: bytes, name: str, *, path: str | None = None) -> None:
        self.fop(FopProc.REMOVEXATTR, fops.GfxRemovexattrReq(gfid=gfid, name=name), path=path)

    def truncate(self, gfid: bytes, length: int, *, path: str | None = None) -> Any:
        return self.fop(FopProc.TRUNCATE, fops.GfxTruncateReq(gfid=gfid, offset=length), path=path)

    def getxattr(self, gfid: bytes, name: str, *, path: str | None = None) -> dict[str, Any]:
        req = fops.GfxGetxattrReq(gfid=gfid, namelen=len(name.encode()), name=name)
        return dict(self.fop(FopProc.GETXATTR, req, path=path).dict or {})

    def setxattr(
        self, gfid: bytes, xattrs: dict[str, Any], flags: int = 0, *, path: str | None = None
    ) -> None:
        self.fop(
            FopProc.SETXATTR, fops.GfxSetxattrReq(gfid=gfid, flags=flags, dict=xattrs), path=path
        )

    def statfs(self, gfid: bytes = ROOT_GFID, *, path: str | None = None) -> Any:
        return self.fop(FopProc.STATFS, fops.GfxStatfsReq(gfid=gfid), path=path).statfs

    def opendir(self, gfid: bytes, *, path: str | None = None) -> int:
        return int(self.fop(FopProc.OPENDIR, fops.GfxOpendirReq(gfid=gfid), path=path).fd)

    def readdirp(
        self,
        gfid: bytes,
        fd: int,
        offset: int,
        size: int = 128 * 1024,
        xdata: dict[str, Any] | None = None,
        *,
        path: str | None = None,
    ) -> list[Any]:
        req = fops.GfxReaddirpReq(gfid=gfid, fd=fd, offset=offset, size=size, xdata=xdata)
        return list(self.fop(FopProc.READDIRP, req, path=path).reply)


def check(rsp: Any, path: str | None = None) -> Any:
    """``rsp`` if ``op_ret >= 0``, else raise the OSError for its ``op_errno``."""
    if rsp.op_ret < 0:
        raise fop_error(rsp.op_errno, path)
    return rsp
