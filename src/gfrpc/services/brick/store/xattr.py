"""Which extended attributes a client may see or change on the brick.

GlusterFS 10.3 facts (posix-inode-fd-ops.c, posix-helpers.c, posix-gfid-path.c, fuse-bridge.c):

* ``trusted.gfid`` and ``trusted.glusterfs.volume-id`` are the brick's identity: posix drops them
  from a SETXATTR dict and from a full GETXATTR/LISTXATTR reply, and refuses REMOVEXATTR of them
  with EPERM; the FUSE client refuses to set or remove them with EPERM. gfrpc refuses writes
  with EPERM (what a user sees through a mount) and hides them from listings, but lets a
  GETXATTR by name read them (e.g. a tool that wants the raw gfid).
* ``trusted.gfid2path.*`` (and gfrpc adds ``trusted.pgfid.*``) are internal back-pointers: hidden
  from listings, ENODATA when read or removed by name, EPERM when set.
* ``trusted.glusterfs.mdata`` (ctime xlator) is hidden from, and ENODATA for, non-internal
  clients (pid >= 0); geo-replication keys (``*.glusterfs.*.stime``, ``*.glusterfs.*.xtime``,
  ``*.glusterfs.lockinfo``, ``*.glusterfs.*.entry_stime``, ``*.glusterfs.volume-mark.*``)
  likewise for everyone but gsyncd — ``internal=True`` stands for both kinds of caller.
* Everything else, ``trusted.glusterfs.dht`` layouts included, is stored and returned as the
  exact bytes the client sent.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from fnmatch import fnmatchcase
from typing import Final

from gfrpc.services.brick.store.handles import GFID_KEY

VOLUME_ID_KEY = "trusted.glusterfs.volume-id"
MDATA_KEY = "trusted.glusterfs.mdata"
_IDENTITY = frozenset({GFID_KEY, VOLUME_ID_KEY})
_BACKPOINTER_PREFIXES = ("trusted.gfid2path.", "trusted.pgfid.")
_INTERNAL_PATTERNS = (
    "*.glusterfs.*.stime",
    "*.glusterfs.*.xtime",
    "*.glusterfs.lockinfo",
    "*.glusterfs.*.entry_stime",
    "*.glusterfs.volume-mark.*",
    MDATA_KEY,
)


def _internal_only(key: str) -> bool:
    # every internal pattern has ".glusterfs." in it: most keys are settled without fnmatch
    return ".glusterfs." in key and any(fnmatchcase(key, p) for p in _INTERNAL_PATTERNS)


def listed(key: str, *, internal: bool = False) -> bool:
    """Whether ``key`` appears in a LISTXATTR / full GETXATTR reply."""
    if key in _IDENTITY or key.startswith(_BACKPOINTER_PREFIXES):
        return False
    return internal or not _internal_only(key)


def check_get(key: str, *, internal: bool = False) -> None:
    """GETXATTR by name: ENODATA for keys a client must not read."""
    if not readable(key, internal=internal):
        raise OSError(errno.ENODATA, f"{key}: internal attribute")


def readable(key: str, *, internal: bool = False) -> bool:
    """Whether GETXATTR of ``key`` by name may answer its value (:func:`check_get` passes)."""
    return not key.startswith(_BACKPOINTER_PREFIXES) and (internal or not _internal_only(key))


class KeySetMemo:
    """Answers about a set of xdata keys (which are xattr names, which a client may read),
    kept per set: a LOOKUP names the same few keys again and again (md-cache's two, DHT's
    layout and linkto). A client chooses the keys, so what is kept is bounded: at most
    :data:`KEPT_SETS` sets, each of at most :data:`KEPT_KEYS` string keys of at most
    :data:`KEPT_CHARS` characters in all; a bigger set is answered, not kept, and a full memo
    starts again."""

    __slots__ = ("_kept",)

    def __init__(self) -> None:
        self._kept: dict[tuple[object, ...], tuple[str, ...]] = {}

    def answer(
        self, keys: tuple[object, ...], compute: Callable[[tuple[object, ...]], tuple[str, ...]]
    ) -> tuple[str, ...]:
        """``compute(keys)``, from the memo when this set was answered before."""
        found = self._kept.get(keys)
        if found is None:
            found = compute(keys)
            if len(keys) <= KEPT_KEYS and all(type(k) is str for k in keys):
                if sum(map(len, keys)) <= KEPT_CHARS:  # type: ignore[arg-type]  # all str
                    if len(self._kept) >= KEPT_SETS:
                        self._kept.clear()
                    self._kept[keys] = found
        return found


KEPT_SETS: Final = 256
KEPT_KEYS: Final = 16
KEPT_CHARS: Final = 1024


def _readable_to_clients(keys: tuple[object, ...]) -> tuple[str, ...]:
    return tuple(k for k in keys if isinstance(k, str) and readable(k))


def _readable_internally(keys: tuple[object, ...]) -> tuple[str, ...]:
    return tuple(k for k in keys if isinstance(k, str) and readable(k, internal=True))


_CLIENT_NAMES = KeySetMemo()
_INTERNAL_NAMES = KeySetMemo()


def readable_names(keys: tuple[str, ...], *, internal: bool = False) -> tuple[str, ...]:
    """Those of ``keys`` that are :func:`readable`, in order (kept per key set:
    :class:`KeySetMemo`)."""
    if internal:
        return _INTERNAL_NAMES.answer(keys, _readable_internally)
    return _CLIENT_NAMES.answer(keys, _readable_to_clients)


def check_set(key: str) -> None:
    """SETXATTR: EPERM for the brick's identity and back-pointer keys."""
    if not key or "\x00" in key:
        raise OSError(errno.EINVAL, "invalid xattr name")
    if key in _IDENTITY or key.startswith(_BACKPOINTER_PREFIXES):
        raise OSError(errno.EPERM, f"{key} is managed by the brick")


def check_remove(key: str) -> None:
    """REMOVEXATTR: EPERM for identity keys (posix ``disallow_removexattrs``), ENODATA for
    back-pointers (posix answers ENOATTR for gfid2path)."""
    if key in _IDENTITY:
        raise OSError(errno.EPERM, f"{key} is managed by the brick")
    if key.startswith(_BACKPOINTER_PREFIXES):
        raise OSError(errno.ENODATA, f"{key}: internal attribute")
