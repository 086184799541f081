"""Real users' paths to a gfrpc volume through fsspec: pandas CSV by ``gluster://`` URL,
pyarrow Parquet through the file system object, and zarr-style key-value mapping."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import fsspec
from conftest import Cluster
from gfrpc.fsspec import GlusterFileSystem

pytestmark = pytest.mark.timeout(60)


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": range(1000),
            "name": [f"row-{i}" for i in range(1000)],
            "x": [i / 7 for i in range(1000)],
        }
    )


def test_pandas_to_csv_and_read_csv_by_url(cluster: Cluster, top: str) -> None:
    """``DataFrame.to_csv("gluster://...")`` writes into a directory that did not exist and
    ``pandas.read_csv`` of the same URL gives the frame back (found by the entry point)."""
    url = f"{cluster.url}{top}/csv/frame.csv"
    df = _frame()
    df.to_csv(url, index=False, storage_options={"timeout": 10.0})
    back = pd.read_csv(url, storage_options={"timeout": 10.0})
    pd.testing.assert_frame_equal(back, df)


def test_pyarrow_parquet_through_the_file_system(fs: GlusterFileSystem, top: str) -> None:
    """``pyarrow.parquet.write_table``/``read_table`` with ``filesystem=`` the fsspec instance
    round-trip a table (pyarrow wraps it in its FSSpecHandler)."""
    table = pa.Table.from_pandas(_frame(), preserve_index=False)
    path = f"{top}/pq/table.parquet"
    fs.makedirs(f"{top}/pq")
    pq.write_table(table, path, filesystem=fs)
    assert fs.info(path)["size"] > 0
    back = pq.read_table(path, filesystem=fs)
    assert back.equals(table)
    assert pd.read_parquet(f"gluster://127.0.0.1:{fs.port}/{fs.volname}{path}").shape == (1000, 3)


def test_mapper_key_value_round_trip(cluster: Cluster, top: str) -> None:
    """``fsspec.get_mapper("gluster://.../zarr")`` stores, lists, reads and deletes keys with
    slashes in them, as zarr uses it."""
    m = fsspec.get_mapper(f"{cluster.url}{top}/zarr")
    values = {".zgroup": b'{"zarr_format": 2}', "a/.zarray": b"{}", "a/0.0": b"\x00" * 1000}
    for k, v in values.items():
        m[k] = v
    assert sorted(m) == sorted(values)
    assert {k: m[k] for k in m} == values
    assert m.getitems(["a/0.0", ".zgroup"]) == {k: values[k] for k in ("a/0.0", ".zgroup")}
    del m["a/0.0"]
    assert "a/0.0" not in m and len(m) == 2
    with pytest.raises(KeyError):
        m["missing"]
