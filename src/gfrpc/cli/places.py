"""Where the file commands' operands live: the volume flags, and operands as locations.

An operand that starts with ``gluster://`` is a path in a volume (found through glusterd, one
connection per volume however many operands name it); with ``--brick HOST:PORT:BRICK-PATH``,
the operands a command says are remote are plain paths in that brick; anything else is a
local path.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from gfrpc.client.transfer import LocalStore, Location, VolumeStore
from gfrpc.client.url import parse_brick, parse_url
from gfrpc.client.volume import Volume
from gfrpc.errors import ConfigError

from .common import add_tls_arguments, arg, poller_flag, tls_context

SCHEME = "gluster://"

BRICK_FLAGS = (
    arg(
        "--brick",
        metavar="HOST:PORT:BRICK-PATH",
        help="talk to this brick directly (no glusterd); paths are plain paths",
    ),
    arg(
        "--volname",
        default="gfrpc",
        metavar="NAME",
        help="volume name sent to the brick with --brick (default gfrpc)",
    ),
)
CONNECT_FLAGS = (
    arg(
        "--timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="connect/handshake timeout (default 10)",
    ),
    poller_flag(),
    add_tls_arguments,
)
VOLUME_FLAGS = (*BRICK_FLAGS, *CONNECT_FLAGS)


def is_url(text: str) -> bool:
    return text.lower().startswith(SCHEME)


class Places:
    """Operands → :class:`Location`; volumes are connected once each and closed by
    :meth:`close` (or ``with``)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self._volumes: dict[tuple[str, int, str], Volume] = {}
        self._brick: Volume | None = None
        self.local = LocalStore()

    def _opts(self) -> dict[str, Any]:
        a = self.args
        return {"tls": tls_context(a, server_side=False), "timeout": a.timeout, "poller": a.poller}

    def remote(self, text: str) -> Location:
        """``text`` as a path in a volume: a URL, or a plain path with ``--brick``."""
        if getattr(self.args, "brick", None):
            if is_url(text):
                raise ConfigError("with --brick give a plain path inside the brick, not a URL")
            if self._brick is None:
                b = parse_brick(self.args.brick)
                self._brick = Volume.connect_brick(
                    b.host, b.port, b.brick_path, self.args.volname, **self._opts()
                )
            return Location(VolumeStore(self._brick), text or "/", text or "/")
        if not is_url(text):
            raise ConfigError(
                f"{text!r}: expected gluster://HOST[:PORT]/VOLNAME/PATH "
                "(or a plain path with --brick HOST:PORT:BRICK-PATH)"
            )
        u = parse_url(text)
        key = (u.host, u.port, u.volume)
        vol = self._volumes.get(key)
        if vol is None:
            vol = self._volumes[key] = Volume.connect(u, **self._opts())
        return Location(VolumeStore(vol), u.path, text)

    def local_path(self, text: str) -> Location:
        return Location(self.local, text, text)

    def any(self, text: str) -> Location:
        """A ``gluster://`` URL, or else a local path."""
        if is_url(text):
            return self.remote(text)
        return Location(self.local, text, text)

    def close(self) -> None:
        vols = list(self._volumes.values()) + ([self._brick] if self._brick else [])
        self._volumes, self._brick = {}, None
        for v in vols:
            v.close()

    def __enter__(self) -> Places:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def open_volume(args: argparse.Namespace, target: str) -> Iterator[tuple[Volume, str]]:
    """The volume ``target`` lives in, and the path inside it."""
    with Places(args) as places:
        loc = places.remote(target)
        assert isinstance(loc.store, VolumeStore)
        yield loc.store.volume, loc.path
