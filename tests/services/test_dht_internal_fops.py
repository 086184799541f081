"""DHT's internal MKNOD/LINK flags on the brick (``glusterfs-internal-fop``, ``force-replace``).

The rules (``store/entries.py``, as GlusterFS 10.3 posix's ``posix_mknod``/``posix_link``):
an internal MKNOD whose ``gfid-req`` is a live regular file hard-links the new name to that
inode (DHT's linkto of a hard-linked file); without the flag, or for a directory's, the root's
or a symlink's gfid, the gfid guard refuses it with EEXIST. ``force-replace`` removes a stale
linkto (mode exactly ``S_ISVTX``) at the name first; a data file there still gives EEXIST.
"""

from __future__ import annotations

import errno
import os
import stat
import uuid
from pathlib import Path
from typing import Any

import pytest
from brick_fops_support import P, cred, running_brick

from gfrpc.programs import fops as fp
from gfrpc.services.brick.store import ROOT_GFID, PosixStore
from gfrpc.services.brick.store.handles import HIDDEN_DIR, HandleIndex

LINKTO_MODE = stat.S_IFREG | stat.S_ISVTX
LINKTO_KEY = "trusted.glusterfs.dht.linkto"


def _data_file(store: PosixStore, name: str, data: bytes = b"data") -> bytes:
    gfid, f, *_ = store.create(ROOT_GFID, name, 0, 0o644)
    store.write(f, 0, data)
    f.close()
    return gfid


def _handle(brick: Path, gfid: bytes) -> Path:
    return brick / HIDDEN_DIR / HandleIndex.handle_path(gfid)


def test_internal_mknod_of_a_live_file_gfid_hard_links(store: PosixStore, brick: Path) -> None:
    """Rule: an internal MKNOD whose gfid-req is a live regular file makes the new name a hard
    link to that inode (same inode, link count 2 names + handle), as posix_mknod does."""
    gfid, *_ = store.mknod(ROOT_GFID, "a", LINKTO_MODE)
    made, iatt, _, _ = store.mknod(ROOT_GFID, "b", LINKTO_MODE, gfid_req=gfid, internal=True)
    assert made == gfid and iatt.ia_gfid == gfid
    a, b = os.lstat(brick / "a"), os.lstat(brick / "b")
    assert (a.st_ino, a.st_nlink) == (b.st_ino, 3)  # a, b and the .glusterfs handle
    assert os.lstat(_handle(brick, gfid)).st_ino == a.st_ino
    assert store.lookup(ROOT_GFID, "b")[0].ia_gfid == gfid


def test_mknod_of_a_live_gfid_without_the_flag_is_eexist(store: PosixStore, brick: Path) -> None:
    """Rule: the gfid guard stays for an MKNOD that is not internal: EEXIST, no new name."""
    gfid = _data_file(store, "a")
    with pytest.raises(OSError) as ei:
        store.mknod(ROOT_GFID, "b", LINKTO_MODE, gfid_req=gfid)
    assert ei.value.errno == errno.EEXIST
    assert not (brick / "b").exists()
    assert os.lstat(brick / "a").st_nlink == 2


@pytest.mark.parametrize("victim", ["dir", "root", "symlink"])
def test_internal_mknod_never_links_a_directory_root_or_symlink(
    store: PosixStore, brick: Path, victim: str
) -> None:
    """Rule: an internal MKNOD never gives a name to a directory's, the root's or a symlink's
    inode: the gfid guard refuses it with EEXIST and the victim keeps its single name."""
    if victim == "dir":
        gfid, *_ = store.mkdir(ROOT_GFID, "d", 0o755)
    elif victim == "symlink":
        gfid, *_ = store.symlink(ROOT_GFID, "s", "target")
    else:
        gfid = ROOT_GFID
    with pytest.raises(OSError) as ei:
        store.mknod(ROOT_GFID, "b", LINKTO_MODE, gfid_req=gfid, internal=True)
    assert ei.value.errno == errno.EEXIST
    assert not os.path.lexists(brick / "b")
    if victim == "symlink":
        assert os.lstat(brick / "s").st_nlink == 2


