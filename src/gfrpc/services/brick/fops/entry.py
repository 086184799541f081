"""FOP actors that name entries: LOOKUP, MKNOD, MKDIR, CREATE, SYMLINK, LINK, UNLINK, RMDIR,
RENAME.

GlusterFS 10.3 facts kept here:

* LOOKUP is by gfid (``bname`` empty: a nameless lookup, reply ``poststat`` zero) or by
  parent gfid + name; the reply's ``prestat`` is the entry and ``poststat`` the parent
  (``server4_post_lookup``). The root answers gfid 00..01 and ino 1. A missing entry is
  ``op_ret -1, ENOENT`` with no xdata; gfrpc fills the postparent there, as the posix xlator
  does (a real 10.3 brick's resolver usually answers first and sends it zeroed; clients do not
  use it on failure).
* quick-read (in glusterd's default client graph) asks a LOOKUP for the bytes of a small
  regular file (``glusterfs.content`` in the xdata, with its size limit) and then serves
  OPEN and READ of it from its cache; posix answers it in the reply's xdata. gfrpc does too,
  for files of at most :data:`MAX_CONTENT` bytes, and only to a caller who may read the file
  (``content_size``).
* ``gfid-req`` in the xdata of LOOKUP (for entries that have no gfid yet), CREATE, MKDIR,
  MKNOD and SYMLINK is the gfid the new inode gets (the store enforces the rules).
* New entries belong to the caller's uid/gid (GlusterFS's posix sets the frame's ids), with
  ``mode & ~umask``. Names are one path component: one with '/' is EPERM, as GlusterFS's
  server resolver answers; NUL, '.', '..' and '' are EINVAL (glusterfsd lets the last three
  reach the kernel: EEXIST for MKDIR, ENOENT for UNLINK); ``.glusterfs`` in the root is EPERM
  (the store refuses them; nothing outside DIR is touched). A parent gfid that is not a
  directory is EPERM, as the resolver answers (tests/interop/test_entry_errors_interop.py).
* Access control is posix-acl's (``access.py``): a named LOOKUP needs search permission on
  the parent; MKNOD, MKDIR, CREATE, SYMLINK, UNLINK and RMDIR need write and search permission
  on it; RENAME and LINK only write permission on the parents; UNLINK, RMDIR, RENAME and LINK
  obey the sticky bit. The entry an UNLINK/RMDIR/RENAME removes is resolved first, so a
  missing one is ENOENT before any permission is looked at (the server's resolver). A CREATE
  without O_EXCL of an existing name opens it with only the parent checked, as GlusterFS 10.3
  does (OPEN's rule too with strict mode (``FopCall.strict``)). MKNOD of a character or block
  device is anyone's, as in GlusterFS 10.3 (the brick opens no device node); with strict mode,
  root's alone (mknod(2)'s rule).
* The other xattr-named keys in the xdata of MKNOD, MKDIR, SYMLINK and CREATE are set on the
  new entry with XATTR_CREATE, as posix's ``posix_entry_create_xattr_set`` does (DHT sends its
  ``trusted.glusterfs.dht.linkto`` this way when it makes a linkto file); ``trusted.gfid``
  and the POSIX ACL keys are not, and a key that cannot be set is logged, not fatal.
* DHT's flags (posix's ``posix_mknod``/``posix_link``): an MKNOD with ``glusterfs-internal-fop``
  (present, any value) whose ``gfid-req`` is a live regular file hard-links the new name to it
  (a linkto of a hard-linked file); gfrpc honours it only from a trusted caller (root or an
  internal pid: DHT makes linkto files as root), so it never widens what LINK allows. An MKNOD
  or LINK with ``force-replace`` first removes a stale linkto file (mode exactly ``S_ISVTX``)
  at the name. The store enforces the details (``store.entries``).
* DHT's parent-layout pre-check: a CREATE or MKDIR whose xdata names a key in
  ``glusterfs.preop.parent.key`` (DHT sends ``trusted.glusterfs.dht``, the parent's layout as
  it knows it) fails with EIO and ``glusterfs.preop.check.failed`` in the reply xdata when the
  parent's on-disk value differs (DHT then refreshes its layout and retries), and never sets
  that key on the new entry (posix removes it from the xdata after the check). A CREATE of an
  existing name is not checked, as in posix. gfrpc leaves the named key out for every create.
"""

