"""The gfrpc client driver against a real gfrpc brick and ``gfrpc mgmtd`` (child processes,
loopback, free ports; no real GlusterFS): every workload, both connection modes, TLS, and a
server that dies mid-run."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from gfrpc.bench.experiment import drive_gfrpc
from gfrpc.bench.experiment.drive_gfrpc import latency_summary, run_gfrpc
from gfrpc.bench.experiment.meter import ServerMeter
from gfrpc.bench.experiment.model import Cell, MiB, Sample, ServerSpec, Target
from gfrpc.errors import GfrpcError
from gfrpc.rpc.timers import shared_timers
from gfrpc.testing.realgluster import stop_pid
from gfrpc.tls import write_certs

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="the gfrpc brick needs root (trusted.* xattrs)"
)

HOST = "127.0.0.1"
VOL = "benchvol"
CLIENT_CN = "gfrpc-bench-client"


@dataclass
class Stack:
    target: Target
    brick: subprocess.Popen[bytes]
    brick_port: int
    brick_dir: Path


def _daemon(argv: list[str], log: Path, pattern: str) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``python -m gfrpc.cli ARGV``; wait for ``pattern`` in its log (the daemon's
    own word that it is ready: there is nothing else to wait on); its first group."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gfrpc.cli", *argv],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    deadline = time.monotonic() + 20
    while not (m := re.search(pattern, log.read_text(errors="replace"))):
        if proc.poll() is not None or time.monotonic() > deadline:
            _stop(proc)
            pytest.fail(f"{argv[0]} did not start:\n{log.read_text(errors='replace')}")
        time.sleep(0.05)
    return proc, m.group(1)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    stop_pid(proc.pid, popen=proc, grace=10)


@contextmanager
def gfrpc_stack(workdir: Path, tls: bool) -> Iterator[Stack]:
    """mgmtd (volume VOL over one brick) and that brick, signed in; TLS everywhere or not."""
    brick_dir = workdir / "brick"
    brick_dir.mkdir()
    server, client = workdir / "server-tls", workdir / "client-tls"
    mgmt_tls: list[str] = []
    brick_tls: list[str] = []
    if tls:
        write_certs(server, "gfrpc-bench-server")
        write_certs(client, CLIENT_CN, ca_dir=server)
        mgmt_tls = ["--tls", "--tls-dir", str(server), "--io-tls"]
        brick_tls = ["--tls", "--tls-dir", str(server), "--ssl-allow", CLIENT_CN, "--mgmt-tls"]
    mgmtd, mport = _daemon(
        [
            "mgmtd",
            "--host",
            HOST,
            "--port",
            "0",
            "--poller",
            "single",
            "--volume",
            f"{VOL}={HOST}:{brick_dir}",
            *mgmt_tls,
        ],
        workdir / "mgmtd.log",
        rf"mgmtd ready on {HOST}:(\d+)",
    )
    try:
        brick, bport = _daemon(
            [
                "brick",
                "--dir",
                str(brick_dir),
                "--port",
                "0",
                "--host",
                HOST,
                "--volname",
                VOL,
                "--poller",
                "pool",
                "--event-threads",
                "2",
                "--mgmt",
                f"{HOST}:{mport}",
                *brick_tls,
            ],
            workdir / "brick.log",
            rf"ready on {HOST}:(\d+)",
        )
        try:
            _daemon_log_wait(workdir / "mgmtd.log", r"signed in on port (\d+)", mgmtd)
            target = Target(
                spec=ServerSpec("gfrpc", tls, "pool", 2),
                volname=VOL,
                url=f"gluster://{HOST}:{mport}/{VOL}",
                tls_dir=client if tls else None,
                mgmt_tls_dir=client if tls else None,
                brick=(HOST, int(bport), str(brick_dir)),
                server_pids=[brick.pid],
            )
            yield Stack(target, brick, int(bport), brick_dir)
        finally:
            _stop(brick)
    finally:
        _stop(mgmtd)


def _daemon_log_wait(log: Path, pattern: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while not re.search(pattern, log.read_text(errors="replace")):
        if proc.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"{pattern!r} not in {log}:\n{log.read_text(errors='replace')}")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with gfrpc_stack(tmp_path_factory.mktemp("drive-plain"), tls=False) as s:
        yield s


def brick_connections(pid: int, port: int) -> int:
    """Established TCP connections the brick process holds on its listening port."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                cols = line.split()
                if (
                    int(cols[1].rsplit(":", 1)[1], 16) == port
                    and cols[3] == "01"
                    and cols[9] in inodes
                ):
                    count += 1
    return count


