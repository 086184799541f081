"""``gfrpc volume create|start|stop|delete|info|list|status|set|reset``: the stock gluster CLI's
volume commands, for machines without the ``gluster`` binary.

Same arguments as ``gluster volume ...``, same protocol to the same socket
(``gfrpc.client.cli_client``), and the same text printed: a gfrpc mgmtd (``--workdir``) and a
real glusterd answer it alike. Failures print the daemon's message in gluster's words
("volume create: v: failed: Volume v already exists") and exit 1.

``--xml`` (before or after the action, as ``gluster`` takes it) prints the document the stock
CLI prints for the same replies instead (``volume_xml``): every reply is kept by the client
(:class:`RecordingCliClient`) and each action hands the raw ones to its builder. As with
``gluster --xml``, a refused command is a document too (``opRet`` -1) and exits 0.
"""

from __future__ import annotations

import argparse
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping, Sequence

from gfrpc.client.cli_client import (
    DEFAULT_CLI_SOCKET,
    BrickRow,
    CliClient,
    CliCommandError,
    CliReply,
    VolumeInfo,
)
from gfrpc.errors import ConfigError, GfrpcError, RpcError
from gfrpc.programs.cli import CliProc, ClusterType, VolumeStatus
from gfrpc.transport import DEFAULT_PORT, AddressLike, Poller

from . import volume_xml as vx
from .common import Command

STATUS_WORDS = dict(zip(VolumeStatus, vx.VOLUME_STATUS_WORDS, strict=True))
TYPE_WORDS = {ClusterType.NONE: "Distribute", ClusterType.REPLICATE: "Replicate"}
TYPE_WORDS[ClusterType.DISPERSE] = "Disperse"
LINE = "-" * 78  # CLI_BRICK_STATUS_LINE_LEN
BRICK_COLUMN = 43  # CLI_VOL_STATUS_BRICK_LEN
XML_HELP = "print the XML document 'gluster --xml' prints (a refusal too, with exit status 0)"


class RecordingCliClient(CliClient):
    """A :class:`CliClient` that keeps every reply, in order (what ``--xml`` is built from)."""

    def __init__(
        self, address: AddressLike, *, timeout: float = 120.0, poller: Poller | None = None
    ) -> None:
        self.replies: list[CliReply] = []
        super().__init__(address, timeout=timeout, poller=poller)

    def call(self, proc: CliProc, d: Mapping[str, str | int] | None = None) -> CliReply:
        reply = super().call(proc, d)
        self.replies.append(reply)
        return reply

    @property
    def last(self) -> CliReply:
        """The latest reply (a command that raised CliCommandError has one)."""
        return self.replies[-1]


def _client(args: argparse.Namespace) -> RecordingCliClient:
    if args.remote_host:
        host = args.remote_host
        return RecordingCliClient(f"{host}:{DEFAULT_PORT}" if ":" not in host else host)
    return RecordingCliClient(f"unix:{args.glusterd_sock}")


def run_volume(args: argparse.Namespace) -> int:
    """Manage the volumes of a gfrpc mgmtd (or a glusterd) as 'gluster volume ...' does
    (--xml: print the XML document 'gluster --xml volume ...' prints)."""
    args.xml = bool(getattr(args, "xml", False))
    try:
        with _client(args) as c:
            return int(args.action(c, args) or 0)
    except _Failed as e:
        print(str(e), file=sys.stderr)
        return 1


class _Failed(GfrpcError):
    """A refused command, already worded as gluster prints it."""


def _print_xml(root: ET.Element) -> int:
    """Print one document as ``gluster --xml`` does; its exit status is 0, refusals included."""
    sys.stdout.write(vx.to_text(root))
    return 0


def _do(what: str, fn: Callable[[], object], *, xml: bool = False) -> object:
    """``fn()``; a refusal raises _Failed worded as gluster words it, or, with ``xml``, returns
    None (the refusal is in the recorded reply, which the document shows)."""
    try:
        return fn()
    except CliCommandError as e:
        if xml:
            return None
        raise _Failed(f"{what}: failed: {e}") from None
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


def _create(c: RecordingCliClient, a: argparse.Namespace) -> int:
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
    what = f"volume create: {a.name}"
    _do(what, lambda: c.create(a.name, words, force=force, kind=kind), xml=a.xml)
    if a.xml:
        return _print_xml(vx.vol_create(c.last))
    print(f"volume create: {a.name}: success: please start the volume to access data")
    return 0


def _start(c: RecordingCliClient, a: argparse.Namespace) -> int:
    return _start_or_stop(c, a, "start", c.start, "volStart")


def _stop(c: RecordingCliClient, a: argparse.Namespace) -> int:
    return _start_or_stop(c, a, "stop", c.stop, "volStop")


