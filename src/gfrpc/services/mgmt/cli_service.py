"""The gluster CLI program (1238463 v2) as gfrpc mgmtd serves it: one handler per command.

Theory of operation. The stock ``gluster`` binary and ``gfrpc volume`` send the same calls
(``gf_cli_req`` with a serialized dict) and read the same replies (``gf_cli_rsp``), so one
handler per procedure serves both. A handler reads the request dict, checks what glusterd
checks (with glusterd's texts, which the CLI prints after "failed: "), changes the
:class:`~gfrpc.services.mgmt.state.VolumeStore` in one transaction, and answers a dict with the
keys the CLI's printers read (``info.py``). Like glusterd, a write command's reply carries the
request's own keys back (the CLI reads ``cmd`` of a status reply from it), plus glusterd's
bookkeeping keys (``originator_uuid``, ``transaction_id``...), so that a recorded glusterd
reply and ours have the same keys.

Write commands are serialized by one lock (glusterd's cluster lock); the store's
``BEGIN IMMEDIATE`` makes each one atomic against other processes too. Bricks are started and
stopped by the supervisor *before* the state says Started/Stopped, so a failed spawn leaves
the volume as it was. Two programs are built: the full one for the UNIX socket, and the
read-only one of glusterd's TCP port ("GlusterD svc cli read-only", gd_svc_cli_trusted_actors
in glusterd-handler.c), where every other procedure is PROC_UNAVAIL.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from gfrpc.errors import GfrpcError
from gfrpc.programs import cli
from gfrpc.programs.cli import (
    GF_CLI_FLAG_OP_FORCE,
    CliProc,
    ClusterType,
    GetVolumeFlag,
    GlusterdErrno,
    ListFriendsFlag,
    StatusFlag,
    VolumeStatus,
)
from gfrpc.rpc.server import Procedure, Program, Request
from gfrpc.services.mgmt import info
from gfrpc.services.mgmt.info import BrickStatus
from gfrpc.services.mgmt.registry import BrickRef, Registry
from gfrpc.services.mgmt.state import NoSuchVolumeError, Volume, VolumeStateError, VolumeStore
from gfrpc.services.mgmt.volopts import OPTIONS, OptionError, check_option
from gfrpc.wire.gfdict import as_int, as_str

__all__ = ["BrickStatus", "CliService", "Supervisor", "MAX_INFO_VOLUMES"]

log = logging.getLogger("gfrpc.mgmtd.cli")

#: glusterd's op codes as its replies carry them in ``sync-mgmt-operation``
_SYNC_OP = {"create": 1, "delete": 4, "set": 11, "reset": 12, "status": 18}
#: what the user typed for the procedures gfrpc does not serve (named in the refusal)
_COMMAND_WORDS = {
    CliProc.PROBE: "peer probe",
    CliProc.DEPROBE: "peer detach",
    CliProc.DEFRAG_VOLUME: "volume rebalance",
    CliProc.ADD_BRICK: "volume add-brick",
    CliProc.REMOVE_BRICK: "volume remove-brick",
    CliProc.REPLACE_BRICK: "volume replace-brick",
    CliProc.RESET_BRICK: "volume reset-brick",
    CliProc.LOG_ROTATE: "volume log rotate",
    CliProc.SYNC_VOLUME: "volume sync",
    CliProc.GSYNC_SET: "volume geo-replication",
    CliProc.PROFILE_VOLUME: "volume profile/top",  # the stock CLI sends `volume top` here too
    CliProc.QUOTA: "volume quota",
    CliProc.TOP_VOLUME: "volume top",
    CliProc.HEAL_VOLUME: "volume heal",
    CliProc.STATEDUMP_VOLUME: "volume statedump",
    CliProc.CLRLOCKS_VOLUME: "volume clear-locks",
    CliProc.SNAP: "snapshot",
    CliProc.BARRIER_VOLUME: "volume barrier",
    CliProc.GET_VOL_OPT: "volume get",
    CliProc.GANESHA: "nfs-ganesha",
    CliProc.BITROT: "volume bitrot",
    CliProc.GET_STATE: "get-state",
    CliProc.UUID_GET: "system:: uuid get",
    CliProc.UUID_RESET: "system:: uuid reset",
}
#: how many volumes one GET_VOLUME ALL may list (each is a few hundred bytes)
MAX_INFO_VOLUMES = 10_000
#: bounds on what one ``volume create`` may ask for (glusterd has none; a brick is a process)
MAX_BRICKS = 1024
PATH_MAX = 4096


class Supervisor(Protocol):
    """What the CLI service asks of the brick supervisor (``supervisor.BrickSupervisor``)."""

    def start_volume(self, volume: Volume, *, force: bool = False) -> None: ...
    def stop_volume(self, volume: Volume, *, force: bool = False) -> None: ...
    def status(self, volume: Volume) -> Sequence[BrickStatus]: ...
    def adopt(self, volumes: Sequence[Volume]) -> None: ...
    def close(self) -> None: ...


class _Refused(GfrpcError):
    """A command refused with glusterd's message and errno (answered op_ret -1)."""

    def __init__(self, message: str, op_errno: int = GlusterdErrno.INTRNL) -> None:
        super().__init__(message)
        self.op_errno = op_errno