class CountingMeter(ServerMeter):
    """A ServerMeter that also counts the brick's connections when the driver reads the
    server's threads (at the end of a span, with every connection still open)."""

    def __init__(self, stack: Stack) -> None:
        super().__init__(stack.target.server_pids)
        self.stack = stack
        self.connections: list[int] = []

    def threads(self) -> int | None:
        self.connections.append(brick_connections(self.stack.brick.pid, self.stack.brick_port))
        return super().threads()


def leftovers(stack: Stack) -> list[str]:
    return sorted(n for n in os.listdir(stack.brick_dir) if n != ".glusterfs")


def check_sample(
    s: Sample, phase: str | None, nbytes: int, ops: int, server_cpu: bool = True
) -> None:
    """The sample's shape; ``server_cpu``: the span is long enough for the server's CPU to
    be seen (/proc counts it in 10 ms ticks, so a span of 40 STATs may read 0)."""
    assert s.phase == phase
    assert s.bytes_total == nbytes and s.ops_total == ops
    assert s.wall_s > 0 and s.value > 0
    assert s.server_cpu_s is not None and (
        s.server_cpu_s > 0 if server_cpu else s.server_cpu_s >= 0
    )
    assert s.client_cpu_s is not None and s.client_cpu_s > 0
    assert s.latencies_ms is not None
    lat = s.latencies_ms
    assert 0 < lat["p50"] <= lat["p99"] <= lat["max"] < s.wall_s * 1e3 + 1e-6
    assert s.server_rss_mb is not None and s.server_rss_mb > 0
    assert s.server_threads is not None and s.server_threads >= 2
    assert s.idle_cores is not None and 0 <= s.idle_cores <= (os.cpu_count() or 1)
    assert s.evidence["client"] == "gfrpc"


def cell(workload: str, connections: str = "per-stream", tls: bool = False) -> Cell:
    return Cell(
        workload,
        "gfrpc",
        ServerSpec("gfrpc", tls, "pool", 2),
        streams=2,
        record_bytes=4096,
        file_bytes=MiB if workload.startswith("seq") else 4096,
        connections=connections,
        files_per_stream=20,
        ops_per_stream=100,
    )


@pytest.mark.timeout(60)
@pytest.mark.parametrize("connections", ["per-stream", "shared"])
def test_seq_write_bytes_connections_and_cleanup(plain: Stack, connections: str) -> None:
    """seq-write: one sample (phase None) of 2 x 1 MiB in 4 KiB calls (256 writes + open +
    close timed per stream); per-stream opens one brick connection per stream, shared one;
    nothing is left on the brick."""
    meter = CountingMeter(plain)
    samples = run_gfrpc(
        cell("seq-write", connections), plain.target, meter, tag=f"t-write-{connections}"
    )
    assert len(samples) == 1
    check_sample(samples[0], None, 2 * MiB, 512)
    want = 2 if connections == "per-stream" else 1
    assert meter.connections == [want]
    assert samples[0].evidence["connections_opened"] == want
    assert leftovers(plain) == []


@pytest.mark.timeout(60)
def test_seq_read_reads_back_what_was_laid_out(plain: Stack) -> None:
    """seq-read: the files are laid out outside the span (the meter sees one span only) and
    read back in full: 2 MiB, 512 read calls; nothing left."""
    meter = CountingMeter(plain)
    samples = run_gfrpc(cell("seq-read"), plain.target, meter, tag="t-read")
    assert len(samples) == 1 and len(meter.connections) == 1
    check_sample(samples[0], None, 2 * MiB, 512)
    assert leftovers(plain) == []


