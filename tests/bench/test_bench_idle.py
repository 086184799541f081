"""``gfrpc bench-idle``'s ``tls-1m`` mode: TLS connections that each carried one 1 MiB request
and then idle, held by a real ``gfrpc brick`` subprocess."""

from __future__ import annotations

import argparse

import pytest

from gfrpc.bench import idle


@pytest.mark.timeout(180)
def test_tls_1m_connections_are_served_and_held(capsys: pytest.CaptureFixture[str]) -> None:
    """Each tls-1m connection completes its handshake, has its 1 MiB request answered (a
    connection the brick closed would raise), and is still held by the brick when it is
    measured; the printed row says so."""
    parser = argparse.ArgumentParser()
    idle.add_arguments(parser)
    args = parser.parse_args(["--connections", "5", "--poller", "single", "--mode", "tls-1m"])
    assert idle.run(args) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[1:]]
    assert len(rows) == 1
    poller, mode, conns, held = rows[0][:4]
    assert (poller, mode, conns, held) == ("single", "tls-1m", "5", "5")
