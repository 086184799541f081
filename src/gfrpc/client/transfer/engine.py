"""The copy itself: plan (stat and walk the sources), then run (directories, files on a pool
of threads, links, directory attributes last). See the package's essay."""

from __future__ import annotations

import errno
import os
import posixpath
import stat
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from gfrpc.errors import GfrpcError

from .stores import LocalStore, Location, StatLike, VolumeStore

__all__ = ["CHUNK", "CopyOptions", "NullProgress", "Progress", "copy", "strerror", "walk"]

CHUNK = 8 << 20  # one buffer per thread: 8 READs/WRITEs of 1 MiB in flight on a volume


class Progress(Protocol):
    """What a copy reports as it goes (called from several threads)."""

    def begin(self, files: int, total_bytes: int) -> None: ...
    def advance(self, nbytes: int) -> None: ...
    def file_done(self) -> None: ...
    def end(self) -> None: ...


class NullProgress:
    """Reports nothing."""

    def begin(self, files: int, total_bytes: int) -> None:
        pass

    def advance(self, nbytes: int) -> None:
        pass

    def file_done(self) -> None:
        pass

    def end(self) -> None:
        pass


@dataclass(frozen=True)
class CopyOptions:
    """``recursive`` (-r), ``preserve`` (-p: modes, times, and owners when root), ``jobs``
    (files in flight)."""

    recursive: bool = False
    preserve: bool = False
    jobs: int = 4
    chown: bool = field(default_factory=lambda: os.geteuid() == 0)


@dataclass
class _Item:
    kind: str  # "dir", "file", "link", "special"
    src: Location
    dst: Location
    st: StatLike
    made: bool = False  # a directory this copy created


def strerror(exc: BaseException) -> str:
    """The text after the colon in a GNU-style message."""
    if isinstance(exc, OSError) and exc.strerror:
        return str(exc.strerror)
    return " ".join((str(exc) or type(exc).__name__).split())


def walk(
    top: Location, on_error: Callable[[Location, BaseException], None]
) -> Iterator[tuple[Location, str, StatLike]]:
    """Every entry under the directory ``top``, top-down: (location, kind, lstat). A directory
    that cannot be listed is given to ``on_error`` and skipped."""
    stack = [top]
    while stack:
        d = stack.pop()
        try:
            entries = sorted(d.store.scandir(d.path), key=lambda e: e[0])
        except (OSError, GfrpcError) as exc:
            on_error(d, exc)
            continue
        subdirs = []
        for name, st in entries:
            loc = d.child(name)
            kind = _kind(st.st_mode)
            yield loc, kind, st
            if kind == "dir":
                subdirs.append(loc)
        stack.extend(reversed(subdirs))


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISLNK(mode):
        return "link"
    return "special"


