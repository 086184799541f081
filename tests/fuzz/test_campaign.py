"""The opt-in fuzz campaign (``python -m gfrpc.fuzz``) stays working: a short run per target.

Rules: a few hundred mutated inputs against a live brick and a live mgmtd leave the server up,
serving a fresh client, with nothing written outside its directory (the campaign's own checks,
``CampaignResult.ok``); the inputs really reach the decoders and handlers (some succeed, some
are GARBAGE_ARGS); a dead server and a write outside the brick are detected and fail the run.
"""

from __future__ import annotations

import io
import random

import pytest

from gfrpc.fuzz import CampaignConfig, run_campaign
from gfrpc.fuzz.__main__ import main
from gfrpc.fuzz.mutators import MUTATIONS, Mutator
from gfrpc.fuzz.runner import _Campaign
from gfrpc.fuzz.sandbox import Sandbox


@pytest.mark.timeout(180)
@pytest.mark.parametrize("target", ["brick", "mgmtd"])
def test_short_campaign(target: str) -> None:
    """300 inputs (mutated and valid, some with lying record marks) against a live server: no crash,
    no health-check failure, no write outside the brick; replies of the expected kinds."""
    out = io.StringIO()
    cfg = CampaignConfig(
        target=target,
        count=300,
        seed=7,
        framing_ratio=0.1,
        report_every=100,
        check_every=150,
        idle=5.0,
    )
    result = run_campaign(cfg, out)
    text = out.getvalue()
    assert result.ok, text
    assert result.sent == 300
    assert result.kinds["op_ret>=0"] > 0, text
    assert result.kinds["GARBAGE_ARGS"] > 0, text
    assert result.framing > 0
    assert "inputs sent" in text and "result" in text


@pytest.mark.timeout(120)
def test_cli_exit_status_zero() -> None:
    """``python -m gfrpc.fuzz --target mgmtd --count 50`` exits 0 on a healthy server."""
    assert main(["--target", "mgmtd", "--count", "50", "--seed", "3"]) == 0


@pytest.mark.timeout(120)
def test_dead_server_fails_the_campaign() -> None:
    """A server that died is counted as a crash and makes the result not ok (exit status 1)."""
    campaign = _Campaign(CampaignConfig(target="mgmtd", count=10), io.StringIO())
    try:
        campaign.start_server()
        assert campaign.server.proc is not None
        campaign.server.proc.kill()
        campaign.server.proc.wait()
        campaign.check(final=True)
        assert campaign.result.crashes == 1 and not campaign.result.ok
    finally:
        campaign.server.stop()
        campaign.sandbox.remove()


def test_sandbox_sees_writes_outside_the_brick() -> None:
    """A file created, or a canary changed, outside the brick directory is reported; files
    inside the brick directory are not."""
    box = Sandbox()
    try:
        (box.brick / "inside").write_text("fine")
        assert box.changes() == []
        (box.cwd / "escaped").write_text("bad")
        (box.canary / "canary.txt").write_text("changed!")
        assert box.changes() == ["cwd/escaped", "canary/canary.txt"]
    finally:
        box.remove()


def test_mutator_is_deterministic_and_uses_every_mutation() -> None:
    """The same seed gives the same mutations (a campaign replays from --seed); over many
    draws every kind of mutation is used and most outputs differ from the input."""
    record = bytes(range(256)) * 2
    a, b = Mutator(random.Random(5)), Mutator(random.Random(5))
    seen: set[str] = set()
    changed = 0
    for _ in range(500):
        out_a, names = a.mutate(record, [record[::-1]], header=40)
        assert (out_a, names) == b.mutate(record, [record[::-1]], header=40)
        seen.update(names.split("+"))
        changed += out_a != record
    assert seen == set(MUTATIONS)
    assert changed > 450
