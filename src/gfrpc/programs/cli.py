"""The gluster CLI program (1238463 v2): what the stock ``gluster`` binary says to glusterd.

Every command is one CALL on a fresh connection (record marking, AUTH_GLUSTERFS_v2 with pid 0,
xids from 2). Almost every request is ``gf_cli_req { opaque dict }`` and almost every reply
``gf_cli_rsp { op_ret, op_errno, op_errstr, dict }``; ``peer status`` / ``pool list``
(LIST_FRIENDS) use ``gf1_cli_peer_list_req/rsp`` instead. The ``dict`` opaques hold the *old
serialized dict* (:func:`gfrpc.wire.gfdict.decode_serialized_dict`), with every value a C string
(NUL included): integers travel as decimal text (``dict_set_int32`` in the CLI stores
``"%d"``), and glusterd reads them back with ``strtol``. A dict with nothing in it is sent as an
empty opaque (no count word at all), as the CLI does for ``volume list``. Pairs are in the
reverse order of insertion (GlusterFS prepends), so keep the decoded order when re-encoding.

What the recorded exchanges (``tests/fixtures/cli``, GlusterFS 10.3) show, beyond cli1-xdr.x:

* ``volume create``: ``volname``, ``type`` (``ClusterType``), ``transport`` "tcp",
  ``bricks`` = " host:/p1 host:/p2 " (a space before *and after* each brick), ``count`` (number of
  bricks), ``force`` "1" or "0", ``cmd-str`` (the command line; also sent by start, stop,
  delete, set, reset and status).
* ``volume start|stop``: ``volname``, ``flags`` (``GF_CLI_FLAG_OP_FORCE`` or 0).
* ``volume info [V]``: ``flags`` GET_VOLUME with ``volname``; without a name the CLI loops with
  GET_NEXT_VOLUME, first without ``volname``, then with the last name, until ``count`` is 0.
  The reply numbers volumes from 0 (``volume0.name``) and their bricks from 1
  (``volume0.brick1``, ``volume0.brick1.uuid``).
* ``volume set V k v``: ``key1``/``value1``..., and ``count`` = words after ``set V`` (2 for one
  pair): glusterd walks ``key%d`` until one is missing rather than trusting ``count``.
* ``volume reset V [k]``: ``volname``, ``key`` (``"all"`` without a key); no ``force`` key.
* ``volume status [V]``: ``cmd`` (``StatusFlag``: VOL with ``volname``; ALL first, answered
  with ``vol_count``/``vol%d``, then one VOL call per volume on the same connection).
* Errors: ``op_ret`` -1, ``op_errno`` 0 or a ``GlusterdErrno``, ``op_errstr`` the message the
  CLI prints after "failed: ".
* glusterd also sends the CLI a GlusterFS Callback CALL (52743234 v1, FETCHSPEC, AUTH_NULL, no
  body) before the reply of a command that changes a volfile; the CLI ignores it.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from typing import Final

from gfrpc.errors import ConfigError, LocalProtocolError
from gfrpc.wire import xdr
from gfrpc.wire.gfdict import decode_serialized_dict, encode_serialized_dict
from gfrpc.wire.xdr import XdrStruct

__all__ = [
    "GLUSTER_CLI_PROGRAM",
    "GLUSTER_CLI_VERSION",
    "CliProc",
    "READ_ONLY_PROCS",
    "CLI_DICT_MAX",
    "CLI_ERRSTR_MAX",
    "GetVolumeFlag",
    "ListFriendsFlag",
    "GF_CLI_FLAG_OP_FORCE",
    "StatusFlag",
    "ClusterType",
    "VolumeStatus",
    "GlusterdErrno",
    "GfCliReq",
    "GfCliRsp",
    "Gf1CliPeerListReq",
    "Gf1CliPeerListRsp",
    "cli_request",
    "cli_reply",
    "cli_dict",
    "encode_cli_dict",
    "VOLUME_NAME_MAX",
    "RESERVED_VOLUME_NAMES",
    "validate_volume_name",
]

GLUSTER_CLI_PROGRAM: Final = 1238463
GLUSTER_CLI_VERSION: Final = 2

#: Our bounds on what a peer may make us read (cli1-xdr.x leaves ``<>`` unbounded). A ``volume
#: info`` of a thousand volumes with their options is a few MiB; an error text is one line.
CLI_DICT_MAX: Final = 32 << 20
CLI_ERRSTR_MAX: Final = 64 << 10


class CliProc(enum.IntEnum):
    """``enum gluster_cli_procnum`` of GlusterFS 10.3 (rpc/rpc-lib/src/protocol-common.h).

    Every number is fixed by its position there; GLUSTER_CLI_MAXVALUE (50) is not a procedure.
    """

    NULL = 0
    PROBE = 1
    DEPROBE = 2
    LIST_FRIENDS = 3
    CREATE_VOLUME = 4
    GET_VOLUME = 5
    GET_NEXT_VOLUME = 6  # never called: the CLI sends GET_VOLUME with GetVolumeFlag.NEXT
    DELETE_VOLUME = 7
    START_VOLUME = 8
    STOP_VOLUME = 9
    RENAME_VOLUME = 10  # obsolete
    DEFRAG_VOLUME = 11
    SET_VOLUME = 12
    ADD_BRICK = 13
    REMOVE_BRICK = 14
    REPLACE_BRICK = 15
    LOG_ROTATE = 16
    GETSPEC = 17
    PMAP_PORTBYBRICK = 18
    SYNC_VOLUME = 19
    RESET_VOLUME = 20
    FSM_LOG = 21
    GSYNC_SET = 22
    PROFILE_VOLUME = 23
    QUOTA = 24
    TOP_VOLUME = 25
    GETWD = 26
    STATUS_VOLUME = 27
    STATUS_ALL = 28
    MOUNT = 29
    UMOUNT = 30
    HEAL_VOLUME = 31
    STATEDUMP_VOLUME = 32
    LIST_VOLUME = 33
    CLRLOCKS_VOLUME = 34
    UUID_RESET = 35
    UUID_GET = 36
    COPY_FILE = 37
    SYS_EXEC = 38
    SNAP = 39
    BARRIER_VOLUME = 40
    GET_VOL_OPT = 41
    GANESHA = 42
    BITROT = 43
    ATTACH_TIER = 44
    TIER = 45
    GET_STATE = 46
    RESET_BRICK = 47
    REMOVE_TIER_BRICK = 48
    ADD_TIER_BRICK = 49


#: What glusterd answers on TCP (program "GlusterD svc cli read-only", gd_svc_cli_trusted_actors
#: in glusterd-handler.c); everything else only on its UNIX socket ("GlusterD svc cli").
READ_ONLY_PROCS: Final = frozenset(
    {
        CliProc.LIST_FRIENDS,
        CliProc.UUID_GET,
        CliProc.GET_VOLUME,
        CliProc.GETWD,
        CliProc.STATUS_VOLUME,
        CliProc.LIST_VOLUME,
        CliProc.MOUNT,
        CliProc.UMOUNT,
    }
)


class GetVolumeFlag(enum.IntEnum):
    """``flags`` of GET_VOLUME (``enum gf1_cli_get_volume``)."""

    ALL = 1
    VOLUME = 2  # one named volume
    NEXT = 3  # the volume after ``volname`` (the first one without it)


class ListFriendsFlag(enum.IntEnum):
    """``flags`` of LIST_FRIENDS (``enum gf1_cli_friends_list``)."""

    PEERS = 1  # peer status: the other nodes
    POOL_NODES = 2  # pool list: this node too


#: ``flags`` of start/stop (``enum gf1_cli_op_flags``); ``volume create ... force`` sends
#: ``force`` = 1 instead.
GF_CLI_FLAG_OP_FORCE: Final = 1


class StatusFlag(enum.IntFlag):
    """``cmd`` of STATUS_VOLUME (``enum gf_cli_status_type``): an op in the low byte
    (``MASK``) combined with what it is about (VOL, ALL, BRICK, a daemon)."""

    NONE = 0x0
    MEM = 0x1
    CLIENTS = 0x2
    INODE = 0x4
    FD = 0x8
    CALLPOOL = 0x10
    DETAIL = 0x20
    TASKS = 0x40
    CLIENT_LIST = 0x80
    MASK = 0xFF
    VOL = 0x100
    ALL = 0x200
    BRICK = 0x400
    NFS = 0x800
    SHD = 0x1000
    QUOTAD = 0x2000
    SNAPD = 0x4000
    BITD = 0x8000
    SCRUB = 0x10000
    TIERD = 0x20000


class ClusterType(enum.IntEnum):
    """``type`` of a volume (``enum gf1_cluster_type``); 0 is plain distribute."""

    NONE = 0
    STRIPE = 1
    REPLICATE = 2
    STRIPE_REPLICATE = 3
    DISPERSE = 4
    TIER = 5


class VolumeStatus(enum.IntEnum):
    """A volume's ``status`` in GET_VOLUME replies (``enum glusterd_volume_status``,
    glusterd1-xdr.x); the CLI prints Created, Started, Stopped."""

    CREATED = 0  # GLUSTERD_STATUS_NONE
    STARTED = 1
    STOPPED = 2


class GlusterdErrno(enum.IntEnum):
    """glusterd's own ``op_errno`` values (glusterd-errno.h); plain errnos are used too."""

    INTRNL = 30800  # what most failed commands carry, "volume does not exist" included
    OPNOTSUP = 30801
    ANOTRANS = 30802
    BRCKDWN = 30803
    NODEDWN = 30804
    HRDLMT = 30805
    NOVOL = 30806  # GET_VOLUME of an unknown name ("Volume does not exist")
    NOSNAP = 30807
    RBALRUN = 30808
    VOLRUN = 30809
    VOLSTP = 30810
    VOLEXST = 30811
    SNAPEXST = 30812
    ISSNAP = 30813
    GEOREPRUN = 30814
    NOTTHINP = 30815
    NOGANESHA = 30816


