"""Tests of gfrpc.services.mgmt.state: the SQLite volume store of the management daemon.

One transaction per command; a create interrupted at any step (an exception, or the process
ending with os._exit as under ``kill -9``) leaves the whole volume or none of it; two creates of
one name, in two threads or processes, make exactly one volume. Error texts are glusterd's,
checked against the recorded replies in tests/fixtures/cli.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import gfrpc
from gfrpc.errors import ConfigError
from gfrpc.programs import cli
from gfrpc.programs.cli import ClusterType, GlusterdErrno, VolumeStatus
from gfrpc.services.mgmt.registry import BrickRef
from gfrpc.services.mgmt.state import (
    STATE_FILE,
    Brick,
    NoSuchVolumeError,
    VolumeExistsError,
    VolumeStateError,
    VolumeStore,
)
from gfrpc.wire.rpcmsg import ReplyHeader, decode_message

pytestmark = pytest.mark.timeout(120)

Golden = Callable[[str], bytes]
Feed = Callable[[bytes], list[bytes]]

B1 = BrickRef("node1", "/srv/b1")
B2 = BrickRef("node1", "/srv/b2")
VID = uuid.UUID("e90645e1-e9b9-4f57-8726-47d06e4bd133")
OPTS = {"transport.address-family": "inet", "nfs.disable": "on"}


class Boom(Exception):
    """The injected fault."""


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def store(workdir: Path) -> Iterator[VolumeStore]:
    s = VolumeStore(workdir)
    yield s
    s.close()


def _errstr(golden: Golden, feed: Feed, command: str) -> tuple[int, str]:
    """op_errno and op_errstr of the recorded glusterd reply to ``command``."""
    for record in feed(golden(f"cli/{command}.reply")):
        header, body = decode_message(record)
        if isinstance(header, ReplyHeader):
            rsp = cli.GfCliRsp.unpack(body)
            return rsp.op_errno, rsp.op_errstr
    raise AssertionError(f"no reply in {command}")


def _consistent(workdir: Path) -> None:
    """The file passes SQLite's integrity check and no brick or option is orphaned."""
    db = sqlite3.connect(workdir / STATE_FILE)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
    finally:
        db.close()


# ---- commands ---------------------------------------------------------------------------


def test_create_and_read_back(store: VolumeStore, workdir: Path) -> None:
    """A created volume reads back whole: id, type, transport, status Created, bricks in order,
    options in order; and the same after the store is reopened."""
    made = store.create_volume("v", [B1, B2], volume_id=VID, options=OPTS)
    got = store.get_volume("v")
    assert got == made
    assert (got.volume_id, got.type, got.transport) == (VID, ClusterType.NONE, "tcp")
    assert got.status == VolumeStatus.CREATED
    assert got.bricks == (Brick("node1", "/srv/b1"), Brick("node1", "/srv/b2"))
    assert list(got.options.items()) == list(OPTS.items())
    store.close()
    with VolumeStore(workdir) as again:
        assert again.get_volume("v") == made
        assert again.volume_names() == ["v"]


def test_create_existing_name_is_glusterds_error(
    store: VolumeStore, golden: Golden, feed: Feed
) -> None:
    """A second create of a name fails with glusterd's recorded text and op_errno, and leaves
    the first volume as it was."""
    store.create_volume("gfrpc-cli", [B1], volume_id=VID)
    with pytest.raises(VolumeExistsError) as e:
        store.create_volume("gfrpc-cli", [B2])
    assert (e.value.op_errno, str(e.value)) == _errstr(golden, feed, "volume-create-exists")
    assert store.get_volume("gfrpc-cli").bricks == (Brick(B1.host, B1.path),)


def test_missing_volume_is_glusterds_error(store: VolumeStore, golden: Golden, feed: Feed) -> None:
    """Every command on an unknown volume fails with glusterd's recorded "does not exist"."""
    expected = _errstr(golden, feed, "volume-start-missing")
    assert expected[0] == GlusterdErrno.INTRNL
    for command in (
        lambda: store.start_volume("gfrpc-nosuch"),
        lambda: store.stop_volume("gfrpc-nosuch"),
        lambda: store.delete_volume("gfrpc-nosuch"),
        lambda: store.set_option("gfrpc-nosuch", "k", "v"),
        lambda: store.reset_options("gfrpc-nosuch"),
        lambda: store.set_brick_process("gfrpc-nosuch", "/srv/b1", port=1, pid=1),
        lambda: store.get_volume("gfrpc-nosuch"),
    ):
        with pytest.raises(NoSuchVolumeError) as e:
            command()
        assert (e.value.op_errno, str(e.value)) == expected


