"""The client graph mgmtd hands out on GETSPEC: glusterd 10.3's graph for a distribute volume,
with the performance translators that decide which FOPs reach the bricks, each one there or not
by its ``volume set`` key as in volgen."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from gfrpc.client import volfile as vf
from gfrpc.programs.cli import ClusterType, VolumeStatus
from gfrpc.services.mgmt import parse_volume_arg
from gfrpc.services.mgmt.server import client_volfile
from gfrpc.services.mgmt.state import Brick, Volume
from gfrpc.services.mgmt.volopts import OptionError, check_option

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "volfiles" / "one.tcp-fuse.vol"


def _stack(text: str) -> list[str]:
    """The translator types from the top of the graph down its first subvolumes."""
    graph = vf.parse(text)
    xl = graph.volumes[-1]
    types = [xl.type]
    while xl.subvolumes:
        xl = graph[xl.subvolumes[0]]
        types.append(xl.type)
    return types


def _volume(options: dict[str, str]) -> Volume:
    return Volume(
        name="one",
        volume_id=uuid.uuid4(),
        type=ClusterType.NONE,
        transport="tcp",
        status=VolumeStatus.STARTED,
        bricks=(Brick("h", "/b0"),),
        options=options,
    )


def test_the_default_graph_is_glusterds_but_utime() -> None:
    """With no options set the graph is a real glusterd's (tests/fixtures/volfiles, from
    glusterd 10.3), translator for translator and with the top named after the volume, except
    features/utime: the gfrpc brick keeps no ctime metadata, so utime would only add a SETXATTR
    after LOOKUPs (features.ctime defaults off in gfrpc)."""
    real = [t for t in _stack(FIXTURE.read_text()) if t != "features/utime"]
    ours = client_volfile(parse_volume_arg("one=h:/b0"))
    assert _stack(ours) == real
    assert vf.parse(ours).volumes[-1].name == "one"
    assert vf.check_supported(vf.parse(ours)) == "distribute"
    assert _stack(client_volfile(_volume({}))) == real


@pytest.mark.parametrize(
    ("key", "xlator"),
    [
        ("performance.quick-read", "performance/quick-read"),
        ("performance.open-behind", "performance/open-behind"),
        ("performance.write-behind", "performance/write-behind"),
        ("performance.stat-prefetch", "performance/md-cache"),
        ("performance.client-io-threads", "performance/io-threads"),
    ],
)
def test_each_performance_translator_goes_with_its_key(key: str, xlator: str) -> None:
    """``volume set VOL KEY off`` leaves the translator out of the next client's graph, any
    boolean word for on keeps it, and the rest of the stack stays as it was."""
    default = _stack(client_volfile(_volume({})))
    assert xlator in default
    off = _stack(client_volfile(_volume({key: "off"})))
    assert off == [t for t in default if t != xlator]
    assert _stack(client_volfile(_volume({key: "enable"}))) == default


def test_features_ctime_on_stacks_utime_right_above_dht() -> None:
    """features.ctime on puts features/utime where glusterd has it, right above DHT, with
    glusterd's noatime option."""
    text = client_volfile(_volume({"features.ctime": "on"}))
    stack = _stack(text)
    assert stack[stack.index("cluster/distribute") - 1] == "features/utime"
    assert vf.parse(text)["one-utime"].options == {"noatime": "on"}


def test_the_translator_keys_take_booleans_only() -> None:
    """The keys are checked like glusterd's boolean options."""
    assert check_option("performance.quick-read", "off") == "off"
    with pytest.raises(OptionError, match="is not a valid boolean value"):
        check_option("performance.quick-read", "sometimes")
