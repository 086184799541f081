"""``gfrpc soak``: long verified mixed I/O against a brick it starts or a ``gluster://`` volume."""

from __future__ import annotations

import argparse
import sys

from gfrpc.bench.soak import SoakConfig, parse_duration, run_soak, summary
from gfrpc.errors import ConfigError

from .common import Command, add_poller_arguments, arg, config_from


def run(args: argparse.Namespace) -> int:
    """Run create / write / fsync / read-and-verify / stat / rename / unlink / readdir with N
    clients for --duration, against a gfrpc brick started here (default: a child process on
    127.0.0.1 in a private temp dir, removed afterwards) or against the volume of a gluster://
    URL. Prints a progress line per sample and a summary; exits 1 if any acknowledged write is
    lost, any reply is wrong, any operation fails, or RSS or open fds (of this process and of
    the brick it started) grow over the last half of the run (RSS: more than max(8 MiB, 5%);
    fds: any)."""
    if args.url is not None and not args.url.startswith("gluster://"):
        raise ConfigError(f"not a gluster:// URL: {args.url}")
    if args.tls_dir and not args.tls:
        raise ConfigError("--tls-dir needs --tls")
    cfg = config_from(SoakConfig, args, duration=parse_duration(args.duration))

    def say(line: str) -> None:
        print(line, flush=True)

    result = run_soak(cfg, say)
    for line in summary(result):
        print(line)
    sys.stdout.flush()
    return 0 if result.ok else 1


COMMANDS = (
    Command(
        "soak",
        run,
        help="run verified mixed I/O for a long time; fail on loss or growth",
        arguments=(
            arg(
                "url",
                nargs="?",
                default=None,
                metavar="gluster://HOST/VOL",
                help="volume to soak (default: a gfrpc brick started by this command)",
            ),
            arg(
                "--duration",
                default="10m",
                metavar="TIME",
                help="how long: 10m, 60s, 1h or plain seconds (default 10m)",
            ),
            arg(
                "--clients",
                type=int,
                default=8,
                metavar="N",
                help="connections, each with its own thread and directory (default 8)",
            ),
            add_poller_arguments,
            arg(
                "--tls",
                action="store_true",
                help="use TLS (with no --tls-dir: throwaway certificates for the brick "
                "started here, OpenSSL's directory for a URL)",
            ),
            arg(
                "--tls-dir",
                default=None,
                metavar="DIR",
                help="directory holding glusterfs.pem, glusterfs.key and glusterfs.ca",
            ),
            arg(
                "--sample-interval",
                type=float,
                default=None,
                metavar="SECONDS",
                help="seconds between RSS/fd samples (default duration/40, 2..15 s)",
            ),
            arg(
                "--max-files",
                type=int,
                default=24,
                metavar="N",
                help="files each client keeps at most (default 24)",
            ),
            arg("--seed", type=int, default=None, help="random seed (default: random)"),
            arg(
                "--tmpdir",
                default=None,
                metavar="DIR",
                help="where the started brick's temp dir goes (default: the system's)",
            ),
        ),
    ),
)