def test_internal_mknod_of_a_stale_handle_makes_a_new_inode(store: PosixStore, brick: Path) -> None:
    """Rule: a handle that is its inode's last link (no name left) is stale: an internal MKNOD
    does not resurrect it but makes a new inode with that gfid (the guard's stale rule)."""
    gfid = _data_file(store, "a", b"old")
    os.unlink(brick / "a")  # behind the store's back: only the handle is left
    assert os.lstat(_handle(brick, gfid)).st_size == 3
    store.mknod(ROOT_GFID, "b", LINKTO_MODE, gfid_req=gfid, internal=True)
    st = os.lstat(brick / "b")  # the old inode's number may be reused: its size tells
    assert st.st_size == 0 and st.st_nlink == 2


def test_force_replace_over_a_stale_linkto(store: PosixStore, brick: Path) -> None:
    """Rule: force-replace removes a stale linkto (mode S_ISVTX) at the name, and its handle,
    then makes the entry; without the flag the name gives EEXIST."""
    stale, *_ = store.mknod(ROOT_GFID, "n", LINKTO_MODE)
    with pytest.raises(FileExistsError):
        store.mknod(ROOT_GFID, "n", LINKTO_MODE, gfid_req=uuid.uuid4().bytes)
    want = uuid.uuid4().bytes
    made, *_ = store.mknod(ROOT_GFID, "n", LINKTO_MODE, gfid_req=want, force_replace=True)
    assert made == want and store.lookup(ROOT_GFID, "n")[0].ia_gfid == want
    assert not _handle(brick, stale).exists()


def test_force_replace_then_internal_link(store: PosixStore, brick: Path) -> None:
    """Rule: force-replace and the internal link combine (DHT's rename): the stale linkto
    goes and the name becomes a hard link to the live file of gfid-req."""
    store.mknod(ROOT_GFID, "n", LINKTO_MODE)
    gfid, *_ = store.mknod(ROOT_GFID, "other", LINKTO_MODE)
    store.mknod(ROOT_GFID, "n", LINKTO_MODE, gfid_req=gfid, internal=True, force_replace=True)
    assert os.lstat(brick / "n").st_ino == os.lstat(brick / "other").st_ino


@pytest.mark.parametrize("mode", [0o644, stat.S_ISVTX | 0o644, 0])
def test_force_replace_keeps_a_data_file(store: PosixStore, brick: Path, mode: int) -> None:
    """Rule: force-replace only removes a file whose mode is exactly S_ISVTX (posix's
    IS_DHT_LINKFILE_MODE); a data file (even mode 0 or sticky with permissions) stays: EEXIST."""
    gfid = _data_file(store, "n", b"keep me")
    os.chmod(brick / "n", mode)
    with pytest.raises(FileExistsError):
        store.mknod(
            ROOT_GFID,
            "n",
            LINKTO_MODE,
            gfid_req=uuid.uuid4().bytes,
            internal=True,
            force_replace=True,
        )
    assert (brick / "n").read_bytes() == b"keep me"
    assert store.lookup(ROOT_GFID, "n")[0].ia_gfid == gfid


def test_link_force_replace(store: PosixStore, brick: Path) -> None:
    """Rule: LINK with force-replace replaces a stale linkto at the new name, not a data file."""
    src = _data_file(store, "src")
    store.mknod(ROOT_GFID, "stale", LINKTO_MODE)
    _data_file(store, "data")
    with pytest.raises(FileExistsError):
        store.link(src, ROOT_GFID, "stale")
    store.link(src, ROOT_GFID, "stale", force_replace=True)
    assert os.lstat(brick / "stale").st_ino == os.lstat(brick / "src").st_ino
    with pytest.raises(FileExistsError):
        store.link(src, ROOT_GFID, "data", force_replace=True)


