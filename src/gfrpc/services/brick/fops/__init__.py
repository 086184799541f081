"""The brick's FOP program: GlusterFS 4.x v1 (1298437, version 400) served over a PosixStore.

Theory of operation (GlusterFS 10.3's ``server-rpc-fops_v2.c`` + posix xlator, our structure):

* Every procedure of :data:`gfrpc.programs.fops.PROCEDURES` is registered; the RPC server
  decodes its request struct on a worker (io-threads; disk work never runs on a poller) and a
  malformed one is answered GARBAGE_ARGS, as ``rpc_receive_common`` does. WRITE is decoded here
  so its payload stays a view of the received record (no copy). COMPOUND (49) and PUT (55)
  have no v400 actor in 10.3 and stay unregistered (PROC_UNAVAIL).
* A connection that has not passed SETVOLUME gets GARBAGE_ARGS for every FOP except NULL:
  GlusterFS finds no client bound to the transport (``get_frame_from_request`` fails) and sets
  GARBAGE_ARGS; the GlusterFS client turns that RPC error into ENOTCONN for the caller.
* An actor returns the reply struct, or raises ``OSError``: the reply is then the procedure's
  own reply struct with ``op_ret = -1`` and the errno unchanged (Linux errno values are
  GlusterFS's wire values). Procedures gfrpc does not implement answer ``op_ret -1 ENOSYS`` the
  same way, never a dropped connection.
* Per-connection state (fds, lock owner, deferred lock replies) is the ``BrickClient`` of the
  connection's ``BrickSession`` (``session.py``), which SETVOLUME made;
  :meth:`FopService.disconnected` (``RpcServer.on_disconnect``) closes every fd and releases
  every lock and waiter of that connection, as ``server_connection_cleanup``.

The actors live in ``fops.entry`` (namespace), ``fops.inode`` (inodes, directories),
``fops.io`` (file data), ``fops.xattr`` (extended attributes, IPC) and ``fops.locks`` (LK,
INODELK, ENTRYLK); :data:`ACTORS` below is the one table that says which actor serves which
procedure.
"""

from __future__ import annotations

import errno
import logging
import threading
from collections import Counter
from collections.abc import Callable, Collection, Mapping, MutableMapping
from typing import Final

from gfrpc.programs import fops as fp
from gfrpc.programs.dump import GfCommonRsp
from gfrpc.rpc.server import Procedure, Program, Request
from gfrpc.services.brick.fops import entry as fop_entry
from gfrpc.services.brick.fops import inode as fop_inode
from gfrpc.services.brick.fops import io as fop_io
from gfrpc.services.brick.fops import locks as fop_locks
from gfrpc.services.brick.fops import xattr as fop_xattr
from gfrpc.services.brick.fops.common import (
    DEFERRED,
    Actor,
    FopCall,
    FopReply,
    caller_of,
)
from gfrpc.services.brick.locks import DEFAULT_MAX_LOCKS, EntryLocks, InodeLocks, PosixLocks
from gfrpc.services.brick.session import brick_session, open_session
from gfrpc.services.brick.store import ALL_XATTRS_MAX, NAMED_XATTRS_MAX, PosixStore

log = logging.getLogger("gfrpc.brick.fops")

P = fp.FopProc