from __future__ import annotations

import errno
import logging
import os
import stat as st_
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from gfrpc.programs import fops as fp
from gfrpc.services.brick import access
from gfrpc.services.brick.fops.common import (
    CONTENT_KEY,
    XATTR_NAMESPACES,
    FopCall,
    FopReply,
    Xdata,
    asked_xattrs,
    gfid_req,
    open_flags,
)
from gfrpc.services.brick.fops.xattr import xattr_bytes
from gfrpc.services.brick.store import Made
from gfrpc.wire.gfdict import GfValue
from gfrpc.wire.xdr import XdrStruct

if TYPE_CHECKING:
    from gfrpc.services.brick.fops import FopService

_WX = os.W_OK | os.X_OK
_DEVICES: Final = (st_.S_IFCHR, st_.S_IFBLK)
log = logging.getLogger("gfrpc.brick")


def lookup(svc: FopService, call: FopCall) -> FopReply:
    a = call.args
    store = svc.store
    reader = None if access.trusted(call) else call.caller
    if a.bname:
        # the parent's search permission is checked on the stat its iatt comes from
        entry, parent = store.lookup_entry(
            bytes(a.pargfid), a.bname, gfid_req(a.xdata), searcher=reader
        )
        if entry is None:
            return fp.GfxCommon2IattRsp(op_ret=-1, op_errno=errno.ENOENT, poststat=parent)
        asked = a.xdata
        size = content_size(entry, asked) if asked and CONTENT_KEY in asked else -1
        xdata = asked_xattrs(store, entry.ia_gfid, asked, size, reader)
        return fp.GfxCommon2IattRsp(
            op_ret=0, op_errno=0, xdata=xdata, prestat=entry, poststat=parent
        )
    gfid = bytes(a.gfid)
    if gfid == bytes(16):
        raise OSError(errno.EINVAL, "nameless lookup without a gfid")
    iatt = store.stat(gfid)
    asked = a.xdata
    size = content_size(iatt, asked) if asked and CONTENT_KEY in asked else -1
    xdata = asked_xattrs(store, gfid, asked, size, reader)
    return fp.GfxCommon2IattRsp(op_ret=0, op_errno=0, xdata=xdata, prestat=iatt)


#: the largest file whose bytes a LOOKUP carries: quick-read's default ``max-file-size``
#: (a client may ask for up to 1000 KiB; bigger files are read with OPEN and READ instead)
MAX_CONTENT: Final = 64 * 1024


def _asked_content_size(value: object) -> int:
    """The size limit a client sent with :data:`CONTENT_KEY` (a uint64, or its decimal text)."""
    if isinstance(value, GfValue):
        value = value.value
    if isinstance(value, int):
        return value
    if isinstance(value, bytes | bytearray | memoryview | str):
        text = value.encode() if isinstance(value, str) else bytes(value).rstrip(b"\0")
        return int(text) if text.isdigit() and len(text) < 21 else -1
    return -1


def content_size(iatt: XdrStruct, xdata: Xdata) -> int:
    """quick-read's LOOKUP content: the size of the bytes to answer under :data:`CONTENT_KEY`
    (which ``xdata`` has), or -1 for none. There is content only for a regular file no bigger
    than the limit asked and :data:`MAX_CONTENT`, and only for a caller who may read it: posix's
    LOOKUP answers anyone who may look the name up, and the client then serves the bytes
    without the OPEN that would have checked the permission. That check is the store's, on
    the stat of the fd it reads through (``asked_xattrs``' ``reader``). The store reads them
    only if the file still has the size the reply's iatt says; otherwise the reply has no
    content and the client opens and reads."""
    if not st_.S_ISREG(iatt.mode):
        return -1
    size: int = iatt.ia_size
    if size > MAX_CONTENT or size > _asked_content_size(xdata[CONTENT_KEY]):
        return -1
    return size


_NOT_SET_AT_CREATE = ("trusted.gfid", "system.posix_acl_access", "system.posix_acl_default")


PREOP_PARENT_KEY = "glusterfs.preop.parent.key"
PREOP_CHECK_FAILED = "glusterfs.preop.check.failed"


