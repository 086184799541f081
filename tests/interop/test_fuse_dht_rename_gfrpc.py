"""A stock GlusterFS 10 FUSE client renames files over existing files on a 2-brick gfrpc
distribute volume, for every placement: source and destination names hashing to either brick,
each file's data on its hashed brick or (after an earlier rename) on the other one.

DHT makes the destination's linkto files with internal MKNODs (``glusterfs-internal-fop``,
``gfid-req`` = the data file's gfid, often ``force-replace``) and LINKs; the bricks must honour
those flags as posix does (``store/entries.py``). The result is checked through a FRESH mount
(every name lists and reads its content, no source name is left) and on the bricks: exactly one
data file per name, on the brick DHT would find it through, and where that is not the hashed
brick, a linkto file there (mode ``S_ISVTX``, same gfid, naming the data brick); no data file
carries the parent's layout xattr that DHT's CREATE sends for the brick's pre-check.
"""

from __future__ import annotations

import itertools
import os
import stat
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from gfrpc_daemons_support import (
    VOLFILE_HOST,
    GfrpcBrick,
    gfrpc_brick,
    gfrpc_mgmtd,
    run_client_script,
    tail,
    wait_for_log,
)

from gfrpc.client import dht
from gfrpc.testing import need
from gfrpc.testing.realgluster import GLUSTERD_PORT, port_open

pytestmark = pytest.mark.timeout(240)

VOLUME = "rv"
GFID_KEY = "trusted.gfid"


@pytest.fixture
def bricks(tmp_path: Path) -> Iterator[list[GfrpcBrick]]:
    """mgmtd with the distribute volume rv over gfrpc bricks b0 and b1, both signed in."""
    need(os.geteuid() == 0, "gfrpc bricks (trusted.* xattrs) and FUSE mounts need root")
    need(
        not port_open(VOLFILE_HOST, GLUSTERD_PORT),
        f"{VOLFILE_HOST}:{GLUSTERD_PORT} is already taken by another process",
    )
    paths = [tmp_path / "b0", tmp_path / "b1"]
    with ExitStack() as stack:
        mgmtd = stack.enter_context(
            gfrpc_mgmtd(
                tmp_path, "--volume", f"{VOLUME}=" + ",".join(f"{VOLFILE_HOST}:{p}" for p in paths)
            )
        )
        started = [
            stack.enter_context(
                gfrpc_brick(
                    tmp_path,
                    "pool",
                    "--mgmt",
                    VOLFILE_HOST,
                    host=VOLFILE_HOST,
                    name=p.name,
                    volname=VOLUME,
                )
            )
            for p in paths
        ]
        wait_for_log(mgmtd.log, r"signed in on port", mgmtd.proc, count=2)
        try:
            yield started
        except BaseException:
            for d in (mgmtd, *started):
                print(f"--- {d.log.name} ---\n{d.log_tail()}")
            raise


def _mounted(tmp_path: Path, log: Path, body: str) -> None:
    """Run ``body`` in bash with a fresh FUSE mount of rv at $M, unmounted afterwards."""
    mnt = tmp_path / "mnt"
    mnt.mkdir(exist_ok=True)
    script = f"""
mount -t glusterfs -o log-file={log} {VOLFILE_HOST}:/{VOLUME} {mnt}
trap 'umount {mnt} || umount -l {mnt}' EXIT
M={mnt}
{body}
"""
    r = run_client_script(tmp_path, script, None)
    assert r.returncode == 0, f"{r.stdout}{r.stderr}\n{tail(log)}"


class Names:
    """Names in directory d picked by their DHT hash (brick index) from its layouts."""

    def __init__(self, layouts: list[dht.LayoutRange]) -> None:
        self.layouts = layouts
        self.counter = itertools.count()

    def hashing_to(self, brick: int, prefix: str) -> str:
        while True:
            name = f"{prefix}{next(self.counter)}"
            if dht.pick_subvolume(self.layouts, name) == brick:
                return name


def _is_linkto(st: os.stat_result) -> bool:
    return stat.S_ISREG(st.st_mode) and st.st_mode & 0o7777 == stat.S_ISVTX


