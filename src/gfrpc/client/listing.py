"""Streaming directory listings: ``scandir`` one READDIRP reply at a time, and ``walk``.

Theory of operation:

* **One batch in memory.** A READDIRP reply carries as many entries as fit in the ``size``
  bytes asked for (the brick caps it at 128 KiB), each with its iatt. ``ScandirIterator`` keeps
  exactly one reply: it hands out its entries one by one, drops it, and only then asks for the
  next one at the ``d_off`` of the last entry. Memory is proportional to one batch, never to the
  directory; ``peak_buffered`` counts the most entries it ever held, for tests to check.
* **Distribute (DHT).** The directory's part on each brick is read in turn, brick 0 first, each
  with its own OPENDIR ... RELEASEDIR. Linkto files (DHT's pointers to data on another brick) are
  skipped. Directories exist on every brick, so, as DHT's readdirp does, a directory is listed
  from the first brick only; every other name lives on exactly one brick. No set of names seen
  is kept, so the memory rule holds on any number of bricks.
* **The fd is closed** (RELEASEDIR, fire and forget as GlusterFS does) when a brick's part is
  exhausted, on ``close()``, at the end of a ``with`` block, on an error, and as a last resort
  when the iterator is garbage-collected. An fd opened on a connection that has since been
  re-established is gone on the brick: it is dropped without a call (and its listing fails
  with the READDIRP's error, as an fd of a lost connection does in GlusterFS).
* **Stats come with the entries**: ``DirEntry.stat()`` is the READDIRP iatt, no call (turned
  into a ``StatResult`` only when asked for: a listing of names pays for none). Only a
  symbolic link costs a STAT, when asked whether it leads to a directory or a file.
* **Directories listed are known.** A READDIRP entry brings what a LOOKUP of it would (its
  gfid and attributes), so each directory a listing finds goes into the ``Volume``'s path cache
  (``learn``), unless it is there already: walking into it needs no LOOKUP, and ``walk``,
  ``find`` and ``du`` of a tree cost one OPENDIR and its READDIRPs per directory. Only
  directories: files are many, and their names are resolved when used.
* **Threads.** An iterator belongs to one thread at a time (like ``os.scandir``'s); any number of
  iterators may run at once on one ``Volume``: each has its own fds and offsets, and the brick
  connections pipeline the calls.
* ``walk`` is ``os.walk`` (top-down or bottom-up, ``onerror``, ``followlinks``, the caller may
  prune ``dirnames`` top-down) over the streaming iterator, with an explicit stack: no
  recursion limit on deep trees. Like ``os.walk``, it holds the names of one directory per
  level it is in.
"""

from __future__ import annotations

import posixpath
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from gfrpc.client import dht

from .file import DirEntry, StatResult
from .namespace import is_linkto_entry

if TYPE_CHECKING:
    from .connection import BrickConnection

__all__ = ["DEFAULT_BATCH_BYTES", "ScandirIterator", "walk"]

#: READDIRP ``size`` asked for: the brick's own cap (GlusterFS's 128 KiB page)
DEFAULT_BATCH_BYTES = 128 * 1024


