"""Tests of gfrpc.client.volfile on volfiles written by a real glusterd 10.3 and hand-made ones.

The files in tests/fixtures/volfiles/ were written by glusterd 10.3 (the interop harness's
private glusterd) for ``gluster volume create ... force`` of a 1-brick volume (one), a 3-brick
distribute volume (dist: client, trusted-client and brick b0 volfiles) and a replica-2 volume
(rep); brick paths became /bricks/..., the host name server1, and the auth secrets dummies.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gfrpc.client.volfile import (
    Volfile,
    Xlator,
    check_supported,
    client_bricks,
    client_options,
    distribute_layout_order,
    parse,
    parse_bool,
    render,
    volume_type,
)
from gfrpc.errors import ConfigError

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "volfiles"


def load(name: str) -> Volfile:
    return parse((FIXTURES / name).read_text())


def client(name: str, **opts: str) -> Xlator:
    base = {"transport-type": "tcp", "remote-host": "127.0.0.1", "remote-subvolume": f"/b/{name}"}
    return Xlator(name, "protocol/client", base | opts)


def test_parse_real_distribute_volfile() -> None:
    """Rule: glusterd's client volfile parses into xlators in file order; the last is the top;
    options keep their text; subvolumes keep their order."""
    v = load("dist.tcp-fuse.vol")
    assert [x.name for x in v.volumes][:4] == [
        "dist-client-0",
        "dist-client-1",
        "dist-client-2",
        "dist-dht",
    ]
    assert v.top.name == "dist" and v.top.type == "debug/io-stats"
    assert v["dist-dht"].type == "cluster/distribute"
    assert v["dist-dht"].subvolumes == ["dist-client-0", "dist-client-1", "dist-client-2"]
    assert v["dist-client-1"].options["remote-subvolume"] == "/bricks/dist/b1"
    assert v["dist-client-1"].options["ping-timeout"] == "42"
    assert [x.name for x in v.walk()][:3] == ["dist", "dist-io-threads", "dist-md-cache"]


def test_client_bricks_of_real_volfile() -> None:
    """Rule: each protocol/client becomes a BrickSpec; no remote-port means "ask glusterd";
    ssl-enabled and address family are read from the transport options."""
    bricks = client_bricks(load("trusted-dist.tcp-fuse.vol"))
    assert [b.name for b in bricks] == ["dist-client-0", "dist-client-1", "dist-client-2"]
    b = bricks[2]
    assert (b.remote_host, b.remote_port, b.remote_subvolume) == (
        "server1",
        None,
        "/bricks/dist/b2",
    )
    assert b.ssl_enabled is False and b.address_family == "inet"
    assert b.transport["transport.socket.keepalive-time"] == "20"
    assert "username" not in b.transport


@pytest.mark.parametrize(
    ("fixture", "kind", "order"),
    [
        ("one.tcp-fuse.vol", "distribute", ["one-client-0"]),
        ("dist.tcp-fuse.vol", "distribute", ["dist-client-0", "dist-client-1", "dist-client-2"]),
        (
            "trusted-dist.tcp-fuse.vol",
            "distribute",
            ["dist-client-0", "dist-client-1", "dist-client-2"],
        ),
    ],
)
def test_supported_real_volfiles(fixture: str, kind: str, order: list[str]) -> None:
    """Rule: glusterd's 1-brick and distribute volumes (DHT over clients) are supported, and
    the DHT subvolume order is the 'subvolumes' line of the DHT xlator."""
    v = load(fixture)
    assert volume_type(v) == kind
    assert check_supported(v) == kind
    assert distribute_layout_order(v) == order


def test_replicate_is_rejected_by_name() -> None:
    """Rule: a replica volume (DHT over one AFR) is 'replicate' and check_supported raises a
    ConfigError that names the type."""
    v = load("rep.tcp-fuse.vol")
    assert volume_type(v) == "replicate"
    with pytest.raises(ConfigError, match="unsupported volume type 'replicate'"):
        check_supported(v)
    with pytest.raises(ConfigError, match="replicate"):
        distribute_layout_order(v)


def test_brick_volfile_parses() -> None:
    """Rule: brick volfiles (storage/posix at the bottom, top named after the brick path) parse
    too; the top is the protocol/server defined last."""
    v = load("dist.brick-b0.vol")
    assert v.top.type == "protocol/server"
    assert v.top.subvolumes == ["/bricks/dist/b0"]
    assert v["dist-posix"].options["shared-brick-count"] == "3"
    assert volume_type(v) == "plain" and client_bricks(v) == []


@pytest.mark.parametrize("fixture", sorted(p.name for p in FIXTURES.glob("*.vol")))
def test_render_round_trip(fixture: str) -> None:
    """Rule: parse(render(v)) == v for every real volfile."""
    v = load(fixture)
    assert parse(render(v)).volumes == v.volumes


def _graph(*xls: Xlator) -> Volfile:
    return parse(render(Volfile(list(xls))))


@pytest.mark.parametrize(
    ("top_type", "kind"),
    [
        ("cluster/disperse", "disperse"),
        ("cluster/ec", "disperse"),
        ("cluster/afr", "replicate"),
        ("cluster/stripe", "stripe"),
        ("cluster/nufa", "nufa"),
    ],
)
def test_volume_types_and_aliases(top_type: str, kind: str) -> None:
    """Rule: cluster/* types (and the dht/afr/ec aliases) decide the volume type; all but
    plain and distribute are rejected with their name."""
    v = _graph(client("c0"), client("c1"), Xlator("top", top_type, {}, ["c0", "c1"]))
    assert volume_type(v) == kind
    with pytest.raises(ConfigError, match=f"'{kind}'"):
        check_supported(v)


def test_hand_made_graphs() -> None:
    """Rule: a lone client is 'plain'; cluster/dht is distribute; DHT over several AFRs is
    'distributed-replicate'; features/shard is rejected."""
    plain = _graph(
        client(
            "c0",
            **{
                "remote-port": "49152",
                "transport.socket.ssl-enabled": "on",
                "transport.address-family": "inet6",
            },
        )
    )
    assert check_supported(plain) == "plain"
    assert distribute_layout_order(plain) == ["c0"]
    (b,) = client_bricks(plain)
    assert (b.remote_port, b.ssl_enabled, b.address_family) == (49152, True, "inet6")
    dht = _graph(client("c1"), client("c0"), Xlator("d", "cluster/dht", {}, ["c1", "c0"]))
    assert check_supported(dht) == "distribute"
    assert distribute_layout_order(dht) == ["c1", "c0"]
    dr = _graph(
        client("a"),
        client("b"),
        client("c"),
        client("d"),
        Xlator("r0", "cluster/replicate", {}, ["a", "b"]),
        Xlator("r1", "cluster/replicate", {}, ["c", "d"]),
        Xlator("top", "cluster/distribute", {}, ["r0", "r1"]),
    )
    assert volume_type(dr) == "distributed-replicate"
    shard = _graph(client("c0"), Xlator("s", "features/shard", {}, ["c0"]))
    with pytest.raises(ConfigError, match="features/shard"):
        check_supported(shard)
    ssl = _graph(client("c0", **{"client.ssl": "yes"}))
    assert client_bricks(ssl)[0].ssl_enabled is True


def test_lexical_rules() -> None:
    """Rule: tokens are whitespace-separated (lines do not matter); '#' comments run to the end
    of the line; quoted strings keep blanks and backslash-escaped characters."""
    text = (
        "# leading comment\n\nvolume  c0 # trailing\n type protocol/client\n"
        'option remote-host "my host"  option remote-subvolume "/a\\"b"\n'
        "option remote-port 24007 end-volume\n"
        "volume top type debug/io-stats option a#b c subvolumeS c0\n option after yes\n"
        "end-volume"
    )
    v = parse(text)
    assert v["c0"].options == {
        "remote-host": "my host",
        "remote-subvolume": '/a"b',
        "remote-port": "24007",
    }
    assert v.top.options == {"a#b": "c", "after": "yes"}
    assert v.top.subvolumes == ["c0"]
    assert parse(render(v)).volumes == v.volumes


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no volume"),
        ("volume a\n type t\n", "no 'end-volume'"),
        ("volume a\n option k v\nend-volume\n", "no 'type'"),
        ("volume a\n type t\n type u\nend-volume\n", "second 'type'"),
        ("volume a\n type t\n option k\nend-volume\n", "a value for option 'k'"),
        ("volume a\n type t\n option k 1\n option k 2\nend-volume\n", "duplicate 'option k'"),
        ("volume a\n type t\n subvolumes b\nend-volume\n", "'b' .* not defined before"),
        ("volume a\n type t\n subvolumes a\nend-volume\n", "itself as subvolume"),
        ("volume a\n type t\nend-volume\nvolume a\n type t\nend-volume\n", "defined again"),
        ("volume a\n type t\n subvolumes\nend-volume\n", "without names"),
        ("volume a\n type t\n garbage\nend-volume\n", "unexpected 'garbage'"),
        ("type t\n", "expected 'volume NAME'"),
        ('volume a\n type "t\nend-volume\n', "unterminated"),
        ("volume a\n type t\nvolume b\n", "missing 'end-volume'"),
    ],
)
def test_parse_errors(text: str, message: str) -> None:
    """Rule: every syntax or reference error is a ConfigError that says what is wrong."""
    with pytest.raises(ConfigError, match=message):
        parse(text)


def test_bad_client_options() -> None:
    """Rule: a client without remote-subvolume, a bad port or a non-boolean ssl flag is a
    ConfigError naming the client."""
    for opts, msg in [
        ({"remote-subvolume": ""}, "no 'option remote-subvolume'"),
        ({"remote-port": "http"}, "not a port number"),
        ({"remote-port": "70000"}, "out of range"),
        ({"transport.socket.ssl-enabled": "maybe"}, "not a boolean"),
    ]:
        with pytest.raises(ConfigError, match=msg):
            client_bricks(_graph(client("c0", **opts)))


def test_parse_bool() -> None:
    """Rule: booleans follow gf_string2boolean (1/on/yes/true/enable and their opposites)."""
    assert all(parse_bool(v) for v in ("1", "on", "YES", "True", "enable"))
    assert not any(parse_bool(v) for v in ("0", "off", "no", "FALSE", "disable"))
    with pytest.raises(ConfigError):
        parse_bool("2")


def test_lookup_errors() -> None:
    """Rule: asking for an unknown volume name is a ConfigError; names are containable."""
    v = load("one.tcp-fuse.vol")
    assert "one-dht" in v and "nope" not in v
    with pytest.raises(ConfigError, match="no volume named 'nope'"):
        v["nope"]


def test_client_options_follow_the_graph() -> None:
    """A real glusterd's default graph has quick-read and leaves DHT's lookup-optimize at its
    default (on); ``volume set ... performance.quick-read off`` drops the translator and
    ``cluster.lookup-optimize off`` puts the option on the DHT: both turn the client's off."""
    graph = parse((FIXTURES / "dist.tcp-fuse.vol").read_text())
    assert client_options(graph) == {"quick_read": True, "lookup_optimize": True}
    dht = next(x for x in graph.volumes if x.type == "cluster/distribute")
    dht.options["lookup-optimize"] = "off"
    qr = next(x for x in graph.volumes if x.type == "performance/quick-read")
    qr.type = "performance/io-cache"  # a graph without quick-read (type changed in place)
    assert client_options(graph) == {"quick_read": False, "lookup_optimize": False}