@pytest.mark.timeout(60)
def test_smallfile_has_three_phases_of_files(plain: Stack) -> None:
    """smallfile: create, stat, unlink samples, each 40 files (2 streams x 20), create with
    40 x 4 KiB of data; each phase is its own span; nothing left."""
    meter = CountingMeter(plain)
    samples = run_gfrpc(cell("smallfile", "shared"), plain.target, meter, tag="t-small")
    assert [s.phase for s in samples] == ["create", "stat", "unlink"]
    check_sample(samples[0], "create", 40 * 4096, 40, server_cpu=False)
    check_sample(samples[1], "stat", 0, 40, server_cpu=False)
    check_sample(samples[2], "unlink", 0, 40, server_cpu=False)
    assert sum(s.server_cpu_s or 0 for s in samples) > 0
    assert meter.connections == [1, 1, 1]
    assert leftovers(plain) == []


@pytest.mark.timeout(60)
def test_stat_counts_calls(plain: Stack) -> None:
    """stat: 2 streams x 100 STATs over 20 laid-out files each: ops 200, no bytes; nothing
    left."""
    samples = run_gfrpc(cell("stat"), plain.target, CountingMeter(plain), tag="t-stat")
    assert len(samples) == 1
    check_sample(samples[0], None, 0, 200)
    assert leftovers(plain) == []


@pytest.mark.timeout(60)
def test_an_existing_tag_is_refused(plain: Stack) -> None:
    """A run whose /<tag> already exists on the volume fails before doing anything and
    leaves the directory alone."""
    (plain.brick_dir / "t-taken").mkdir()
    try:
        with pytest.raises(GfrpcError, match="already exists"):
            run_gfrpc(cell("stat"), plain.target, CountingMeter(plain), tag="t-taken")
        assert (plain.brick_dir / "t-taken").is_dir()
    finally:
        (plain.brick_dir / "t-taken").rmdir()


@pytest.mark.timeout(60)
def test_tls_per_stream_smallfile(tmp_path: Path) -> None:
    """With TLS on the management and brick connections, smallfile runs all three phases
    over one brick connection per stream, and cleans up."""
    with gfrpc_stack(tmp_path, tls=True) as stack:
        meter = CountingMeter(stack)
        samples = run_gfrpc(cell("smallfile", tls=True), stack.target, meter, tag="t-tls")
        assert [s.phase for s in samples] == ["create", "stat", "unlink"]
        for s, nbytes in zip(samples, (40 * 4096, 0, 0), strict=True):
            check_sample(s, s.phase, nbytes, 40, server_cpu=False)
        assert sum(s.server_cpu_s or 0 for s in samples) > 0
        assert meter.connections == [2, 2, 2]
        assert leftovers(stack) == []


