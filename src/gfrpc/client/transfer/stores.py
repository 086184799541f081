"""Where files live, for the copy engine and the tree commands: the ``Store`` interface,
``LocalStore`` (the ``os`` module), ``VolumeStore`` (a connected ``Volume``) and ``Location``
(a store, a path in it, and the text it is shown as)."""

from __future__ import annotations

import os
import posixpath
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from gfrpc.client.volume import Volume

__all__ = ["LocalStore", "Location", "StatLike", "Store", "VolumeStore"]


class StatLike(Protocol):
    """What the engine reads of a stat (``os.stat_result`` and the client's ``StatResult``)."""

    @property
    def st_mode(self) -> int: ...
    @property
    def st_size(self) -> int: ...
    @property
    def st_uid(self) -> int: ...
    @property
    def st_gid(self) -> int: ...
    @property
    def st_atime_ns(self) -> int: ...
    @property
    def st_mtime_ns(self) -> int: ...
    @property
    def st_ino(self) -> int: ...
    @property
    def st_nlink(self) -> int: ...
    @property
    def st_blocks(self) -> int: ...
    @property
    def st_dev(self) -> int: ...


class Store(Protocol):
    """Where files live: the verbs the copy engine and the tree commands use."""

    umask: int

    def stat(self, path: str) -> StatLike: ...
    def lstat(self, path: str) -> StatLike: ...
    def scandir(self, path: str) -> Iterator[tuple[str, StatLike]]: ...
    def open_read(self, path: str) -> Any: ...
    def open_write(self, path: str, mode: int) -> Any: ...
    def mkdir(self, path: str, mode: int) -> None: ...
    def symlink(self, target: str, path: str) -> None: ...
    def readlink(self, path: str) -> str: ...
    def unlink(self, path: str) -> None: ...
    def chmod(self, path: str, mode: int) -> None: ...
    def chown(self, path: str, uid: int, gid: int, *, follow: bool) -> None: ...
    def utime(self, path: str, atime_ns: int, mtime_ns: int, *, follow: bool) -> None: ...
    def same_tree(self, other: Store) -> bool: ...


class LocalStore:
    """The local file system."""

    def __init__(self) -> None:
        self.umask = _process_umask()

    def stat(self, path: str) -> os.stat_result:
        return os.stat(path)

    def lstat(self, path: str) -> os.stat_result:
        return os.lstat(path)

    def scandir(self, path: str) -> Iterator[tuple[str, os.stat_result]]:
        with os.scandir(path) as it:
            for e in it:
                yield e.name, e.stat(follow_symlinks=False)

    def open_read(self, path: str) -> Any:
        return open(path, "rb", buffering=0)  # noqa: SIM115 - the caller closes it

    def open_write(self, path: str, mode: int) -> Any:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode & 0o777)
        return open(fd, "wb", buffering=0)

    def mkdir(self, path: str, mode: int) -> None:
        os.mkdir(path, mode)

    def symlink(self, target: str, path: str) -> None:
        os.symlink(target, path)

    def readlink(self, path: str) -> str:
        return os.readlink(path)

    def unlink(self, path: str) -> None:
        os.unlink(path)

    def chmod(self, path: str, mode: int) -> None:
        os.chmod(path, mode)

    def chown(self, path: str, uid: int, gid: int, *, follow: bool) -> None:
        os.chown(path, uid, gid, follow_symlinks=follow)

    def utime(self, path: str, atime_ns: int, mtime_ns: int, *, follow: bool) -> None:
        os.utime(path, ns=(atime_ns, mtime_ns), follow_symlinks=follow)

    def same_tree(self, other: Store) -> bool:
        return isinstance(other, LocalStore)


class VolumeStore:
    """A connected volume. Links are never followed by ``chown``/``utime`` here: the client
    sets attributes through the path, so a link's own attributes are left as made."""

    def __init__(self, volume: Volume) -> None:
        self.volume = volume
        self.umask = volume.umask

    def stat(self, path: str) -> StatLike:
        return self.volume.stat(path)

    def lstat(self, path: str) -> StatLike:
        return self.volume.lstat(path)

    def scandir(self, path: str) -> Iterator[tuple[str, StatLike]]:
        # the one place that lists a volume's directory (streamed, READDIRP's stats kept)
        with self.volume.scandir(path) as it:
            for e in it:
                yield e.name, e.stat(follow_symlinks=False)

    def open_read(self, path: str) -> Any:
        return self.volume.open(path, "rb", buffering=0)

    def open_write(self, path: str, mode: int) -> Any:
        try:
            f = self.volume.open(path, "xb", buffering=0)
        except FileExistsError:
            return self.volume.open(path, "wb", buffering=0)  # an existing file keeps its mode
        wanted = mode & 0o777 & ~self.umask
        if wanted != 0o666 & ~self.umask:  # CREATE made it 0666 & ~umask, as open() would
            self.volume.chmod(path, wanted)
        return f

    def mkdir(self, path: str, mode: int) -> None:
        self.volume.mkdir(path, mode)

    def symlink(self, target: str, path: str) -> None:
        self.volume.symlink(target, path)

    def readlink(self, path: str) -> str:
        return self.volume.readlink(path)

    def unlink(self, path: str) -> None:
        self.volume.unlink(path)

    def chmod(self, path: str, mode: int) -> None:
        self.volume.chmod(path, mode)

    def chown(self, path: str, uid: int, gid: int, *, follow: bool) -> None:
        if follow or not stat.S_ISLNK(self.volume.lstat(path).st_mode):
            self.volume.chown(path, uid, gid)

    def utime(self, path: str, atime_ns: int, mtime_ns: int, *, follow: bool) -> None:
        if follow or not stat.S_ISLNK(self.volume.lstat(path).st_mode):
            self.volume.utime(path, ns=(atime_ns, mtime_ns))

    def same_tree(self, other: Store) -> bool:
        return isinstance(other, VolumeStore) and other.volume is self.volume


@dataclass(frozen=True)
class Location:
    """A path in a store, and the text it is shown as (the operand as typed, plus names)."""

    store: Store
    path: str
    shown: str

    def child(self, name: str) -> Location:
        return Location(self.store, posixpath.join(self.path, name), _join_shown(self.shown, name))

    @property
    def name(self) -> str:
        return posixpath.basename(self.path.rstrip("/"))


def _join_shown(shown: str, name: str) -> str:
    return shown + name if shown.endswith("/") else f"{shown}/{name}"


def _process_umask() -> int:
    """The umask, read from /proc (setting it to read it back would race other threads)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022