def test_start_stop_delete_rules(store: VolumeStore) -> None:
    """start needs a volume not started (unless force), stop a started one (unless force),
    delete one not started; stop forgets the bricks' ports and pids; delete removes it all."""
    store.create_volume("v", [B1], options=OPTS)
    with pytest.raises(VolumeStateError, match="^Volume v is not in the started state$"):
        store.stop_volume("v")
    store.start_volume("v")
    with pytest.raises(VolumeStateError, match="^Volume v already started$"):
        store.start_volume("v")
    store.start_volume("v", force=True)
    store.set_brick_process("v", "/srv/b1", port=49152, pid=4242)
    assert store.get_volume("v").bricks[0] == Brick("node1", "/srv/b1", 49152, 4242)
    with pytest.raises(VolumeStateError, match=r"^Volume v has been started\.Volume needs"):
        store.delete_volume("v")
    store.stop_volume("v")
    got = store.get_volume("v")
    assert got.status == VolumeStatus.STOPPED and got.bricks[0].port == got.bricks[0].pid == 0
    store.stop_volume("v", force=True)
    store.delete_volume("v")
    assert store.volume_names() == []
    store.create_volume("v", [B1])  # the name and the brick are free again
    assert store.get_volume("v").options == {}


def test_options_set_and_reset(store: VolumeStore) -> None:
    """set keeps first-set order (a key set again keeps its place), reset removes one key or
    all but ``keep``, and says which went."""
    store.create_volume("v", [B1], options=OPTS)
    store.set_options("v", {"network.ping-timeout": "20", "client.ssl": "on"})
    store.set_option("v", "nfs.disable", "off")
    assert list(store.get_volume("v").options.items()) == [
        ("transport.address-family", "inet"),
        ("nfs.disable", "off"),
        ("network.ping-timeout", "20"),
        ("client.ssl", "on"),
    ]
    assert store.reset_option("v", "network.ping-timeout") is True
    assert store.reset_option("v", "network.ping-timeout") is False
    gone = store.reset_options("v", keep=["transport.address-family"])
    assert gone == ["nfs.disable", "client.ssl"]
    assert store.get_volume("v").options == {"transport.address-family": "inet"}


@pytest.mark.parametrize(
    "bricks",
    [
        [B1],  # the same brick as volume "a"
        [BrickRef("node1", "/srv/b1/sub")],  # inside it
        [BrickRef("node1", "/srv")],  # containing it
        [BrickRef("node1", "/srv/b1/")],  # the same, written differently
        [B2, BrickRef("node1", "/srv/b2/x")],  # two bricks of one create, one in the other
    ],
)
def test_brick_not_available(store: VolumeStore, bricks: list[BrickRef]) -> None:
    """A brick that is, contains or is contained by another brick on its host is refused
    with glusterd's "not available" text, and nothing of the new volume is written."""
    store.create_volume("a", [B1])
    with pytest.raises(VolumeStateError, match="not available. Brick may be containing"):
        store.create_volume("b", bricks)
    assert store.volume_names() == ["a"]


def test_same_path_on_other_host_is_free(store: VolumeStore) -> None:
    """Brick paths clash only on the same host."""
    store.create_volume("a", [B1])
    store.create_volume("b", [BrickRef("node2", B1.path)])
    assert store.volume_names() == ["a", "b"]


@pytest.mark.parametrize("name", ["", "-x", "all", "a/b", "x" * 257])
def test_bad_names_refused(store: VolumeStore, name: str) -> None:
    """Volume names follow the CLI's rule (gfrpc.programs.cli.validate_volume_name)."""
    with pytest.raises(VolumeStateError):
        store.create_volume(name, [B1])
    assert store.volume_names() == []


def test_unknown_schema_refused(workdir: Path) -> None:
    """A store written by a newer gfrpc (another schema version) is refused, not misread."""
    VolumeStore(workdir).close()
    db = sqlite3.connect(workdir / STATE_FILE)
    db.execute("PRAGMA user_version = 99")
    db.close()
    with pytest.raises(ConfigError, match="schema 99"):
        VolumeStore(workdir)


# ---- fault injection ------------------------------------------------------------------------

CREATE_STEPS = VolumeStore.steps("create", bricks=2, options=2)


def test_steps_are_the_ones_a_create_goes_through(workdir: Path) -> None:
    """The fault hook sees exactly VolumeStore.steps("create", ...) for a create, in order."""
    seen: list[str] = []
    with VolumeStore(workdir) as s:
        s.fault = seen.append
        s.create_volume("v", [B1, B2], options=OPTS)
    assert seen == CREATE_STEPS


@pytest.mark.parametrize("step", CREATE_STEPS)
def test_create_interrupted_by_exception(workdir: Path, step: str) -> None:
    """An exception at any step of a create leaves no trace of the volume (after the commit:
    all of it), and the store goes on working."""

    def fault(name: str) -> None:
        if name == step:
            raise Boom(name)

    with VolumeStore(workdir, fault=fault) as s, pytest.raises(Boom):
        s.create_volume("v", [B1, B2], volume_id=VID, options=OPTS)
    _consistent(workdir)
    with VolumeStore(workdir) as s:
        if step == "create:committed":
            assert s.get_volume("v").bricks == (Brick(**vars(B1)), Brick(**vars(B2)))
        else:
            assert s.volume_names() == []
            s.create_volume("v", [B1, B2], options=OPTS)  # name and bricks are free
        assert len(s.get_volume("v").options) == 2