#: the actor of each FOP the brick serves, by module (the others answer ENOSYS)
ACTORS: Final[Mapping[fp.FopProc, Actor]] = {
    # namespace (fops.entry)
    P.LOOKUP: fop_entry.lookup,
    P.MKDIR: fop_entry.mkdir,
    P.MKNOD: fop_entry.mknod,
    P.SYMLINK: fop_entry.symlink,
    P.CREATE: fop_entry.create,
    P.LINK: fop_entry.link,
    P.UNLINK: fop_entry.unlink,
    P.RMDIR: fop_entry.rmdir,
    P.RENAME: fop_entry.rename,
    # inodes and directories (fops.inode)
    P.STAT: fop_inode.stat,
    P.FSTAT: fop_inode.fstat,
    P.STATFS: fop_inode.statfs,
    P.ACCESS: fop_inode.access,
    P.SETATTR: fop_inode.setattr,
    P.FSETATTR: fop_inode.fsetattr,
    P.READLINK: fop_inode.readlink,
    P.OPENDIR: fop_inode.opendir,
    P.READDIR: fop_inode.readdir,
    P.READDIRP: fop_inode.readdirp,
    P.RELEASEDIR: fop_inode.releasedir,
    P.FSYNCDIR: fop_inode.fsyncdir,
    # file data (fops.io)
    P.OPEN: fop_io.open_,
    P.READ: fop_io.read,
    P.WRITE: fop_io.write,
    P.FLUSH: fop_io.flush,
    P.FSYNC: fop_io.fsync,
    P.RELEASE: fop_io.release,
    P.TRUNCATE: fop_io.truncate,
    P.FTRUNCATE: fop_io.ftruncate,
    P.FALLOCATE: fop_io.fallocate,
    P.DISCARD: fop_io.discard,
    P.ZEROFILL: fop_io.zerofill,
    P.SEEK: fop_io.seek,
    P.COPY_FILE_RANGE: fop_io.copy_file_range,
    # extended attributes, IPC (fops.xattr)
    P.GETXATTR: fop_xattr.getxattr,
    P.FGETXATTR: fop_xattr.fgetxattr,
    P.SETXATTR: fop_xattr.setxattr,
    P.FSETXATTR: fop_xattr.fsetxattr,
    P.REMOVEXATTR: fop_xattr.removexattr,
    P.FREMOVEXATTR: fop_xattr.fremovexattr,
    P.XATTROP: fop_xattr.xattrop,
    P.FXATTROP: fop_xattr.fxattrop,
    P.IPC: fop_xattr.ipc,
    # locks (fops.locks)
    P.LK: fop_locks.lk,
    P.INODELK: fop_locks.inodelk,
    P.FINODELK: fop_locks.finodelk,
    P.ENTRYLK: fop_locks.entrylk,
    P.FENTRYLK: fop_locks.fentrylk,
}


#: FOPs that may block their thread for long: disk data, syncs, big listings, and the removals
#: and truncations that free blocks. With ``--io-policy slow`` only these go to the io-threads,
#: and of them a READ or WRITE of at most ``INLINE_IO`` bytes, and an UNLINK, RENAME, TRUNCATE
#: or FTRUNCATE that frees at most that much (``_unlink_frees_little`` and its kin: the name
#: removed or replaced, the end cut off), still run inline. RMDIR is not here: it removes an
#: empty directory or refuses at once (measured: Performance notes 22; the RENAME and
#: truncation predicates: notes 62).
MAY_BLOCK: Final[frozenset[fp.FopProc]] = frozenset(
    {
        P.READ,
        P.WRITE,
        P.FSYNC,
        P.FSYNCDIR,
        P.FALLOCATE,
        P.DISCARD,
        P.ZEROFILL,
        P.COPY_FILE_RANGE,
        P.SEEK,
        P.READDIR,
        P.READDIRP,
        P.TRUNCATE,
        P.FTRUNCATE,
        P.UNLINK,
        P.RENAME,
    }
)