_DICT = xdr.Opaque(CLI_DICT_MAX)

GfCliReq = xdr.struct("GfCliReq", [("dict", _DICT, b"")], doc="gf_cli_req { opaque dict<> }")
GfCliRsp = xdr.struct(
    "GfCliRsp",
    [
        ("op_ret", xdr.Int, 0),
        ("op_errno", xdr.Int, 0),
        ("op_errstr", xdr.String(CLI_ERRSTR_MAX), ""),
        ("dict", _DICT, b""),
    ],
    doc="gf_cli_rsp { int op_ret; int op_errno; string op_errstr<>; opaque dict<> }",
)
Gf1CliPeerListReq = xdr.struct(
    "Gf1CliPeerListReq",
    [("flags", xdr.Int, 0), ("dict", _DICT, b"")],
    doc="gf1_cli_peer_list_req { int flags; opaque dict<> }",
)
Gf1CliPeerListRsp = xdr.struct(
    "Gf1CliPeerListRsp",
    [("op_ret", xdr.Int, 0), ("op_errno", xdr.Int, 0), ("friends", _DICT, b"")],
    doc="gf1_cli_peer_list_rsp { int op_ret; int op_errno; opaque friends<> }",
)

CliDictValue = str | int | bytes


def encode_cli_dict(d: Mapping[str, CliDictValue] | None) -> bytes:
    """A CLI dict opaque: str and int values as C strings (as the CLI and glusterd send them),
    bytes as given; nothing at all for an empty or absent dict."""
    return encode_serialized_dict(d) if d else b""


