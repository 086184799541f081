"""The brick's per-connection state (``services/brick/session.py``) and the store's data path
(``store/data.py``): one typed BrickSession per connection, made at SETVOLUME, closed at
disconnect; WRITE's short-write loop."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pytest
from brick_fops_support import ROOT, running_brick

from gfrpc.services.brick.session import (
    SESSION_KEY,
    BrickSession,
    find_session,
    open_session,
)
from gfrpc.services.brick.store import ROOT_GFID, PosixStore
from gfrpc.services.brick.store import data as store_data

pytestmark = pytest.mark.timeout(60)


def test_one_typed_session_per_connection() -> None:
    """open_session makes one BrickSession under the single key and returns that same object
    afterwards (its fd cap is the first caller's); find_session refuses a foreign object."""
    session: dict[str, object] = {}
    assert find_session(session) is None
    first = open_session(session, max_open_fds=3)
    assert list(session) == [SESSION_KEY] and isinstance(first, BrickSession)
    assert open_session(session, max_open_fds=99) is first
    assert first.client.fds.max_open == 3 and first.identity is None
    with pytest.raises(TypeError):
        find_session({SESSION_KEY: "not a session"})


def test_closed_session_refuses_late_fds(store: PosixStore) -> None:
    """A connection that went away before its SETVOLUME finished has a closed session: an fd
    registered afterwards is closed at once (ENOTCONN), nothing stays open."""
    session: dict[str, object] = {}
    open_session(session).client.close()
    _, f, *_ = store.create(ROOT_GFID, "late", 0, 0o644)
    with pytest.raises(OSError) as info:
        open_session(session).client.add_fd(f)
    assert info.value.errno == errno.ENOTCONN and f.closed


def test_second_setvolume_keeps_the_connections_fds(tmp_path: Path) -> None:
    """A second SETVOLUME on a connection replaces the client's identity but keeps its
    BrickSession, so fds opened before it still work."""
    d = tmp_path / "brick"
    d.mkdir()
    with running_brick(d) as h:
        c = h.client()
        r = c.create(ROOT, "f")
        assert r.op_ret == 0
        assert c.setvolume()[:2] == (0, 0)
        gfid = bytes(r.stat.ia_gfid)
        assert c.write(gfid, r.fd, 0, b"still open").op_ret == 10
        assert c.read(gfid, r.fd, 0, 100)[1] == b"still open"


def test_write_loops_over_short_writes(
    store: PosixStore, brick: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """WRITE writes the whole buffer through short pwrites, and stops (answering what it wrote)
    when a pwrite writes nothing."""
    _, f, *_ = store.create(ROOT_GFID, "short", 0, 0o644)
    real = os.pwrite
    calls: list[int] = []

    def short(fd: int, data: Any, offset: int) -> int:
        calls.append(offset)
        return real(fd, bytes(data)[:3], offset)

    monkeypatch.setattr(store_data.os, "pwrite", short)
    n, _, post = store.write(f, 0, memoryview(b"0123456789"))
    assert (n, post.ia_size, calls) == (10, 10, [0, 3, 6, 9])
    monkeypatch.setattr(store_data.os, "pwrite", lambda fd, data, offset: 0)
    n, pre, post = store.write(f, 10, b"more")
    assert (n, pre.ia_size, post.ia_size) == (0, 10, 10)
    monkeypatch.setattr(store_data.os, "pwrite", real)
    f.close()
    assert (brick / "short").read_bytes() == b"0123456789"