class KillingMeter(ServerMeter):
    """Kills the brick (SIGKILL) once one stream's file on the brick holds 1 MiB, after the
    span has started."""

    def __init__(self, stack: Stack) -> None:
        super().__init__(stack.target.server_pids)
        self.stack = stack
        self.killed = threading.Event()
        self._watcher: threading.Thread | None = None

    def reading(self):  # type: ignore[no-untyped-def]
        if self._watcher is None:
            self._watcher = threading.Thread(target=self._watch, daemon=True)
            self._watcher.start()
        return super().reading()

    def _watch(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            for p in self.stack.brick_dir.glob("t-dies/f*"):
                try:
                    if p.stat().st_size >= MiB:
                        self.stack.brick.kill()
                        self.killed.set()
                        return
                except OSError:
                    pass
            time.sleep(0.01)


@pytest.mark.timeout(60)
def test_a_server_dying_mid_run_fails_the_run_without_leaving_threads(tmp_path: Path) -> None:
    """The brick is killed while 2 streams write 256 MiB each: run_gfrpc raises GfrpcError
    (from the streams' connection errors) and every thread it started (streams, connectors,
    its own poller) is gone when it returns."""
    shared_timers().call_later(0, lambda: None)  # the process-wide timer thread, started once
    with gfrpc_stack(tmp_path, tls=False) as stack:
        meter = KillingMeter(stack)
        big = cell("seq-write").with_(file_bytes=256 * MiB, record_bytes=64 * 1024)
        before = set(threading.enumerate())
        with pytest.raises(GfrpcError, match="stream"):
            run_gfrpc(big, stack.target, meter, tag="t-dies")
        assert meter.killed.is_set()
        assert meter._watcher is not None
        meter._watcher.join()
        left = [t for t in threading.enumerate() if t not in before and t.is_alive()]
        assert left == []


def test_latency_summary_is_nearest_rank_in_ms() -> None:
    """p50 and p99 are nearest-rank over all streams' calls together, in milliseconds; no
    calls, no summary."""
    lists = [[i / 1000 for i in range(1, 51)], [i / 1000 for i in range(51, 101)]]
    assert latency_summary(lists) == pytest.approx({"p50": 50.0, "p99": 99.0, "max": 100.0})
    assert latency_summary([[], []]) is None


@pytest.mark.timeout(60)
def test_many_streams_connect_straight_to_the_brick(
    plain: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past DIRECT_ABOVE streams, with the target's brick known, the volumes come from
    connect_brick (no GETSPEC each): evidence says so, and the run works the same."""
    monkeypatch.setattr(drive_gfrpc, "DIRECT_ABOVE", 1)
    meter = CountingMeter(plain)
    samples = run_gfrpc(cell("seq-write"), plain.target, meter, tag="t-direct")
    assert samples[0].evidence["connect"] == "brick"
    assert samples[0].evidence["client_poller"] == "single"  # the library's default
    assert meter.connections == [2]
    check_sample(samples[0], None, 2 * MiB, 512)
    assert leftovers(plain) == []


@pytest.mark.timeout(60)
def test_a_refused_connection_fails_the_run_without_leaving_threads() -> None:
    """When the management daemon cannot be reached, run_gfrpc raises an OSError (gfrpc's
    TransportError) before any stream starts, and stops the poller and connectors it
    started."""
    shared_timers().call_later(0, lambda: None)
    with socket.socket() as s:  # a bound port that does not listen: connections are refused
        s.bind((HOST, 0))
        port = s.getsockname()[1]
        target = Target(
            spec=ServerSpec("gfrpc", False, "pool", 2),
            volname=VOL,
            url=f"gluster://{HOST}:{port}/{VOL}",
        )
        before = set(threading.enumerate())
        with pytest.raises(OSError):
            run_gfrpc(cell("stat"), target, ServerMeter([]), tag="t-refused")
    assert [t for t in threading.enumerate() if t not in before and t.is_alive()] == []


@pytest.mark.timeout(120)
def test_gfrpc_bench_measures_an_existing_volume_by_its_url(
    plain: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``gfrpc bench gluster://HOST:PORT/VOL``: no staging, TLS off by default without
    --tls-dir, gfrpc's client only; the rows say which server kind --server named, have a
    positive value, no server figures (not our process) and no reference; the volume is
    left as it was."""
    from gfrpc.cli import main

    out = tmp_path / "ext.json"
    rc = main(
        [
            "bench",
            plain.target.url,
            "--server",
            "gfrpc",
            "--workload",
            "seq-write",
            "--workload",
            "stat",
            "--streams",
            "2",
            "--size",
            "2M",
            "--stat-ops",
            "50",
            "--repeats",
            "1",
            "--json",
            str(out),
            "--quiet",
        ]
    )
    text = capsys.readouterr().out
    assert rc == 0, text
    import json

    rows = json.loads(out.read_text())["results"]
    assert {(r["workload"], r["client"], r["server"], r["tls"]) for r in rows} == {
        ("seq-write", "gfrpc", "gfrpc", False),
        ("stat", "gfrpc", "gfrpc", False),
    }
    for r in rows:
        assert r["value"] > 0 and r["server_cpu_s"] is None and r["ratio_to_reference"] is None
    assert "seq-write" in text and "gfrpc → gfrpc" in text
    assert leftovers(plain) == []
