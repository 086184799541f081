"""``gluster://`` through fsspec against a real GlusterFS 10.3 volume (glusterd + glusterfsd):
fsspec's own test kit (copy, get, put, open, pipe), pandas, pyarrow and the mapper once, and
a server-side copy (COPY_FILE_RANGE) answered by the real brick's posix xlator.

One volume for the whole module: the kit is long. Run it as ``flock /tmp/gfrpc-interop.lock
tools/in-netns .venv/bin/pytest -q tests/interop/test_fsspec_interop.py``.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fsspec.tests import abstract

import fsspec
from gfrpc.fsspec import GlusterFileSystem
from gfrpc.testing.realgluster import GlusterD, GlusterVolume

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def real_volume(glusterd: GlusterD) -> Iterator[GlusterVolume]:
    vol = glusterd.create_volume(f"gfrpc-fsspec-{glusterd.root.name[-6:]}")
    yield vol
    glusterd.delete_volume(vol.name)


def _options(vol: GlusterVolume) -> dict[str, Any]:
    host, port = vol.glusterd_address
    return {"host": host, "port": port, "volume": vol.name}


@pytest.fixture
def gfs(real_volume: GlusterVolume) -> GlusterFileSystem:
    return GlusterFileSystem(**_options(real_volume))


class RealGlusterKitFixtures(abstract.AbstractFixtures):  # type: ignore[misc]
    @pytest.fixture
    def fs(self, gfs: GlusterFileSystem) -> GlusterFileSystem:
        return gfs

    @pytest.fixture
    def fs_join(self) -> Callable[..., str]:
        return posixpath.join

    @pytest.fixture
    def fs_path(self, gfs: GlusterFileSystem) -> Iterator[str]:
        path = f"/kit-{uuid.uuid4().hex[:10]}"
        gfs.makedirs(path)
        yield path
        gfs.rm(path, recursive=True)

    @pytest.fixture
    def supports_empty_directories(self) -> bool:
        return True


class TestRealCopy(abstract.AbstractCopyTests, RealGlusterKitFixtures):  # type: ignore[misc]
    pass


class TestRealGet(abstract.AbstractGetTests, RealGlusterKitFixtures):  # type: ignore[misc]
    pass


class TestRealPut(abstract.AbstractPutTests, RealGlusterKitFixtures):  # type: ignore[misc]
    pass


class TestRealOpen(abstract.AbstractOpenTests, RealGlusterKitFixtures):  # type: ignore[misc]
    pass


class TestRealPipe(abstract.AbstractPipeTests, RealGlusterKitFixtures):  # type: ignore[misc]
    pass


@contextmanager
def _counted(fs: GlusterFileSystem) -> Iterator[Counter[str]]:
    counts: Counter[str] = Counter()
    senders = ("send_fop", "call_fop", "forget_fop")  # every FOP leaves through one of them
    for conn in fs.volume.bricks:
        for name in senders:
            original = getattr(conn, name)

            def counting(proc: Any, *args: Any, _orig: Any = original, **kw: Any) -> Any:
                counts[getattr(proc, "name", str(proc))] += 1
                return _orig(proc, *args, **kw)

            setattr(conn, name, counting)
    try:
        yield counts
    finally:
        for conn in fs.volume.bricks:
            for name in senders:
                delattr(conn, name)


def test_cp_file_is_copy_file_range_on_the_real_brick(
    gfs: GlusterFileSystem, real_volume: GlusterVolume
) -> None:
    """GlusterFS 10.3's brick answers COPY_FILE_RANGE (posix's copy_file_range(2)): a 5 MiB
    copy sends it and no READ or WRITE, and the copy on the brick is exact."""
    data = os.urandom(5 << 20)
    top = f"/cfr-{uuid.uuid4().hex[:8]}"
    gfs.pipe_file(f"{top}/src", data)
    with _counted(gfs) as calls:
        gfs.cp_file(f"{top}/src", f"{top}/dst")
    assert calls["COPY_FILE_RANGE"] >= 1 and calls["READ"] == calls["WRITE"] == 0, calls
    on_brick = (real_volume.brick_path / top[1:] / "dst").read_bytes()
    assert hashlib.sha256(on_brick).digest() == hashlib.sha256(data).digest()
    gfs.rm(top, recursive=True)


def test_users_paths_on_real_glusterfs(gfs: GlusterFileSystem, real_volume: GlusterVolume) -> None:
    """pandas ``to_csv``/``read_csv`` by ``gluster://`` URL, pyarrow Parquet through the file
    system object and a ``get_mapper`` round trip all work against the real volume."""
    host, port = real_volume.glusterd_address
    top = f"/users-{uuid.uuid4().hex[:8]}"
    base = f"gluster://{host}:{port}/{real_volume.name}{top}"
    df = pd.DataFrame({"id": range(500), "v": [i * 0.5 for i in range(500)]})
    df.to_csv(f"{base}/frame.csv", index=False)
    pd.testing.assert_frame_equal(pd.read_csv(f"{base}/frame.csv"), df)

    table = pa.Table.from_pandas(df, preserve_index=False)
    pq.write_table(table, f"{top}/t.parquet", filesystem=gfs)
    assert pq.read_table(f"{top}/t.parquet", filesystem=gfs).equals(table)

    m = fsspec.get_mapper(f"{base}/zarr")
    m[".zgroup"], m["a/0.0"] = b"{}", b"\x01" * 4096
    assert dict(m.items()) == {".zgroup": b"{}", "a/0.0": b"\x01" * 4096}
    assert (real_volume.brick_path / top[1:] / "zarr" / "a" / "0.0").stat().st_size == 4096
    gfs.rm(top, recursive=True)
