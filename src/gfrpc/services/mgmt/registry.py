"""What the management daemon knows: the volumes it serves and the ports bricks signed in with.

Volumes are given to the daemon when it starts (``--volume NAME=HOST:/path,HOST:/path``);
each is a plain or distribute volume over its bricks, in that order (the order DHT hashes
over). Bricks tell the daemon their port with the portmapper's SIGNIN, as glusterfsd does, and
leave with SIGNOUT; a client asks PORTBYBRICK with the brick path. Like one glusterd, one
daemon maps the bricks of its own host: a volume whose bricks live on several hosts needs a
daemon on each of them (with the same ``--volume``).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

from gfrpc.errors import ConfigError
from gfrpc.programs.cli import validate_volume_name

__all__ = ["BrickRef", "Registry", "VolumeSpec", "parse_volume_arg"]


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


class Registry:
    """Volumes by name and signed-in brick ports by path (thread-safe)."""

    def __init__(self, volumes: list[VolumeSpec]) -> None:
        names = [v.name for v in volumes]
        if len(set(names)) != len(names):
            raise ConfigError("a volume name is given twice")
        self.volumes = {v.name: v for v in volumes}
        self._ports: dict[str, int] = {}
        self._lock = threading.Lock()

    def volume(self, key: str) -> VolumeSpec | None:
        """The volume a GETSPEC key names (``vol`` or ``/vol``, as mount and gfapi send it)."""
        return self.volumes.get(key.lstrip("/"))

    def sign_in(self, path: str, port: int) -> None:
        with self._lock:
            self._ports[os.path.normpath(path)] = port

    def sign_out(self, path: str, port: int | None = None) -> bool:
        """Forget a brick's port (only if it is ``port``, when given); True if forgotten."""
        path = os.path.normpath(path)
        with self._lock:
            if path not in self._ports or port not in (None, self._ports[path]):
                return False
            del self._ports[path]
            return True

    def port_of(self, path: str) -> int | None:
        with self._lock:
            return self._ports.get(os.path.normpath(path))

    def brick_at(self, port: int) -> str | None:
        with self._lock:
            return next((p for p, q in self._ports.items() if q == port), None)
