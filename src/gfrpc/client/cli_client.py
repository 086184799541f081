"""The gluster CLI protocol as a client: what ``gluster volume ...`` sends glusterd, in Python.

Each method sends the same call with the same dict keys as the stock ``gluster`` binary
(``gfrpc.programs.cli`` lists what the recordings show), so a gfrpc mgmtd and a real glusterd
answer it alike, and ``gfrpc volume`` and the stock CLI go through the daemon's one code path.
A refused command raises :class:`CliCommandError` with the daemon's message (what the stock
CLI prints after "failed: "). The default address is glusterd's UNIX socket; write commands
are answered only there (on TCP they are PROC_UNAVAIL, an ``RpcError``).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from gfrpc.errors import GfrpcError
from gfrpc.programs import cli
from gfrpc.programs.cli import (
    GF_CLI_FLAG_OP_FORCE,
    CliProc,
    ClusterType,
    GetVolumeFlag,
    ListFriendsFlag,
    StatusFlag,
    VolumeStatus,
)
from gfrpc.rpc.client import RpcClient
from gfrpc.transport import AddressLike, Poller, make_poller
from gfrpc.wire.gfdict import as_str
from gfrpc.wire.rpcmsg import GlusterCredV2

__all__ = [
    "DEFAULT_CLI_SOCKET",
    "BrickRow",
    "CliClient",
    "CliCommandError",
    "CliReply",
    "VolumeInfo",
]

#: where the stock CLI looks for glusterd (DEFAULT_GLUSTERD_SOCKFILE)
DEFAULT_CLI_SOCKET: Final = "/var/run/glusterd.socket"
#: the credential the stock CLI sends: AUTH_GLUSTERFS_v2, pid 0, root
CLI_CRED: Final = GlusterCredV2(pid=0, uid=0, gid=0, groups=(), lk_owner=bytes(4))


class CliCommandError(GfrpcError):
    """The daemon refused a command: ``str(e)`` is its message, ``op_errno`` its errno."""

    def __init__(self, message: str, op_errno: int = 0) -> None:
        super().__init__(message)
        self.op_errno = op_errno


@dataclass(frozen=True)
class CliReply:
    """A ``gf_cli_rsp``: its dict with values as text."""

    op_ret: int
    op_errno: int
    op_errstr: str
    dict: Mapping[str, str]

    def check(self, fallback: str) -> CliReply:
        """This reply, or CliCommandError when op_ret says it failed."""
        if self.op_ret != 0:
            raise CliCommandError(self.op_errstr or fallback, self.op_errno)
        return self


@dataclass(frozen=True)
class VolumeInfo:
    """One volume of ``volume info``."""

    name: str
    volume_id: uuid.UUID
    type: ClusterType
    status: VolumeStatus
    bricks: tuple[str, ...]
    options: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BrickRow:
    """One brick of ``volume status`` (port/pid None when offline)."""

    host: str
    path: str
    port: int | None
    pid: int | None
    online: bool
    detail: Mapping[str, str] = field(default_factory=dict)


class CliClient:
    """One connection to a management daemon's CLI program (``with`` closes it)."""

    def __init__(
        self,
        address: AddressLike = f"unix:{DEFAULT_CLI_SOCKET}",
        *,
        timeout: float = 120.0,
        poller: Poller | None = None,
    ) -> None:
        self._own_poller = poller is None
        self.poller = poller if poller is not None else make_poller("single")
        if self._own_poller:
            self.poller.start()
        self.timeout = timeout
        self.rpc = RpcClient(
            address, poller=self.poller, frame_timeout=timeout, ping_timeout=0, cred=CLI_CRED
        )
        try:
            self.rpc.connect(timeout=min(timeout, 10.0))
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        self.rpc.close()
        if self._own_poller:
            self.poller.stop()

    def __enter__(self) -> CliClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- the protocol ----------------------------------------------------------------------

    def call(self, proc: CliProc, d: Mapping[str, str | int] | None = None) -> CliReply:
        """One ``gf_cli_req`` → ``gf_cli_rsp`` exchange."""
        reply = self.rpc.call(
            cli.GLUSTER_CLI_PROGRAM, cli.GLUSTER_CLI_VERSION, proc, cli.cli_request(d).pack()
        )
        rsp = cli.GfCliRsp.unpack(reply.body)
        values = {k: as_str(v) for k, v in cli.cli_dict(rsp).items()}
        return CliReply(int(rsp.op_ret), int(rsp.op_errno), str(rsp.op_errstr), values)

    # ---- volume commands (the stock CLI's dicts) -------------------------------------------

    def create(
        self,
        name: str,
        bricks: Sequence[str],
        *,
        force: bool = False,
        kind: ClusterType = ClusterType.NONE,
    ) -> uuid.UUID:
        """``volume create NAME HOST:/path ... [force]``: the new volume-id. ``kind`` other
        than distribute is sent as the CLI sends it (a gfrpc mgmtd refuses it)."""
        words = ["volume", "create", name, *bricks] + (["force"] if force else [])
        r = self.call(
            CliProc.CREATE_VOLUME,
            {
                "volname": name,
                "type": int(kind),
                "transport": "tcp",
                "bricks": "".join(f" {b}" for b in bricks) + " ",
                "count": len(bricks),
                "force": int(force),
                "cmd-str": " ".join(words),
            },
        ).check(f"volume create: {name}: failed")
        return uuid.UUID(r.dict["volume-id"]) if "volume-id" in r.dict else uuid.UUID(int=0)

    def _flagged(self, proc: CliProc, verb: str, name: str, force: bool) -> None:
        words = ["volume", verb, name] + (["force"] if force else [])
        self.call(
            proc,
            {
                "volname": name,
                "flags": GF_CLI_FLAG_OP_FORCE if force else 0,
                "cmd-str": " ".join(words),
            },
        ).check(f"volume {verb}: {name}: failed")

    def start(self, name: str, *, force: bool = False) -> None:
        self._flagged(CliProc.START_VOLUME, "start", name, force)

    def stop(self, name: str, *, force: bool = False) -> None:
        self._flagged(CliProc.STOP_VOLUME, "stop", name, force)

    def delete(self, name: str) -> None:
        self.call(
            CliProc.DELETE_VOLUME, {"volname": name, "cmd-str": f"volume delete {name}"}
        ).check(f"volume delete: {name}: failed")

    def set(self, name: str, options: Mapping[str, str]) -> None:
        """``volume set NAME KEY VALUE [KEY VALUE ...]``."""
        d: dict[str, str | int] = {"volname": name, "count": 2 * len(options)}
        words = ["volume", "set", name]
        for i, (k, v) in enumerate(options.items(), start=1):
            d[f"key{i}"], d[f"value{i}"] = k, v
            words += [k, v]
        d["cmd-str"] = " ".join(words)
        self.call(CliProc.SET_VOLUME, d).check("volume set: failed")

    def reset(self, name: str, key: str | None = None) -> None:
        """``volume reset NAME [KEY]`` (every option without a key)."""
        words = ["volume", "reset", name] + ([key] if key else [])
        self.call(
            CliProc.RESET_VOLUME,
            {"volname": name, "key": key or "all", "cmd-str": " ".join(words)},
        ).check("volume reset: failed")

    def volumes(self) -> list[str]:
        """``volume list``."""
        d = self.call(CliProc.LIST_VOLUME).check("volume list: failed").dict
        return [d[f"volume{i}"] for i in range(int(d.get("count", "0")))]

    def info(self, name: str | None = None) -> list[VolumeInfo]:
        """``volume info [NAME]``: one named volume, or every volume (GET_NEXT_VOLUME walk)."""
        if name is not None:
            r = self.call(CliProc.GET_VOLUME, {"flags": int(GetVolumeFlag.VOLUME), "volname": name})
            if r.op_ret != 0 or r.dict.get("count", "0") == "0":
                raise CliCommandError(f"Volume {name} does not exist", r.op_errno)
            return _volumes(r.dict)
        out: list[VolumeInfo] = []
        last: str | None = None
        while True:
            d: dict[str, str | int] = {"flags": int(GetVolumeFlag.NEXT)}
            if last is not None:
                d["volname"] = last
            r = self.call(CliProc.GET_VOLUME, d).check("volume info: failed")
            found = _volumes(r.dict)
            if not found:
                return out
            out += found
            last = found[-1].name

    def status(self, name: str | None = None, *, detail: bool = False) -> dict[str, list[BrickRow]]:
        """``volume status [NAME] [detail]``: bricks by volume (started volumes only when no
        name is given, as the CLI shows them)."""
        extra = StatusFlag.DETAIL if detail else StatusFlag.NONE
        words = ["volume", "status"] + ([name] if name else []) + (["detail"] if detail else [])
        cmd_str = " ".join(words)
        if name is None:
            r = self.call(
                CliProc.STATUS_VOLUME, {"cmd": int(StatusFlag.ALL | extra), "cmd-str": cmd_str}
            ).check("volume status: failed")
            names = [r.dict[f"vol{i}"] for i in range(int(r.dict.get("vol_count", "0")))]
        else:
            names = [name]
        out: dict[str, list[BrickRow]] = {}
        for n in names:
            r = self.call(
                CliProc.STATUS_VOLUME,
                {"cmd": int(StatusFlag.VOL | extra), "volname": n, "cmd-str": cmd_str},
            )
            if r.op_ret != 0:
                if name is None:
                    continue  # the CLI prints the error and goes on with the next volume
                raise CliCommandError(r.op_errstr or "volume status: failed", r.op_errno)
            out[n] = _bricks(r.dict)
        return out

    def peers(self, *, pool: bool = False) -> list[tuple[str, str, bool]]:
        """``peer status`` (pool=False) or ``pool list``: (uuid, hostname, connected)."""
        flags = ListFriendsFlag.POOL_NODES if pool else ListFriendsFlag.PEERS
        reply = self.rpc.call(
            cli.GLUSTER_CLI_PROGRAM,
            cli.GLUSTER_CLI_VERSION,
            CliProc.LIST_FRIENDS,
            cli.Gf1CliPeerListReq(flags=int(flags), dict=b"").pack(),
        )
        rsp = cli.Gf1CliPeerListRsp.unpack(reply.body)
        if rsp.op_ret != 0:
            raise CliCommandError("peer status: failed", int(rsp.op_errno))
        d = {k: as_str(v) for k, v in cli.cli_dict(rsp).items()}
        return [
            (d[f"friend{i}.uuid"], d[f"friend{i}.hostname"], d.get(f"friend{i}.connected") == "1")
            for i in range(1, int(d.get("count", "0")) + 1)
        ]