class ScandirIterator:
    """Entries of one directory, streamed (see the module essay). Made by ``Volume.scandir``."""

    def __init__(
        self,
        bricks: Sequence[BrickConnection],
        gfid: bytes,
        path: str,
        *,
        hashing: bool,
        batch_bytes: int = DEFAULT_BATCH_BYTES,
        follow: Callable[[str], StatResult] | None = None,
        learn: Callable[[str, Any], None] | None = None,
        real: str | None = None,
    ) -> None:
        if batch_bytes < 1:
            raise ValueError("batch_bytes must be at least 1")
        self.path = path
        self._prefix = path if path.endswith("/") else path + "/"  # posixpath.join, once
        self._bricks = list(bricks)
        self._gfid = gfid
        self._hashing = hashing
        self._xdata = {dht.LINKTO_XATTR: 256} if hashing else None
        self._size = batch_bytes
        self._follow = follow
        #: told (resolved path, iatt) of each directory listed: what a LOOKUP of it would bring
        self._learn = learn
        self._real_prefix = (real if real.endswith("/") else real + "/") if real else self._prefix
        self._brick = 0  # index of the brick being read
        self._fd: int | None = None
        self._generation = 0  # of the connection the fd was opened on
        self._offset = 0
        self._batch: list[Any] = []
        self._pos = 0
        self._closed = False
        #: the most entries held at once (one READDIRP reply), and the replies read
        self.peak_buffered = 0
        self.batches = 0
        self._open_next()  # OPENDIR now: a missing directory fails at scandir(), as in os

    # -- the iterator protocol ----------------------------------------------------------------
    def __iter__(self) -> ScandirIterator:
        return self

    def __next__(self) -> DirEntry:
        while not self._closed:
            while self._pos < len(self._batch):
                e = self._batch[self._pos]
                self._pos += 1
                if self._wanted(e):
                    if self._learn is not None and e.stat.mode & 0o170000 == 0o040000:
                        self._learn(self._real_prefix + e.name, e.stat)
                    return DirEntry.from_iatt(e.name, self._prefix + e.name, e.stat, self._follow)
            self._batch, self._pos = [], 0  # drop the batch before asking for the next
            try:
                self._fill()
            except BaseException:
                self.close()
                raise
        raise StopIteration

    def _wanted(self, e: Any) -> bool:
        if e.name in (".", ".."):
            return False
        if not self._hashing:
            return True
        if self._brick > 0 and e.stat.mode & 0o170000 == 0o040000:
            return False  # directories are listed from the first brick only, as DHT does
        return not is_linkto_entry(e)

    def _fill(self) -> None:
        """Read the next batch into ``_batch``, moving to the next brick at the end of one;
        close when every brick is done."""
        while True:
            if self._fd is None:
                if self._brick + 1 >= len(self._bricks):
                    self.close()
                    return
                self._brick += 1
                self._open_next()
            conn = self._bricks[self._brick]
            assert self._fd is not None
            entries = conn.readdirp(
                self._gfid, self._fd, self._offset, self._size, xdata=self._xdata, path=self.path
            )
            if entries:
                self._offset = entries[-1].d_off
                self._batch = entries
                self.batches += 1
                self.peak_buffered = max(self.peak_buffered, len(entries))
                return
            self._release()

    def _open_next(self) -> None:
        conn = self._bricks[self._brick]
        self._generation = conn.generation
        self._fd = conn.opendir(self._gfid, path=self.path)
        self._offset = 0

    def _release(self) -> None:
        """RELEASEDIR, unless the fd died with an earlier connection (nothing to release)."""
        fd, self._fd = self._fd, None
        conn = self._bricks[self._brick]
        if fd is not None and conn.generation == self._generation:
            conn.release(self._gfid, fd, directory=True)

    # -- closing ------------------------------------------------------------------------------
    def close(self) -> None:
        """Release the directory fd (if one is open) and end the iteration; idempotent."""
        if self._closed:
            return
        self._closed = True
        self._batch, self._pos = [], 0
        try:
            self._release()
        except OSError:
            pass  # the connection is gone, and the fd with it

    def __enter__(self) -> ScandirIterator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        """An iterator dropped before its end is closed on a short-lived thread, not here:
        closing sends RELEASEDIR and waits for its reply, and the garbage collector may run
        this on a poller thread or inside a transport call that holds the lock the send
        needs (either would deadlock)."""
        if not getattr(self, "_closed", True):
            threading.Thread(
                target=self._close_quietly, name="gfrpc-scandir-close", daemon=True
            ).start()

    def _close_quietly(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - nobody is left to tell: the iterator was dropped
            pass

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"brick {self._brick}, offset {self._offset}"
        return f"<ScandirIterator {self.path!r} ({state})>"


def walk(
    vol: Any,
    top: str,
    topdown: bool = True,
    onerror: Callable[[OSError], object] | None = None,
    followlinks: bool = False,
) -> Iterator[tuple[str, list[str], list[str]]]:
    """``os.walk`` on a Volume: (dirpath, dirnames, filenames) for each directory under
    ``top``. Errors of scandir go to ``onerror`` (and that directory is skipped)."""
    stack: list[Any] = [top]
    links: dict[str, bool] = {}  # name -> is a symbolic link, in the directory just yielded
    while stack:
        item = stack.pop()
        if isinstance(item, tuple):  # bottom-up: every child has been walked
            yield item
            continue
        path: str = item
        dirs: list[str] = []
        files: list[str] = []
        below: list[str] = []  # bottom-up: the children to walk into
        links = {}
        try:
            with vol.scandir(path) as it:
                for entry in it:
                    try:
                        is_dir = entry.is_dir()
                    except OSError:
                        is_dir = False
                    (dirs if is_dir else files).append(entry.name)
                    if is_dir:
                        links[entry.name] = entry.is_symlink()
                        if not topdown and (followlinks or not links[entry.name]):
                            below.append(posixpath.join(path, entry.name))
        except OSError as exc:
            if onerror is not None:
                onerror(exc)
            continue
        if not topdown:
            stack.append((path, dirs, files))
            stack.extend(reversed(below))
            continue
        yield path, dirs, files
        for name in reversed(dirs):  # the caller may have pruned or added names
            child = posixpath.join(path, name)
            if followlinks or not _is_link(vol, child, links.get(name)):
                stack.append(child)


def _is_link(vol: Any, path: str, known: bool | None) -> bool:
    if known is not None:
        return known
    try:
        return bool(vol.lstat(path).st_mode & 0o170000 == 0o120000)
    except OSError:
        return False