class _Copy:
    def __init__(
        self, opts: CopyOptions, progress: Progress, on_error: Callable[[str], None]
    ) -> None:
        self.opts, self.progress, self._report = opts, progress, on_error
        self.failures = 0
        self._lock = threading.Lock()
        self._local = threading.local()

    def error(self, text: str) -> None:
        with self._lock:
            self.failures += 1
            self._report(text)

    # -- plan -------------------------------------------------------------------------------
    def plan(self, sources: Sequence[Location], dest: Location) -> list[_Item]:
        try:
            dest_dir = stat.S_ISDIR(dest.store.stat(dest.path).st_mode)
            dest_exists = True
        except (OSError, GfrpcError):
            dest_dir = dest_exists = False
        if len(sources) > 1 and not dest_dir:
            why = " is not a directory" if dest_exists else ": No such file or directory"
            self.error(f"target '{dest.shown}'{why}")
            return []
        items: list[_Item] = []
        for src in sources:
            try:
                st = src.store.lstat(src.path) if self.opts.recursive else src.store.stat(src.path)
            except (OSError, GfrpcError) as exc:
                self.error(f"cannot stat '{src.shown}': {strerror(exc)}")
                continue
            kind = _kind(st.st_mode)
            target = dest.child(src.name or _volume_name(src)) if dest_dir else dest
            if kind == "dir":
                if not self.opts.recursive:
                    self.error(f"-r not specified; omitting directory '{src.shown}'")
                    continue
                if self._inside(src, target):
                    self.error(
                        f"cannot copy a directory, '{src.shown}', into itself, '{target.shown}'"
                    )
                    continue
            if kind == "file" and self._same_file(src, st, target):
                self.error(f"'{src.shown}' and '{target.shown}' are the same file")
                continue
            items.append(_Item(kind, src, target, st))
            if kind == "dir":
                for loc, k, est in walk(src, self._unlisted):
                    rel = posixpath.relpath(loc.path, src.path)
                    items.append(_Item(k, loc, _descend(target, rel), est))
        return items

    @staticmethod
    def _same_file(src: Location, st: StatLike, target: Location) -> bool:
        if not src.store.same_tree(target.store):
            return False
        try:
            tst = target.store.stat(target.path)
        except (OSError, GfrpcError):
            return False
        return (tst.st_ino, tst.st_dev) == (st.st_ino, st.st_dev) and stat.S_ISREG(tst.st_mode)

    def _unlisted(self, loc: Location, exc: BaseException) -> None:
        self.error(f"cannot open directory '{loc.shown}': {strerror(exc)}")

    @staticmethod
    def _inside(src: Location, target: Location) -> bool:
        if not src.store.same_tree(target.store):
            return False
        a, b = src.path, target.path
        if isinstance(src.store, LocalStore):
            a, b = os.path.realpath(a), os.path.realpath(b)
        a, b = posixpath.normpath(a), posixpath.normpath(b)
        return b == a or b.startswith(a.rstrip("/") + "/")

    # -- run --------------------------------------------------------------------------------
    def run(self, items: list[_Item]) -> None:
        files = [i for i in items if i.kind == "file"]
        links = sum(i.kind == "link" for i in items)
        self.progress.begin(len(files) + links, sum(i.st.st_size for i in files))
        lost: set[str] = set()  # destination directories that could not be made
        dirs = []
        pool = ThreadPoolExecutor(max(1, self.opts.jobs), thread_name_prefix="gfrpc-cp")
        try:
            for item in items:
                if posixpath.dirname(item.dst.path) in lost:
                    if item.kind == "dir":
                        lost.add(item.dst.path)
                    continue
                if item.kind == "dir":
                    if self._mkdir(item):
                        dirs.append(item)
                    else:
                        lost.add(item.dst.path)
                elif item.kind == "file":
                    pool.submit(self._copy_file, item)
                elif item.kind == "link":
                    self._link(item)
                else:
                    self.error(f"cannot copy special file '{item.src.shown}': not supported")
            pool.shutdown(wait=True)
        except BaseException:  # Ctrl-C: files not started yet are not started
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        for item in reversed(dirs):
            self._dir_attrs(item)
        self.progress.end()

    def _mkdir(self, item: _Item) -> bool:
        store, path = item.dst.store, item.dst.path
        try:
            store.mkdir(path, (item.st.st_mode & 0o7777) | 0o700)
            item.made = True
            return True
        except FileExistsError:
            try:
                if stat.S_ISDIR(store.stat(path).st_mode):
                    return True
            except (OSError, GfrpcError):
                pass
            self.error(
                f"cannot overwrite non-directory '{item.dst.shown}' with directory "
                f"'{item.src.shown}'"
            )
        except (OSError, GfrpcError) as exc:
            self.error(f"cannot create directory '{item.dst.shown}': {strerror(exc)}")
        return False

    def _dir_attrs(self, item: _Item) -> None:
        store, path, st = item.dst.store, item.dst.path, item.st
        if self.opts.preserve:
            self._preserve(item, follow=True)
        elif item.made and st.st_mode & 0o700 != 0o700:
            try:
                store.chmod(path, st.st_mode & 0o777 & ~store.umask)
            except (OSError, GfrpcError) as exc:
                self.error(f"setting permissions for '{item.dst.shown}': {strerror(exc)}")

    def _preserve(self, item: _Item, *, follow: bool) -> None:
        store, path, st, shown = item.dst.store, item.dst.path, item.st, item.dst.shown
        if self.opts.chown:
            try:
                store.chown(path, st.st_uid, st.st_gid, follow=follow)
            except (OSError, GfrpcError) as exc:
                self.error(f"failed to preserve ownership for '{shown}': {strerror(exc)}")
        if follow:  # a link has no mode of its own on Linux
            try:
                store.chmod(path, st.st_mode & 0o7777)
            except (OSError, GfrpcError) as exc:
                self.error(f"preserving permissions for '{shown}': {strerror(exc)}")
        try:
            store.utime(path, st.st_atime_ns, st.st_mtime_ns, follow=follow)
        except (OSError, GfrpcError) as exc:
            self.error(f"preserving times for '{shown}': {strerror(exc)}")

    def _link(self, item: _Item) -> None:
        try:
            target = item.src.store.readlink(item.src.path)
        except (OSError, GfrpcError) as exc:
            self.error(f"cannot read symbolic link '{item.src.shown}': {strerror(exc)}")
            return
        store, path = item.dst.store, item.dst.path
        try:
            try:
                store.symlink(target, path)
            except FileExistsError:  # GNU cp replaces what is there with the link
                store.unlink(path)
                store.symlink(target, path)
        except (OSError, GfrpcError) as exc:
            self.error(f"cannot create symbolic link '{item.dst.shown}': {strerror(exc)}")
            return
        if self.opts.preserve:
            self._preserve(item, follow=False)
        self.progress.file_done()

    def _buffer(self) -> memoryview:
        buf = getattr(self._local, "buf", None)
        if buf is None:
            buf = self._local.buf = memoryview(bytearray(CHUNK))
        return buf  # type: ignore[no-any-return]

    def _copy_file(self, item: _Item) -> None:
        try:
            self._copy_data(item)
        except _Reported:
            return
        except Exception as exc:  # noqa: BLE001 - one line per failure, the rest goes on
            self.error(f"cannot copy '{item.src.shown}': {strerror(exc)}")
            return
        self.progress.file_done()

    def _copy_data(self, item: _Item) -> None:
        src, dst = item.src, item.dst
        try:
            fin = src.store.open_read(src.path)
        except (OSError, GfrpcError) as exc:
            self.error(f"cannot open '{src.shown}' for reading: {strerror(exc)}")
            raise _Reported from None
        try:
            try:
                fout = dst.store.open_write(dst.path, item.st.st_mode)
            except (OSError, GfrpcError) as exc:
                self.error(f"cannot create regular file '{dst.shown}': {strerror(exc)}")
                raise _Reported from None
            try:
                self._pump(item, fin, fout)
            finally:
                try:
                    fout.close()
                except (OSError, GfrpcError) as exc:
                    self.error(f"error writing '{dst.shown}': {strerror(exc)}")
                    raise _Reported from None
        finally:
            try:
                fin.close()
            except (OSError, GfrpcError):
                pass
        if self.opts.preserve:
            self._preserve(item, follow=True)

    def _pump(self, item: _Item, fin: Any, fout: Any) -> None:
        buf, left = self._buffer(), item.st.st_size
        while True:
            want = min(len(buf), left + 1) if left >= 0 else len(buf)
            try:
                n = fin.readinto(buf[:want])
            except (OSError, GfrpcError) as exc:
                self.error(f"error reading '{item.src.shown}': {strerror(exc)}")
                raise _Reported from None
            if not n:
                return
            view = buf[:n]
            while view:
                try:
                    k = fout.write(view)
                except (OSError, GfrpcError) as exc:
                    self.error(f"error writing '{item.dst.shown}': {strerror(exc)}")
                    raise _Reported from None
                if not k:
                    self.error(f"error writing '{item.dst.shown}': {os.strerror(errno.EIO)}")
                    raise _Reported
                view = view[k:]
            self.progress.advance(n)
            left -= n
            if n < want:  # a short read of a regular file is its end
                return


class _Reported(Exception):
    """A failure already reported: stop this file only."""


def _descend(base: Location, rel: str) -> Location:
    loc = base
    for part in rel.split("/"):
        loc = loc.child(part)
    return loc


def _volume_name(loc: Location) -> str:
    store = loc.store
    return store.volume.volname if isinstance(store, VolumeStore) else "root"


def copy(
    sources: Sequence[Location],
    dest: Location,
    options: CopyOptions = CopyOptions(),
    *,
    progress: Progress | None = None,
    on_error: Callable[[str], None] = lambda text: None,
) -> int:
    """Copy ``sources`` to ``dest`` with ``cp``'s rules (an existing directory receives them;
    several sources need one); returns the number of failures, each given to ``on_error``."""
    job = _Copy(options, progress or NullProgress(), on_error)
    items = job.plan(sources, dest)
    if items:
        job.run(items)
    return job.failures
