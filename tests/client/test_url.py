"""Tests of gfrpc.client.url: gluster:// URLs and HOST:PORT:BRICK-PATH specs."""

from __future__ import annotations

import pytest

from gfrpc.client.url import (
    DEFAULT_PORT,
    BrickAddress,
    GlusterURL,
    parse_brick,
    parse_url,
    validate_volume_name,
)
from gfrpc.errors import ConfigError


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("gluster://server1/vol", GlusterURL("server1", 24007, "vol", "/")),
        ("gluster://server1/vol/", GlusterURL("server1", 24007, "vol", "/")),
        (
            "gluster://10.0.0.1:24008/my_vol-2/a/b.txt",
            GlusterURL("10.0.0.1", 24008, "my_vol-2", "/a/b.txt"),
        ),
        ("gluster://[::1]/vol", GlusterURL("::1", 24007, "vol", "/")),
        ("gluster://[fe80:0:0::1]:1234/vol/x", GlusterURL("fe80::1", 1234, "vol", "/x")),
        ("GLUSTER://h/v/a%20b/%E6%97%A5", GlusterURL("h", 24007, "v", "/a b/日")),
    ],
)
def test_parse_url(url: str, expected: GlusterURL) -> None:
    """Rule: gluster://HOST[:PORT]/VOLNAME[/PATH] -> host, port (default 24007), volume, path
    (default '/', %XX decoded); IPv6 hosts are given in brackets and returned without them."""
    assert parse_url(url) == expected
    assert DEFAULT_PORT == 24007


def test_url_str_round_trip() -> None:
    """Rule: str(GlusterURL) is a URL that parses back to the same value."""
    for u in ("gluster://[::1]:7/v/p", "gluster://h:24007/v"):
        assert parse_url(str(parse_url(u))) == parse_url(u)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://h/v", "must start with gluster://"),
        ("gluster://h", "names no volume"),
        ("gluster://h/", "names no volume"),
        ("gluster:///vol", "host is missing"),
        ("gluster://h:/v", "port '' is not a number"),
        ("gluster://h:abc/v", "port 'abc' is not a number"),
        ("gluster://h:0/v", "out of range"),
        ("gluster://h:65536/v", "out of range"),
        ("gluster://::1/v", "IPv6 addresses go in brackets"),
        ("gluster://[::1/v", "without a closing"),
        ("gluster://[not-v6]/v", "not an IPv6 address"),
        ("gluster://[::1]x/v", "after ']'"),
        ("gluster://u@h/v", "user names"),
        ("gluster://h/v?x=1", "query strings"),
        ("gluster://h/bad.name", "may only contain"),
        ("gluster://h/-v", "must not start with '-'"),
        ("gluster://h/volume", "reserved"),
        ("gluster://h/v/a%00b", "NUL"),
        ("gluster://bad host/v", "not a host name"),
    ],
)
def test_parse_url_errors(url: str, message: str) -> None:
    """Rule: malformed URLs raise ConfigError saying what is wrong."""
    with pytest.raises(ConfigError, match=message):
        parse_url(url)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("127.0.0.1:49152:/bricks/b0", BrickAddress("127.0.0.1", 49152, "/bricks/b0")),
        ("server1:50000:/data/with:colon", BrickAddress("server1", 50000, "/data/with:colon")),
        ("[::1]:49152:/b", BrickAddress("::1", 49152, "/b")),
    ],
)
def test_parse_brick(spec: str, expected: BrickAddress) -> None:
    """Rule: HOST:PORT:BRICK-PATH splits at the first two colons (IPv6 in brackets)."""
    assert parse_brick(spec) == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("host", "must be HOST:PORT:BRICK-PATH"),
        ("host:49152", "missing ':BRICK-PATH'"),
        ("host:x:/b", "not a number"),
        ("host:99999:/b", "out of range"),
        ("host:49152:relative", "must be absolute"),
        ("host:49152:", "must be absolute"),
        (":49152:/b", "host is missing"),
        ("[::1]", "must be HOST:PORT:BRICK-PATH"),
        ("::1:49152:/b", "IPv6 addresses go in brackets"),
    ],
)
def test_parse_brick_errors(spec: str, message: str) -> None:
    """Rule: malformed brick specs raise ConfigError saying what is wrong."""
    with pytest.raises(ConfigError, match=message):
        parse_brick(spec)


def test_volume_name_rules() -> None:
    """Rule: volume names follow the gluster CLI: [A-Za-z0-9_-], no leading '-', <= 256
    characters, not a reserved word."""
    assert validate_volume_name("a" * 256) == "a" * 256
    for bad in ("", "a" * 257, "é", "a/b", "all", "force"):
        with pytest.raises(ConfigError):
            validate_volume_name(bad)
