"""Small files in one call: quick-read's LOOKUP, done by the client.

Theory of operation. GlusterFS's quick-read translator asks the LOOKUP of a regular file for
the file's bytes (``glusterfs.content`` in the xdata, with the largest size it wants), and
the brick's posix layer answers them in the reply's xdata when the file is no bigger; the
OPEN and READ that follow are then served from those bytes. gfrpc's client does the same
for reads of a whole file (``Volume.read_small``, used by ``Volume.read_bytes``, fsspec's
``cat_file`` and fsspec's read-only files): one LOOKUP instead of a LOOKUP (or a cached
path), an OPEN, a READ and a RELEASE.

Who may read the bytes. posix answers them to anyone who may look the name up: the OPEN that
would have checked read permission is never sent. So the client hands them on only for a
file that *every* caller may read:

* the mode grants read to owner, group and others alike (``r--r--r--`` at least). The class
  a brick puts the caller in is the brick's to decide, not the client's: root may be squashed
  (``server.root-squash``), the groups may be the brick's own list (``server.manage-gids``),
  so the client does not guess which class applies; a file some class may not read is opened,
  and the brick decides;
* and the file has no POSIX access ACL: a named entry of an ACL may refuse what the mode bits
  allow. The LOOKUP asks for ``system.posix_acl_access`` (GlusterFS's posix-acl translator
  asks for it on every LOOKUP anyway and passes it on in the reply); its presence is enough.

Anything short of that falls back to OPEN and READ, where the brick decides: no bytes in
the reply (a bigger file, a brick that does not answer them, a gfrpc brick that refused
because the caller may not read), bytes of another size than the iatt says, a symbolic
link, a directory, a DHT linkto file. This is not where security lies (the credential is
the client's own claim, and the brick chooses what it sends); it keeps the client's answers
those of ``open(2)`` and ``read(2)``.
"""

from __future__ import annotations

import stat
from typing import Any, Final

from gfrpc.wire.gfdict import GfType, GfValue

from .fop_calls import xattr_bytes

__all__ = [
    "ACL_KEY",
    "CONTENT_KEY",
    "QUICK_READ_MAX",
    "content_of",
    "content_request",
    "readable_by_all",
]

#: quick-read's request for a file's bytes in the LOOKUP reply (``GF_CONTENT_KEY``)
CONTENT_KEY: Final = "glusterfs.content"
#: the POSIX access ACL's xattr (``POSIX_ACL_ACCESS_XATTR``)
ACL_KEY: Final = "system.posix_acl_access"
#: the largest file read this way: quick-read's default ``max-file-size``, and the gfrpc
#: brick's limit (bigger files are opened and read)
QUICK_READ_MAX: Final = 64 * 1024

_REQUEST: Final = {
    CONTENT_KEY: GfValue(GfType.UINT, QUICK_READ_MAX),  # quick-read sends a uint64
    ACL_KEY: GfValue(GfType.INT, 0),  # posix-acl sends an int8 0: a name to fill in
}


def content_request(extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The LOOKUP xdata that asks for a small file's bytes and its ACL (with ``extra``)."""
    return {**extra, **_REQUEST} if extra else dict(_REQUEST)


#: read permission for the owner, the group and others
_READ_ALL: Final = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH


def readable_by_all(mode: int) -> bool:
    """Whether ``mode`` lets every caller read, whichever class a brick puts it in."""
    return mode & _READ_ALL == _READ_ALL


def content_of(rsp: Any) -> bytes | None:
    """The file's bytes from a LOOKUP reply to :func:`content_request`, or None when the
    caller must open and read the file instead (module notes: every case)."""
    iatt = rsp.prestat
    xdata = rsp.xdata
    if not xdata or CONTENT_KEY not in xdata or not stat.S_ISREG(iatt.mode):
        return None
    if ACL_KEY in xdata or not readable_by_all(iatt.mode):
        return None
    data = xattr_bytes(xdata[CONTENT_KEY])
    if data is None or len(data) != iatt.ia_size:
        return None
    return data