class FopService:
    """Serves 1298437 v400 for one brick: the store, the lock tables and the actors."""

    def __init__(
        self,
        store: PosixStore,
        *,
        strict_access: bool = False,
        max_locks: int = DEFAULT_MAX_LOCKS,
    ) -> None:
        self.store = store
        #: ``--strict-access``: also check FOPs on fds and trust no negative pid (access.py)
        self.strict_access = strict_access
        #: ``--max-locks``: each table's cap per client connection (ENOLCK beyond; locks.py)
        self.posix_locks = PosixLocks(max_locks)
        self.inode_locks = InodeLocks(max_locks)
        self.entry_locks = EntryLocks(max_locks)
        #: how many times each FOP was served (logged when the brick stops)
        self.counts: Counter[str] = Counter()
        self._count_lock = threading.Lock()

    def served(self) -> list[tuple[str, int]]:
        """How many of each FOP were served, most first (a copy, taken under the lock)."""
        with self._count_lock:
            return self.counts.most_common()

    def program(self, *, inline: Collection[fp.FopProc] = ()) -> Program:
        """The FOP program; the FOPs in ``inline`` run on the thread that read them."""
        procedures: dict[int, Procedure] = {
            P.NULL: Procedure("NULL", lambda request: GfCommonRsp(op_ret=0, op_errno=0)),
        }
        for proc, (req_type, _rsp_type) in fp.PROCEDURES.items():
            if proc == P.NULL:
                continue
            args_type = None if proc == P.WRITE else req_type
            procedures[proc] = Procedure(
                proc.name,
                self._handler(proc),
                args_type=args_type,
                reply_size=_SIZED.get(proc),
                # a LOOKUP's reply is a few hundred bytes but for quick-read's content and
                # named xattrs; reserved only while the client is behind (Procedure)
                reserves_when_behind=proc == P.LOOKUP,
                # under a policy that inlines anything, small READs and WRITEs run inline
                # too, and UNLINKs that free little
                inline=self._inline_rule(proc, inline),
                takes_tail=_payload_holds if proc == P.WRITE else None,
            )
        return Program(
            fp.GLUSTER_FOP_PROGRAM, fp.GLUSTER_FOP_VERSION, fp.GLUSTER_FOP_NAME, procedures
        )

    def _inline_rule(
        self, proc: fp.FopProc, inline: Collection[fp.FopProc]
    ) -> bool | Callable[[memoryview], bool]:
        """``Procedure.inline`` of ``proc``: True/False, or a predicate on its raw arguments."""
        if not inline:
            return False  # --io-policy all: everything goes to the io-threads
        if proc in _SMALL_IO_INLINE:
            return _small_io(proc)
        if proc == P.UNLINK:
            return self._unlink_frees_little
        if proc == P.RENAME:
            return self._rename_frees_little
        if proc == P.TRUNCATE:
            return self._truncate_frees_little
        if proc == P.FTRUNCATE:
            return self._ftruncate_frees_little
        return proc in inline

    def _unlink_frees_little(self, args: memoryview) -> bool:
        """UNLINK's inline predicate: run it on the poller thread unless it would free more
        than ``INLINE_IO`` bytes (the last name of a big file: freeing its blocks may take the
        file system long). Small files, links and anything the UNLINK will refuse are
        quick. Reads the parent gfid and the name from the raw arguments (gfx_unlink_req:
        pargfid[16], then the name as an XDR string)."""
        return self._removing_frees_little(args, 0, 16)

    def _rename_frees_little(self, args: memoryview) -> bool:
        """RENAME's inline predicate: UNLINK's, on the name the RENAME replaces (renaming over
        the last name of a big file frees its blocks). gfx_rename_req: oldgfid[16],
        newgfid[16], then the old and the new name as XDR strings."""
        after_old = _after_name(args, 32)
        return after_old < 0 or self._removing_frees_little(args, 16, after_old)

    def _truncate_frees_little(self, args: memoryview) -> bool:
        """TRUNCATE's inline predicate: on the poller thread unless it would free more than
        ``INLINE_IO`` bytes (the end of a big file). gfx_truncate_req: gfid[16], offset."""
        return self._cutting_frees_little(args, 16)

    def _ftruncate_frees_little(self, args: memoryview) -> bool:
        """FTRUNCATE's: as TRUNCATE's, by the gfid the request names (the fd is the same
        inode, or the FOP refuses it). gfx_ftruncate_req: gfid[16], fd, offset."""
        return self._cutting_frees_little(args, 24)

    def _cutting_frees_little(self, args: memoryview, offset_at: int) -> bool:
        if offset_at + 8 > len(args):
            return True  # garbage: the handler answers it
        size = int.from_bytes(args[offset_at : offset_at + 8], "big")
        return self.store.bytes_a_truncate_frees(bytes(args[:16]), size) <= INLINE_IO

    def _removing_frees_little(self, args: memoryview, parent_at: int, name_at: int) -> bool:
        """Whether removing the name at ``name_at`` (an XDR string) from the directory whose
        gfid is at ``parent_at`` frees at most ``INLINE_IO`` bytes. Arguments that do not
        parse are answered inline: the handler refuses them."""
        after = _after_name(args, name_at)
        if after < 0 or parent_at + 16 > len(args):
            return True  # garbage: the handler answers it
        n = int.from_bytes(args[name_at : name_at + 4], "big")
        raw = bytes(args[name_at + 4 : name_at + 4 + n]).rstrip(b"\0")
        parent = bytes(args[parent_at : parent_at + 16])
        name = raw.decode("utf-8", "surrogateescape")
        return self.store.bytes_an_unlink_frees(parent, name) <= INLINE_IO

    # -- dispatch ------------------------------------------------------------------------------

    def _handler(self, proc: fp.FopProc) -> Callable[[Request], FopReply | None]:
        actor = ACTORS.get(proc, _not_implemented)
        rsp_type = fp.PROCEDURES[proc][1]
        name = proc.name

        def handle(request: Request) -> FopReply | None:
            with self._count_lock:
                self.counts[name] += 1
            client = brick_session(request).client  # GarbageArgs before SETVOLUME
            if proc == P.WRITE:
                tail = request.tail
                unread = 0 if tail is None else tail.remaining
                args, payload = fp.decode_write_request(request.args, unread)
            else:
                args, payload = request.decoded, request.payload or _NO_PAYLOAD
            call = FopCall(request, args, payload, client, caller_of(request), self.strict_access)
            try:
                try:
                    result = actor(self, call)
                except (ValueError, OverflowError) as exc:  # e.g. a NUL in a name, 2**64 offsets
                    raise OSError(errno.EINVAL, str(exc)) from exc
            except OSError as exc:
                code = exc.errno or errno.EIO
                if code == errno.ESTALE and getattr(args, "fd", None) == fp.GF_ANON_FD_NO:
                    # GlusterFS's resolver answers ENOENT for an anonymous fd of a gfid it
                    # does not know (ESTALE for a gfid by itself)
                    code = errno.ENOENT
                if code not in (errno.ENOENT, errno.ENODATA, errno.EEXIST):
                    log.debug("%s failed: %s", proc.name, exc)
                result = rsp_type(op_ret=-1, op_errno=code)
                if call.request.replied:
                    return None
            if result is DEFERRED:
                return None
            return result

        return handle

    def disconnected(self, session: MutableMapping[str, object]) -> None:
        """``RpcServer.on_disconnect``: release everything the connection held."""
        state = open_session(session).client  # made closed if SETVOLUME has not finished yet
        pending = state.close()
        posix = self.posix_locks.drop_client(state.lock_id)
        inode = self.inode_locks.drop_client(state.lock_id)
        entry = self.entry_locks.drop_client(state.lock_id)
        self.posix_locks.notify(posix)  # all dropped before any waiter wakes
        self.inode_locks.notify(inode)
        self.entry_locks.notify(entry)
        for request in pending:
            if not request.replied:
                try:
                    request.drop()
                except Exception:  # answered meanwhile by a grant: nothing to drop
                    pass


