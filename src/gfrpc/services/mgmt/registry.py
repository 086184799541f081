"""What the management daemon knows: the volumes it serves and the ports bricks signed in with.

Volumes come from the daemon's command line (``--volume NAME=HOST:/path,HOST:/path``) or from
its volume store (:meth:`Registry.set_volumes`, called after each create and delete); each is
a plain or distribute volume over its bricks, in that order (the order DHT hashes over). Like
one glusterd, one daemon maps the bricks of its own host: a volume whose bricks live on
several hosts needs a daemon on each of them.

Theory of operation of the port table. A brick tells the daemon its port with the port
mapper's SIGNIN (path, port, pid), as glusterfsd does, over a connection it keeps open; it
leaves with SIGNOUT. The table holds, per brick path, one :class:`PortEntry` ``(port, pid,
token)``, where the token stands for the sign-in connection. Its rules:

* An entry lives as long as its sign-in connection: when the connection closes
  (:meth:`Registry.connection_closed`), every entry it made goes, so a brick killed with
  ``-9`` is not handed out once the kernel has closed its socket. The supervisor also drops
  the entry of a brick process it saw die (:meth:`Registry.forget`).
* When the supervisor has said which pid runs a path (:meth:`Registry.expect`), a SIGNIN with
  another pid is refused: a stale sign-in from an old brick never overwrites the new one.
  Without an expectation (bricks started by hand), the newest sign-in from a live process
  wins; a local sign-in from a pid that is not alive is refused.
* A SIGNOUT removes the entry only when it comes over the connection that owns it (and names
  its port, when it names one).
* A new sign-in replaces the entry at once: a brick restarted on a new port is found there.

Everything is under one lock; :meth:`Registry.wait_until` waits on its condition, which is
notified on every change of the table (a sign-in, a sign-out, a closed connection, a process
seen dead), so callers wait for events instead of sleeping.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from gfrpc.errors import ConfigError
from gfrpc.programs.cli import validate_volume_name

__all__ = ["BrickRef", "PortEntry", "Registry", "VolumeSpec", "parse_volume_arg", "pid_alive"]

log = logging.getLogger("gfrpc.mgmtd")


@dataclass(frozen=True)
class BrickRef:
    host: str
    path: str

    def __str__(self) -> str:
        return f"{self.host}:{self.path}"


@dataclass(frozen=True)
class VolumeSpec:
    name: str
    bricks: tuple[BrickRef, ...]


def parse_volume_arg(text: str) -> VolumeSpec:
    """``NAME=HOST:/path[,HOST:/path...]`` as given to ``gfrpc mgmtd --volume``."""
    name, sep, rest = text.partition("=")
    if not sep:
        raise ConfigError(f"--volume {text!r}: expected NAME=HOST:/path[,HOST:/path...]")
    validate_volume_name(name, what="--volume name")
    bricks = []
    for item in rest.split(","):
        host, colon, path = item.strip().rpartition(":")
        if not colon or not host or not path.startswith("/"):
            raise ConfigError(f"--volume {name}: brick {item!r} is not HOST:/absolute/path")
        bricks.append(BrickRef(host.strip("[]"), os.path.normpath(path)))
    if len(set(bricks)) != len(bricks):
        raise ConfigError(f"--volume {name}: a brick is listed twice")
    return VolumeSpec(name, tuple(bricks))


def pid_alive(pid: int) -> bool:
    """True when a process ``pid`` exists (a zombie counts until it is reaped)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, it is just not ours
        return True
    return True


@dataclass(frozen=True)
class PortEntry:
    """One signed-in brick: its port, the pid it signed in with (0: not given) and the token
    of its sign-in connection (None: signed in by a caller that has no connection)."""

    port: int
    pid: int
    token: object | None = None


