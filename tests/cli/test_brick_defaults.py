"""The brick's defaults are one set: ``gfrpc brick`` without flags, ``BrickConfig()``, the
defaults mgmtd reports for the volume options that configure its bricks, and the brick rows
``gfrpc bench`` runs without ``--poller`` all name the same poller, io-threads, io-policy and
baton, so a brick started by hand, by mgmtd or by the bench is the same brick."""

from __future__ import annotations

from gfrpc.bench.experiment.main import build_plan
from gfrpc.cli import build_parser
from gfrpc.services.brick import BrickConfig
from gfrpc.services.brick.server import DEFAULT_POLLER
from gfrpc.services.mgmt.volopts import OPTIONS


def test_the_brick_cli_config_and_volume_options_share_their_defaults() -> None:
    """Each default of ``gfrpc brick`` equals BrickConfig's and the volume option's."""
    args = build_parser().parse_args(["brick", "--dir", "/b", "--port", "0"])
    config = BrickConfig(directory="/b", port=0)
    assert args.poller == config.poller == DEFAULT_POLLER == OPTIONS["gfrpc.server.poller"].default
    assert args.io_threads == config.io_threads == int(OPTIONS["gfrpc.io-threads"].default)
    assert args.io_policy == config.io_policy == OPTIONS["gfrpc.io-policy"].default
    assert args.baton == OPTIONS["gfrpc.baton"].default
    assert config.baton is (args.baton == "on")


def test_the_brick_is_sharded_by_default() -> None:
    """The default polling model of a brick is ``sharded`` (the bench's choice, README)."""
    assert DEFAULT_POLLER == "sharded"


def test_the_bench_runs_the_default_brick_without_poller() -> None:
    """``gfrpc bench`` without ``--poller`` measures the brick's default poller."""
    args = build_parser().parse_args(["bench", "--server", "gfrpc"])
    plan = build_plan(args)
    pollers = {c.server.poller for c in plan.cells if c.server.kind == "gfrpc"}
    assert pollers == {DEFAULT_POLLER}
