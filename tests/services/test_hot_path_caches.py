"""The maps that make a value once per distinct input on the brick's hot path (issue 9,
"Performance notes" 5): each answers only for exactly its input, and a client that sends
endless distinct inputs makes none of them grow past its bound."""

from __future__ import annotations

import os
import uuid
from types import SimpleNamespace
from typing import Any

from gfrpc.services.brick.fops import common
from gfrpc.services.brick.store import handles, iatt
from gfrpc.wire.rpcmsg import GlusterCredV3


def _request(cred: object) -> Any:
    return SimpleNamespace(credential=cred)


def _cred(uid: int, groups: tuple[int, ...] = ()) -> GlusterCredV3:
    return GlusterCredV3(pid=1, uid=uid, gid=uid, groups=groups, lk_owner=b"\0" * 8)


def test_caller_is_the_credentials_own_and_never_another_ones() -> None:
    """Rule: caller_of answers from the map only for the very credential object it was made
    from; an entry whose id now belongs to another credential (ids are reused once objects
    die) is not taken for it."""
    root, user = _cred(0), _cred(1000, (1000, 4))
    assert common.caller_of(_request(user)) == common.Caller(1000, 1000, (1000, 4))
    assert common.caller_of(_request(root)) == common.Caller(0, 0, ())
    assert common.caller_of(_request(user)) is common.caller_of(_request(user))
    # plant an entry under `other`'s id that was made for `root`: it must not be used
    other = _cred(2000)
    common._CALLERS[id(other)] = (root, common.Caller(0, 0, ()))
    assert common.caller_of(_request(other)) == common.Caller(2000, 2000, ())


def test_caller_map_stays_bounded_under_endless_credentials() -> None:
    """Rule: distinct credentials (a hostile client can send any number) never make the map
    hold more than its bound."""
    for uid in range(common._CALLERS_MAX * 3):
        common.caller_of(_request(_cred(uid)))
        assert len(common._CALLERS) <= common._CALLERS_MAX


def _stat(**change: int) -> os.stat_result:
    base = os.stat("/")
    fields = list(base)
    extra = {
        "st_atime": base.st_atime,
        "st_mtime": base.st_mtime,
        "st_ctime": base.st_ctime,
        "st_atime_ns": base.st_atime_ns,
        "st_mtime_ns": base.st_mtime_ns,
        "st_ctime_ns": base.st_ctime_ns,
        "st_blksize": base.st_blksize,
        "st_blocks": base.st_blocks,
        "st_rdev": base.st_rdev,
    }
    names = ["st_mode", "st_ino", "st_dev", "st_nlink", "st_uid", "st_gid", "st_size"]
    for key, value in change.items():
        if key in names:
            fields[names.index(key)] = value
        else:
            extra[key] = value
    return os.stat_result(fields[:10], extra)


def test_iatt_is_reused_only_for_identical_inputs() -> None:
    """Rule: an unchanged stat gives the same iatt again; any changed field (size, times,
    links, owner) or another gfid gives a new iatt with the new value."""
    gfid = uuid.uuid4().bytes
    st = _stat()
    first = iatt.iatt_fields(gfid, st, handle_link=True)
    assert iatt.iatt_fields(gfid, _stat(), handle_link=True) is first
    assert iatt.iatt_fields(gfid, _stat(st_size=st.st_size + 1)).ia_size == st.st_size + 1
    assert iatt.iatt_fields(gfid, _stat(st_uid=4242)).ia_uid == 4242
    later = iatt.iatt_fields(gfid, _stat(st_mtime_ns=st.st_mtime_ns + 1))
    assert later.ia_mtime_nsec == (st.st_mtime_ns + 1) % 1_000_000_000
    other = uuid.uuid4().bytes
    assert bytes(iatt.iatt_fields(other, st).ia_gfid) == other


def test_iatt_map_stays_bounded_under_endless_inodes() -> None:
    """Rule: iatts of ever new inputs never make the map hold more than its bound."""
    st = _stat()
    for n in range(iatt._MADE_MAX + 100):
        iatt.iatt_fields(n.to_bytes(16, "big"), st)
        assert len(iatt._MADE) <= iatt._MADE_MAX


def test_handle_path_map_stays_bounded_and_exact() -> None:
    """Rule: a gfid's handle path is its own (a view of a gfid gives the same path), and ever
    new gfids never make the map hold more than ``_HANDLE_PATHS_MAX`` (16384) paths."""
    gfid = bytes.fromhex("0123456789abcdef0123456789abcdef")
    path = "01/23/01234567-89ab-cdef-0123-456789abcdef"
    assert handles.HandleIndex.handle_path(gfid) == path
    assert handles.HandleIndex.handle_path(memoryview(bytearray(gfid))) == path
    assert handles._HANDLE_PATHS_MAX == 16384
    for n in range(17000):
        handles.HandleIndex.handle_path(n.to_bytes(16, "big"))
        assert len(handles._HANDLE_PATHS) <= 16384


def test_key_set_memo_keeps_little_of_what_a_client_chooses() -> None:
    """Rule: a LOOKUP's key sets are answered every time but kept only within bounds a client
    cannot push: at most 256 sets, each of at most 16 string keys of 1 KiB in all; a set of
    huge keys, of many keys or of a key that is not a string is answered and not kept."""
    from gfrpc.services.brick.store.xattr import KEPT_CHARS, KEPT_KEYS, KEPT_SETS, KeySetMemo

    calls = []

    def names(keys: tuple[object, ...]) -> tuple[str, ...]:
        calls.append(keys)
        return tuple(k for k in keys if isinstance(k, str) and k.startswith("user."))

    memo = KeySetMemo()
    usual = ("glusterfs.content", "security.capability", "user.x", "gfid-req")
    assert memo.answer(usual, names) == ("user.x",)
    assert memo.answer(usual, names) == ("user.x",) and len(calls) == 1  # kept
    hostile: list[tuple[object, ...]] = [
        ("user." + "k" * KEPT_CHARS,),  # one huge key
        tuple(f"user.{i}" for i in range(KEPT_KEYS + 1)),  # too many keys
        ("user.a", 7),  # not all strings
    ]
    for keys in hostile:
        for _ in range(2):
            memo.answer(keys, names)
    assert len(calls) == 1 + 2 * len(hostile)  # answered each time, never kept
    for i in range(10 * KEPT_SETS):
        assert memo.answer((f"user.{i}",), names) == (f"user.{i}",)
    assert len(memo._kept) <= KEPT_SETS
