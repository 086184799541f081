"""Entry operations of ``PosixStore``: create, mkdir, mknod, symlink, link, unlink, rmdir, rename.

Each new entry is made under the (parent gfid, name) lock stripe, then given its owner, its exact
permission bits, its gfid (the client's ``gfid-req`` if any) and its ``.glusterfs`` handle; a
failure on the way removes the entry again, as posix does. See ``store/__init__.py`` for the rules.

DHT's internal entry flags (GlusterFS 10.3 posix, ``posix_mknod`` / ``posix_link``):

* An internal MKNOD (``glusterfs-internal-fop``) whose ``gfid-req`` already has a handle makes
  the new name a hard link to that inode instead of a new inode: DHT makes a linkto file this
  way, and on a brick that already holds a linkto (or the data) of a hard-linked file the new
  linkto must be the same inode. posix links to any existing handle; the store narrows that to
  a regular-file MKNOD of a regular-file inode that still has a name (the handle is not its last
  link). A directory's or the root's gfid, a symlink's, or a stale handle fall through to the
  ordinary creation, whose gfid guard refuses a taken gfid with EEXIST.
* ``force-replace`` on MKNOD/LINK removes a stale DHT linkto file (mode exactly ``S_ISVTX``,
  posix's ``IS_DHT_LINKFILE_MODE``) already at the name, with its handle if that was its last
  other link, before the entry is made; any other existing entry still gives EEXIST.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat as st_
import uuid
from typing import TypeAlias, TypedDict, Unpack

from gfrpc.programs.fops_types import NULL_GFID, ROOT_GFID, IattValue
from gfrpc.services.brick import posix_acl
from gfrpc.services.brick.store.base import (
    MAKEABLE,
    STRIPES,
    Caller,
    Owned,
    RenameResult,
    StoreBase,
    iatt_of,
    log,
)
from gfrpc.services.brick.store.fds import OpenFile
from gfrpc.services.brick.store.handles import (
    O_PATH_DIR,
    O_PATH_NOFOLLOW,
    proc_path,
    read_gfid,
    set_gfid_once,
)
from gfrpc.services.brick.store.iatt import check_gfid, gfid_str

#: the mode bits a new entry may take from its request: permissions and the sticky bit
_NEW_ENTRY_BITS = 0o1777


class NewEntry(TypedDict, total=False):
    """What every method that makes an entry (create, mkdir, mknod, symlink) also takes, by
    keyword: the request's ``umask`` (default 0; a symlink's mode ignores it), its ``gfid_req``
    (default None: a fresh gfid) and the ``owner`` the entry gets (default None: the brick's
    own uid and gid)."""

    umask: int
    gfid_req: bytes | None
    owner: Caller | None


#: what MKDIR, MKNOD and SYMLINK answer: (gfid, stat, preparent, postparent)
Made: TypeAlias = tuple[bytes, IattValue, IattValue, IattValue]


def _unpack(new: NewEntry) -> tuple[int, bytes | None, Caller | None]:
    """``new``'s umask, gfid_req and owner, with their defaults."""
    return new.get("umask", 0), new.get("gfid_req"), new.get("owner")


