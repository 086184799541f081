"""``gluster://`` URLs as fsspec sees them, in agreement with ``gfrpc.client.url``.

fsspec splits a URL in two: ``_get_kwargs_from_urls`` gives the constructor arguments that
name *which* file system (here: the volfile servers and the volume), ``_strip_protocol`` the
path *inside* it. Both are answered by ``gfrpc.client.url.parse_url`` itself, so a URL means
the same thing to ``gfrpc get``, ``Volume.connect`` and pandas:

* ``gluster://HOST[:PORT][,HOST[:PORT]...]/VOLUME/a/b`` -> ``{"host", "port", "volume"}``
  (plus ``"servers"`` when backup volfile servers are listed) and the path ``/a/b``;
  ``glusterfs://`` is the same scheme under its other name.
* Paths are absolute inside the volume (``/`` is its root), normalised, without a trailing
  slash. ``%XX`` escapes are decoded (``parse_url`` does), and ``unstrip_protocol`` quotes
  them again, so a path survives the round trip. fsspec hands glob patterns through
  ``_strip_protocol`` too: a ``?`` or ``#`` in the path part of a URL is taken literally
  (escaped before ``parse_url``, which refuses query strings and fragments).
"""

from __future__ import annotations

import os
import posixpath
from typing import Any
from urllib.parse import quote

from gfrpc.client.url import GlusterURL, address_text, parse_url

__all__ = ["PROTOCOLS", "is_url", "norm", "split_url", "strip", "url_for", "url_kwargs"]

PROTOCOLS = ("gluster", "glusterfs")


def is_url(path: str) -> bool:
    """Whether ``path`` starts with ``gluster://`` or ``glusterfs://`` (any case)."""
    low = path[:12].lower()
    return low.startswith("gluster://") or low.startswith("glusterfs://")


def _as_gluster(url: str) -> str:
    """The URL under the ``gluster://`` spelling, with ``?``/``#`` in its path escaped."""
    rest = url.split("://", 1)[1]
    authority, slash, tail = rest.partition("/")
    return f"gluster://{authority}{slash}{tail.replace('?', '%3F').replace('#', '%23')}"


def split_url(url: str) -> GlusterURL:
    """``parse_url`` of a ``gluster://`` or ``glusterfs://`` URL (ConfigError if malformed)."""
    return parse_url(_as_gluster(url))


def norm(path: str) -> str:
    """An fsspec path inside the volume: absolute, normalised, no trailing slash."""
    return posixpath.normpath("/" + path.lstrip("/"))


def strip(path: Any) -> str:
    """The path inside the volume that ``path`` (a URL, ``gluster::...`` or a bare path) names."""
    text = os.fspath(path) if not isinstance(path, str) else path
    if is_url(text):
        return norm(split_url(text).path)
    for proto in PROTOCOLS:
        if text.startswith(proto + "::"):
            text = text[len(proto) + 2 :]
    return norm(text)


def url_kwargs(url: str) -> dict[str, Any]:
    """The constructor arguments a URL names (empty for a bare path)."""
    if not is_url(url):
        return {}
    u = split_url(url)
    out: dict[str, Any] = {"host": u.host, "port": u.port, "volume": u.volume}
    servers = tuple(getattr(u, "servers", ()) or ())
    if len(servers) > 1:
        out["servers"] = servers
    return out


def url_for(host: str, port: int, volume: str, path: str = "/", servers: Any = None) -> str:
    """The ``gluster://`` URL of ``path`` on this volume (``%XX``-quoted where needed)."""
    where = ",".join(address_text(h, int(p)) for h, p in (servers or [(host, port)]))
    tail = "" if path == "/" else quote(path, safe="/!$&'()*+,;=:@~")
    return f"gluster://{where}/{volume}{tail}"