def _start_or_stop(
    c: RecordingCliClient,
    a: argparse.Namespace,
    verb: str,
    change: Callable[..., object],
    xml_op: str,
) -> int:
    _do(f"volume {verb}: {a.name}", lambda: change(a.name, force=a.force == "force"), xml=a.xml)
    if a.xml:
        return _print_xml(vx.generic_volume(xml_op, c.last))
    print(f"volume {verb}: {a.name}: success")
    return 0


def _delete(c: RecordingCliClient, a: argparse.Namespace) -> int:
    _do(f"volume delete: {a.name}", lambda: c.delete(a.name), xml=a.xml)
    if a.xml:
        return _print_xml(vx.generic_volume("volDelete", c.last))
    print(f"volume delete: {a.name}: success")
    return 0


def _set(c: RecordingCliClient, a: argparse.Namespace) -> int:
    if not a.pairs or len(a.pairs) % 2:
        raise ConfigError("volume set NAME KEY VALUE [KEY VALUE ...]")
    pairs = dict(zip(a.pairs[::2], a.pairs[1::2], strict=True))
    _do("volume set", lambda: c.set(a.name, pairs), xml=a.xml)
    if a.xml:
        r = c.last
        if "help-str" in r.dict:  # the CLI prints a help reply as text, even with --xml
            print(r.dict["help-str"])
            return 1 if r.op_ret else 0
        text = "Set volume unsuccessful" if r.op_ret else "Set volume successful"
        return _print_xml(vx.output_str("volSet", text, r))
    print("volume set: success")
    return 0


def _reset(c: RecordingCliClient, a: argparse.Namespace) -> int:
    _do("volume reset", lambda: c.reset(a.name, a.key), xml=a.xml)
    if a.xml:
        r = c.last
        ok = "reset volume unsuccessful" if r.op_ret else "reset volume successful"
        return _print_xml(vx.output_str("volReset", r.op_errstr or ok, r))
    print("volume reset: success: reset volume successful")
    return 0


def _list(c: RecordingCliClient, a: argparse.Namespace) -> int:
    names = c.volumes()
    if a.xml:
        return _print_xml(vx.vol_list(c.last))
    print("\n".join(names) if names else "No volumes present in cluster")
    return 0


def _info(c: RecordingCliClient, a: argparse.Namespace) -> int:
    name = None if a.name in (None, "all") else a.name
    try:
        volumes = c.info(name)
    except CliCommandError as e:
        if not a.xml:
            raise _Failed(str(e)) from None
        volumes = []
    except GfrpcError as e:
        raise _Failed(str(e)) from None
    if a.xml:
        # one named volume: the document's head is its reply's; all: the CLI's own 0, 0, ""
        r = c.last
        head = (r.op_ret, r.op_errno, r.op_errstr) if name is not None else (0, 0, "")
        return _print_xml(vx.vol_info(head, [r.dict for r in c.replies]))
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


def _status(c: RecordingCliClient, a: argparse.Namespace) -> int:
    name = None if a.name in (None, "all") else a.name
    detail = a.detail == "detail"
    try:
        volumes = c.status(name, detail=detail)
    except CliCommandError as e:
        if not a.xml or name is None:  # (status all: the CLI prints no document either)
            raise _Failed(str(e)) from None  # the CLI prints the daemon's message alone
    except GfrpcError as e:
        raise _Failed(str(e)) from None
    if a.xml:
        return _print_xml(_status_xml(c, name))
    if not volumes:
        print("No volumes present" if name is None else f"Volume {name} is not started")
    for vol, rows in volumes.items():
        print("\n".join(status_lines(vol, rows, detail=detail)))
    return 0


def _status_xml(c: RecordingCliClient, name: str | None) -> ET.Element:
    if name is not None:
        r = c.last
        if r.op_ret != 0:
            text = r.op_errstr or "Unable to obtain volume status information."
            return vx.output_str("volStatus", text, r)
        return vx.vol_status((r.op_ret, r.op_errno, r.op_errstr), [r.dict])
    # status all: the first reply names the volumes; a volume refused (not started) is left out
    return vx.vol_status((0, 0, ""), [r.dict for r in c.replies[1:] if r.op_ret == 0])


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
    p.add_argument("--xml", action="store_true", help=XML_HELP)
    sub = p.add_subparsers(dest="volume_command", metavar="ACTION")
    sub.required = True

    def action(
        name: str, fn: Callable[[RecordingCliClient, argparse.Namespace], int], text: str
    ) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=text, description=text)
        sp.set_defaults(action=fn)
        # --xml after the action too, as gluster takes it (SUPPRESS: no default to override
        # a --xml given before the action)
        sp.add_argument("--xml", action="store_true", default=argparse.SUPPRESS, help=XML_HELP)
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
