"""``gluster://`` for fsspec, and through it pandas, pyarrow, Dask and zarr (issue 11).

Installing gfrpc with the ``fsspec`` extra registers :class:`GlusterFileSystem` under the
protocols ``gluster`` and ``glusterfs`` (the ``fsspec.specs`` entry points), so
``pandas.read_csv("gluster://host/vol/data.csv")`` and ``fsspec.filesystem("gluster", ...)``
work without importing anything from gfrpc. ``filesystem.py`` has the theory of operation.
"""

from __future__ import annotations

from .file import GlusterFile
from .filesystem import GlusterFileSystem

__all__ = ["GlusterFile", "GlusterFileSystem"]
