"""``gluster://`` URLs as fsspec splits them agree with ``gfrpc.client.url.parse_url``
(no server needed)."""

from __future__ import annotations

import pickle
import posixpath

import pytest

import fsspec
from gfrpc.client.url import parse_url
from gfrpc.errors import ConfigError
from gfrpc.fsspec import GlusterFileSystem

URLS = [
    "gluster://h/vol",
    "gluster://h/vol/",
    "gluster://h/vol/a/b.csv",
    "gluster://h/vol/a/b/",
    "gluster://h:24008/vol/a",
    "gluster://127.0.0.1/vol/x",
    "gluster://127.0.0.1:49152/vol/x/y/z",
    "gluster://[::1]/vol/a",
    "gluster://[::1]:24007/vol/a",
    "gluster://[fe80::1]:1234/vol",
    "gluster://host.example.org/my-vol_2/d/%20space%25",
    "gluster://h/vol/a//b/./c",
    "GLUSTER://h/vol/upper-scheme",
]

BAD = [
    "gluster://h",  # no volume
    "gluster://h:0/vol",  # port out of range
    "gluster://h:x/vol",  # port not a number
    "gluster://::1/vol",  # IPv6 without brackets
    "gluster://user@h/vol",  # user names
    "gluster://h/-vol",  # not a volume name
]


@pytest.mark.parametrize("url", URLS)
def test_strip_and_kwargs_agree_with_parse_url(url: str) -> None:
    """``_strip_protocol`` gives parse_url's path (normalised, no trailing slash) and
    ``_get_kwargs_from_urls`` its host, port and volume, for names, IPv4, IPv6 and ports."""
    u = parse_url(url)
    assert GlusterFileSystem._strip_protocol(url) == posixpath.normpath(u.path)
    assert GlusterFileSystem._get_kwargs_from_urls(url) == {
        "host": u.host,
        "port": u.port,
        "volume": u.volume,
    }


@pytest.mark.parametrize("url", URLS)
def test_glusterfs_scheme_is_the_same(url: str) -> None:
    """``glusterfs://`` names exactly what ``gluster://`` names."""
    other = "glusterfs://" + url.split("://", 1)[1]
    assert GlusterFileSystem._strip_protocol(other) == GlusterFileSystem._strip_protocol(url)
    assert GlusterFileSystem._get_kwargs_from_urls(
        other
    ) == GlusterFileSystem._get_kwargs_from_urls(url)


@pytest.mark.parametrize("url", BAD)
def test_malformed_urls_are_refused_by_both(url: str) -> None:
    """A URL parse_url refuses is refused by fsspec's hooks too, with the same ConfigError."""
    with pytest.raises(ConfigError):
        parse_url(url)
    with pytest.raises(ConfigError):
        GlusterFileSystem._get_kwargs_from_urls(url)
    with pytest.raises(ConfigError):
        GlusterFileSystem._strip_protocol(url)


def test_backup_servers_become_an_argument() -> None:
    """``gluster://h1,h2:24008/vol`` keeps every volfile server (first one as host/port)."""
    kw = GlusterFileSystem._get_kwargs_from_urls("gluster://h1,h2:24008,[::1]/vol/p")
    assert (kw["host"], kw["port"], kw["volume"]) == ("h1", 24007, "vol")
    assert kw["servers"] == (("h1", 24007), ("h2", 24008), ("::1", 24007))


@pytest.mark.parametrize(
    "path,expected",
    [
        ("a/b", "/a/b"),
        ("/a/b/", "/a/b"),
        ("", "/"),
        ("/", "/"),
        ("gluster::/a", "/a"),
        ("//a//b", "/a/b"),
        ("gluster://h/vol/src/fil?1", "/src/fil?1"),  # glob characters stay literal
        ("gluster://h/vol/a#b", "/a#b"),
    ],
)
def test_bare_paths_are_absolute_inside_the_volume(path: str, expected: str) -> None:
    """Paths without a URL are taken from the volume's root, normalised."""
    assert GlusterFileSystem._strip_protocol(path) == expected


@pytest.mark.parametrize("path", ["/", "/a", "/a b/c%d", "/ü/ß", "/q?x#y"])
def test_unstrip_round_trips(path: str) -> None:
    """``unstrip_protocol`` gives a URL of the same volume that strips back to the path."""
    fs = GlusterFileSystem("::1", "vol", 24008, skip_instance_cache=True)
    url = fs.unstrip_protocol(path)
    assert url.startswith("gluster://[::1]:24008/vol")
    assert GlusterFileSystem._strip_protocol(url) == path
    assert GlusterFileSystem._get_kwargs_from_urls(url) == {
        "host": "::1",
        "port": 24008,
        "volume": "vol",
    }


def test_entry_points_register_both_protocols() -> None:
    """Installing gfrpc is enough: fsspec finds the class for gluster and glusterfs."""
    assert fsspec.get_filesystem_class("gluster") is GlusterFileSystem
    assert fsspec.get_filesystem_class("glusterfs") is GlusterFileSystem


def test_construction_does_not_connect_and_pickles_by_arguments() -> None:
    """A new instance talks to nobody (port 1 is closed), pickles by its constructor
    arguments, and only its first use fails to connect (with an OSError)."""
    fs, path = fsspec.core.url_to_fs("gluster://127.0.0.1:1/vol/a/b", timeout=2.0)
    assert isinstance(fs, GlusterFileSystem) and path == "/a/b"
    assert "not connected" in repr(fs)
    back = pickle.loads(pickle.dumps(fs))
    assert back is fs  # fsspec's instance cache: same arguments, same instance
    assert back.storage_options == fs.storage_options
    with pytest.raises(OSError):
        fs.info("/a")