_NO_PAYLOAD: Final = memoryview(b"")

#: where READ, READDIR and READDIRP have the ``size`` they ask for (gfid[16], fd, offset)
_SIZE_AT: Final = 16 + 8 + 8


#: a READ or WRITE of at most this many bytes (the 1 MiB records of gfapi and of fio's seq
#: jobs) runs inline under ``--io-policy slow``. Copying 1 MiB to or from the page cache costs
#: a few hundred microseconds, less than the hand-off: measured with fio gfapi, 24 streams of
#: 1 MiB records, the hand-off cost 10-40 % of the throughput and up to 1.6x the CPU per GB
#: (docs/ARCHITECTURE.md, "Performance notes"). A page-cache miss blocks the poller whatever
#: the size, as it did for a 4 KiB READ before; the bound caps how long one record's copy
#: holds it. Bigger READs and WRITEs, and FSYNC, still go to the io-threads.
INLINE_IO: Final = 1 << 20
#: the longest name the UNLINK predicate reads (Linux's NAME_MAX, with room for a NUL)
_NAME_MAX: Final = 256
_SMALL_IO_INLINE: Final = frozenset({P.READ, P.WRITE})
#: a WRITE's arguments before its payload: gfid, fd, offset, size, flag, xdata (an empty dict)
_WRITE_HEAD: Final = 16 + 8 + 8 + 4 + 4 + 8


def _after_name(args: memoryview, at: int) -> int:
    """Where the XDR string (a name of at most ``_NAME_MAX`` bytes) at ``at`` of ``args``
    ends, padding included; -1 when there is none there."""
    if at + 4 > len(args):
        return -1
    n = int.from_bytes(args[at : at + 4], "big")
    end = at + 4 + n
    if n > _NAME_MAX or end > len(args):
        return -1
    return end + (-n & 3)


def _small_io(proc: fp.FopProc) -> Callable[[memoryview], bool]:
    """The ``Procedure.inline`` predicate of READ or WRITE: small enough to run inline."""
    if proc == P.READ:
        return lambda args: int.from_bytes(args[_SIZE_AT : _SIZE_AT + 4], "big") <= INLINE_IO
    return lambda args: len(args) <= INLINE_IO + _WRITE_HEAD + 4096  # xdata of a few keys


def _payload_holds(args: memoryview, count: int) -> bool:
    """WRITE's ``Procedure.takes_tail``: the last ``count`` bytes, still in the socket, are
    all payload (``size``, read from the raw arguments, covers them), so the header, the
    arguments and xdata before it are all here and the store may splice the rest into the
    file (``transport/tail.py``)."""
    return (
        len(args) >= _SIZE_AT + 4 and int.from_bytes(args[_SIZE_AT : _SIZE_AT + 4], "big") >= count
    )