def test_fuse_rename_over_existing_files_keeps_linktos(
    bricks: list[GfrpcBrick], tmp_path: Path
) -> None:
    """Rule: after a FUSE client renames over existing files (16 placements of source and
    destination), a fresh mount lists every destination with the source's content and no
    source name; each name has exactly one data file on the bricks, and a correct linkto on
    its hashed brick when its data is on the other one."""
    log = tmp_path / "mount.log"
    roots = [b.path for b in bricks]
    _mounted(tmp_path, log, "mkdir $M/d")
    names = Names([dht.parse_layout(os.getxattr(p / "d", dht.LAYOUT_XATTR)) for p in roots])
    steps: list[str] = []
    expect: dict[str, str] = {}  # final name -> content
    gone: list[str] = []
    for case, (sh, dh, s_moved, d_moved) in enumerate(
        itertools.product((0, 1), (0, 1), (False, True), (False, True))
    ):
        src, dst = names.hashing_to(sh, f"s{case}_"), names.hashing_to(dh, f"t{case}_")
        for name, moved, what in ((src, s_moved, "src"), (dst, d_moved, "dst")):
            hashed = dht.pick_subvolume(names.layouts, name)
            first = names.hashing_to(1 - hashed, f"p{case}_") if moved else name
            steps.append(f"echo '{what} {case}' > $M/d/{first}")
            if moved:  # the data stays on the other brick: the name gets a linkto
                steps.append(f"mv $M/d/{first} $M/d/{name}")
        steps.append(f"mv -f $M/d/{src} $M/d/{dst}")
        expect[dst] = f"src {case}\n"
        gone.append(src)
    _mounted(tmp_path, log, "\n".join(steps))
    listing, seen = tmp_path / "ls", tmp_path / "seen"
    reads = "\n".join(f"printf '%s ' {n} >> {seen}; cat $M/d/{n} >> {seen}" for n in expect)
    _mounted(tmp_path, log, f"ls $M/d > {listing}\n{reads}")
    listed = listing.read_text().split()
    assert sorted(listed) == sorted(expect), (
        f"missing {sorted(set(expect) - set(listed))}, extra {sorted(set(listed) - set(expect))}"
        f", twice {sorted(n for n in set(listed) if listed.count(n) > 1)}"
    )
    got = dict(line.split(" ", 1) for line in seen.read_text().splitlines())
    assert {n: c + "\n" for n, c in got.items()} == expect
    problems: list[str] = []
    for name, content in expect.items():
        hashed = dht.pick_subvolume(names.layouts, name)
        entries = {
            i: p / "d" / name for i, p in enumerate(roots) if os.path.lexists(p / "d" / name)
        }
        data = [i for i, e in entries.items() if not _is_linkto(os.lstat(e))]
        if len(data) != 1:
            problems.append(f"{name}: data files on bricks {data}, entries {sorted(entries)}")
            continue
        home = data[0]
        if dht.LAYOUT_XATTR in os.listxattr(entries[home]):  # DHT's create pre-check key
            problems.append(f"{name}: the data file carries the parent's layout xattr")
        if entries[home].read_text() != content:
            problems.append(f"{name}: data on brick {home} is {entries[home].read_text()!r}")
        if home == hashed:
            if len(entries) != 1:
                problems.append(f"{name}: extra entry on brick {1 - home}")
            continue
        if hashed not in entries:
            problems.append(f"{name}: data on brick {home}, no linkto on hashed brick {hashed}")
            continue
        link = entries[hashed]
        target = os.getxattr(link, dht.LINKTO_XATTR).rstrip(b"\0").decode()
        if not target.endswith(f"-client-{home}"):
            problems.append(f"{name}: linkto on brick {hashed} names {target}")
        if os.getxattr(link, GFID_KEY) != os.getxattr(entries[home], GFID_KEY):
            problems.append(f"{name}: linkto and data file have different gfids")
    for name in gone:
        left = [i for i, p in enumerate(roots) if os.path.lexists(p / "d" / name)]
        if left:
            problems.append(f"source {name} still on bricks {left}")
    assert not problems, "\n".join(problems) + f"\n{tail(log)}"