@pytest.mark.timeout(60)
def test_wire_internal_mknod_and_force_replace(brick: Path) -> None:
    """Rule (over the wire): MKNOD xdata keys glusterfs-internal-fop (from a trusted caller)
    and force-replace are honoured; the linkto xattr of the request is on the linked inode;
    an untrusted caller's internal flag is ignored (the guard's EEXIST)."""
    os.chmod(brick, 0o777)
    with running_brick(brick) as h:
        c = h.client()
        data = c.create(ROOT_GFID, "data", flags=os.O_RDWR | os.O_CREAT | os.O_EXCL)
        gfid = bytes(data.stat.ia_gfid)

        def mknod(name: str, **flags: str) -> Any:
            x = {"gfid-req": uuid.UUID(bytes=gfid), LINKTO_KEY: "vol-client-1", **flags}
            return c.call(
                P.MKNOD,
                fp.GfxMknodReq(pargfid=ROOT_GFID, bname=name, mode=LINKTO_MODE, umask=0, xdata=x),
            )

        rsp = mknod("plain")
        assert (rsp.op_ret, rsp.op_errno) == (-1, errno.EEXIST)
        rsp = mknod("lnk", **{"glusterfs-internal-fop": "yes"})
        assert rsp.op_ret == 0 and bytes(rsp.stat.ia_gfid) == gfid
        assert os.lstat(brick / "lnk").st_ino == os.lstat(brick / "data").st_ino
        assert os.getxattr(brick / "data", LINKTO_KEY) == b"vol-client-1\0"
        c.call(P.UNLINK, fp.GfxUnlinkReq(pargfid=ROOT_GFID, bname="lnk"))
        c.call(P.MKNOD, fp.GfxMknodReq(pargfid=ROOT_GFID, bname="stale", mode=LINKTO_MODE, umask=0))
        rsp = mknod("stale", **{"glusterfs-internal-fop": "yes", "force-replace": "yes"})
        assert rsp.op_ret == 0 and bytes(rsp.stat.ia_gfid) == gfid
        user = h.client(cred=cred(1000, 1000))
        rsp = user.call(
            P.MKNOD,
            fp.GfxMknodReq(
                pargfid=ROOT_GFID,
                bname="u",
                mode=LINKTO_MODE,
                umask=0,
                xdata={"gfid-req": uuid.UUID(bytes=gfid), "glusterfs-internal-fop": "yes"},
            ),
        )
        assert (rsp.op_ret, rsp.op_errno) == (-1, errno.EEXIST)
        assert not (brick / "u").exists()


@pytest.mark.timeout(60)
def test_wire_parent_layout_precheck(brick: Path) -> None:
    """Rule (posix's preop check): CREATE/MKDIR naming ``trusted.glusterfs.dht`` in
    ``glusterfs.preop.parent.key`` fail with EIO and ``glusterfs.preop.check.failed`` when the
    parent's layout differs, succeed when it matches, and never set that key on the new entry."""
    layout = bytes.fromhex("00000000000000007fffffffffffffff")
    os.setxattr(brick, "trusted.glusterfs.dht", layout)
    stale = bytes.fromhex("0000000000000000000000007ffffffe")
    with running_brick(brick) as h:
        c = h.client()

        def xdata(value: bytes) -> dict[str, Any]:
            return {
                "glusterfs.preop.parent.key": "trusted.glusterfs.dht",
                "trusted.glusterfs.dht": value,
                "gfid-req": uuid.uuid4(),
            }

        for proc, req in (
            (
                P.MKDIR,
                lambda x: fp.GfxMkdirReq(
                    pargfid=ROOT_GFID, bname="d", mode=0o755, umask=0, xdata=x
                ),
            ),
            (
                P.CREATE,
                lambda x: fp.GfxCreateReq(
                    pargfid=ROOT_GFID,
                    bname="f",
                    flags=os.O_RDWR | os.O_CREAT | os.O_EXCL,
                    mode=0o644,
                    umask=0,
                    xdata=x,
                ),
            ),
        ):
            rsp = c.call(proc, req(xdata(stale)))
            assert (rsp.op_ret, rsp.op_errno) == (-1, errno.EIO)
            assert "glusterfs.preop.check.failed" in (rsp.xdata or {})
            rsp = c.call(proc, req(xdata(layout)))
            assert rsp.op_ret == 0
        for name in ("d", "f"):
            with pytest.raises(OSError) as ei:
                os.getxattr(brick / name, "trusted.glusterfs.dht")
            assert ei.value.errno == errno.ENODATA
