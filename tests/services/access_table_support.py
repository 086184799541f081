"""The access-control table: (caller, object, FOP) -> errno, checked against a gfrpc brick
(tests/services/test_access_control.py) and against a real GlusterFS 10.3 brick
(tests/interop/test_access_interop.py). Both run the SAME rows and must agree row by row.

Each row gets its own directory ``/<row name>`` (the *parent*) holding the object ``obj``, both
set up as root through FOPs (CREATE/MKDIR/SYMLINK, WRITE, SETXATTR, SETATTR, SETXATTR of the
ACLs), so the real brick's inode table knows them before the caller acts. Then the row's FOP runs
with the caller's AUTH_GLUSTERFS credential; its errno (0 = success) is compared, and, when the
row says so, the mode of the object afterwards (stat as root).

Rows whose comment says GlusterFS 10.3 allows something are holes (or laxer rules) of the real
brick that gfrpc reproduces on purpose (see ``src/gfrpc/services/brick/access.py``); their
``strict`` errno is what gfrpc answers with ``--strict-access`` on. ``real_mode_after``
marks the one place gfrpc is stricter by default (set-uid/set-gid cleared by a write or a
truncate, as the kernel does). How rows are run: ``access_fops_support.py``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from gfrpc.programs import fops_types as ft
from gfrpc.services.brick import posix_acl as pa

# -- callers ---------------------------------------------------------------------------------
CALLERS: dict[str, tuple[int, int, tuple[int, ...], int]] = {  # uid, gid, groups, pid
    "root": (0, 0, (), 4242),
    "alice": (1000, 1000, (), 4242),
    "bob": (1001, 1001, (), 4242),
    "carol": (1002, 1002, (1000,), 4242),  # in alice's group 1000 as a supplementary group
    "dave": (1003, 2000, (), 4242),  # primary group 2000
    "internal": (1001, 1001, (), -1),  # bob with a negative pid: a GlusterFS-internal client
}


# -- objects ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class AclSpec:
    """Named entries of an ACL; for an access ACL USER_OBJ, MASK and OTHER come from the mode."""

    users: tuple[tuple[int, int], ...] = ()
    groups: tuple[tuple[int, int], ...] = ()
    group_obj: int = 0
    user_obj: int = 7  # default ACLs only
    mask: int = 7  # default ACLs only
    other: int = 5  # default ACLs only

    def access_xattr(self, mode: int) -> bytes:
        return pa.encode_acl(self._entries((mode >> 6) & 7, (mode >> 3) & 7, mode & 7))

    def default_xattr(self) -> bytes:
        return pa.encode_acl(self._entries(self.user_obj, self.mask, self.other))

    def _entries(self, user_obj: int, mask: int, other: int) -> pa.Acl:
        return (
            pa.Ace(pa.USER_OBJ, user_obj),
            *(pa.Ace(pa.USER, p, u) for u, p in sorted(self.users)),
            pa.Ace(pa.GROUP_OBJ, self.group_obj),
            *(pa.Ace(pa.GROUP, p, g) for g, p in sorted(self.groups)),
            pa.Ace(pa.MASK, mask),
            pa.Ace(pa.OTHER, other),
        )


@dataclass(frozen=True)
class Obj:
    kind: str = "f"  # f file, d directory, l symlink
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    acl: AclSpec | None = None
    dacl: AclSpec | None = None


def F(mode: int = 0o644, uid: int = 0, gid: int = 0, acl: AclSpec | None = None) -> Obj:
    return Obj("f", mode, uid, gid, acl)


def D(
    mode: int = 0o755,
    uid: int = 0,
    gid: int = 0,
    acl: AclSpec | None = None,
    dacl: AclSpec | None = None,
) -> Obj:
    return Obj("d", mode, uid, gid, acl, dacl)


L = Obj("l", 0o777)
BOB_RW = AclSpec(users=((1001, 6),))
CAROL_R = AclSpec(users=((1002, 4),))


@dataclass(frozen=True)
class Row:
    name: str
    caller: str
    fop: str
    expect: int  # errno, 0 = success
    obj: Obj = field(default_factory=F)
    parent: Obj = field(default_factory=D)
    arg: Any = None
    mode_after: int | None = None  # S_IMODE of the subject after the FOP (gfrpc)
    real_mode_after: int | None = None  # ... on a real brick, where it differs
    tgt: Obj | None = None  # a second entry "tgt" in the parent (rename targets)
    strict: int | None = None  # errno with --strict-access (gfrpc only)


# -- the table ---------------------------------------------------------------------------------
EACCES, EPERM = 13, 1
MODE, UID, GID = ft.GF_SET_ATTR_MODE, ft.GF_SET_ATTR_UID, ft.GF_SET_ATTR_GID
TIMES = ft.GF_SET_ATTR_ATIME | ft.GF_SET_ATTR_MTIME
NOW = TIMES | ft.GF_ATTR_ATIME_NOW | ft.GF_ATTR_MTIME_NOW
# a directory of alice whose default ACL gives bob rwx (group r-x, mask rwx, other r-x)
INHERIT = D(0o777, 1000, 1000, dacl=AclSpec(users=((1001, 7),), group_obj=5))
R = os.O_RDONLY

ROWS: list[Row] = [
    # LOOKUP by name needs search (x) permission on the parent; by gfid nothing is checked.
    Row("lookup_parent_private", "bob", "lookup", EACCES, parent=D(0o700)),
    Row("lookup_parent_x_only", "bob", "lookup", 0, parent=D(0o711)),
    Row("lookup_nameless_in_private_dir", "bob", "lookup_gfid", 0, parent=D(0o700)),
    Row("lookup_root_private_parent", "root", "lookup", 0, parent=D(0o700)),
    # GlusterFS 10.3 lets any client with a negative pid ("internal") past every acl_permits
    Row(
        "lookup_internal_pid_private_parent",
        "internal",
        "lookup",
        0,
        parent=D(0o700),
        strict=EACCES,
    ),
    # STAT, FSTAT, STATFS, READLINK: never checked
    Row("stat_private", "bob", "stat", 0, F(0o600), D(0o700)),
    Row("fstat_anon_private", "bob", "fstat", 0, F(0o600), D(0o700)),
    Row("statfs_private", "bob", "statfs", 0, F(0o600), D(0o700)),
    Row("readlink_in_private_dir", "bob", "readlink", 0, L, D(0o700)),
    # ACCESS: mode bits, supplementary groups, ACLs; root may anything
    Row("access_r_private", "bob", "access", EACCES, F(0o600), arg=os.R_OK),
    Row("access_r_other", "bob", "access", 0, F(0o644), arg=os.R_OK),
    Row("access_w_readonly", "bob", "access", EACCES, F(0o644), arg=os.W_OK),
    Row("access_owner_rw", "alice", "access", 0, F(0o600, 1000, 1000), arg=os.R_OK | os.W_OK),
    Row("access_owner_bits_only", "alice", "access", EACCES, F(0o066, 1000, 1000), arg=os.R_OK),
    Row(
        "access_supplementary_group", "carol", "access", 0, F(0o660, 0, 1000), arg=os.R_OK | os.W_OK
    ),
    Row(
        "access_group_denies_before_other",
        "carol",
        "access",
        EACCES,
        F(0o604, 0, 1000),
        arg=os.R_OK,
    ),
    # GlusterFS 10.3: root passes acl_permits even for X on a file without an x bit
    Row("access_root_x_without_xbit", "root", "access", 0, F(0o644), arg=os.X_OK),
    Row("access_f_ok", "bob", "access", 0, F(0o000), arg=0),
    Row("access_acl_named_user", "bob", "access", 0, F(0o660, acl=BOB_RW), arg=os.R_OK | os.W_OK),
    Row(
        "access_acl_mask_limits_named_user",
        "bob",
        "access",
        EACCES,
        F(0o640, acl=BOB_RW),
        arg=os.W_OK,
    ),
    Row(
        "access_acl_named_group",
        "dave",
        "access",
        0,
        F(0o640, acl=AclSpec(groups=((2000, 4),))),
        arg=os.R_OK,
    ),
    Row(
        "access_acl_group_obj_entry",
        "carol",
        "access",
        EACCES,
        F(0o670, 0, 1000, acl=AclSpec(users=((1001, 7),), group_obj=4)),
        arg=os.W_OK,
    ),
    # OPEN: by access mode; O_TRUNC and O_APPEND need write permission
    Row("open_rdonly_private", "bob", "open", EACCES, F(0o600), arg=R),
    Row("open_rdonly_readable", "bob", "open", 0, F(0o644), arg=R),
    Row("open_rdwr_readonly", "bob", "open", EACCES, F(0o644), arg=os.O_RDWR),
    Row("open_wronly_other_w", "bob", "open", 0, F(0o602), arg=os.O_WRONLY),
    Row("open_trunc_needs_w", "bob", "open", EACCES, F(0o644), arg=R | os.O_TRUNC),
    Row("open_append_needs_w", "bob", "open", EACCES, F(0o644), arg=R | os.O_APPEND),
    Row("open_owner_readonly_rdwr", "alice", "open", EACCES, F(0o400, 1000, 1000), arg=os.O_RDWR),
    Row("open_root_mode_0", "root", "open", 0, F(0o000), arg=os.O_RDWR),
    Row("open_acl_named_user_rw", "bob", "open", 0, F(0o660, acl=BOB_RW), arg=os.O_RDWR),
    Row("open_acl_mask_r", "bob", "open", EACCES, F(0o640, acl=BOB_RW), arg=os.O_RDWR),
    Row("open_supplementary_group", "carol", "open", 0, F(0o660, 0, 1000), arg=os.O_RDWR),
    Row("open_internal_pid_private", "internal", "open", 0, F(0o600), arg=os.O_RDWR, strict=EACCES),
    # OPENDIR, READDIR, READDIRP: read permission on the directory, anonymous fd included
    Row("opendir_private", "bob", "opendir", EACCES, D(0o700)),
    Row("opendir_x_only", "bob", "opendir", EACCES, D(0o711)),
    Row("opendir_readable", "bob", "opendir", 0, D(0o755)),
    Row("readdir_anon_private", "bob", "readdir", EACCES, D(0o700)),
    Row("readdirp_anon_private", "bob", "readdirp", EACCES, D(0o700)),
    Row("readdir_anon_readable", "bob", "readdir", 0, D(0o755)),
    Row(
        "readdirp_anon_acl_named_user",
        "bob",
        "readdirp",
        0,
        D(0o750, acl=AclSpec(users=((1001, 5),))),
    ),
    Row("readdir_fd_opened_by_root", "bob", "readdir_fd", EACCES, D(0o700)),
    # FOPs on fds are NOT checked by GlusterFS 10.3 (FD_MODE_CHECK_IS_IMPLEMENTED is never
    # defined), and the anonymous fd needs no OPEN: GlusterFS 10.3 allows all of these.
    Row("read_anon_private", "bob", "read", 0, F(0o600), strict=EACCES),
    Row("write_anon_readonly", "bob", "write", 0, F(0o644), strict=EACCES),
    Row("ftruncate_anon_readonly", "bob", "ftruncate", 0, F(0o644), strict=EACCES),
    Row("fallocate_anon_readonly", "bob", "fallocate", 0, F(0o644), strict=EACCES),
    Row("discard_anon_readonly", "bob", "discard", 0, F(0o644), strict=EACCES),
    Row("zerofill_anon_readonly", "bob", "zerofill", 0, F(0o644), strict=EACCES),
    Row("seek_anon_private", "bob", "seek", 0, F(0o600), strict=EACCES),
    Row("copy_file_range_anon_private", "bob", "copy_file_range", 0, F(0o600), strict=EACCES),
    Row("fsync_anon_private", "bob", "fsync", 0, F(0o600)),
    Row("flush_anon_private", "bob", "flush", 0, F(0o600)),
    Row("fgetxattr_anon_private", "bob", "fgetxattr", 0, F(0o600), arg="user.t", strict=EACCES),
    Row("fsetxattr_anon_private", "bob", "fsetxattr", 0, F(0o600), arg="user.w", strict=EACCES),
    Row(
        "fsetxattr_anon_acl_not_owner",
        "bob",
        "fsetxattr",
        0,
        F(0o600),
        arg=pa.ACCESS_KEY,
        mode_after=0o666,
        strict=EPERM,
    ),
    Row(
        "fremovexattr_anon_private", "bob", "fremovexattr", 0, F(0o600), arg="user.t", strict=EACCES
    ),
    Row(
        "fsetattr_anon_chmod_not_owner",
        "bob",
        "fsetattr",
        0,
        F(0o600),
        arg=(MODE, {"mode": 0o666}),
        mode_after=0o666,
        strict=EPERM,
    ),
    Row(
        "fsetattr_anon_chown_not_root",
        "bob",
        "fsetattr",
        0,
        F(0o600),
        arg=(UID, {"ia_uid": 1001}),
        strict=EPERM,
    ),
    Row("fxattrop_anon_private", "bob", "fxattrop", 0, F(0o600)),
    Row("write_fd_opened_by_root", "bob", "write_fd", 0, F(0o644), strict=0),
    Row("xattrop_private", "bob", "xattrop", 0, F(0o600)),  # XATTROP is not checked either
    Row("fsyncdir_anon_private", "bob", "fsyncdir", 0, D(0o700)),
    # the lock FOPs are not checked (posix-acl has no handler for them)
    Row("inodelk_private", "bob", "inodelk", 0, F(0o600), D(0o700)),
    Row("finodelk_anon_private", "bob", "finodelk", 0, F(0o600), D(0o700)),
    Row("entrylk_private_dir", "bob", "entrylk", 0, F(0o600), D(0o700)),
    Row("fentrylk_anon_private_dir", "bob", "fentrylk", 0, F(0o600), D(0o700)),
    Row("lk_getlk_anon_private", "bob", "lk", 0, F(0o600)),
    # TRUNCATE: write permission
    Row("truncate_readonly", "bob", "truncate", EACCES, F(0o644)),
    Row("truncate_other_w", "bob", "truncate", 0, F(0o646)),
    Row("truncate_acl_named_user", "bob", "truncate", 0, F(0o660, acl=BOB_RW)),
    # set-uid/set-gid after a modification by someone else than root: gfrpc clears them as the
    # kernel would; a real brick keeps them (posix writes as root)
    Row(
        "write_clears_setuid",
        "bob",
        "write",
        0,
        F(0o4666),
        mode_after=0o666,
        real_mode_after=0o4666,
    ),
    Row(
        "write_clears_setgid_group_x",
        "bob",
        "write",
        0,
        F(0o2676),
        mode_after=0o676,
        real_mode_after=0o2676,
    ),
    Row(
        "write_keeps_setgid_without_group_x_in_group",
        "carol",
        "write",
        0,
        F(0o2666, 0, 1000),
        mode_after=0o2666,
    ),
    Row("write_by_root_keeps_setuid", "root", "write", 0, F(0o4666), mode_after=0o4666),
    Row(
        "truncate_clears_setuid",
        "bob",
        "truncate",
        0,
        F(0o4666),
        mode_after=0o666,
        real_mode_after=0o4666,
    ),
    # MKDIR, MKNOD, CREATE, SYMLINK: write and search permission on the parent
    Row("mkdir_parent_readonly", "bob", "mkdir", EACCES),
    Row("mkdir_parent_open", "bob", "mkdir", 0, parent=D(0o777)),
    Row("mkdir_parent_no_x", "bob", "mkdir", EACCES, parent=D(0o776)),
    Row("create_parent_wx_only", "bob", "create", 0, parent=D(0o773)),
    Row("create_parent_readonly", "bob", "create", EACCES),
    Row(
        "create_parent_acl_named_user",
        "bob",
        "create",
        0,
        parent=D(0o770, acl=AclSpec(users=((1001, 7),), group_obj=5)),
    ),
    # CREATE without O_EXCL of an existing name opens that file: GlusterFS 10.3 checks only
    # the parent, so it hands out a read-write fd on root's 0600 file (and READ on an fd is
    # not checked either); gfrpc matches, and checks OPEN's rule with --strict-access
    Row(
        "create_existing_private_in_open_dir",
        "bob",
        "create_existing",
        0,
        F(0o600),
        D(0o1777),
        strict=EACCES,
    ),
    Row(
        "create_existing_writable_in_open_dir",
        "bob",
        "create_existing",
        0,
        F(0o666),
        D(0o777),
        strict=0,
    ),
    Row("create_existing_by_root", "root", "create_existing", 0, F(0o600), D(0o755)),
    Row("mknod_parent_readonly", "bob", "mknod", EACCES),
    Row("mknod_parent_open", "bob", "mknod", 0, parent=D(0o777)),
    # GlusterFS 10.3 makes a device node for anyone (glusterfsd keeps CAP_MKNOD as it changes
    # fsuid); with --strict-access, as mknod(2) for an unprivileged caller: root's alone.
    Row("mknod_device_by_user", "bob", "mknod_device", 0, parent=D(0o777), strict=EPERM),
    Row("symlink_parent_readonly", "bob", "symlink", EACCES),
    Row("symlink_parent_open", "bob", "symlink", 0, parent=D(0o777)),
    # UNLINK, RMDIR: the sticky rule, then write and search permission on the parent
    Row("unlink_in_open_dir", "bob", "unlink", 0, F(0o644), D(0o777)),
    Row("unlink_parent_readonly", "bob", "unlink", EACCES, F(0o666), D(0o755)),
    Row("unlink_sticky_not_owner", "bob", "unlink", EACCES, F(0o666), D(0o1777)),
    Row("unlink_sticky_file_owner", "bob", "unlink", 0, F(0o644, 1001, 1001), D(0o1777)),
    Row("unlink_sticky_dir_owner", "bob", "unlink", 0, F(0o644), D(0o1777, 1001)),
    Row("unlink_sticky_root", "root", "unlink", 0, F(0o644, 1000), D(0o1777, 1001)),
    Row("unlink_sticky_internal_pid", "internal", "unlink", 0, F(0o644), D(0o1777), strict=EACCES),
    Row("rmdir_sticky_not_owner", "bob", "rmdir", EACCES, D(0o777), D(0o1777)),
    Row("rmdir_sticky_dir_owner", "bob", "rmdir", 0, D(0o755, 1001, 1001), D(0o1777)),
    Row("rmdir_parent_readonly", "bob", "rmdir", EACCES, D(0o777), D(0o755)),
    # RENAME: write (only) on the parents, the sticky rule on the source and a replaced target
    Row("rename_parent_readonly", "bob", "rename", EACCES, F(0o666), D(0o755)),
    Row("rename_parent_open", "bob", "rename", 0, F(0o644), D(0o777)),
    # GlusterFS 10.3 asks only for write permission on the parents (the kernel also wants x)
    Row("rename_parent_w_without_x", "bob", "rename", 0, F(0o644), D(0o776)),
    Row("rename_sticky_source_not_owner", "bob", "rename", EACCES, F(0o666), D(0o1777)),
    Row("rename_sticky_source_owner", "bob", "rename", 0, F(0o644, 1001), D(0o1777)),
    Row(
        "rename_sticky_target_not_owner",
        "bob",
        "rename",
        EACCES,
        F(0o644, 1001),
        D(0o1777),
        arg="tgt",
        tgt=F(0o666),
    ),
    Row(
        "rename_sticky_target_owner",
        "bob",
        "rename",
        0,
        F(0o644, 1001),
        D(0o1777),
        arg="tgt",
        tgt=F(0o644, 1001),
    ),
    # LINK: write (only) on the new parent, and the sticky rule there for the linked inode
    Row("link_parent_readonly", "bob", "link", EACCES, F(0o666), D(0o755)),
    Row("link_parent_open", "bob", "link", 0, F(0o644), D(0o777)),
    Row("link_parent_w_without_x", "bob", "link", 0, F(0o644), D(0o776)),
    Row("link_sticky_not_owner", "bob", "link", EACCES, F(0o644), D(0o1777)),
    Row("link_sticky_file_owner", "bob", "link", 0, F(0o644, 1001), D(0o1777)),
    # SETATTR: mode by the owner (set-gid dropped outside the group), times by the owner or a
    # writer, owner by root, group by the owner to one of his groups
    Row("chmod_not_owner", "bob", "setattr", EPERM, F(0o666), arg=(MODE, {"mode": 0o600})),
    Row(
        "chmod_owner",
        "alice",
        "setattr",
        0,
        F(0o644, 1000, 1000),
        arg=(MODE, {"mode": 0o600}),
        mode_after=0o600,
    ),
    Row(
        "chmod_owner_setgid_outside_group",
        "alice",
        "setattr",
        0,
        F(0o644, 1000, 0),
        arg=(MODE, {"mode": 0o2755}),
        mode_after=0o755,
    ),
    Row(
        "chmod_owner_setgid_in_group",
        "carol",
        "setattr",
        0,
        F(0o644, 1002, 1000),
        arg=(MODE, {"mode": 0o2755}),
        mode_after=0o2755,
    ),
    Row(
        "chmod_internal_pid_not_owner",
        "internal",
        "setattr",
        EPERM,
        F(0o666),
        arg=(MODE, {"mode": 0o600}),
    ),
    Row(
        "chown_by_owner",
        "alice",
        "setattr",
        EPERM,
        F(0o644, 1000, 1000),
        arg=(UID, {"ia_uid": 1001}),
    ),
    Row(
        "chown_same_uid_by_owner",
        "alice",
        "setattr",
        0,
        F(0o644, 1000, 1000),
        arg=(UID, {"ia_uid": 1000}),
    ),
    Row(
        "chown_by_root",
        "root",
        "setattr",
        0,
        F(0o644, 1000, 1000),
        arg=(UID | GID, {"ia_uid": 1001, "ia_gid": 1001}),
    ),
    Row(
        "chgrp_owner_to_supplementary_group",
        "carol",
        "setattr",
        0,
        F(0o644, 1002, 1002),
        arg=(GID, {"ia_gid": 1000}),
    ),
    Row(
        "chgrp_owner_not_member",
        "alice",
        "setattr",
        EPERM,
        F(0o644, 1000, 1000),
        arg=(GID, {"ia_gid": 2000}),
    ),
    Row(
        "chgrp_member_not_owner",
        "carol",
        "setattr",
        EPERM,
        F(0o664, 1000, 1000),
        arg=(GID, {"ia_gid": 1000}),
    ),
    # GlusterFS 10.3: write permission lets a non-owner set explicit times (the kernel: EPERM)
    Row(
        "utimes_explicit_not_owner_writer",
        "bob",
        "setattr",
        0,
        F(0o666),
        arg=(TIMES, {"ia_atime": 1000, "ia_mtime": 1000}),
    ),
    Row(
        "utimes_not_owner_readonly",
        "bob",
        "setattr",
        EACCES,
        F(0o644),
        arg=(TIMES, {"ia_atime": 1000, "ia_mtime": 1000}),
    ),
    Row("utimes_now_not_owner_writer", "bob", "setattr", 0, F(0o666), arg=(NOW, {})),
    Row(
        "utimes_owner_readonly",
        "alice",
        "setattr",
        0,
        F(0o444, 1000, 1000),
        arg=(TIMES, {"ia_atime": 1000, "ia_mtime": 1000}),
    ),
    # SETXATTR: ACL keys by the owner only (EPERM); other keys need write permission
    Row("setxattr_user_private", "bob", "setxattr", EACCES, F(0o600), arg="user.w"),
    Row("setxattr_user_writable", "bob", "setxattr", 0, F(0o666), arg="user.w"),
    Row("setxattr_security_private", "bob", "setxattr", EACCES, F(0o600), arg="security.w"),
    # GlusterFS 10.3 asks only for write permission for trusted.* (the kernel: CAP_SYS_ADMIN)
    Row("setxattr_trusted_writable", "bob", "setxattr", 0, F(0o666), arg="trusted.w"),
    Row("setxattr_acl_not_owner", "bob", "setxattr", EPERM, F(0o666), arg=pa.ACCESS_KEY),
    Row(
        "setxattr_acl_owner",
        "alice",
        "setxattr",
        0,
        F(0o600, 1000, 1000),
        arg=pa.ACCESS_KEY,
        mode_after=0o666,
    ),
    Row("setxattr_default_acl_not_owner", "bob", "setxattr", EPERM, D(0o777), arg=pa.DEFAULT_KEY),
    # GETXATTR: read permission, except for the ACL keys
    Row("getxattr_user_private", "bob", "getxattr", EACCES, F(0o600), arg="user.t"),
    Row("getxattr_user_readable", "bob", "getxattr", 0, F(0o644), arg="user.t"),
    Row("getxattr_list_private", "bob", "getxattr", EACCES, F(0o600), arg=""),
    Row("getxattr_acl_private", "bob", "getxattr", 0, F(0o640, acl=CAROL_R), arg=pa.ACCESS_KEY),
    # REMOVEXATTR: ACL keys by the owner only; write permission for every key
    Row("removexattr_user_private", "bob", "removexattr", EACCES, F(0o600), arg="user.t"),
    Row("removexattr_user_writable", "bob", "removexattr", 0, F(0o666), arg="user.t"),
    Row(
        "removexattr_acl_not_owner",
        "bob",
        "removexattr",
        EPERM,
        F(0o666, acl=CAROL_R),
        arg=pa.ACCESS_KEY,
    ),
    Row(
        "removexattr_acl_owner_readonly",
        "alice",
        "removexattr",
        EACCES,
        F(0o444, 1000, 1000, acl=CAROL_R),
        arg=pa.ACCESS_KEY,
    ),
    Row(
        "removexattr_acl_owner",
        "alice",
        "removexattr",
        0,
        F(0o644, 1000, 1000, acl=CAROL_R),
        arg=pa.ACCESS_KEY,
    ),
    # default ACLs: inherited without the umask, narrowed by the create mode
    Row(
        "inherit_create_named_user_rw",
        "bob",
        "create_then",
        0,
        parent=INHERIT,
        arg=("alice", 0o666, 0o022, "f"),
        mode_after=0o664,
    ),
    Row(
        "inherit_create_mask_from_mode",
        "bob",
        "create_then",
        EACCES,
        parent=INHERIT,
        arg=("alice", 0o640, 0o022, "f"),
        mode_after=0o640,
    ),
    Row(
        "inherit_mkdir_default_acl",
        "bob",
        "create_then",
        0,
        parent=INHERIT,
        arg=("alice", 0o777, 0o022, "d"),
        mode_after=0o775,
    ),
    Row(
        "no_default_acl_applies_umask",
        "bob",
        "create_then",
        EACCES,
        parent=D(0o777, 1000),
        arg=("alice", 0o666, 0o022, "f"),
        mode_after=0o644,
    ),
]

assert len({r.name for r in ROWS}) == len(ROWS), "row names must be unique"
