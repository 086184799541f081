"""``gfrpc mgmtd``: run the management daemon (volfile server, portmapper and, with
``--workdir``, the gluster CLI's volume commands and the bricks) until SIGTERM."""

from __future__ import annotations

import argparse
import socket
from pathlib import Path

from gfrpc.errors import ConfigError
from gfrpc.services.mgmt import MgmtConfig, MgmtServer, parse_volume_arg
from gfrpc.services.mgmt.supervisor import BrickSupervisor
from gfrpc.tls import parse_ssl_allow
from gfrpc.tls.options import default_cert_dir
from gfrpc.transport import DEFAULT_PORT

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


def run_mgmtd(args: argparse.Namespace) -> int:
    """Serve what stock GlusterFS clients ask glusterd on port 24007: the client volfile of a
    volume (GETSPEC) and the port of each brick (portmap PORTBYBRICK). Volumes are plain
    distribute volumes over the bricks given with --volume, in that order; bricks started with
    'gfrpc brick --mgmt HOST' sign in with their port. Then 'mount -t glusterfs HOST:/NAME', fio
    --ioengine=gfapi and gfrpc's own client (gluster://HOST/NAME) use the volume. Logs one line
    when ready; stops cleanly on SIGTERM/SIGINT.

    With --workdir DIR, volumes live in DIR (SQLite) and the stock gluster CLI manages them
    through the UNIX socket DIR/glusterd.socket ('gluster --glusterd-sock=DIR/glusterd.socket
    volume create|start|stop|delete|info|status|set|reset ...', or 'gfrpc volume ...'):
    'volume start' runs one 'gfrpc brick' per brick of this host, logs in DIR/logs/bricks/.
    Port 24007 then answers the read-only CLI commands too (info, list, status, peers)."""
    if not args.volume and args.workdir is None:
        raise ConfigError("give --workdir DIR (volumes managed by the gluster CLI) or --volume")
    workdir = Path(args.workdir).resolve() if args.workdir is not None else None
    config = config_from(
        MgmtConfig,
        args,
        volumes=[parse_volume_arg(v) for v in args.volume or ()],
        tls=tls_options(args) if args.tls else None,
        signin_allow=parse_ssl_allow(args.signin_allow),
        limits=server_limits(args),
        workdir=workdir,
        hostnames=this_host_names(args.host),
    )
    if workdir is None:
        return serve_until_signalled(MgmtServer(config))
    tls_dir = args.tls_dir or default_cert_dir()

    def supervisor(server: MgmtServer) -> BrickSupervisor:
        return BrickSupervisor(
            workdir,
            server.registry,
            mgmt_address=f"{_reachable(config.host)}:{config.port}",
            hostnames=config.hostnames,
            stop_timeout=args.brick_stop_timeout,
            tls_dir=tls_dir,
        )

    return serve_until_signalled(MgmtServer(config, supervisor=supervisor))


def _reachable(host: str) -> str:
    """An address of this daemon that its bricks can sign in to."""
    host = host.strip("[]")
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def this_host_names(bind: str = "") -> list[str]:
    """The names a brick of this host may be given by (glusterd accepts a brick whose host
    resolves to this node): localhost, loopback, the host name, its FQDN and the addresses
    they resolve to, and the address the daemon is bound to."""
    names = {"localhost", "127.0.0.1", "::1"}
    for name in (socket.gethostname(), socket.getfqdn()):
        if not name:
            continue
        names.add(name)
        try:
            names |= {str(ai[4][0]) for ai in socket.getaddrinfo(name, None)}
        except OSError:
            pass
    if bind and bind not in ("0.0.0.0", "::"):
        names.add(bind.strip("[]"))
    return sorted(names)


COMMANDS = (
    Command(
        "mgmtd",
        run_mgmtd,
        help="run a management daemon: volfiles and the portmapper for gfrpc bricks",
        arguments=(
            arg(
                "--workdir",
                metavar="DIR",
                default=None,
                help="keep volumes in DIR and serve the gluster CLI on DIR/glusterd.socket "
                "(volume create/start/stop/delete/info/status/set/reset; bricks started here)",
            ),
            arg(
                "--cli-socket",
                metavar="PATH",
                default=None,
                help="the gluster CLI's UNIX socket (default DIR/glusterd.socket; the stock CLI "
                "is pointed at it with --glusterd-sock=PATH)",
            ),
            arg(
                "--brick-stop-timeout",
                type=float,
                default=10.0,
                metavar="S",
                help="volume stop: SIGKILL a brick still running S seconds after SIGTERM "
                "(default 10)",
            ),
            arg(
                "--volume",
                action="append",
                default=None,
                metavar="NAME=HOST:/PATH,...",
                help="a fixed volume and its bricks, e.g. v1=server1:/srv/b1,server1:/srv/b2 "
                "(repeat for more volumes; optional with --workdir)",
            ),
            arg(
                "--port",
                type=int,
                default=DEFAULT_PORT,
                metavar="PORT",
                help="TCP port (default 24007, where GlusterFS clients look)",
            ),
            HOST_FLAG,
            arg(
                "--io-tls",
                action="store_true",
                help="volfiles turn TLS on for the brick connections (GlusterFS client.ssl; "
                "run the bricks with --tls)",
            ),
            arg(
                "--signin-allow",
                default="127.*,::1",
                metavar="GLOBS",
                help="addresses bricks may sign in from (default loopback: 127.*,::1)",
            ),
            add_poller_arguments,
            add_limit_arguments,
            add_tls_arguments,
        ),
    ),
)
