"""Smoke test of ``bench-transport``: tiny cells, one repeat; not a timed benchmark."""

from __future__ import annotations

import argparse
import json

import pytest

from gfrpc.bench import report
from gfrpc.bench.transport import POLLERS, add_arguments, comma_list, main


def test_tiny_run_has_every_row_with_positive_numbers(tmp_path, capsys):
    """Every poller × TLS × connections cell and its baseline appear, with positive MB/s and
    CPU-s/GB, ratios against the baseline, the aims below the table, and the JSON file."""
    out = tmp_path / "bench.json"
    rc = main(
        [
            "--connections",
            "1,2",
            "--megabytes",
            "3",
            "--payload",
            "65536",
            "--repeats",
            "1",
            "--tls",
            "both",
            "--json",
            str(out),
            "--quiet",
        ]
    )
    assert rc == 0
    text = capsys.readouterr().out
    data = json.loads(out.read_text())
    rows = data["rows"]
    kinds = ("baseline", *POLLERS)
    expected = {(k, tls, n) for k in kinds for tls in (False, True) for n in (1, 2)}
    assert {(r["kind"], r["tls"], r["connections"]) for r in rows} == expected
    for r in rows:
        assert r["mb_per_s"] > 0 and r["cpu_s_per_gb"] > 0
        assert r["mbps_ratio"] is not None and r["mbps_ratio"] > 0
    assert data["run"]["tls_version"] == "TLSv1.3" and data["run"]["cipher"]
    for kind in (report.BASELINE_LABEL, *POLLERS):
        assert kind in text
    assert "Aims (computed for this run):" in text
    assert len(data["aims"]) == 3


def test_cli_hooks_parse_the_documented_options():
    """add_arguments() gives the options the lead wires into `gfrpc bench-transport`."""
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(
        [
            "--pollers",
            "pool,single",
            "--connections",
            "1,4,24",
            "--tls",
            "on",
            "--repeats",
            "3",
            "--seconds",
            "2",
            "--event-threads",
            "4",
            "--json",
            "x.json",
            "--server",
            "local",
        ]
    )
    assert args.pollers == ["pool", "single"] and args.connections == [1, 4, 24]
    assert (args.tls, args.repeats, args.seconds, args.event_threads) == ("on", 3, 2.0, 4)


def test_aims_are_computed_not_asserted():
    """The aims report met/not met from the rows (here: pool slower than own-thread)."""
    samples = []
    for kind, mbps, cpu in (
        ("baseline", 500, 3.0),
        ("single", 460, 3.5),
        ("own-thread", 300, 5.0),
        ("pool", 250, 4.0),
    ):
        samples.append(
            {
                "kind": kind,
                "tls": True,
                "connections": 24,
                "mb_per_s": mbps,
                "cpu_s_per_gb": cpu,
                "client_cpu_s": 1.0,
                "server_cpu_s": 1.0,
            }
        )
    aims = report.aims(report.aggregate(samples))
    assert [a["met"] for a in aims] == [True, True, True]
    samples[1]["mb_per_s"] = 200
    aims = report.aims(report.aggregate(samples))
    assert [a["met"] for a in aims] == [False, False, False]


@pytest.mark.parametrize(
    ("text", "why"),
    [("", "empty list"), ("pool,nope", "nope: choose from"), ("0", "must be >= 1"), ("x", "x")],
)
def test_comma_lists_are_checked_as_gfrpc_bench_checks_them(text, why):
    """`gfrpc bench-transport` and `gfrpc bench` share one comma-list type: empty lists,
    unknown choices (named), numbers below 1 and non-numbers are usage errors."""
    kind, choices = (str, POLLERS) if "pool" in text else (int, None)
    with pytest.raises(argparse.ArgumentTypeError, match=why):
        comma_list(kind, choices)(text)
    assert comma_list(int)("1, 4,24") == [1, 4, 24]
