"""``gfrpc mgmtd``: run the management daemon (volfile server + portmapper) until SIGTERM."""

from __future__ import annotations

import argparse

from gfrpc.services.mgmt import MgmtConfig, MgmtServer, parse_volume_arg
from gfrpc.tls import parse_ssl_allow
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
    when ready; stops cleanly on SIGTERM/SIGINT."""
    config = config_from(
        MgmtConfig,
        args,
        volumes=[parse_volume_arg(v) for v in args.volume],
        tls=tls_options(args) if args.tls else None,
        signin_allow=parse_ssl_allow(args.signin_allow),
        limits=server_limits(args),
    )
    server = MgmtServer(config)
    return serve_until_signalled(server)


COMMANDS = (
    Command(
        "mgmtd",
        run_mgmtd,
        help="run a management daemon: volfiles and the portmapper for gfrpc bricks",
        arguments=(
            arg(
                "--volume",
                action="append",
                required=True,
                metavar="NAME=HOST:/PATH,...",
                help="a volume and its bricks, e.g. v1=server1:/srv/b1,server1:/srv/b2 "
                "(repeat for more volumes)",
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
