"""The command table of `gfrpc` (gfrpc.cli.common): one registration for every sub-command,
descriptions from the run functions, the limit flags and flag-to-config mapping written once."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from gfrpc.cli import build_parser
from gfrpc.cli.brick import brick_config
from gfrpc.cli.common import Command, arg, config_from, register, server_limits
from gfrpc.services.brick import BrickServer
from gfrpc.transport import ServerLimits
from gfrpc.transport.baton import BATON, NO_BATON


def subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_every_subcommand_has_a_description_and_runs_something() -> None:
    """Rule: every sub-command registered from the table has a --help description (its
    ``run``'s docstring unless given) and ``args.func`` set to what runs it."""
    commands = subparsers()
    assert {"dump", "brick", "mgmtd", "put", "soak", "bench", "bench-idle"} <= commands.keys()
    for name, parser in commands.items():
        assert parser.description, f"gfrpc {name} has no --help description"
        assert callable(parser.get_default("func")), f"gfrpc {name} runs nothing"


def test_register_uses_the_run_docstring_and_applies_flags_in_order() -> None:
    """Rule: ``register`` takes the description from ``run``'s docstring when none is given,
    applies the flag adders in the order listed, and sets ``func``."""

    def run_demo(args: argparse.Namespace) -> int:
        """Do the demo
        thing."""
        return 0

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    register(sub, [Command("demo", run_demo, "one line", (arg("b"), arg("a")))])
    demo = sub.choices["demo"]
    assert demo.description == "Do the demo\nthing."
    assert [a.dest for a in demo._actions if not a.option_strings] == ["b", "a"]
    args = parser.parse_args(["demo", "1", "2"])
    assert (args.func, args.b, args.a) == (run_demo, "1", "2")


def test_limit_flags_reach_server_limits() -> None:
    """Rule: each --limit flag of `gfrpc brick` sets the ServerLimits field of the same name,
    sizes accept K/M/G, and the defaults are ServerLimits' own."""
    parse = build_parser().parse_args
    base = ["brick", "--dir", "/x", "--port", "0"]
    assert server_limits(parse(base)) == ServerLimits()
    args = parse(
        [
            *base,
            "--handshake-timeout",
            "1",
            "--first-request-timeout",
            "2",
            "--frame-timeout",
            "3",
            "--max-connections",
            "4",
            "--max-incomplete-bytes",
            "5M",
            "--finish-timeout",
            "6",
            "--send-timeout",
            "7",
            "--max-reply-bytes",
            "8M",
        ]
    )
    assert server_limits(args) == ServerLimits(
        handshake_timeout=1,
        first_request_timeout=2,
        frame_timeout=3,
        max_connections=4,
        max_incomplete_bytes=5 << 20,
        finish_timeout=6,
        send_timeout=7,
        max_reply_bytes=8 << 20,
    )


def test_brick_passes_the_baton_unless_told_not_to(xattr_dir) -> None:
    """Rule: `gfrpc brick` runs its poller threads with the baton by default (one runs Python
    at a time) and without it under --baton off; its config reaches the brick's poller."""
    parse = build_parser().parse_args
    base = ["brick", "--dir", str(xattr_dir), "--port", "0", "--poller", "sharded"]
    assert brick_config(parse(base)).baton is True
    config = brick_config(parse([*base, "--baton", "off"]))
    assert config.baton is False
    for cfg, expected in ((config, NO_BATON), (brick_config(parse(base)), BATON)):
        server = BrickServer(cfg)
        try:
            assert server.poller.baton is expected
        finally:
            server.stop()


@dataclasses.dataclass
class _Config:
    name: str
    event_threads: int = 2
    poller: str = "pool"
    untouched: int = 7


def test_config_from_takes_same_named_flags_and_given_fields_win() -> None:
    """Rule: ``config_from`` fills each field from the flag of the same name, leaves fields
    without a flag at their default, and fields given by the caller win over flags."""
    args = argparse.Namespace(event_threads=4, poller="single", name="flag", other=1)
    config = config_from(_Config, args, name="given")
    assert config == _Config(name="given", event_threads=4, poller="single", untouched=7)


@pytest.mark.parametrize("flag", ["--poller", "--event-threads"])
def test_daemons_share_poller_flags(flag: str) -> None:
    """Rule: brick and mgmtd take the same --poller/--event-threads flags (one definition)."""
    commands = subparsers()
    for name in ("brick", "mgmtd", "soak"):
        assert flag in commands[name]._option_string_actions, f"gfrpc {name} lacks {flag}"