class EntryOps(StoreBase):
    """The namespace-changing FOPs."""

    # -- creating entries ---------------------------------------------------------------------

    def _claim_gfid(self, gfid_req: bytes | None) -> bytes:
        """The gfid of an entry about to be made: the client's ``gfid-req`` (EINVAL if null,
        EEXIST if the root's or another live inode's: the creation is refused, as posix's
        handle check fails it) or a fresh one. A stale handle of the gfid is replaced."""
        if gfid_req is None:
            return uuid.uuid4().bytes
        gfid = check_gfid(gfid_req)
        if gfid == NULL_GFID:
            raise OSError(errno.EINVAL, "null gfid-req")
        if self._gfid_taken(gfid, None):
            raise OSError(errno.EEXIST, f"gfid {gfid_str(gfid)} is in use")
        return gfid

    def _new_mode(self, pfd: int, pre: os.stat_result, mode: int, umask: int) -> tuple[int, bool]:
        """The permission bits of a new entry in the directory ``pfd`` (stat ``pre``), and
        whether that directory has no default ACL: ``mode & ~umask``, or, when the directory
        has a default ACL, ``mode`` narrowed by that ACL and no umask (posix-acl's
        ``posix_acl_inherit``). The kernel itself copies the default ACL to the new inode when
        the store creates it (and to a new directory's default ACL); the chmod to these bits
        then narrows its USER_OBJ, MASK and OTHER exactly as the inheritance rule says. The
        set-uid and set-gid bits of ``mode`` never count: a new entry of glusterfsd 10.3 has
        neither, even root's (a directory in a set-gid directory inherits set-gid, and SETATTR
        may set both afterwards); the sticky bit stays."""
        mode &= _NEW_ENTRY_BITS
        default = self._acl(pre, posix_acl.DEFAULT_KEY, proc_path(pfd), follow=True)
        if default is None:  # none, or a file system without ACLs
            return mode & ~umask, True
        return posix_acl.inherit(default, mode)[0], False

    def _finish_new(
        self,
        pfd: int,
        pre: os.stat_result,
        name: str,
        fd: int,
        gfid: bytes,
        perm: int,
        owner: Caller | None,
        umask: int = 0,
        st: os.stat_result | None = None,
        *,
        opened: bool = False,
    ) -> tuple[bytes, bool]:
        """Owner, exact permission bits (``perm`` less ``umask``, or narrowed by the parent's
        default ACL), gfid and handle of an entry this call created (``st``: its stat since it
        was made, if the caller has one): (its gfid, whether it got no ACL from its parent).
        ``opened``: ``fd`` is open for I/O (CREATE's), so the changes go through it
        (``fchown``, ``fchmod``, ``fsetxattr``) instead of through its ``/proc`` path, as an
        O_PATH descriptor needs (a path walk each)."""
        if st is None:
            st = os.fstat(fd)
        path: int | str = fd if opened else proc_path(fd)
        no_acl = False
        if not st_.S_ISLNK(st.st_mode):
            perm, no_acl = self._new_mode(pfd, pre, perm, umask)
        if owner is not None:
            # the new inode has no set-uid bit and no group x bit yet, so chown clears nothing
            # and ``st``'s mode stays true
            gid = pre.st_gid if pre.st_mode & st_.S_ISGID else owner.gid
            os.chown(path, owner.uid, gid)
        if not st_.S_ISLNK(st.st_mode):
            keep = st.st_mode & st_.S_ISGID if st_.S_ISDIR(st.st_mode) else 0
            if st_.S_IMODE(st.st_mode) != perm | keep:
                os.chmod(path, perm | keep)
        return set_gfid_once(fd, gfid, opened=opened), no_acl

    def _make_entry(
        self,
        pargfid: bytes,
        name: str,
        expect: int,
        mode: int,
        new: NewEntry,
        rdev: int,
        target: str,
    ) -> Made:
        """Make the entry ``name`` of type ``expect`` (S_IFDIR, S_IFLNK to ``target``, or a
        node with ``rdev``), then finish it (``_finish_new``) with ``mode``'s permission bits
        less the umask, as ``new`` says."""
        umask, gfid_req, owner = _unpack(new)
        perm = mode & 0o7777
        pargfid = check_gfid(pargfid)
        self._entry_name(pargfid, name)
        since = self.acls.generation
        with self._parent(pargfid) as pfd_ref:
            pfd = pfd_ref.fd
            pre = pfd_ref.stat()
            with self._stripe(pargfid, name):
                gfid = self._claim_gfid(gfid_req)
                if expect == st_.S_IFDIR:
                    os.mkdir(name, 0o700, dir_fd=pfd)
                elif expect == st_.S_IFLNK:
                    os.symlink(target, name, dir_fd=pfd)
                else:
                    os.mknod(name, expect | 0o600, rdev, dir_fd=pfd)
                try:
                    efd = os.open(name, O_PATH_NOFOLLOW, dir_fd=pfd)
                except OSError:
                    raise OSError(errno.ESTALE, f"{name} vanished after creation") from None
                with Owned(efd):
                    est = os.fstat(efd)
                    if st_.S_IFMT(est.st_mode) != expect:
                        raise OSError(errno.ESTALE, f"{name} replaced after creation")
                    try:
                        gfid, no_acl = self._finish_new(
                            pfd, pre, name, efd, gfid, perm, owner, umask, est
                        )
                        st = os.fstat(efd)
                        self._make_handle(gfid, pfd, pargfid, name, st)
                    except BaseException:
                        self._undo_entry(pfd, name, expect, gfid, est.st_ino)
                        raise
                    if expect == st_.S_IFDIR:
                        # its handle is a symlink elsewhere: the directory did not change
                        self.handles.cache_dir(gfid, efd)
                    else:  # a hard link: link count and ctime changed
                        st = os.fstat(efd)
                    self._made_with_gfid(st, gfid)  # its first LOOKUP reads nothing
                    if no_acl:
                        self._made_without_acl(st, owner, since)
            post = os.fstat(pfd)
            self._changed_not_acls(pre, post, since)
            return gfid, iatt_of(gfid, st), iatt_of(pargfid, pre), iatt_of(pargfid, post)

    def _undo_entry(self, pfd: int, name: str, fmt: int, gfid: bytes, ino: int) -> None:
        """Remove an entry this call created (and its file handle, if it is that inode's)."""
        try:
            if fmt == st_.S_IFDIR:
                os.rmdir(name, dir_fd=pfd)
            else:
                os.unlink(name, dir_fd=pfd)
        except OSError:
            log.warning("could not undo the creation of %s", name)
        if fmt != st_.S_IFDIR and gfid != NULL_GFID:
            self.handles.remove_handle(gfid, ino=ino)

    def mkdir(self, pargfid: bytes, name: str, mode: int, **new: Unpack[NewEntry]) -> Made:
        """MKDIR: (gfid, stat, preparent, postparent)."""
        return self._make_entry(pargfid, name, st_.S_IFDIR, mode, new, 0, "")

    def mknod(
        self,
        pargfid: bytes,
        name: str,
        mode: int,
        rdev: int = 0,
        *,
        internal: bool = False,
        force_replace: bool = False,
        **new: Unpack[NewEntry],
    ) -> Made:
        """MKNOD of a regular file, device, fifo or socket: (gfid, stat, preparent, postparent).
        ``internal`` and ``force_replace`` are DHT's flags (see the module docstring)."""
        fmt = st_.S_IFMT(mode) or st_.S_IFREG
        if fmt == st_.S_IFDIR:
            raise OSError(errno.EPERM, "mknod of a directory")  # mknod(2)'s answer
        if fmt not in MAKEABLE:
            raise OSError(errno.EINVAL, "mknod: bad file type")
        if force_replace:
            self._drop_stale_linkto(pargfid, name)
        gfid_req = new.get("gfid_req")
        if internal and fmt == st_.S_IFREG and gfid_req is not None:
            linked = self._link_existing(pargfid, name, gfid_req)
            if linked is not None:
                return linked
        return self._make_entry(pargfid, name, fmt, mode, new, rdev, "")

    def symlink(self, pargfid: bytes, name: str, target: str, **new: Unpack[NewEntry]) -> Made:
        """SYMLINK ``name`` → ``target`` (stored as given, never followed)."""
        if not target or "\x00" in target:
            raise OSError(errno.EINVAL if target else errno.ENOENT, "bad symlink target")
        return self._make_entry(pargfid, name, st_.S_IFLNK, 0o777, new, 0, target)

    def create(
        self, pargfid: bytes, name: str, flags: int, mode: int, **new: Unpack[NewEntry]
    ) -> tuple[bytes, OpenFile, IattValue, IattValue, IattValue]:
        """CREATE: (gfid, open file, stat, preparent, postparent). ``flags`` 0 means
        ``O_CREAT|O_RDWR|O_EXCL`` (posix_create); an existing file is opened (and gets a gfid
        if it had none) unless ``O_EXCL``."""
        umask, gfid_req, owner = _unpack(new)
        pargfid = check_gfid(pargfid)
        self._entry_name(pargfid, name)
        want = (os.O_CREAT | os.O_RDWR | os.O_EXCL) if flags == 0 else flags | os.O_CREAT
        want &= ~(os.O_DIRECTORY | os.O_PATH | os.O_NOCTTY)
        base = want | os.O_NOFOLLOW | os.O_CLOEXEC
        perm = mode & 0o7777
        since = self.acls.generation
        no_acl = False
        with self._parent(pargfid) as pfd_ref:
            pfd = pfd_ref.fd
            pre = pfd_ref.stat()
            with self._stripe(pargfid, name):
                try:
                    # O_EXCL: only a new regular file is opened, which cannot block
                    fd = os.open(name, base | os.O_EXCL, 0o600, dir_fd=pfd)
                    created = True
                except FileExistsError:
                    if want & os.O_EXCL:
                        raise
                    # an existing name may be a FIFO: never block on it (refused below)
                    fd = os.open(name, (base | os.O_NONBLOCK) & ~os.O_CREAT, dir_fd=pfd)
                    created = False
                try:
                    st = os.fstat(fd)
                    if not st_.S_ISREG(st.st_mode):
                        raise OSError(errno.EPERM, f"{name} is not a regular file")
                    if created:
                        gfid = NULL_GFID
                        try:
                            gfid = self._claim_gfid(gfid_req)
                            gfid, no_acl = self._finish_new(
                                pfd, pre, name, fd, gfid, perm, owner, umask, st, opened=True
                            )
                            # owner, mode and gfid changed neither its type nor its inode
                            self._make_handle(gfid, pfd, pargfid, name, st)
                        except BaseException:
                            self._undo_entry(pfd, name, st_.S_IFREG, gfid, st.st_ino)
                            raise
                    elif not want & os.O_NONBLOCK:
                        fcntl.fcntl(
                            fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK
                        )
                except BaseException:
                    os.close(fd)
                    raise
            if not created:
                try:
                    gfid = self._ensure_gfid(pfd, pargfid, name, fd, st, gfid_req)
                except BaseException:
                    os.close(fd)
                    raise
            st = os.fstat(fd)
            post = os.fstat(pfd)
            if created:
                self._changed_not_acls(pre, post, since)
        if created:  # its first LOOKUP reads nothing (WRITE carries it on, ``data.write``)
            self._made_with_gfid(st, gfid)
            if no_acl:
                self._made_without_acl(st, owner, since)
        return (
            gfid,
            OpenFile(fd, gfid, flags),
            iatt_of(gfid, st),
            iatt_of(pargfid, pre),
            iatt_of(pargfid, post),
        )

    def _link_existing(self, pargfid: bytes, name: str, gfid_req: bytes) -> Made | None:
        """The internal-MKNOD case: hard-link ``name`` to the live regular file whose handle is
        ``gfid_req``; None when that case does not apply (no handle, a directory, the root, a
        symlink, a stale handle, a handle whose inode carries another gfid)."""
        gfid, pargfid = check_gfid(gfid_req), check_gfid(pargfid)
        if gfid in (NULL_GFID, ROOT_GFID):
            return None
        self._entry_name(pargfid, name)
        since = self.acls.generation
        with self._parent(pargfid) as pfd_ref:
            pfd = pfd_ref.fd
            pre = pfd_ref.stat()
            with self._stripe(pargfid, name):
                try:
                    hfd = os.open(
                        self.handles.handle_path(gfid),
                        O_PATH_NOFOLLOW,
                        dir_fd=self.handles.hidden_fd,
                    )
                except (FileNotFoundError, NotADirectoryError):
                    return None
                with Owned(hfd):
                    hst = os.fstat(hfd)
                    if not st_.S_ISREG(hst.st_mode) or hst.st_nlink < 2:
                        return None
                    if read_gfid(hfd) != gfid:
                        return None
                    # link exactly the inode checked above (the handle may change meanwhile)
                    os.link(proc_path(hfd), name, dst_dir_fd=pfd, follow_symlinks=True)
                    st = os.fstat(hfd)
            log.debug(
                "internal mknod of %s in %s linked to gfid %s",
                name,
                gfid_str(pargfid),
                gfid_str(gfid),
            )
            post = os.fstat(pfd)
            self._changed_not_acls(pre, post, since)
            return gfid, iatt_of(gfid, st), iatt_of(pargfid, pre), iatt_of(pargfid, post)

    def _drop_stale_linkto(self, pargfid: bytes, name: str) -> None:
        """``force-replace``: remove a DHT linkto file (mode exactly ``S_ISVTX``) at ``name``,
        and its handle when that is then the inode's last link; anything else stays."""
        pargfid = check_gfid(pargfid)
        self._entry_name(pargfid, name)
        with self._parent(pargfid) as pfd_ref, self._stripe(pargfid, name):
            pfd = pfd_ref.fd
            found = self._peek(pfd, name)
            if found is None:
                return
            gfid, st = found
            if not st_.S_ISREG(st.st_mode) or st.st_mode & ~st_.S_IFMT(st.st_mode) != st_.S_ISVTX:
                return
            log.info(
                "force-replace: removing stale linkto %s in %s (gfid %s)",
                name,
                gfid_str(pargfid),
                gfid_str(gfid) if gfid else "none",
            )
            try:
                os.unlink(name, dir_fd=pfd)
            except FileNotFoundError:
                return
            if gfid is not None:
                self.handles.remove_handle(gfid, ino=st.st_ino, only_if_last=True)

    def link(
        self, gfid: bytes, newpar: bytes, newname: str, *, force_replace: bool = False
    ) -> tuple[IattValue, IattValue, IattValue]:
        """LINK: a new name for the non-directory ``gfid``: (stat, preparent, postparent).
        ``force_replace`` first removes a stale DHT linkto file at ``newname``."""
        gfid, newpar = check_gfid(gfid), check_gfid(newpar)
        self._entry_name(newpar, newname)
        if force_replace:
            self._drop_stale_linkto(newpar, newname)
        found = self.handles.handle_lstat(gfid)
        if found is None:
            raise OSError(errno.ESTALE, f"no inode with gfid {gfid_str(gfid)}")
        since = self.acls.generation
        with self._parent(newpar) as pfd_ref:
            pfd = pfd_ref.fd
            if found[1] is not None or gfid == ROOT_GFID:
                # a name that exists is EEXIST first, as GlusterFS's resolver answers
                if self._peek(pfd, newname) is not None:
                    raise OSError(errno.EEXIST, f"{newname} exists")
                raise OSError(errno.EPERM, "cannot hard-link a directory")
            pre = pfd_ref.stat()
            os.link(
                self.handles.handle_path(gfid),
                newname,
                src_dir_fd=self.handles.hidden_fd,
                dst_dir_fd=pfd,
                follow_symlinks=False,
            )
            st = os.stat(newname, dir_fd=pfd, follow_symlinks=False)
            post = os.fstat(pfd)
            self._changed_not_acls(pre, post, since)
            return iatt_of(gfid, st), iatt_of(newpar, pre), iatt_of(newpar, post)

    # -- removing and renaming ----------------------------------------------------------------

    def bytes_an_unlink_frees(self, pargfid: bytes, name: str) -> int:
        """What an UNLINK of ``name`` would free now: the allocation of a regular file whose
        only other link is its ``.glusterfs`` handle; 0 for anything else, and for a name that
        is missing or not valid (the UNLINK itself will say why). One ``lstat``; nothing
        changes."""
        try:
            pargfid = check_gfid(pargfid)
            self._entry_name(pargfid, name)
            # the parent's handle without _parent's directory check: a non-directory fd
            # makes the lstat fail (ENOTDIR), which is answer enough here
            with self.handles.inode(pargfid) as ref:
                st = os.stat(name, dir_fd=ref.fd, follow_symlinks=False)
        except (OSError, ValueError):
            return 0
        if not st_.S_ISREG(st.st_mode) or st.st_nlink > 2:
            return 0
        return int(st.st_blocks) * 512

    def unlink(
        self, pargfid: bytes, name: str, *, keep_acls: bool = False
    ) -> tuple[IattValue, IattValue]:
        """UNLINK a non-directory: (preparent, postparent). The handle goes with the last name.
        ``keep_acls``: carry the parent's cached ACLs over (for a caller whose next checks
        read them: anyone but root; ``StoreBase._changed_not_acls``)."""
        return self._remove(pargfid, name, False, keep_acls)

    def rmdir(
        self, pargfid: bytes, name: str, *, keep_acls: bool = False
    ) -> tuple[IattValue, IattValue]:
        """RMDIR: (preparent, postparent); ENOTEMPTY/ENOTDIR from the kernel. ``keep_acls``
        as for :meth:`unlink`."""
        return self._remove(pargfid, name, True, keep_acls)

    def _remove(
        self, pargfid: bytes, name: str, directory: bool, keep_acls: bool
    ) -> tuple[IattValue, IattValue]:
        """UNLINK (EISDIR for a directory) or RMDIR of ``name``, then the entry's handle: a
        directory's always, a file's when that was its last name."""
        pargfid = check_gfid(pargfid)
        self._entry_name(pargfid, name)
        since = self.acls.generation
        with self._parent(pargfid) as pfd_ref:
            pfd = pfd_ref.fd
            pre = pfd_ref.stat()
            with Owned(
                os.open(name, O_PATH_DIR if directory else O_PATH_NOFOLLOW, dir_fd=pfd)
            ) as efd:
                st = os.fstat(efd)
                if not directory and st_.S_ISDIR(st.st_mode):
                    raise OSError(errno.EISDIR, name)
                gfid = read_gfid(efd)
            if directory:
                os.rmdir(name, dir_fd=pfd)
                if gfid is not None:
                    self.handles.remove_handle(gfid)
            else:
                os.unlink(name, dir_fd=pfd)
                if gfid is not None:
                    self.handles.remove_handle(gfid, ino=st.st_ino, only_if_last=True)
            post = os.fstat(pfd)
            if keep_acls:
                self._changed_not_acls(pre, post, since)
            return iatt_of(pargfid, pre), iatt_of(pargfid, post)

    def rename(
        self, oldpar: bytes, oldname: str, newpar: bytes, newname: str, *, keep_acls: bool = False
    ) -> RenameResult:
        """RENAME (replacing ``newname`` as rename(2) does); directory handles follow.
        ``keep_acls`` as for :meth:`unlink`, for both parents."""
        oldpar, newpar = check_gfid(oldpar), check_gfid(newpar)
        self._entry_name(oldpar, oldname)
        self._entry_name(newpar, newname)
        since = self.acls.generation
        with self._parent(oldpar) as ofd_ref:
            ofd = ofd_ref.fd
            # the old name before the new parent: GlusterFS's resolver answers a missing old
            # name (ENOENT) before a missing new parent (ESTALE)
            sfd = os.open(oldname, O_PATH_NOFOLLOW, dir_fd=ofd)
            with Owned(sfd), self._parent(newpar) as nfd_ref:
                nfd = nfd_ref.fd
                preold, prenew = ofd_ref.stat(), nfd_ref.stat()
                sst = os.fstat(sfd)
                gfid = self._ensure_gfid(ofd, oldpar, oldname, sfd, sst, None)
                victim = self._peek(nfd, newname)
                is_dir = st_.S_ISDIR(sst.st_mode)
                stripes = sorted(
                    {hash((oldpar, oldname)) % STRIPES, hash((newpar, newname)) % STRIPES}
                )
                # lock order: stripes (sorted), then _dir_renames (see StoreBase._gfid_taken)
                locks = [self._stripes[i] for i in stripes] + (
                    [self._dir_renames] if is_dir else []
                )
                for lk in locks:
                    lk.acquire()
                try:
                    os.rename(oldname, newname, src_dir_fd=ofd, dst_dir_fd=nfd)
                    if is_dir:
                        self.handles.set_dir_handle(gfid, newpar, newname)
                finally:
                    for lk in reversed(locks):
                        lk.release()
                vgfid, vst = victim if victim is not None else (None, sst)
                if vgfid is not None and vgfid != gfid:
                    if (vst.st_dev, vst.st_ino) != (sst.st_dev, sst.st_ino):
                        if st_.S_ISDIR(vst.st_mode):
                            self.handles.remove_handle(vgfid)
                        else:
                            self.handles.remove_handle(vgfid, ino=vst.st_ino, only_if_last=True)
                st = os.fstat(sfd)
                postold, postnew = os.fstat(ofd), os.fstat(nfd)
                if keep_acls:
                    self._changed_not_acls(preold, postold, since)
                    if newpar != oldpar:
                        self._changed_not_acls(prenew, postnew, since)
                return RenameResult(
                    iatt_of(gfid, st),
                    iatt_of(oldpar, preold),
                    iatt_of(oldpar, postold),
                    iatt_of(newpar, prenew),
                    iatt_of(newpar, postnew),
                )

    @staticmethod
    def _peek(dirfd: int, name: str) -> tuple[bytes | None, os.stat_result] | None:
        try:
            fd = os.open(name, O_PATH_NOFOLLOW, dir_fd=dirfd)
        except FileNotFoundError:
            return None
        with Owned(fd):
            return read_gfid(fd), os.fstat(fd)