def _asked_size(most: int) -> Callable[[memoryview], int]:
    """A ``Procedure.reply_size``: the reply size a READ/READDIR(P) asks for, read from its
    raw arguments before they are decoded, up to ``most`` (what the FOP serves at most), so
    the RPC server keeps unread clients' replies within its reply budgets. Uncapped, one
    READ asking for 4 GiB would take the whole server's budget while its reply waits."""

    def reply_size(args: memoryview) -> int:
        return min(int.from_bytes(args[_SIZE_AT : _SIZE_AT + 4], "big"), most) + 256

    return reply_size


_readdir_size = _asked_size(fop_inode.READDIR_MAX)
#: the bytes of a gfx_dict of no keys
_EMPTY_DICT: Final = 12
#: the arguments of a READDIRP with an empty xdata (the fields before ``size``, ``size``, and a
#: gfx_dict of no keys)
_READDIRP_BARE: Final = _SIZE_AT + 4 + _EMPTY_DICT


def _readdirp_size(args: memoryview) -> int:
    """READDIRP's ``reply_size``: its entries, and, when its xdata names keys, their xattrs
    (``readdirp`` stops adding entries once those pass READDIRP_XATTRS_MAX, and one entry
    answers at most NAMED_XATTRS_MAX of them)."""
    size = _readdir_size(args)
    if len(args) > _READDIRP_BARE:
        size += fop_inode.READDIRP_XATTRS_MAX + NAMED_XATTRS_MAX
    return size


#: Linux's largest xattr value, and the largest list of an inode's xattr names
_XATTR_VALUE_MAX: Final = 64 * 1024
_XATTR_LIST_MAX: Final = 64 * 1024


def _getxattr_size(name_at: int) -> Callable[[memoryview], int]:
    """GETXATTR's or FGETXATTR's ``reply_size`` (their name, an XDR string, has its length
    at ``name_at``): one value (64 KiB at most in Linux) and its key, or, for all of them (no
    name), what the brick answers at most (ALL_XATTRS_MAX) and their names (64 KiB at most)."""

    def reply_size(args: memoryview) -> int:
        named = int.from_bytes(args[name_at : name_at + 4], "big")
        return _XATTR_VALUE_MAX + 4096 if named else ALL_XATTRS_MAX + _XATTR_LIST_MAX + 4096

    return reply_size


#: what a LOOKUP or XATTROP reply holds besides its dict's keys and values: iatts and headers
_REPLY_HEADERS: Final = 1024
#: where a LOOKUP's ``bname`` (an XDR string) starts: after the two gfids and ``flags``
_BNAME_AT: Final = 16 + 16 + 4


def _lookup_size(args: memoryview) -> int:
    """LOOKUP's ``reply_size``: 0 (small, nothing reserved) when its xdata is empty; else
    quick-read's content (``MAX_CONTENT``) and the named xattrs' values (``NAMED_XATTRS_MAX``)
    it may ask for, and the request's own size, which bounds the keys echoed. Every LOOKUP of
    a real client names keys, and a few KiB of them asked for 128 KiB of reply, unreserved.
    A LOOKUP run inline reserves it only while its connection's earlier replies wait to be
    written (``Procedure.reserves_when_behind``): a client that reads them pays nothing."""
    name_len = int.from_bytes(args[_BNAME_AT : _BNAME_AT + 4], "big")
    if len(args) <= _BNAME_AT + 4 + ((name_len + 3) & ~3) + _EMPTY_DICT:
        return 0
    return len(args) + fop_entry.MAX_CONTENT + NAMED_XATTRS_MAX + _REPLY_HEADERS


def _xattrop_size(args: memoryview) -> int:
    """XATTROP's or FXATTROP's ``reply_size``: the request's own size and headers, since each
    answered value is no longer than its operand, under the same key (``xattr._xattrop``)."""
    return len(args) + _REPLY_HEADERS


#: FOPs whose reply may be large, and their predicted reply sizes (for READ and READDIR(P),
#: what they ask for); the other FOPs answer a few hundred bytes, at most a READLINK's path
_SIZED: Final = {
    P.READ: _asked_size(fop_io.MAX_READ),
    P.READDIR: _readdir_size,
    P.READDIRP: _readdirp_size,
    P.GETXATTR: _getxattr_size(16 + 4),  # gfid, namelen, then the name
    P.FGETXATTR: _getxattr_size(16 + 8 + 4),  # gfid, fd, namelen, then the name
    P.LOOKUP: _lookup_size,
    P.XATTROP: _xattrop_size,
    P.FXATTROP: _xattrop_size,
}


def _not_implemented(svc: FopService, call: FopCall) -> FopReply:
    raise OSError(errno.ENOSYS, "not implemented by the gfrpc brick")
