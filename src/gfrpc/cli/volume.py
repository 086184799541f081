"""``gfrpc volume create|start|stop|delete|info|list|status|set|reset``: the stock gluster CLI's
volume commands, for machines without the ``gluster`` binary.

Same arguments as ``gluster volume ...``, same protocol to the same socket
(``gfrpc.client.cli_client``), and the same text printed: a gfrpc mgmtd (``--workdir``) and a
real glusterd answer it alike. Failures print the daemon's message in gluster's words
("volume create: v: failed: Volume v already exists") and exit 1.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from gfrpc.client.cli_client import DEFAULT_CLI_SOCKET, BrickRow, CliClient, VolumeInfo
from gfrpc.errors import ConfigError, GfrpcError, RpcError
from gfrpc.programs.cli import ClusterType, VolumeStatus
from gfrpc.transport import DEFAULT_PORT

from .common import Command

STATUS_WORDS = {VolumeStatus.CREATED: "Created", VolumeStatus.STARTED: "Started"}
STATUS_WORDS[VolumeStatus.STOPPED] = "Stopped"
TYPE_WORDS = {ClusterType.NONE: "Distribute", ClusterType.REPLICATE: "Replicate"}
TYPE_WORDS[ClusterType.DISPERSE] = "Disperse"
LINE = "-" * 78  # CLI_BRICK_STATUS_LINE_LEN
BRICK_COLUMN = 43  # CLI_VOL_STATUS_BRICK_LEN


def _client(args: argparse.Namespace) -> CliClient:
    if args.remote_host:
        host = args.remote_host
        return CliClient(f"{host}:{DEFAULT_PORT}" if ":" not in host else host)
    return CliClient(f"unix:{args.glusterd_sock}")


def run_volume(args: argparse.Namespace) -> int:
    """Manage the volumes of a gfrpc mgmtd (or a glusterd) as 'gluster volume ...' does."""
    try:
        with _client(args) as c:
            return int(args.action(c, args) or 0)
    except _Failed as e:
        print(str(e), file=sys.stderr)
        return 1


class _Failed(GfrpcError):
    """A refused command, already worded as gluster prints it."""


def _do(what: str, fn: Callable[[], object]) -> object:
    try:
        return fn()
    except RpcError as e:
        if e.stat != "PROC_UNAVAIL":
            raise
        raise _Failed(
            f"{what}: failed: the daemon answers this command on its UNIX socket only "
            "(--glusterd-sock), as glusterd refuses write commands over TCP"
        ) from None
    except GfrpcError as e:
        if isinstance(e, _Failed):
            raise
        raise _Failed(f"{what}: failed: {e}") from None


def human_size(text: str) -> str:
    """gf_uint64_2human_readable: ``83313639424`` → ``77.6GB``."""
    try:
        n = float(text)
    except ValueError:
        return text
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if n < 1024 or unit == "PB":
            return f"{n:.1f}{unit}" if unit != "B" else f"{int(n)}Bytes"
        n /= 1024
    return text


# ---- the sub-commands ----------------------------------------------------------------------


def _create(c: CliClient, a: argparse.Namespace) -> int:
    words = list(a.bricks)
    force = bool(words) and words[-1] == "force"
    if force:
        words.pop()
    kind = ClusterType.NONE
    for word in ("replica", "disperse", "arbiter", "redundancy", "disperse-data"):
        if word in words:
            kind = ClusterType.DISPERSE if word.startswith(("disperse", "redund")) else kind
            kind = ClusterType.REPLICATE if word in ("replica", "arbiter") else kind
            i = words.index(word)
            del words[i : i + 2]
    if words[:1] == ["transport"]:
        del words[:2]
    _do(f"volume create: {a.name}", lambda: c.create(a.name, words, force=force, kind=kind))
    print(f"volume create: {a.name}: success: please start the volume to access data")
    return 0


def _start(c: CliClient, a: argparse.Namespace) -> int:
    _do(f"volume start: {a.name}", lambda: c.start(a.name, force=a.force == "force"))
    print(f"volume start: {a.name}: success")
    return 0


def _stop(c: CliClient, a: argparse.Namespace) -> int:
    _do(f"volume stop: {a.name}", lambda: c.stop(a.name, force=a.force == "force"))
    print(f"volume stop: {a.name}: success")
    return 0


def _delete(c: CliClient, a: argparse.Namespace) -> int:
    _do(f"volume delete: {a.name}", lambda: c.delete(a.name))
    print(f"volume delete: {a.name}: success")
    return 0


def _set(c: CliClient, a: argparse.Namespace) -> int:
    if not a.pairs or len(a.pairs) % 2:
        raise ConfigError("volume set NAME KEY VALUE [KEY VALUE ...]")
    pairs = dict(zip(a.pairs[::2], a.pairs[1::2], strict=True))
    _do("volume set", lambda: c.set(a.name, pairs))
    print("volume set: success")
    return 0


def _reset(c: CliClient, a: argparse.Namespace) -> int:
    _do("volume reset", lambda: c.reset(a.name, a.key))
    print("volume reset: success: reset volume successful")
    return 0


def _list(c: CliClient, a: argparse.Namespace) -> int:
    names = c.volumes()
    print("\n".join(names) if names else "No volumes present in cluster")
    return 0


def _info(c: CliClient, a: argparse.Namespace) -> int:
    name = None if a.name in (None, "all") else a.name
    try:
        volumes = c.info(name)
    except GfrpcError as e:
        raise _Failed(str(e)) from None
    if not volumes:
        print("No volumes present")
    for v in volumes:
        print("\n".join(info_lines(v)))
    return 0


def info_lines(v: VolumeInfo) -> list[str]:
    """What ``gluster volume info`` prints for one volume."""
    lines = [
        " ",
        f"Volume Name: {v.name}",
        f"Type: {TYPE_WORDS.get(v.type, v.type.name.title())}",
        f"Volume ID: {v.volume_id}",
        f"Status: {STATUS_WORDS[v.status]}",
        "Snapshot Count: 0",
        f"Number of Bricks: {len(v.bricks)}",
        "Transport-type: tcp",
        "Bricks:",
    ]
    lines += [f"Brick{i}: {b}" for i, b in enumerate(v.bricks, start=1)]
    if v.options:
        lines.append("Options Reconfigured:")
        lines += [f"{k}: {val}" for k, val in v.options.items()]
    return lines


def _status(c: CliClient, a: argparse.Namespace) -> int:
    name = None if a.name in (None, "all") else a.name
    detail = a.detail == "detail"
    try:
        volumes = c.status(name, detail=detail)
    except GfrpcError as e:
        raise _Failed(str(e)) from None  # the CLI prints the daemon's message alone
    if not volumes:
        print("No volumes present" if name is None else f"Volume {name} is not started")
    for vol, rows in volumes.items():
        print("\n".join(status_lines(vol, rows, detail=detail)))
    return 0


def status_lines(volume: str, rows: Sequence[BrickRow], *, detail: bool = False) -> list[str]:
    """What ``gluster volume status VOLUME [detail]`` prints."""
    out = [f"Status of volume: {volume}"]
    if not detail:
        out += [f"{'Gluster process':<{BRICK_COLUMN}} TCP Port  RDMA Port  Online  Pid", LINE]
    for r in rows:
        brick = f"Brick {r.host}:{r.path}"
        port = str(r.port) if r.online and r.port else "N/A"
        rdma = "0" if r.online else "N/A"
        pid = str(r.pid) if r.pid else "N/A"
        online = "Y" if r.online else "N"
        if detail:
            out.append(LINE)
            out += [
                f"{'Brick':<20} : {brick}",
                f"{'TCP Port':<20} : {port:<20}",
                f"{'RDMA Port':<20} : {rdma:<20}",
                f"{'Online':<20} : {online:<20}",
                f"{'Pid':<20} : {pid:<20}",
            ]
            d = dict(r.detail)
            for key in ("free", "total"):
                if key in d:
                    d[key] = human_size(d[key])
            for label, key in (
                ("File System", "fs_name"),
                ("Device", "device"),
                ("Mount Options", "mnt_options"),
                ("Inode Size", "inode_size"),
                ("Disk Space Free", "free"),
                ("Total Disk Space", "total"),
                ("Inode Count", "total_inodes"),
                ("Free Inodes", "free_inodes"),
            ):
                out.append(f"{label:<20} : {d.get(key, 'N/A'):<20}")
            continue
        while len(brick) > BRICK_COLUMN:  # the CLI wraps a long brick name at the column
            out.append(brick[:BRICK_COLUMN])
            brick = brick[BRICK_COLUMN:]
        out.append(f"{brick:<{BRICK_COLUMN}} {port:<9} {rdma:<10} {online:<7} {pid:<5}")
    out += [" ", f"Task Status of Volume {volume}", LINE, "There are no active volume tasks", " "]
    return out


# ---- the parser ----------------------------------------------------------------------------


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--glusterd-sock",
        default=DEFAULT_CLI_SOCKET,
        metavar="PATH",
        help=f"the daemon's UNIX socket (default {DEFAULT_CLI_SOCKET}; a gfrpc mgmtd's is "
        "WORKDIR/glusterd.socket)",
    )
    p.add_argument(
        "--remote-host",
        default=None,
        metavar="HOST",
        help="ask HOST:24007 over TCP instead (read-only commands only: info, list, status)",
    )
    sub = p.add_subparsers(dest="volume_command", metavar="ACTION")
    sub.required = True

    def action(
        name: str, fn: Callable[[CliClient, argparse.Namespace], int], text: str
    ) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=text, description=text)
        sp.set_defaults(action=fn)
        return sp

    sp = action("create", _create, "create a distribute volume: NAME HOST:/path... [force]")
    sp.add_argument("name", metavar="NAME")
    sp.add_argument("bricks", nargs="+", metavar="HOST:/PATH", help="bricks, then 'force'")
    for verb, fn in (("start", _start), ("stop", _stop)):
        sp = action(verb, fn, f"{verb} a volume's bricks: NAME [force]")
        sp.add_argument("name", metavar="NAME")
        sp.add_argument("force", nargs="?", choices=["force"], default=None)
    sp = action("delete", _delete, "delete a stopped volume")
    sp.add_argument("name", metavar="NAME")
    sp = action("info", _info, "show volumes: [NAME|all]")
    sp.add_argument("name", nargs="?", metavar="NAME")
    action("list", _list, "list volume names")
    sp = action("status", _status, "show bricks, ports and pids: [NAME|all] [detail]")
    sp.add_argument("name", nargs="?", metavar="NAME")
    sp.add_argument("detail", nargs="?", choices=["detail"], default=None)
    sp = action("set", _set, "set options: NAME KEY VALUE [KEY VALUE ...]")
    sp.add_argument("name", metavar="NAME")
    sp.add_argument("pairs", nargs="+", metavar="KEY VALUE")
    sp = action("reset", _reset, "reset one option, or all: NAME [KEY]")
    sp.add_argument("name", metavar="NAME")
    sp.add_argument("key", nargs="?", metavar="KEY")


COMMANDS: tuple[Command, ...] = (
    Command(
        "volume",
        run_volume,
        help="gluster volume create|start|stop|delete|info|list|status|set|reset, without "
        "the gluster binary",
        arguments=(_add_arguments,),
    ),
)
