"""``python -m gfrpc.fuzz``: run a fuzz campaign against a live gfrpc brick or mgmtd."""

from __future__ import annotations

import argparse
import dataclasses
import sys

from gfrpc.fuzz.runner import CampaignConfig, run_campaign
from gfrpc.transport import POLLER_NAMES


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m gfrpc.fuzz",
        description="Mutate valid requests (bit flips, truncation, inflated lengths, splicing, "
        "lying record marks) and send them to a gfrpc brick or mgmtd started here "
        "in a private sandbox. Exits 1 if the server died, stopped serving a fresh "
        "client or wrote outside its directory.",
    )
    p.add_argument("--target", choices=("brick", "mgmtd"), required=True)
    p.add_argument("--count", type=int, default=10000, help="inputs to send (default 10000)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--poller", choices=POLLER_NAMES, default="pool")
    p.add_argument("--tls", action="store_true", help="TLS on the server and every connection")
    p.add_argument("--batch", type=int, default=8, help="inputs pipelined per send (default 8)")
    p.add_argument("--conns", type=int, default=4, help="connections kept open (default 4)")
    p.add_argument(
        "--rotate",
        type=int,
        default=500,
        help="replace a connection after this many inputs (default 500)",
    )
    p.add_argument(
        "--idle",
        type=float,
        default=2.0,
        help="seconds of silence before replies are given up (default 2)",
    )
    p.add_argument("--report-every", type=int, default=10000, metavar="N")
    p.add_argument(
        "--check-every",
        type=int,
        default=50000,
        metavar="N",
        help="health and sandbox check every N inputs (and at the end)",
    )
    p.add_argument(
        "--tmpfs-mb",
        type=int,
        default=1024,
        help="size of the brick's private tmpfs (root only; default 1024)",
    )
    p.add_argument(
        "--no-isolate", action="store_true", help="no private mount namespace/tmpfs even when root"
    )
    p.add_argument("--server-nice", type=int, default=0, help="nice increment of the server")
    p.add_argument("--keep", action="store_true", help="keep the sandbox directory")
    a = p.parse_args(argv)
    same_names = {f.name for f in dataclasses.fields(CampaignConfig)} & vars(a).keys()
    cfg = CampaignConfig(
        **{name: getattr(a, name) for name in same_names},
        isolate=False if a.no_isolate else None,
        nice=a.server_nice,
    )
    result = run_campaign(cfg)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
