"""``gfrpc brick``: run a gfrpc brick server until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import functools
import resource
import uuid

from gfrpc.services.brick import BrickConfig, BrickServer
from gfrpc.services.brick.locks import DEFAULT_MAX_LOCKS
from gfrpc.services.brick.server import DEFAULT_POLLER, IO_POLICIES
from gfrpc.services.brick.store.fds import DEFAULT_MAX_OPEN_FDS
from gfrpc.tls import parse_ssl_allow

from .common import (
    HOST_FLAG,
    Command,
    add_limit_arguments,
    add_poller_arguments,
    add_tls_arguments,
    arg,
    config_from,
    serve_until_signalled,
    server_limits,
    tls_options,
)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"not a positive number: {text!r}")
    return value


def _uuid(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a UUID: {text!r}") from None


def run_brick(args: argparse.Namespace) -> int:
    """Serve one brick directory to GlusterFS 10 clients (GF-DUMP, the GlusterFS Handshake and
    the GlusterFS 4.x v1 FOP program). The brick's name for clients (remote-subvolume) is the
    absolute path of --dir (brick path); it belongs to the volume named by --volname, whose id
    is kept in the directory's trusted.glusterfs.volume-id xattr. Logs one line when ready
    and the FOPs served so far on SIGUSR1; stops cleanly on SIGTERM/SIGINT. Runs as root
    (trusted.* xattrs)."""
    config = brick_config(args)
    _raise_fd_limit()
    server = BrickServer(config)
    return serve_until_signalled(server)


def brick_config(args: argparse.Namespace) -> BrickConfig:
    """The ``BrickConfig`` of a ``gfrpc brick`` command line."""
    return config_from(
        BrickConfig,
        args,
        directory=args.dir,
        outstanding_limit=args.outstanding_rpc_limit,
        tls=tls_options(args) if args.tls else None,
        ssl_allow=parse_ssl_allow(args.ssl_allow) if args.ssl_allow else None,
        allow=parse_ssl_allow(args.allow) if args.allow else None,
        limits=server_limits(args),
        baton=args.baton == "on",
    )


def _raise_fd_limit() -> None:
    """Let the brick use every descriptor the hard limit allows: its own caps
    (--max-connections, --max-open-fds) are meant to refuse before the process runs out."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


COMMANDS = (
    Command(
        "brick",
        run_brick,
        help="run a gfrpc brick server",
        arguments=(
            arg(
                "--dir",
                required=True,
                metavar="DIR",
                help="the brick directory; its absolute path is the brick path clients "
                "name as remote-subvolume",
            ),
            arg("--port", required=True, type=int, metavar="PORT", help="TCP port (0 = any free)"),
            HOST_FLAG,
            arg("--volname", default="gfrpc", metavar="NAME", help="volume name (default gfrpc)"),
            arg(
                "--allow",
                default=None,
                metavar="GLOBS",
                help="auth.allow: comma-separated client address globs, e.g. "
                "127.0.0.1,10.* (default: everyone); checked at SETVOLUME (EACCES)",
            ),
            arg(
                "--volume-id",
                default=None,
                type=_uuid,
                metavar="UUID",
                help="the volume-id a new brick directory gets (default: derived from "
                "--volname, the same for every brick of the volume); a directory that "
                "already has another one is refused",
            ),
            arg(
                "--mgmt",
                default=None,
                metavar="HOST[:PORT]",
                help="sign in at this gfrpc management daemon (portmap SIGNIN, port 24007 "
                "by default) so clients find this brick's port there; kept signed in "
                "across daemon restarts, signed out on stop",
            ),
            arg(
                "--mgmt-tls",
                action="store_true",
                help="talk to the management daemon over TLS with this brick's --tls-dir identity",
            ),
            functools.partial(add_poller_arguments, default=DEFAULT_POLLER),
            arg(
                "--io-threads",
                "--workers",
                dest="io_threads",
                type=int,
                default=16,
                metavar="N",
                help="threads that run FOPs off the poller threads; 0 runs every FOP on the "
                "thread that read it, as a GlusterFS brick without io-threads (default 16; "
                "--workers is the old name)",
            ),
            arg(
                "--io-policy",
                choices=IO_POLICIES,
                default="slow",
                help="which FOPs the io-threads run: 'slow' (syncs, listings, "
                "READs and WRITEs over 1 MiB, UNLINKs, RENAMEs and truncations freeing over "
                "1 MiB; the rest run on the poller thread) or 'all' "
                "(default slow)",
            ),
            arg(
                "--baton",
                choices=("on", "off"),
                default="on",
                help="'on': one poller thread at a time runs Python work (handed over around "
                "big reads, writes and TLS records), so that busy poller threads do not "
                "interleave their requests under the GIL; 'off': the polling model as it is "
                "(default on)",
            ),
            arg(
                "--outstanding-rpc-limit",
                type=int,
                default=64,
                metavar="N",
                help="stop reading a connection with this many requests whose replies have "
                "not yet been sent (0 = no limit; default 64)",
            ),
            arg(
                "--max-open-fds",
                type=_positive,
                default=DEFAULT_MAX_OPEN_FDS,
                metavar="N",
                help="open files and directories one client connection may hold; more get "
                f"EMFILE for that client only (default {DEFAULT_MAX_OPEN_FDS})",
            ),
            arg(
                "--max-locks",
                type=_positive,
                default=DEFAULT_MAX_LOCKS,
                metavar="N",
                help="granted locks of each kind (POSIX, inodelk, entrylk) one client "
                f"connection may hold; more get ENOLCK for that client only (default "
                f"{DEFAULT_MAX_LOCKS})",
            ),
            arg(
                "--strict-access",
                action="store_true",
                help="also check FOPs on fds (the anonymous fd included) and treat a "
                "negative pid as an ordinary caller; GlusterFS 10.3's brick does neither",
            ),
            add_limit_arguments,
            functools.partial(add_tls_arguments, server=True),
        ),
    ),
)
