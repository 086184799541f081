"""The gfrpc client API: ``Volume`` (a GlusterFS volume, pathlib/os-like) and its files."""

from gfrpc.client.file import DirEntry, File, StatResult
from gfrpc.client.volume import Volume

__all__ = ["DirEntry", "File", "StatResult", "Volume"]
