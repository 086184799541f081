"""``gfrpc soak``: the 60-second run against a brick it starts, and the pieces that judge it
(duration parsing, growth fit, loss detection, verdict, one-line CLI errors)."""

from __future__ import annotations

import io
import os
import random
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from gfrpc.bench.procstat import MiB, last_half_growth
from gfrpc.bench.soak import Sample, SoakConfig, SoakResult, judge, parse_duration, summary
from gfrpc.bench.soak_workload import (
    MAX_SIZE,
    Gate,
    Histogram,
    SoakClient,
    SoakStats,
    file_size,
    worker_loop,
)
from gfrpc.cli import main as cli_main
from gfrpc.errors import ConfigError

SRC = str(Path(__file__).resolve().parents[2] / "src")


# -- the real thing ---------------------------------------------------------------------------


@pytest.mark.skipif(os.geteuid() != 0, reason="the gfrpc brick needs root (trusted.* xattrs)")
@pytest.mark.timeout(240)
def test_sixty_second_soak_passes(tmp_path):
    """Rule: 60 s of verified mixed I/O (4 clients) against a brick the command starts loses
    nothing, gets no wrong reply, every kind of operation runs, RSS and fds of both processes
    are flat over the last half, the exit status is 0 and the temp dir is removed."""
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "gfrpc.cli",
            "soak",
            "--duration",
            "60s",
            "--clients",
            "4",
            "--sample-interval",
            "3",
            "--tmpdir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=220,
        env=env,
    )
    print(proc.stdout[-3000:])
    print(proc.stderr[-2000:], file=sys.stderr)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    out = proc.stdout
    assert "verdict: PASS" in out
    assert "failures: lost=0 verify=0 error=0" in out
    ops = dict(re.findall(r"(\w[\w-]*)=(\d+)", re.search(r"^ops: .*$", out, re.M).group(0)))
    for kind in ("create", "read", "stat", "rename", "unlink", "readdir", "fsync", "final-read"):
        assert int(ops.get(kind, 0)) > 0, (kind, ops)
    assert re.search(r"^last-half growth of brick fds: \+0\.00", out, re.M)
    assert list(tmp_path.iterdir()) == []  # the brick's temp dir is gone


# -- judging ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,seconds",
    [("10m", 600), ("60s", 60), ("1h", 3600), ("90", 90), ("1.5h", 5400), (" 2m ", 120)],
)
def test_durations(text, seconds):
    """Rule: durations are NUMBER[s|m|h], plain numbers are seconds."""
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "10x", "m", "-5s", "0", "1d"])
def test_bad_durations_are_config_errors(text):
    """Rule: anything else is a ConfigError (one line at the CLI)."""
    with pytest.raises(ConfigError):
        parse_duration(text)


def test_growth_fit_ignores_a_spike_but_sees_a_slope():
    """Rule: the last-half fit is ~0 for a flat series with one spike and equals the real rise
    for a steadily growing one."""
    t = [float(i) for i in range(21)]
    flat = [100.0] * 21
    flat[15] = 160.0
    g = last_half_growth(t, flat)
    assert abs(g.rise) < 20 and g.points == 11 and g.maximum == 160
    g = last_half_growth(t, [100.0 + 2 * x for x in t])
    assert g.rise == pytest.approx(20.0) and not g.within(10.0)


def _result(samples: list[Sample], **failures: int) -> SoakResult:
    r = SoakResult(SoakConfig(duration=60), SoakStats(), samples)
    r.stats.ops["create"] = 1
    for k, v in failures.items():
        r.stats.failures[k] = v
    return r


def _samples(rss: list[int], fds: list[int]) -> list[Sample]:
    return [
        Sample(float(i), True, r, f, r, f, 256)
        for i, (r, f) in enumerate(zip(rss, fds, strict=True))
    ]


def test_verdict_pass_and_each_kind_of_fail():
    """Rule: PASS only with no failure, RSS flat (fitted rise or new peak within max(8 MiB,
    5 %)) and no fd above the half-way value; a loss, a rising RSS that sets new highs or one
    more fd each make it FAIL, and say why; a noisy RSS under an old peak passes."""
    base = 100 * MiB
    ok = _result(_samples([base] * 20, [17] * 20))
    judge(ok)
    assert ok.ok and summary(ok)[-1] == "verdict: PASS"
    lost = _result(_samples([base] * 20, [17] * 20), lost=1)
    judge(lost)
    assert not lost.ok and "1 lost failures" in summary(lost)[-1]
    leak = _result(_samples([base + i * MiB for i in range(20)], [17] * 20))
    judge(leak)
    assert any("RSS grew" in p for p in leak.problems)
    # malloc giving memory back and taking it again: a tilted last half under an old peak
    noisy = [base + (40 * MiB if i % 2 else 0) for i in range(10)]
    noisy += [base + i * 3 * MiB for i in range(10)]  # rises 27 MiB, never above +40
    breathing = _result(_samples(noisy, [17] * 20))
    judge(breathing)
    assert breathing.ok, breathing.problems
    fd = _result(_samples([base] * 20, [17] * 18 + [18, 18]))
    judge(fd)
    assert fd.problems == [
        "self fds grew from 17 to 18 in the last half",
        "brick fds grew from 17 to 18 in the last half",
    ]


def test_histogram_quantiles():
    """Rule: the fixed-size histogram answers quantiles within its 10 % bucket width."""
    h = Histogram()
    for i in range(1, 1001):
        h.add(i / 1000)  # 1 ms .. 1 s
    assert h.quantile(0.5) == pytest.approx(0.5, rel=0.1)
    assert h.quantile(0.99) == pytest.approx(0.99, rel=0.1)
    assert h.quantile(1.0) == 1.0 and h.n == 1000