def _preop_key(xdata: Xdata | None) -> str | None:
    """The xattr name DHT asks the parent to be checked against (``glusterfs.preop.parent.key``),
    when its value is in the xdata too."""
    if not xdata or PREOP_PARENT_KEY not in xdata:  # the usual case: DHT asks nothing
        return None
    key = xdata[PREOP_PARENT_KEY]
    if isinstance(key, bytes | bytearray):
        key = bytes(key).rstrip(b"\0").decode("utf-8", "replace")
    if isinstance(key, str):
        key = key.rstrip("\0")
    return key if isinstance(key, str) and xdata is not None and key in xdata else None


def _stale_parent(svc: FopService, pargfid: bytes, xdata: Xdata | None) -> bool:
    """Whether the parent's on-disk value of the pre-check key differs from the request's
    (a missing xattr is the getxattr error, as in posix)."""
    key = _preop_key(xdata)
    if key is None or xdata is None:
        return False
    disk = svc.store.getxattr(pargfid, key)[key]
    if disk == xattr_bytes(xdata[key]):
        return False
    log.info(
        "pre-check of %s on parent %s failed: the client's layout is stale", key, pargfid.hex()
    )
    return True


def _set_entry_xattrs(svc: FopService, gfid: bytes, xdata: Xdata | None) -> None:
    """Set the xattr-named keys of a create request's xdata on the new entry (see above)."""
    skip = _preop_key(xdata)
    for key, value in (xdata or {}).items():
        if (
            not isinstance(key, str)
            or not key.startswith(XATTR_NAMESPACES)
            or key in _NOT_SET_AT_CREATE
            or key == skip
        ):
            continue
        try:
            svc.store.setxattr(bytes(gfid), [(key, xattr_bytes(value))], os.XATTR_CREATE)
        except OSError as exc:
            log.info("setting %s on a new entry failed: %s", key, exc.strerror or exc)


INTERNAL_FOP_KEY = "glusterfs-internal-fop"
FORCE_REPLACE_KEY = "force-replace"


def _has(xdata: Xdata | None, key: str) -> bool:
    """Whether a flag key is in the request's xdata (posix tests presence, not the value)."""
    return xdata is not None and key in xdata


def _make(
    svc: FopService,
    call: FopCall,
    make: Callable[..., Made],
    *,
    layout: bool = False,
    **how: object,
) -> FopReply:
    """MKDIR, MKNOD and SYMLINK: w+x on the parent (and, with ``layout``, DHT's pre-check of
    it), then ``make`` (the store's method) makes the entry named by the request, with ``how``
    (the FOP's own arguments), as the caller, with the request's umask and ``gfid-req``; the
    xattr keys of the xdata are set on it and the reply is it and its parent before and after."""
    a = call.args
    pargfid = bytes(a.pargfid)
    access.require_parent_of_new(svc.store, pargfid, a.bname, _WX, call)
    if layout and _stale_parent(svc, pargfid, a.xdata):
        return fp.GfxCommon3IattRsp(op_ret=-1, op_errno=errno.EIO, xdata={PREOP_CHECK_FAILED: 1})
    gfid, stat, pre, post = make(
        pargfid, a.bname, umask=a.umask, gfid_req=gfid_req(a.xdata), owner=call.caller, **how
    )
    _set_entry_xattrs(svc, gfid, a.xdata)
    return fp.GfxCommon3IattRsp(op_ret=0, op_errno=0, stat=stat, preparent=pre, postparent=post)


def mkdir(svc: FopService, call: FopCall) -> FopReply:
    return _make(svc, call, svc.store.mkdir, layout=True, mode=call.args.mode)


def mknod(svc: FopService, call: FopCall) -> FopReply:
    a = call.args
    if call.strict and not access.trusted(call) and st_.S_IFMT(a.mode) in _DEVICES:
        # mknod(2)'s rule for a caller without CAP_MKNOD; glusterfsd makes a device node for
        # anyone (its fsuid changes keep CAP_MKNOD), which gfrpc then never opens
        raise OSError(errno.EPERM, "only root makes device nodes")
    return _make(
        svc,
        call,
        svc.store.mknod,
        mode=a.mode,
        rdev=a.dev & 0xFFFFFFFF,
        internal=_has(a.xdata, INTERNAL_FOP_KEY) and access.trusted(call),
        force_replace=_has(a.xdata, FORCE_REPLACE_KEY),
    )


def symlink(svc: FopService, call: FopCall) -> FopReply:
    return _make(svc, call, svc.store.symlink, target=call.args.linkname)


