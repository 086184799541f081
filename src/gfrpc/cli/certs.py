"""``gfrpc certs``: write glusterfs.pem/.key/.ca so TLS can be turned on in one step."""

from __future__ import annotations

import argparse

from gfrpc.tls import write_certs

from .common import Command, arg


def run_certs(args: argparse.Namespace) -> int:
    """Write DIR/glusterfs.pem, glusterfs.key (0600) and glusterfs.ca for a peer named CN.
    Without --ca a new throwaway CA is made and kept in DIR (ca.pem, ca.key 0600); with --ca
    CADIR the CA kept in CADIR signs, so several peers share one CA."""
    written = write_certs(args.dir, args.cn, ca_dir=args.ca)
    for role, path in written.items():
        print(f"{role}: {path}")
    return 0


COMMANDS = (
    Command(
        "certs",
        run_certs,
        help="write a TLS certificate and key under GlusterFS's file names",
        arguments=(
            arg("dir", metavar="DIR"),
            arg("--cn", required=True, metavar="NAME", help="the certificate's common name"),
            arg("--ca", metavar="CADIR", default=None, help="directory of an existing CA"),
        ),
    ),
)
