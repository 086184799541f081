"""The bench's reading of a gfrpc brick's FOP counts (SIGUSR1 and its log line): parsed, asked
of a real ``gfrpc brick``, and given up on in bounded time when nobody answers."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gfrpc.bench.experiment.fopcount import fop_counts, fop_delta, parse_fops_served
from gfrpc.client import Volume

pytestmark = pytest.mark.timeout(60)


def test_the_last_complete_report_is_parsed_and_deltas_keep_what_moved() -> None:
    """Rule: the counts are those of the last "FOPs served:" line; "none" is no FOP; a delta
    keeps the FOPs whose counts moved, most first, and is None if a reading is missing."""
    text = (
        "x INFO gfrpc.brick: brick /b: FOPs served: LOOKUP=2\n"
        "x INFO gfrpc.brick: accepted client ...\n"
        "x INFO gfrpc.brick: brick /b: FOPs served: LOOKUP=9 CREATE=3 STAT=1\n"
    )
    assert parse_fops_served(text) == {"LOOKUP": 9, "CREATE": 3, "STAT": 1}
    assert parse_fops_served("brick /b: FOPs served: none\n") == {}
    assert parse_fops_served("nothing here\n") is None
    before, after = {"LOOKUP": 2, "STAT": 1}, {"LOOKUP": 9, "CREATE": 3, "STAT": 1}
    assert list(fop_delta(before, after).items()) == [("LOOKUP", 7), ("CREATE", 3)]  # type: ignore[union-attr]
    assert fop_delta(None, after) is None and fop_delta(before, None) is None


def test_a_running_brick_reports_what_it_served(tmp_path: Path) -> None:
    """Rule: fop_counts signals a real `gfrpc brick` and returns its counts from the line it
    logs; two readings around some FOPs differ by exactly those FOPs."""
    brick, log = tmp_path / "brick", tmp_path / "brick.log"
    brick.mkdir()
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gfrpc.cli", "brick", "--dir", str(brick), "--port", "0"]
            + ["--host", "127.0.0.1", "--poller", "single"],
            stderr=out,
        )
    try:
        deadline = time.monotonic() + 30
        while "ready on" not in log.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        port = int(log.read_text().split("ready on 127.0.0.1:")[1].split(",")[0])
        before = fop_counts(proc.pid, log)
        with Volume.connect_brick("127.0.0.1", port, str(brick), "gfrpc") as vol:
            vol.write_bytes("/f", b"x")
            vol.stat("/f")
            vol.unlink("/f")
        after = fop_counts(proc.pid, log)
        moved = fop_delta(before, after)
        assert moved is not None and moved["CREATE"] == moved["UNLINK"] == moved["WRITE"] == 1
        assert proc.poll() is None  # the signal did not stop it
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


def test_a_process_that_does_not_answer_is_given_up_on(tmp_path: Path) -> None:
    """Rule: a process that ignores SIGUSR1 gets None after the timeout, and so does one that
    is gone; nothing waits longer."""
    log = tmp_path / "quiet.log"
    log.write_text("")
    quiet = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import signal, time; signal.signal(signal.SIGUSR1, "
            "signal.SIG_IGN); print('up', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert quiet.stdout is not None and quiet.stdout.readline() == b"up\n"
        t0 = time.monotonic()
        assert fop_counts(quiet.pid, log, timeout=0.3) is None
        assert time.monotonic() - t0 < 2
    finally:
        quiet.kill()
        quiet.wait()
    assert fop_counts(quiet.pid, log, timeout=0.3) is None