def create(svc: FopService, call: FopCall) -> FopReply:
    a = call.args
    pargfid = bytes(a.pargfid)
    if a.flags & os.O_EXCL:  # the name must not exist: EEXIST comes first
        access.require_parent_of_new(svc.store, pargfid, a.bname, _WX, call)
    else:
        access.require_parent(svc.store, pargfid, _WX, call)
    if call.strict and not a.flags & os.O_EXCL and not access.trusted(call):
        try:  # an existing file is opened: OPEN's rule (GlusterFS 10.3 does not check it)
            existing = svc.store.lookup(pargfid, a.bname)[0].ia_gfid
        except FileNotFoundError:
            pass
        else:
            access.require(svc.store, existing, access.open_mask(a.flags), call)
    if _stale_parent(svc, pargfid, a.xdata) and not _exists(svc, pargfid, a.bname):
        return fp.GfxCreateRsp(op_ret=-1, op_errno=errno.EIO, xdata={PREOP_CHECK_FAILED: 1})
    call.client.fds.check_room()  # EMFILE before anything is made on disk
    gfid, f, stat, pre, post = svc.store.create(
        pargfid,
        a.bname,
        open_flags(a.flags),
        a.mode,
        umask=a.umask,
        gfid_req=gfid_req(a.xdata),
        owner=call.caller,
    )
    _set_entry_xattrs(svc, gfid, a.xdata)
    fd_no = call.client.add_fd(f)
    return fp.GfxCreateRsp(
        op_ret=0, op_errno=0, stat=stat, fd=fd_no, preparent=pre, postparent=post
    )


def _exists(svc: FopService, pargfid: bytes, name: str) -> bool:
    try:
        svc.store.lookup(pargfid, name)
    except FileNotFoundError:
        return False
    return True


def link(svc: FopService, call: FopCall) -> FopReply:
    a = call.args
    store = svc.store
    if not access.trusted(call):
        owner = store.stat(bytes(a.oldgfid)).ia_uid
        access.require_parent_of_new(
            store,
            bytes(a.newgfid),
            a.newbname,
            access.W,
            call,
            lambda: access.require_sticky(store, bytes(a.newgfid), owner, call),
        )
    stat, pre, post = svc.store.link(
        bytes(a.oldgfid),
        bytes(a.newgfid),
        a.newbname,
        force_replace=_has(a.xdata, FORCE_REPLACE_KEY),
    )
    return fp.GfxCommon3IattRsp(op_ret=0, op_errno=0, stat=stat, preparent=pre, postparent=post)


def unlink(svc: FopService, call: FopCall) -> FopReply:
    a = call.args
    access.require_removable(svc.store, bytes(a.pargfid), a.bname, call)
    pre, post = svc.store.unlink(bytes(a.pargfid), a.bname, keep_acls=not access.trusted(call))
    return fp.GfxCommon2IattRsp(op_ret=0, op_errno=0, prestat=pre, poststat=post)


def rmdir(svc: FopService, call: FopCall) -> FopReply:
    a = call.args
    access.require_removable(svc.store, bytes(a.pargfid), a.bname, call)
    pre, post = svc.store.rmdir(bytes(a.pargfid), a.bname, keep_acls=not access.trusted(call))
    return fp.GfxCommon2IattRsp(op_ret=0, op_errno=0, prestat=pre, poststat=post)


def rename(svc: FopService, call: FopCall) -> FopReply:
    a = call.args
    old, new = bytes(a.oldgfid), bytes(a.newgfid)
    store = svc.store
    trusted = access.trusted(call)
    if not trusted:
        owner = access.entry_owner(store, old, a.oldbname)
        access.require_parent(store, old, access.W, call)
        access.require_parent(store, new, access.W, call)
        access.require_sticky(store, old, owner, call)
        try:
            victim = access.entry_owner(store, new, a.newbname)
        except FileNotFoundError:
            pass
        else:
            access.require_sticky(store, new, victim, call)
    r = svc.store.rename(old, a.oldbname, new, a.newbname, keep_acls=not trusted)
    return fp.GfxRenameRsp(
        op_ret=0,
        op_errno=0,
        stat=r.stat,
        preoldparent=r.preoldparent,
        postoldparent=r.postoldparent,
        prenewparent=r.prenewparent,
        postnewparent=r.postnewparent,
    )
