"""``GlusterFile``: fsspec's buffered file over one remote fd (a client ``File``).

Theory of operation: fsspec's ``AbstractBufferedFile`` does the buffering (a read-ahead cache
of ``block_size`` bytes when reading; a buffer flushed every ``block_size`` bytes when
writing) and asks the backend for whole ranges. Each range goes to the client ``File``'s
pipelined paths: ``_fetch_range`` is one ``pread_into`` (READs of at most ``max_read`` bytes,
``window`` of them in flight) and ``_upload_chunk`` one ``pwrite`` (pipelined WRITEs at
explicit offsets). The remote file is opened when the fsspec file is, so ``open(path, "xb")``
fails with FileExistsError and ``open(dir, "rb")`` with IsADirectoryError at once, as the
built-in ``open`` does. A small file read whole (``rb``) is not opened at all: one LOOKUP
brings its bytes (``Volume.read_small``, quick-read's way) and the fsspec file reads those;
anything that LOOKUP cannot serve (a bigger file, one not every caller may read, one with an
ACL) is opened as above.

A file dropped without ``close()`` is closed on a short-lived thread rather than in the
finalizer itself: the garbage collector can run a finalizer inside a transport call that holds
the lock a FOP's send needs.

Outside a transaction (``autocommit``) writes go straight to the file. Inside one
(``with fs.transaction:``) they go to a hidden name beside it, renamed over the target on
``commit`` and removed on ``discard``.
"""

from __future__ import annotations

import errno
import logging
import posixpath
import sys
import threading
import uuid
from typing import TYPE_CHECKING, Any

from fsspec.spec import AbstractBufferedFile

if TYPE_CHECKING:
    from .filesystem import GlusterFileSystem

__all__ = ["DEFAULT_BLOCK_SIZE", "GlusterFile"]

log = logging.getLogger(__name__)

DEFAULT_BLOCK_SIZE = 8 << 20  # 8 MiB: a full pipeline window of 1 MiB READs/WRITEs


class _Held:
    """A small file's bytes that its LOOKUP brought (``Volume.read_small``), read as the remote
    file would be; nothing was opened on the brick, so there is nothing to close."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    def pread_into(self, buf: memoryview, offset: int) -> int:
        chunk = self.data[offset : offset + len(buf)]
        buf[: len(chunk)] = chunk
        return len(chunk)

    def close(self) -> None:
        """Nothing to release."""


class GlusterFile(AbstractBufferedFile):  # type: ignore[misc]
    """A file of a ``GlusterFileSystem`` (modes ``rb``, ``wb``, ``ab``, ``xb``)."""

    DEFAULT_BLOCK_SIZE = DEFAULT_BLOCK_SIZE

    def __init__(
        self,
        fs: GlusterFileSystem,
        path: str,
        mode: str = "rb",
        block_size: Any = "default",
        autocommit: bool = True,
        cache_type: str = "readahead",
        cache_options: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if mode not in {"rb", "wb", "ab", "xb"}:
            raise NotImplementedError(f"file mode {mode!r} is not supported (rb, wb, ab, xb)")
        volume = fs.volume
        self._target = path
        self._base = 0  # where this writer's bytes start in the remote file
        if mode == "rb":
            data = volume.read_small(path)
            if data is not None:
                self.raw: Any = _Held(data)
                kwargs.setdefault("size", len(data))
            else:
                self.raw = volume.open(path, "rb", buffering=0)
                try:
                    kwargs.setdefault("size", self.raw.stat().st_size)
                except BaseException:
                    self.raw.close()
                    raise
        else:
            where = path
            if not autocommit and mode == "ab":
                raise NotImplementedError("appending inside a transaction is not supported")
            if not autocommit:
                where = posixpath.join(
                    posixpath.dirname(path),
                    f".{posixpath.basename(path)}.gfrpc-{uuid.uuid4().hex[:12]}",
                )
                if mode == "xb" and fs.exists(path):
                    raise FileExistsError(errno.EEXIST, "File exists", path)
            self.raw = fs._open_new(where, mode if autocommit else "wb")
            self._base = self.raw.tell() if mode == "ab" else 0
        self._where = where if mode != "rb" else path
        try:
            super().__init__(
                fs,
                path,
                mode=mode,
                block_size=block_size,
                autocommit=autocommit,
                cache_type=cache_type,
                cache_options=cache_options,
                **kwargs,
            )
        except BaseException:
            self.raw.close()
            raise
        if mode == "ab":
            self.loc = self._base

    # -- reading ---------------------------------------------------------------------------
    def _fetch_range(self, start: int, end: int) -> bytes:
        """Bytes ``start``..``end`` (less at end of file) by pipelined READs."""
        n = max(0, min(end, self.size) - start)
        if n == 0:
            return b""
        buf = bytearray(n)
        got = self.raw.pread_into(memoryview(buf), start)
        if got < n:
            del buf[got:]
        return bytes(buf)

    # -- writing ---------------------------------------------------------------------------
    def _initiate_upload(self) -> None:
        """Nothing to do: the remote file was opened (created) with this object."""

    def _upload_chunk(self, final: bool = False) -> bool:
        """The buffer, by pipelined WRITEs at its offset in the file."""
        with self.buffer.getbuffer() as view:
            n = len(view)
            if n:
                done = self.raw.pwrite(view, self._base + self.offset)
                if done != n:
                    raise OSError(errno.EIO, f"short write ({done} of {n} bytes)", self.path)
        if final and self.autocommit:
            self.raw.close()  # FLUSH + RELEASE: the data is on the brick before close returns
        return True

    def commit(self) -> None:
        """Move the transaction's hidden file over the target (one RENAME)."""
        self.raw.close()
        if self._where != self._target:
            self.fs.volume.rename(self._where, self._target)

    def discard(self) -> None:
        """Drop the transaction's hidden file."""
        self.raw.close()
        if self._where != self._target:
            try:
                self.fs.volume.unlink(self._where)
            except FileNotFoundError:
                pass

    def close(self) -> None:
        if self.closed:
            return
        try:
            super().close()
        finally:
            if self.autocommit or self.mode == "rb":
                self.raw.close()

    def __del__(self) -> None:
        """A file dropped without ``close()`` is closed on another thread: closing sends
        FOPs (FLUSH, RELEASE, a last WRITE), and the garbage collector may run this inside
        the very transport call whose lock that send would need. Not while the interpreter
        shuts down: a thread started then never runs, and ``start()`` would wait for it
        forever (the exit hung); the brick releases what the connection held as it closes."""
        if sys.is_finalizing():
            return
        if not self.closed and getattr(self, "raw", None) is not None:
            threading.Thread(
                target=self._close_quietly, name="gfrpc-fsspec-close", daemon=True
            ).start()

    def _close_quietly(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - nobody is left to tell: the file was dropped
            log.debug("closing a dropped file %s failed", self.path, exc_info=True)
