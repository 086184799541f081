"""Whole-tree copies between local directories and GlusterFS volumes (the engine of ``gfrpc cp``).

Theory of operation:

* **Two kinds of place, one interface.** A :class:`Store` is where files live: ``LocalStore``
  (the ``os`` module) or ``VolumeStore`` (a connected :class:`~gfrpc.client.volume.Volume`).
  The engine speaks only to stores, so local→volume, volume→local, volume→volume and
  local→local are the same code. A :class:`Location` is a store, a path in it and the text
  the user typed for it (what error messages show, as GNU cp shows its operands).
* **Plan, then run.** The plan examines each source (``lstat`` with ``-r``, ``stat`` without:
  GNU cp's ``-r`` implies ``--no-dereference``, so links met in a tree, and links named on
  the command line, are copied as links; without ``-r`` a link is followed) and walks the
  directories (the one place that lists a directory is :meth:`Store.scandir`). It yields
  items in top-down order and the totals a progress bar needs. The run makes the
  directories in that order on the calling thread, copies the files on ``jobs`` threads and
  makes the links; last it gives directories their modes (and with ``-p`` owners and times)
  bottom-up, because adding entries changes a directory's mtime and a read-only mode would
  have kept the files out.
* **Data path.** Each thread owns one buffer of ``CHUNK`` bytes. A read asks for at most the
  bytes left by the source's size plus one, so a short read is the end of the file without
  one more round trip; a volume's ``File`` pipelines one buffer as ``CHUNK / 1 MiB`` READs
  (or WRITEs) in flight, so a large file streams at the window's rate.
* **Errors** never stop the rest: each failure is one message in GNU cp's words (``cannot
  stat 'x': No such file or directory``) handed to ``on_error``; the copy returns how many
  there were. A directory that could not be made or listed loses its subtree only.
"""

from .engine import CHUNK, CopyOptions, NullProgress, Progress, copy, strerror, walk
from .stores import LocalStore, Location, StatLike, Store, VolumeStore

__all__ = [
    "CHUNK",
    "CopyOptions",
    "LocalStore",
    "Location",
    "NullProgress",
    "Progress",
    "StatLike",
    "Store",
    "VolumeStore",
    "copy",
    "strerror",
    "walk",
]