class Registry:
    """Volumes by name and signed-in bricks by path (thread-safe; see the module notes)."""

    def __init__(self, volumes: Sequence[VolumeSpec] = ()) -> None:
        self._lock = threading.RLock()  # wait_until's condition may call the readers below
        self._changed = threading.Condition(self._lock)
        self._volumes: dict[str, VolumeSpec] = {}
        self._bricks: frozenset[str] = frozenset()
        self._ports: dict[str, PortEntry] = {}
        self._expected: dict[str, int] = {}
        self.set_volumes(volumes)

    # -- volumes -------------------------------------------------------------------------
    def set_volumes(self, specs: Sequence[VolumeSpec]) -> None:
        """Replace the set of known volumes (and so of bricks allowed to sign in)."""
        names = [v.name for v in specs]
        if len(set(names)) != len(names):
            raise ConfigError("a volume name is given twice")
        with self._lock:
            self._volumes = {v.name: v for v in specs}
            self._bricks = frozenset(os.path.normpath(b.path) for v in specs for b in v.bricks)

    @property
    def volumes(self) -> Mapping[str, VolumeSpec]:
        """The known volumes by name (a snapshot)."""
        with self._lock:
            return dict(self._volumes)

    @volumes.setter
    def volumes(self, value: Mapping[str, VolumeSpec]) -> None:
        self.set_volumes(list(value.values()))

    def volume(self, key: str) -> VolumeSpec | None:
        """The volume a GETSPEC key names (``vol`` or ``/vol``, as mount and gfapi send it)."""
        with self._lock:
            return self._volumes.get(key.lstrip("/"))

    def is_brick(self, path: str) -> bool:
        """True when ``path`` is a brick of a known volume."""
        with self._lock:
            return os.path.normpath(path) in self._bricks

    # -- the port table ------------------------------------------------------------------
    def expect(self, path: str, pid: int | None) -> None:
        """Say that process ``pid`` runs brick ``path`` (None: nobody in particular). An entry
        signed in by another pid is dropped: it is stale."""
        path = os.path.normpath(path)
        with self._lock:
            if pid is None:
                self._expected.pop(path, None)
                return
            self._expected[path] = pid
            entry = self._ports.get(path)
            if entry is not None and entry.pid != pid:
                del self._ports[path]
                self._changed.notify_all()

    def sign_in(
        self, path: str, port: int, *, pid: int = 0, token: object | None = None, local: bool = True
    ) -> int:
        """Record a SIGNIN; returns 0, or the errno it is refused with (EPERM). ``local``: the
        peer runs on this host, so its pid can be checked."""
        path = os.path.normpath(path)
        with self._lock:
            expected = self._expected.get(path)
            if expected is not None and pid != expected:
                log.warning(
                    "refused portmap sign-in of %s on port %d: pid %d is not the brick "
                    "process started for it (pid %d)",
                    path,
                    port,
                    pid,
                    expected,
                )
                return errno.EPERM
            if expected is None and local and pid > 0 and not pid_alive(pid):
                log.warning(
                    "refused portmap sign-in of %s on port %d: pid %d is not alive", path, port, pid
                )
                return errno.EPERM
            old = self._ports.get(path)
            self._ports[path] = PortEntry(port, pid, token)
            self._changed.notify_all()
        if old is not None and (old.port, old.pid) != (port, pid):
            log.info(
                "brick %s: port %d (pid %d) replaces port %d (pid %d)",
                path,
                port,
                pid,
                old.port,
                old.pid,
            )
        return 0

    def sign_out(self, path: str, port: int | None = None, *, token: object | None = None) -> bool:
        """Forget a brick's entry if ``token`` owns it (and it is on ``port``, when given);
        True if forgotten."""
        path = os.path.normpath(path)
        with self._lock:
            entry = self._ports.get(path)
            if entry is None or entry.token is not token or port not in (None, entry.port):
                return False
            del self._ports[path]
            self._changed.notify_all()
            return True

    def connection_closed(self, token: object) -> list[str]:
        """Forget every entry signed in over the connection ``token``; returns their paths."""
        with self._lock:
            gone = [p for p, e in self._ports.items() if e.token is token]
            for p in gone:
                del self._ports[p]
            if gone:
                self._changed.notify_all()
        return gone

    def forget(self, path: str, pid: int) -> bool:
        """Forget the entry of ``path`` if process ``pid`` signed it in (it was seen dead)."""
        path = os.path.normpath(path)
        with self._lock:
            entry = self._ports.get(path)
            self._changed.notify_all()  # waiters also look at process states
            if entry is None or entry.pid != pid:
                return False
            del self._ports[path]
            return True

    def notify(self) -> None:
        """Wake the callers of :meth:`wait_until` (something they look at changed)."""
        with self._lock:
            self._changed.notify_all()

    def wait_until(self, condition: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``condition()`` is true, checked again at each change of the table (it
        runs under the registry's lock: it may call the readers, nothing that blocks); False
        after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while not condition():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
            return True

    def entry(self, path: str) -> PortEntry | None:
        with self._lock:
            return self._ports.get(os.path.normpath(path))

    def port_of(self, path: str) -> int | None:
        entry = self.entry(path)
        return entry.port if entry is not None else None

    def ports_in_use(self) -> set[int]:
        with self._lock:
            return {e.port for e in self._ports.values()}

    def brick_at(self, port: int) -> str | None:
        with self._lock:
            return next((p for p, e in self._ports.items() if e.port == port), None)