# -- the workload's checks, against an in-memory volume ---------------------------------------


class _Mem(io.RawIOBase):
    def __init__(self, store: dict[str, bytes], path: str, data: bytes, writable: bool) -> None:
        self.store, self.path, self.buf, self.w = store, path, bytearray(data), writable
        self.pos = 0

    def writable(self) -> bool:
        return self.w

    def write(self, b):  # type: ignore[override]
        self.buf += bytes(b)
        return len(b)

    def readinto(self, b):  # type: ignore[override]
        n = min(len(b), len(self.buf) - self.pos)
        b[:n] = self.buf[self.pos : self.pos + n]
        self.pos += n
        return n

    def fsync(self) -> None:
        pass

    def close(self) -> None:
        if self.w and not self.closed:
            self.store[self.path] = bytes(self.buf)
        super().close()


class MemVolume:
    """Just enough of Volume for SoakClient: a dict of path -> bytes."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}

    def open(self, path, mode, buffering=-1):
        if "x" in mode:
            if path in self.files:
                raise FileExistsError(path)
            return _Mem(self.files, path, b"", True)
        if path not in self.files:
            raise FileNotFoundError(path)
        return _Mem(self.files, path, self.files[path], False)

    def stat(self, path):
        if path not in self.files:
            raise FileNotFoundError(path)
        return os.stat_result((0o100644, 0, 0, 1, 0, 0, len(self.files[path]), 0, 0, 0))

    def exists(self, path):
        return path in self.files

    def rename(self, a, b):
        self.files[b] = self.files.pop(a)

    def unlink(self, path):
        del self.files[path]

    def listdir(self, d):
        return [p.rsplit("/", 1)[1] for p in self.files if p.startswith(d + "/")]

    def rmdir(self, d):
        pass


def test_client_model_passes_a_faithful_volume():
    """Rule: on a volume that keeps what it is given, 1,000 random steps and the final check
    record no failure, and cleanup leaves nothing behind."""
    vol, stats = MemVolume(), SoakStats()
    c = SoakClient(vol, "/d", stats, seed=7, max_files=10)
    for _ in range(1000):
        c.step()
    c.verify_all()
    assert stats.failed == 0, stats.messages
    assert {"create", "read", "stat", "rename", "unlink", "readdir", "fsync"} <= set(stats.ops)
    assert stats.bytes_verified > 0
    c.remove_all()
    assert vol.files == {}


def test_client_model_detects_loss_corruption_and_strangers():
    """Rule: a file that vanishes is 'lost', changed bytes are 'verify', a name nobody
    created is 'verify' in the listing."""
    vol, stats = MemVolume(), SoakStats()
    c = SoakClient(vol, "/d", stats, seed=1)
    for _ in range(3):
        c.run("create")
    a, b, cc = sorted(c.model)
    del vol.files[f"/d/{a}"]
    vol.files[f"/d/{b}"] = b"x" + vol.files[f"/d/{b}"][1:] if vol.files[f"/d/{b}"] else b"x"
    vol.files["/d/stranger"] = b""
    c.verify_all()
    assert stats.failures["lost"] >= 2  # the listing and the read of a
    assert stats.failures["verify"] >= 1  # b's bytes or size
    c2 = SoakClient(vol, "/d", SoakStats(), seed=1)
    c2.model = {k: v for k, v in c.model.items() if k == cc}
    with pytest.raises(Exception, match="unexpected"):
        c2.compare_listing(set(vol.listdir("/d")))


def test_large_records_come_from_a_small_set_of_sizes():
    """Rule: whatever sizes the mix draws, the READ/WRITE pieces (<= 1 MiB each) of 64 KiB or
    more have at most 7 distinct sizes (64 KiB steps and 1 MiB), while file sizes themselves
    vary (odd sizes stay in pieces under 64 KiB)."""
    rng = random.Random(3)
    sizes = [file_size(rng) for _ in range(20000)]
    pieces = {min(MiB, s - off) for s in sizes for off in range(0, s, MiB)}
    assert len({p for p in pieces if p >= 64 * 1024}) <= 7
    assert len(set(sizes)) > 5000 and max(sizes) <= MAX_SIZE and min(sizes) == 0


@pytest.mark.timeout(30)
def test_gate_parks_every_worker_then_lets_them_go():
    """Rule: Gate.pause returns True only once every worker is parked between steps, and
    no step runs until resume."""

    class Counting:
        def __init__(self) -> None:
            self.steps = 0

        def step(self) -> None:
            self.steps += 1

    gate, stop = Gate(), threading.Event()
    clients = [Counting() for _ in range(4)]
    threads = [threading.Thread(target=worker_loop, args=(c, gate, stop)) for c in clients]
    for t in threads:
        t.start()
    assert gate.pause(timeout=20)
    frozen = [c.steps for c in clients]
    assert gate.pause(timeout=20)  # still all parked: nothing ran meanwhile
    assert [c.steps for c in clients] == frozen
    gate.resume()
    stop.set()
    for t in threads:
        t.join(timeout=20)
    assert all(not t.is_alive() for t in threads)


def test_cli_errors_are_one_line(capsys):
    """Rule: a bad --duration or URL is one line on stderr and exit 1, no traceback."""
    assert cli_main(["soak", "--duration", "10x"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("gfrpc soak: bad duration") and err.count("\n") == 1
    assert cli_main(["soak", "http://x/y", "--duration", "1s"]) == 1
    err = capsys.readouterr().err
    assert "not a gluster:// URL" in err and "Traceback" not in err