_CHILD = """
import json, os, sys, uuid
from gfrpc.services.mgmt.registry import BrickRef
from gfrpc.services.mgmt.state import VolumeStore, VolumeExistsError
args = json.loads(sys.argv[1])

def fault(name):
    if name == args["die_at"]:
        os._exit(9)  # no cleanup at all, as under kill -9

store = VolumeStore(args["workdir"], fault=fault)
sys.stdin.readline()  # the start signal
try:
    store.create_volume(args["name"], [BrickRef(h, p) for h, p in args["bricks"]],
                        options=args["options"])
except VolumeExistsError:
    sys.exit(3)
sys.exit(0)
"""


def _child(workdir: Path, *, die_at: str = "", name: str = "v") -> subprocess.Popen[str]:
    """A process that creates volume ``name`` (bricks B1, B2; OPTS) once it reads a line,
    ending itself with os._exit(9) at step ``die_at``."""
    src = str(Path(gfrpc.__file__).resolve().parents[1])  # the gfrpc these tests import
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    args = {
        "workdir": str(workdir),
        "die_at": die_at,
        "name": name,
        "bricks": [[B1.host, B1.path], [B2.host, B2.path]],
        "options": OPTS,
    }
    return subprocess.Popen(
        [sys.executable, "-c", _CHILD, json.dumps(args)],
        stdin=subprocess.PIPE,
        text=True,
        env=env,
    )


@pytest.mark.parametrize("step", CREATE_STEPS)
def test_create_killed_at_each_step(workdir: Path, step: str) -> None:
    """A process that dies (os._exit, nothing flushed or closed) at any step of a create
    leaves, once the store is reopened, the whole volume (died after the commit) or none."""
    VolumeStore(workdir).close()
    proc = _child(workdir, die_at=step)
    proc.communicate("go\n", timeout=60)
    assert proc.returncode == 9
    _consistent(workdir)
    with VolumeStore(workdir) as s:
        if step == "create:committed":
            v = s.get_volume("v")
            assert [str(b) for b in v.bricks] == [str(B1), str(B2)]
            assert dict(v.options) == OPTS
        else:
            assert s.volume_names() == []


# ---- two clients, one name -------------------------------------------------------------------


def test_two_threads_one_name_exactly_one_wins(workdir: Path) -> None:
    """Two stores on one file create the same name at once, the first paused inside its
    transaction until the second has started: exactly one wins, the other gets glusterd's
    "already exists", and the file holds one volume with its bricks once."""
    second_started = threading.Event()
    first_inside = threading.Event()  # the first holds the write lock (BEGIN IMMEDIATE done)

    def pause_first(name: str) -> None:
        if name == "create:checked":
            first_inside.set()
            assert second_started.wait(10)

    def note_second(name: str) -> None:
        if name == "create:begin":
            second_started.set()

    results: list[object] = []

    def create(s: VolumeStore, bricks: list[BrickRef]) -> None:
        try:
            results.append(s.create_volume("v", bricks))
        except VolumeStateError as e:
            results.append(e)

    with (
        VolumeStore(workdir, fault=pause_first) as s1,
        VolumeStore(workdir, fault=note_second) as s2,
    ):
        first = threading.Thread(target=create, args=(s1, [B1]))
        first.start()
        assert first_inside.wait(10)  # else the second could begin (and win) first
        second = threading.Thread(target=create, args=(s2, [B2]))
        second.start()
        first.join(30)
        second.join(30)
    errors = [r for r in results if isinstance(r, VolumeStateError)]
    assert len(results) == 2 and len(errors) == 1
    assert isinstance(errors[0], VolumeExistsError)
    assert str(errors[0]) == "Volume v already exists"
    with VolumeStore(workdir) as s:
        assert s.volume_names() == ["v"] and s.get_volume("v").bricks == (Brick(**vars(B1)),)
    _consistent(workdir)


def test_many_processes_one_name_exactly_one_wins(workdir: Path) -> None:
    """Four processes create the same volume at once: one exits 0, three get "already
    exists", and the file holds one whole volume."""
    VolumeStore(workdir).close()
    procs = [_child(workdir) for _ in range(4)]
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    codes = []
    for p in procs:
        p.communicate(timeout=60)
        codes.append(p.returncode)
    assert sorted(codes) == [0, 3, 3, 3]
    _consistent(workdir)
    with VolumeStore(workdir) as s:
        v = s.get_volume("v")
        assert len(v.bricks) == 2 and dict(v.options) == OPTS