def _volumes(d: Mapping[str, str]) -> list[VolumeInfo]:
    out = []
    for i in range(int(d.get("count", "0"))):
        p = f"volume{i}."
        n = int(d[p + "brick_count"])
        prefix = p + "option."
        out.append(
            VolumeInfo(
                name=d[p + "name"],
                volume_id=uuid.UUID(d[p + "volume_id"]),
                type=ClusterType(int(d[p + "type"])),
                status=VolumeStatus(int(d[p + "status"])),
                bricks=tuple(d[f"{p}brick{j}"] for j in range(1, n + 1)),
                options={
                    k[len(prefix) :]: v
                    for k, v in reversed(list(d.items()))
                    if k.startswith(prefix)
                },
            )
        )
    return out


_DETAIL = ("free", "total", "device", "block_size", "mnt_options", "fs_name", "total_inodes")


def _bricks(d: Mapping[str, str]) -> list[BrickRow]:
    rows = []
    for i in range(int(d.get("brick-index-max", "-1")) + 1):
        p = f"brick{i}."
        online = d.get(p + "status") == "1"
        pid = int(d.get(p + "pid", "-1"))
        rows.append(
            BrickRow(
                host=d[p + "hostname"],
                path=d[p + "path"],
                port=int(d[p + "port"]) if online else None,
                pid=pid if online and pid > 0 else None,
                online=online,
                detail={k: d[p + k] for k in (*_DETAIL, "free_inodes") if p + k in d},
            )
        )
    return rows
