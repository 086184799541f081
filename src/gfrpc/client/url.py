"""Where a volume or a brick is: ``gluster://HOST[:PORT]/VOLNAME[/PATH]`` and ``HOST:PORT:BRICK``.

* ``gluster://`` URLs name a volume served by glusterd (default port 24007, the management
  port that hands out volfiles). HOST is a name, an IPv4 address or an IPv6 address in
  brackets (``gluster://[::1]:24007/vol``). Several volfile servers may be given, separated by
  commas, each with its own optional port (``gluster://h1,h2:24008,[::1]/vol``): they are
  tried in order, as gfapi's ``glfs_set_volfile_server`` list and mount's
  ``backup-volfile-servers`` are. ``host``/``port`` are the first; ``servers`` lists all.
  PATH is a path inside the volume (``/`` if absent), with ``%XX`` escapes decoded. Volume
  names follow the gluster CLI's rule: ASCII letters, digits, ``-`` and ``_``, not starting
  with ``-``, at most 256 characters, and not a volfile keyword (``volume``, ``type``...).
* ``--brick HOST:PORT:BRICK-PATH`` names one brick process directly (no glusterd): PORT is the
  brick's TCP port and BRICK-PATH its ``remote-subvolume`` (an absolute path, which may itself
  contain colons). IPv6 hosts go in brackets: ``[::1]:49152:/bricks/b0``.

Every malformed input raises ``ConfigError`` saying what was wrong and what was expected.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import unquote

from gfrpc.errors import ConfigError
from gfrpc.programs.cli import validate_volume_name
from gfrpc.transport import DEFAULT_PORT, parse_address

__all__ = [
    "DEFAULT_PORT",
    "BrickAddress",
    "GlusterURL",
    "address_text",
    "parse_brick",
    "parse_url",
    "validate_volume_name",
]

SCHEME = "gluster://"
_HOSTNAME = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?")


def address_text(host: str, port: int) -> str:
    """``host:port`` as an ``Address`` writes it (``[v6]:port`` for an IPv6 host)."""
    return str(parse_address(host, port))


@dataclass(frozen=True)
class GlusterURL:
    """A parsed ``gluster://`` URL. ``servers``: every volfile server in order, always led by
    (``host``, ``port``) (left empty, it is just that one)."""

    host: str
    port: int
    volume: str
    path: str = "/"
    servers: tuple[tuple[str, int], ...] = ()

    def __post_init__(self) -> None:
        first = (self.host, self.port)
        if not self.servers or self.servers[0] != first:  # host/port always lead the list
            rest = tuple(s for s in self.servers if s != first)
            object.__setattr__(self, "servers", (first, *rest))

    def __str__(self) -> str:
        path = "" if self.path == "/" else self.path
        where = ",".join(address_text(h, p) for h, p in self.servers)
        return f"{SCHEME}{where}/{self.volume}{path}"


@dataclass(frozen=True)
class BrickAddress:
    """A parsed ``HOST:PORT:BRICK-PATH`` spec."""

    host: str
    port: int
    brick_path: str


def _host(text: str, *, what: str) -> str:
    """Validate a host (name, IPv4, or bracket-less IPv6 taken from brackets)."""
    if not text:
        raise ConfigError(f"{what}: the host is missing")
    if _HOSTNAME.fullmatch(text) and len(text) <= 253:
        return text
    raise ConfigError(
        f"{what}: {text!r} is not a host name or IPv4 address (IPv6 addresses go "
        "in brackets, e.g. [::1])"
    )


def _port(text: str, *, what: str) -> int:
    if not text.isdigit() or not text.isascii():
        raise ConfigError(f"{what}: port {text!r} is not a number")
    port = int(text)
    if not 0 < port < 65536:
        raise ConfigError(f"{what}: port {port} is out of range 1-65535")
    return port


def _split_host(text: str, *, what: str) -> tuple[str, str | None]:
    """``host``, ``host:rest``, ``[v6]`` or ``[v6]:rest`` -> (host, rest or None)."""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ConfigError(f"{what}: '[' without a closing ']' around the IPv6 address")
        inside, after = text[1:end], text[end + 1 :]
        try:
            addr = ipaddress.IPv6Address(inside)
        except ValueError:
            raise ConfigError(f"{what}: {inside!r} in brackets is not an IPv6 address") from None
        if after and not after.startswith(":"):
            raise ConfigError(f"{what}: unexpected {after!r} after ']' (expected ':PORT')")
        return str(addr), (after[1:] if after else None)
    if "::" in text.split("/", 1)[0]:
        raise ConfigError(f"{what}: IPv6 addresses go in brackets, e.g. [::1]")
    host, sep, rest = text.partition(":")
    return _host(host, what=what), (rest if sep else None)


def parse_url(url: str) -> GlusterURL:
    """Parse ``gluster://HOST[:PORT][,HOST[:PORT]...]/VOLNAME[/PATH]``."""
    what = f"gluster URL {url!r}"
    if not url.lower().startswith(SCHEME):
        raise ConfigError(f"{what} must start with {SCHEME} (gluster://HOST[:PORT]/VOLNAME[/PATH])")
    rest = url[len(SCHEME) :]
    if "?" in rest or "#" in rest:
        raise ConfigError(f"{what}: query strings and fragments are not supported")
    authority, slash, volpath = rest.partition("/")
    if not slash or not volpath:
        raise ConfigError(f"{what} names no volume (gluster://HOST[:PORT]/VOLNAME[/PATH])")
    if "@" in authority:
        raise ConfigError(f"{what}: user names in URLs are not supported")
    servers = []
    for one in authority.split(","):
        if not one and "," in authority:
            raise ConfigError(f"{what}: an empty server in the list (HOST[:PORT],HOST[:PORT]...)")
        host, port_text = _split_host(one, what=what)
        servers.append((host, DEFAULT_PORT if port_text is None else _port(port_text, what=what)))
    if len(set(servers)) != len(servers):
        raise ConfigError(f"{what}: a volfile server is named twice")
    host, port = servers[0]
    volume, _, path = volpath.partition("/")
    validate_volume_name(volume, what=f"{what}: volume name")
    path = "/" + unquote(path, errors="surrogateescape")
    if "\0" in path:
        raise ConfigError(f"{what}: the path contains a NUL byte")
    return GlusterURL(host=host, port=port, volume=volume, path=path, servers=tuple(servers))


def parse_brick(spec: str) -> BrickAddress:
    """Parse ``HOST:PORT:BRICK-PATH`` (``[IPv6]:PORT:BRICK-PATH``)."""
    what = f"brick {spec!r}"
    host, rest = _split_host(spec, what=what)
    if rest is None:
        raise ConfigError(f"{what} must be HOST:PORT:BRICK-PATH (e.g. 127.0.0.1:49152:/bricks/b0)")
    port_text, sep, path = rest.partition(":")
    if not sep:
        raise ConfigError(f"{what}: missing ':BRICK-PATH' after the port (HOST:PORT:BRICK-PATH)")
    port = _port(port_text, what=what)
    if not path.startswith("/"):
        raise ConfigError(f"{what}: the brick path {path!r} must be absolute (start with '/')")
    if "\0" in path:
        raise ConfigError(f"{what}: the brick path contains a NUL byte")
    return BrickAddress(host=host, port=port, brick_path=path)