def cli_request(d: Mapping[str, CliDictValue] | None = None) -> XdrStruct:
    """A ``gf_cli_req`` carrying ``d``."""
    return GfCliReq(dict=encode_cli_dict(d))


def cli_reply(
    op_ret: int = 0,
    op_errno: int = 0,
    op_errstr: str = "",
    d: Mapping[str, CliDictValue] | None = None,
) -> XdrStruct:
    """A ``gf_cli_rsp``: ``op_ret`` -1 with ``op_errstr`` for a failure the CLI prints."""
    return GfCliRsp(op_ret=op_ret, op_errno=op_errno, op_errstr=op_errstr, dict=encode_cli_dict(d))


def cli_dict(msg: XdrStruct) -> dict[str, bytes]:
    """The dict of a CLI message (``GfCliReq``, ``GfCliRsp``, ``Gf1CliPeerListReq``, or a
    ``Gf1CliPeerListRsp``'s ``friends``), values as raw bytes in wire order; read them with
    :func:`gfrpc.wire.gfdict.as_str` / ``as_int``. Raises ``RemoteProtocolError`` for a
    malformed dict."""
    data = msg.friends if isinstance(msg, Gf1CliPeerListRsp) else msg.dict
    if not isinstance(data, bytes | bytearray | memoryview):
        raise LocalProtocolError(f"{type(msg).__name__} has no dict opaque")
    return decode_serialized_dict(data)


# --------------------------------------------------------------------------- volume names

#: The CLI's rule for a volume name (cli_validate_volname in cli/src/cli-cmd-parser.c): ASCII
#: letters, digits, '-' and '_', not starting with '-', at most GD_VOLUME_NAME_MAX (NAME_MAX + 1)
#: characters, and not one of the volfile keywords and CLI words below.
VOLUME_NAME_MAX: Final = 256
RESERVED_VOLUME_NAMES: Final = frozenset(
    {
        "volume",
        "type",
        "help",
        "subvolumes",
        "option",
        "end-volume",
        "all",
        "volume_not_in_ring",
        "description",
        "force",
        "snap-max-hard-limit",
        "snap-max-soft-limit",
        "auto-delete",
        "activate-on-create",
    }
)
_VOLNAME = re.compile(r"[A-Za-z0-9_-]+")


def validate_volume_name(name: str, *, what: str = "volume name") -> str:
    """Return ``name`` if the gluster CLI would accept it as a volume name, else ConfigError."""
    if not name:
        raise ConfigError(f"{what} is empty")
    if name.startswith("-"):
        raise ConfigError(f"{what} {name!r} must not start with '-'")
    if not _VOLNAME.fullmatch(name):
        raise ConfigError(f"{what} {name!r} may only contain ASCII letters, digits, '-' and '_'")
    if len(name) > VOLUME_NAME_MAX:
        raise ConfigError(f"{what} is {len(name)} characters long, at most {VOLUME_NAME_MAX}")
    if name in RESERVED_VOLUME_NAMES:
        raise ConfigError(f"{what} {name!r} is reserved and cannot name a volume")
    return name