def _text(d: Mapping[str, bytes], key: str, default: str | None = None) -> str:
    if key in d:
        return as_str(d[key])
    if default is None:
        raise _Refused(f"Unable to get {key}")  # glusterd: GD_MSG_DICT_GET_FAILED
    return default


def _int(d: Mapping[str, bytes], key: str, default: int | None = None) -> int:
    if key not in d and default is not None:
        return default
    try:
        return as_int(d[key])
    except (KeyError, ValueError):
        raise _Refused(f"Unable to get {key}") from None


class CliService:
    """The CLI program's handlers over one store (see the module notes).

    ``hostnames``: the names and addresses of this node (a brick on another host is refused,
    as glusterd refuses a host that is not a peer). ``on_change()`` runs after a volume is
    created or deleted (the daemon refreshes its registry). ``supervisor`` None: start/stop
    only change the state, and status shows a brick online when it signed in by itself."""

    def __init__(
        self,
        store: VolumeStore,
        node_uuid: uuid.UUID,
        registry: Registry,
        *,
        hostnames: Sequence[str],
        supervisor: Supervisor | None = None,
        on_change: Callable[[], None] | None = None,
        port: int = 24007,
    ) -> None:
        self.store = store
        self.node_uuid = node_uuid
        self.registry = registry
        self.hostnames = {h.strip("[]").lower() for h in hostnames}
        self.supervisor = supervisor
        self.on_change = on_change
        self.port = port
        self._write_lock = threading.Lock()

    # ---- programs ------------------------------------------------------------------------

    def program(self, *, read_only: bool = False) -> Program:
        """The CLI program: every procedure (UNIX socket), or only the read-only ones (TCP)."""
        req, peer = cli.GfCliReq, cli.Gf1CliPeerListReq
        table: dict[int, tuple[Callable[[Request], object], type]] = {
            CliProc.LIST_FRIENDS: (self.list_friends, peer),
            CliProc.GET_VOLUME: (self.get_volume, req),
            CliProc.LIST_VOLUME: (self.list_volume, req),
            CliProc.STATUS_VOLUME: (self.status_volume, req),
        }
        if not read_only:
            table |= {
                CliProc.CREATE_VOLUME: (self.create_volume, req),
                CliProc.START_VOLUME: (self.start_volume, req),
                CliProc.STOP_VOLUME: (self.stop_volume, req),
                CliProc.DELETE_VOLUME: (self.delete_volume, req),
                CliProc.SET_VOLUME: (self.set_volume, req),
                CliProc.RESET_VOLUME: (self.reset_volume, req),
            }
        procs = {
            int(p): Procedure(CliProc(p).name, handler, args_type=t)
            for p, (handler, t) in table.items()
        }
        if not read_only:
            for p in CliProc:
                if p != CliProc.NULL and int(p) not in procs:
                    procs[int(p)] = Procedure(p.name, self.unsupported, args_type=req)
        name = "GlusterD svc cli read-only" if read_only else "GlusterD svc cli"
        return Program(cli.GLUSTER_CLI_PROGRAM, cli.GLUSTER_CLI_VERSION, name, procs)

    # ---- plumbing -------------------------------------------------------------------------

    def _answer(
        self,
        request: Request,
        run: Callable[[dict[str, bytes], dict[str, str]], Mapping[str, str] | None],
        *,
        op: str | None = None,
        echo: bool = True,
        echo_errors: bool = True,
    ) -> object:
        """Run ``run(request dict, out)`` and reply: ``out`` (which the handler fills as it
        goes, so a refusal keeps what was known, as glusterd's replies do) plus what ``run``
        returns, with the request's keys and glusterd's bookkeeping keys when ``echo``; a
        refusal is op_ret -1 with its message (and no dict at all unless ``echo_errors``)."""
        d = cli.cli_dict(request.decoded)
        extra: dict[str, str | bytes] = {}
        if op is not None and op in _SYNC_OP:
            extra["sync-mgmt-operation"] = str(_SYNC_OP[op])
            extra["transaction_id"] = uuid.uuid4().bytes
        if echo:
            extra["originator_uuid"] = self.node_uuid.bytes
        out: dict[str, str] = {}
        try:
            out |= run(d, out) or {}
            ret, errno_, errstr = 0, 0, ""
        except (_Refused, VolumeStateError) as e:
            ret, errno_, errstr = -1, e.op_errno, str(e)
        except OptionError as e:
            ret, errno_, errstr = -1, GlusterdErrno.INTRNL, str(e)
        except (GfrpcError, OSError) as e:  # the supervisor's own failures, one line
            log.warning("%s failed: %s", CliProc(request.proc).name, e)
            ret, errno_, errstr = -1, GlusterdErrno.INTRNL, " ".join(str(e).split())
        if ret != 0 and not echo_errors:
            return cli.cli_reply(ret, errno_, errstr)
        reply: dict[str, str | bytes] = {**out, **extra, **d} if echo else dict(out)
        # glusterd prepends each key it sets: the wire order is the reverse of insertion
        return cli.cli_reply(ret, errno_, errstr, dict(reversed(list(reply.items()))))

    def _volume(self, name: str) -> Volume:
        return self.store.get_volume(name)

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    # ---- read-only commands ----------------------------------------------------------------

    def list_friends(self, request: Request) -> object:
        pool = request.decoded.flags == ListFriendsFlag.POOL_NODES
        friends = dict(reversed(list(info.peer_list(self.node_uuid, pool=pool).items())))
        return cli.Gf1CliPeerListRsp(op_ret=0, op_errno=0, friends=cli.encode_cli_dict(friends))

    def list_volume(self, request: Request) -> object:
        def run(d: dict[str, bytes], out: dict[str, str]) -> Mapping[str, str]:
            return info.volume_list(self.store.volume_names())

        return self._answer(request, run, echo=False)

    def get_volume(self, request: Request) -> object:
        d = cli.cli_dict(request.decoded)
        flags = _int(d, "flags", int(GetVolumeFlag.ALL))
        name = as_str(d["volname"]) if "volname" in d else None
        if flags == GetVolumeFlag.VOLUME:
            try:
                volumes = [self._volume(name or "")]
            except NoSuchVolumeError:
                return cli.cli_reply(
                    -1, GlusterdErrno.NOVOL, "Volume does not exist", {"count": "0"}
                )  # glusterd-handler.c, glusterd_handle_cli_get_volume
        elif flags == GetVolumeFlag.NEXT:
            names = self.store.volume_names()
            later = [n for n in names if name is None or n > name]
            volumes = []
            if later:
                try:
                    volumes = [self._volume(later[0])]
                except NoSuchVolumeError:
                    volumes = []
        else:
            volumes = self.store.volumes()[:MAX_INFO_VOLUMES]
        found = info.volume_info(volumes, self.node_uuid)
        return cli.cli_reply(0, 0, "", dict(reversed(list(found.items()))))

    def status_volume(self, request: Request) -> object:
        def run(d: dict[str, bytes], out: dict[str, str]) -> Mapping[str, str]:
            cmd = _int(d, "cmd", int(StatusFlag.VOL))
            if cmd & StatusFlag.ALL:
                return info.status_all(self.store.volume_names())
            if cmd & ~(StatusFlag.VOL | StatusFlag.DETAIL):
                raise _Refused(
                    "gfrpc mgmtd answers 'volume status [VOLNAME] [detail]' only",
                    GlusterdErrno.OPNOTSUP,
                )
            volume = self._volume(_text(d, "volname"))
            if volume.status != VolumeStatus.STARTED:
                raise _Refused(f"Volume {volume.name} is not started")
            return info.volume_status(
                volume,
                self._brick_states(volume),
                self.node_uuid,
                detail=bool(cmd & StatusFlag.DETAIL),
            )

        return self._answer(request, run, op="status")

    def _brick_states(self, volume: Volume) -> Sequence[BrickStatus]:
        if self.supervisor is not None:
            return self.supervisor.status(volume)
        out = []
        for b in volume.bricks:
            port = self.registry.port_of(b.path) if self._is_local(b.host) else None
            out.append(info.BrickView(b.host, b.path, port, None, port is not None))
        return out

    # ---- write commands ------------------------------------------------------------------

    def create_volume(self, request: Request) -> object:
        def run(d: dict[str, bytes], out: dict[str, str]) -> Mapping[str, str]:
            name = _text(d, "volname")
            vtype = _int(d, "type", 0)
            if vtype != ClusterType.NONE or any(
                k in d for k in ("replica-count", "disperse-count", "arbiter-count")
            ):
                kind = (
                    ClusterType(vtype).name.lower()
                    if vtype in ClusterType._value2member_map_
                    else str(vtype)
                )
                raise _Refused(
                    f"gfrpc mgmtd creates distribute volumes only: {kind} volumes "
                    "(replica, arbiter, disperse) are not supported",
                    GlusterdErrno.OPNOTSUP,
                )
            transport = _text(d, "transport", "tcp")
            if transport != "tcp":
                raise _Refused(f"transport {transport} is not supported (tcp only)")
            force = _int(d, "force", 0) != 0
            bricks = self._parse_bricks(_text(d, "bricks"), _int(d, "count", 0))
            for b in bricks:
                self._prepare_brick(b, force=force)
            with self._write_lock:
                vol = self.store.create_volume(name, bricks)
            log.info("volume %s created: %s", name, " ".join(str(b) for b in bricks))
            self._changed()
            return {
                "volume-id": str(vol.volume_id),
                "internal-username": str(uuid.uuid4()),
                "internal-password": str(uuid.uuid4()),
                "port": str(self.port),
            }

        return self._answer(request, run, op="create", echo_errors=False)

    def _parse_bricks(self, text: str, count: int) -> list[BrickRef]:
        words = text.split()
        if len(words) > MAX_BRICKS:
            raise _Refused(f"{len(words)} bricks: gfrpc mgmtd takes at most {MAX_BRICKS}")
        if count and count != len(words):
            raise _Refused(f"brick count {count} does not match {len(words)} bricks given")
        if not words:
            raise _Refused("Unable to get bricks")
        bricks = []
        for w in words:
            host, colon, path = w.rpartition(":")
            if not colon or not host or not path.startswith("/") or len(path) >= PATH_MAX:
                raise _Refused(f"Wrong brick type: {w}, use <HOSTNAME>:<export-dir-abs-path>")
            bricks.append(BrickRef(host.strip("[]"), os.path.normpath(path)))
        return bricks

    def _is_local(self, host: str) -> bool:
        return host.strip("[]").lower() in self.hostnames

    def _prepare_brick(self, b: BrickRef, *, force: bool) -> None:
        """glusterd's checks of a new brick on this node, and its directory made."""
        if not self._is_local(b.host):
            raise _Refused(f"Host {b.host} is not in 'Peer in Cluster' state")
        try:
            os.makedirs(b.path, exist_ok=True)
            brick, parent, root = (os.stat(p) for p in (b.path, os.path.dirname(b.path), "/"))
        except OSError as e:
            raise _Refused(
                f"Failed to create brick directory for brick {b}. Reason : {e.strerror}"
            ) from None
        if force:
            return
        if brick.st_dev != parent.st_dev:
            raise _Refused(
                f"The brick {b} is a mount point. Please create a sub-directory under the "
                "mount point and use that as the brick directory. Or use 'force' at the end "
                "of the command if you want to override this behavior."
            )
        if parent.st_dev == root.st_dev:
            raise _Refused(
                f"The brick {b} is being created in the root partition. It is recommended "
                "that you don't use the system's root partition for storage backend. Or use "
                "'force' at the end of the command if you want to override this behavior."
            )

    def start_volume(self, request: Request) -> object:
        return self._start_or_stop(request, starting=True)

    def stop_volume(self, request: Request) -> object:
        return self._start_or_stop(request, starting=False)

    def _start_or_stop(self, request: Request, *, starting: bool) -> object:
        """START_VOLUME / STOP_VOLUME: refused (glusterd's words) when the volume already is in
        that state, unless forced; the bricks first, then the stored state."""

        def run(d: dict[str, bytes], out: dict[str, str]) -> Mapping[str, str]:
            name = _text(d, "volname")
            force = bool(_int(d, "flags", 0) & GF_CLI_FLAG_OP_FORCE)
            out["is_synctasked"] = "1"
            with self._write_lock:
                volume = self._volume(name)
                out["vol-id"] = str(volume.volume_id)
                started = volume.status == VolumeStatus.STARTED
                if starting and started and not force:
                    raise _Refused(f"Volume {name} already started")
                if not starting and not started and not force:
                    raise _Refused(f"Volume {name} is not in the started state")
                if self.supervisor is not None:
                    change = (
                        self.supervisor.start_volume if starting else self.supervisor.stop_volume
                    )
                    change(volume, force=force)
                (self.store.start_volume if starting else self.store.stop_volume)(name, force=True)
            done = "started" if starting else "stopped"
            log.info("volume %s %s%s", name, done, " (force)" if force else "")
            return out

        return self._answer(request, run)

    def delete_volume(self, request: Request) -> object:
        def run(d: dict[str, bytes], out: dict[str, str]) -> Mapping[str, str]:
            name = _text(d, "volname")
            with self._write_lock:
                volume = self._volume(name)
                self.store.delete_volume(name)
            log.info("volume %s deleted", name)
            self._changed()
            return {"vol-id": str(volume.volume_id)}

        return self._answer(request, run, op="delete")

    def set_volume(self, request: Request) -> object:
        def run(d: dict[str, bytes], out: dict[str, str]) -> Mapping[str, str]:
            name = _text(d, "volname")
            if name == "all":
                raise _Refused("gfrpc mgmtd has no cluster-wide options ('volume set all')")
            pairs: dict[str, str] = {}
            n = 1
            while f"key{n}" in d:  # glusterd walks key%d until one is missing
                key = _text(d, f"key{n}")
                pairs[key] = _text(d, f"value{n}")
                n += 1
            if not pairs:
                raise _Refused("No options received ")  # glusterd-handler.c
            with self._write_lock:
                volume = self._volume(name)
                out["vol-id"] = str(volume.volume_id)
                checked = {k: check_option(k, v) for k, v in pairs.items()}
                self.store.set_options(name, checked)
            log.info("volume %s: set %s", name, ", ".join(f"{k}={v}" for k, v in checked.items()))
            return {
                "vol-id": str(volume.volume_id),
                "op-version1": "1",
                "new-op-version": "40000",
                "check-op-version": "1",
            }

        return self._answer(request, run, op="set")

    def reset_volume(self, request: Request) -> object:
        def run(d: dict[str, bytes], out: dict[str, str]) -> Mapping[str, str]:
            name = _text(d, "volname")
            key = _text(d, "key", "all")
            with self._write_lock:
                volume = self._volume(name)
                if key == "all":
                    self.store.reset_options(name)
                else:
                    if key not in OPTIONS:
                        check_option(key, "")  # raises glusterd's unknown-key text
                    self.store.reset_options(name, key)
            log.info("volume %s: reset %s", name, key)
            return {"vol-id": str(volume.volume_id)}

        return self._answer(request, run, op="reset")

    def unsupported(self, request: Request) -> object:
        """Any other CLI procedure: refused with a clear message (op_ret -1, OPNOTSUP)."""
        proc = CliProc(request.proc)
        what = _COMMAND_WORDS.get(proc, proc.name.lower().replace("_", " "))
        return cli.cli_reply(
            -1,
            GlusterdErrno.OPNOTSUP,
            f"gfrpc mgmtd does not support '{what}' (volume create, start, stop, delete, "
            "info, list, status, set and reset work)",
        )
