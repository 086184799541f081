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


@pytest.mark.timeout(60)
@pytest.mark.parametrize("inline", [False, True])
def test_handler_option_says_which_thread_runs_the_bench_write(monkeypatch, inline):
    """``--handler inline`` runs the bench server's WRITE on the poller thread that read it;
    the default hands it to the server's worker pool (a thread that is not a poller's)."""
    import threading

    from gfrpc.bench import server as bench_server
    from gfrpc.rpc import RpcClient
    from gfrpc.transport import make_poller

    seen: list[str] = []
    real = bench_server._write_handler

    def recording(request):
        seen.append(threading.current_thread().name)
        return real(request)

    monkeypatch.setattr(bench_server, "_write_handler", recording)
    srv, port = bench_server.start_rpc_server("single", 1, None, "127.0.0.1", 0, 2, inline)
    poller = make_poller("single")
    poller.start()
    client = RpcClient(("127.0.0.1", port), poller=poller)
    try:
        client.connect(10)
        args = [bench_server.write_args_header(0, 4096), bytes(4096)]
        reply = client.call(
            bench_server.BENCH_PROGRAM, bench_server.BENCH_VERSION, bench_server.BENCH_WRITE, args
        )
        assert bytes(reply.body) == bench_server.REPLY.pack(4096, 0, 0)
    finally:
        client.close()
        poller.stop()
        srv.close()
        srv.poller.stop()
    assert len(seen) == 1
    assert (seen[0] == "gfrpc-poll-single") is inline, seen


def test_handler_is_parsed_recorded_and_shown():
    """``--handler`` takes workers or inline (default workers) and the run's header says
    which one the table measured; a JSON of a run made before the option reads as workers."""
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert parser.parse_args([]).handler == "workers"
    assert parser.parse_args(["--handler", "inline"]).handler == "inline"
    with pytest.raises(SystemExit):
        parser.parse_args(["--handler", "threads"])
    assert "run on the poller thread" in "\n".join(report.header_lines({"handler": "inline"}))
    assert "handed to a worker pool" in "\n".join(report.header_lines({}))


def test_inline_run_records_its_handler_in_the_json(tmp_path, capsys):
    """A run with ``--handler inline`` measures every cell and keeps the handler in its JSON."""
    out = tmp_path / "inline.json"
    argv = ["--pollers", "sharded", "--connections", "1", "--megabytes", "1", "--payload"]
    argv += ["65536", "--repeats", "1", "--tls", "off", "--handler", "inline", "--json", str(out)]
    assert main([*argv, "--quiet"]) == 0
    assert "server calls run on the poller thread" in capsys.readouterr().out
    data = json.loads(out.read_text())
    assert data["run"]["handler"] == "inline"
    assert {r["kind"] for r in data["rows"]} == {"baseline", "sharded"}
