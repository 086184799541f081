"""Unit tests of the fio driver (gfrpc.bench.experiment.drive_fio), with no GlusterFS.

The command lines are checked per workload; fio's JSON is parsed from real fio 3.33 reports
recorded against a gfrpc brick (tests/fixtures/bench/fio/, 2 jobs x 4 MiB and 2 jobs x 50
files of 4 KiB); ``run_fio`` runs end to end with a stand-in ``fio`` executable that copies
a recorded report, and a stand-in volume for the directory work.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest

from gfrpc.bench.experiment import drive_fio
from gfrpc.bench.experiment.drive_fio import (
    FioCrashed,
    FioError,
    FioStep,
    check_result,
    fio_available,
    fio_steps,
    parse_fio_json,
    run_fio,
)
from gfrpc.bench.experiment.fio_window import IoWindow
from gfrpc.bench.experiment.meter import ServerMeter
from gfrpc.bench.experiment.model import Cell, ServerSpec, Target, UnsupportedCell

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "bench" / "fio"
SPEC = ServerSpec("gfrpc", False, "pool", 2)
KiB, MiB = 1 << 10, 1 << 20


def target(fio_host: str | None = "127.0.0.2") -> Target:
    return Target(SPEC, "v1", "gluster://127.0.0.2/v1", fio_host=fio_host)


def cell(workload: str, **kw: Any) -> Cell:
    sizes: dict[str, Any] = (
        {"file_bytes": 4 * KiB, "files_per_stream": 50}
        if workload == "smallfile"
        else {"file_bytes": 4 * MiB}
    )
    return Cell(workload, "fio", SPEC, streams=2, **(sizes | kw))


def opts(step: FioStep) -> dict[str, str]:
    """``--key=value`` arguments of a step as a dict (``args[0]`` is the program)."""
    return dict(a[2:].split("=", 1) for a in step.args[1:])


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


# -- command lines -----------------------------------------------------------------------------


def test_seq_write_is_one_measured_fio_write_per_stream_file(tmp_path: Path) -> None:
    """seq-write: one fio process, gfapi engine at the target's volfile host and volume, one
    job per stream, record-sized writes of file_bytes each, files under /<tag>/, json+ to a
    file in the output directory."""
    (step,) = fio_steps(cell("seq-write"), target(), tag="r1-x", output_dir=tmp_path)
    o = opts(step)
    assert step.args[0] == "fio" and step.measured and step.phase is None
    assert o["ioengine"] == "gfapi" and o["volume"] == "v1" and o["brick"] == "127.0.0.2"
    assert o["numjobs"] == "2" and o["rw"] == "write"
    assert o["bs"] == str(MiB) and o["size"] == str(4 * MiB)
    assert o["filename_format"] == "/r1-x/f.$jobnum.$filenum"
    assert o["output-format"] == "json+" and o["output"] == str(tmp_path / "0.json")
    assert "group_reporting" not in o  # per-job reports: jobs == streams is checked
    assert (step.direction, step.expect_bytes) == ("write", 2 * 4 * MiB)


def test_seq_read_lays_out_files_unmeasured_then_reads_the_same_names(tmp_path: Path) -> None:
    """seq-read: an unmeasured fio write lays out the files, then the measured fio read reads
    the very same file names (no $jobname in the format), with --size so fio knows them."""
    layout, measured = fio_steps(cell("seq-read"), target(), tag="t", output_dir=tmp_path)
    assert not layout.measured and measured.measured
    assert opts(layout)["rw"] == "write" and opts(measured)["rw"] == "read"
    assert opts(layout)["filename_format"] == opts(measured)["filename_format"]
    assert opts(measured)["size"] == str(4 * MiB) and measured.direction == "read"
    assert opts(layout)["output"] != opts(measured)["output"]
    assert layout.expect_bytes == measured.expect_bytes == 8 * MiB


def test_smallfile_creates_then_reopens_each_file_and_has_no_unlink_phase(tmp_path: Path) -> None:
    """smallfile: phase create is BASELINES' run (--nrfiles --filesize --bs=file --openfiles=1
    --create_on_open=1 --rw=write); phase stat reopens and reads each file; there is no fio
    unlink phase (the gfapi engine's unlink ends its instance after one file)."""
    create, stat_ = fio_steps(cell("smallfile"), target(), tag="t", output_dir=tmp_path)
    c, s = opts(create), opts(stat_)
    assert (create.phase, stat_.phase) == ("create", "stat")
    assert c["rw"] == "write" and c["create_on_open"] == "1" and c["openfiles"] == "1"
    assert c["nrfiles"] == "50" and c["filesize"] == c["bs"] == str(4 * KiB)
    assert c["size"] == str(50 * 4 * KiB)  # without it a read job skips every file
    assert s["rw"] == "read" and "create_on_open" not in s
    assert {k: s[k] for k in ("nrfiles", "filesize", "size", "bs", "openfiles")} == {
        k: c[k] for k in ("nrfiles", "filesize", "size", "bs", "openfiles")
    }
    assert create.expect_ios == stat_.expect_ios == 100
    assert "LOOKUP + OPEN" in stat_.note and "no STAT loop" in stat_.note


@pytest.mark.parametrize(
    ("the_cell", "the_target", "why"),
    [
        (cell("stat"), target(), "fio has no stat loop over gfapi"),
        (cell("seq-write"), target(None), "port 24007"),
        (cell("seq-write", connections="shared"), target(), "one connection) per job"),
    ],
)
def test_cells_fio_cannot_run_are_unsupported(
    the_cell: Cell, the_target: Target, why: str, tmp_path: Path
) -> None:
    """The stat workload, a target without a volfile host on 24007 and a shared connection
    are UnsupportedCell, with the reason."""
    with pytest.raises(UnsupportedCell, match=why.replace("(", r"\(").replace(")", r"\)")):
        fio_steps(the_cell, the_target, tag="t", output_dir=tmp_path)
    with pytest.raises(UnsupportedCell) as info:
        fio_steps(the_cell, the_target, tag="t", output_dir=tmp_path)
    assert why in str(info.value)


def test_a_tag_fio_or_the_shell_would_misread_is_refused(tmp_path: Path) -> None:
    """The run tag becomes a directory name inside fio's filename_format and a shell-quoted
    path: only letters, digits, '.', '_' and '-' are accepted."""
    for bad in ("a/b", "a b", "$jobnum", "x:y", ""):
        with pytest.raises(ValueError, match="run tag"):
            fio_steps(cell("seq-write"), target(), tag=bad, output_dir=tmp_path)


# -- fio's JSON --------------------------------------------------------------------------------


def test_parse_sums_jobs_and_takes_the_longest_runtime() -> None:
    """Bytes and I/Os are summed over fio's jobs, the runtime is the longest job's, and the
    client CPU is each job's (usr+sys)% of its job_runtime, summed."""
    r = parse_fio_json(fixture("seq-write.json"), "write")
    jobs = json.loads(fixture("seq-write.json"))["jobs"]
    assert r.version == "fio-3.33" and r.jobs == 2
    assert r.io_bytes == 8 * MiB and r.ios == 8
    assert r.runtime_ms == max(j["write"]["runtime"] for j in jobs)
    assert r.client_cpu_s == pytest.approx(
        sum((j["usr_cpu"] + j["sys_cpu"]) / 100 * j["job_runtime"] / 1000 for j in jobs)
    )
    assert parse_fio_json(fixture("seq-write.json"), "read").io_bytes == 0


@pytest.mark.parametrize(
    ("name", "direction"),
    [
        ("seq-write.json", "write"),
        ("seq-read.json", "read"),
        ("smallfile-create.json", "write"),
        ("smallfile-stat.json", "read"),
    ],
)
def test_merged_percentiles_match_fios_own_for_one_job(name: str, direction: str) -> None:
    """For a single job, the percentiles read from the json+ histogram equal fio's own p50
    and p99 (capped at the job's max: a bin's value can exceed it) and its max; merged over
    jobs they lie within the jobs' range."""
    report = json.loads(fixture(name))
    for job in report["jobs"]:
        one = parse_fio_json(json.dumps(report | {"jobs": [job]}), direction).latencies_ms
        clat = job[direction]["clat_ns"]
        top = clat["max"]
        assert one == {
            "p50": min(clat["percentile"]["50.000000"], top) / 1e6,
            "p99": min(clat["percentile"]["99.000000"], top) / 1e6,
            "max": top / 1e6,
        }
    merged = parse_fio_json(fixture(name), direction).latencies_ms
    assert merged is not None
    p50s = [j[direction]["clat_ns"]["percentile"]["50.000000"] / 1e6 for j in report["jobs"]]
    assert min(p50s) <= merged["p50"] <= max(p50s)
    assert merged["p50"] <= merged["p99"] <= merged["max"]
    assert merged["max"] == max(j[direction]["clat_ns"]["max"] for j in report["jobs"]) / 1e6


def test_smallfile_reports_count_one_io_per_file() -> None:
    """The recorded smallfile runs moved 4 KiB per file in one I/O: 100 files, 400 KiB."""
    for name, direction in (("smallfile-create.json", "write"), ("smallfile-stat.json", "read")):
        r = parse_fio_json(fixture(name), direction)
        assert (r.jobs, r.ios, r.io_bytes) == (2, 100, 100 * 4 * KiB)


def test_a_job_error_or_garbage_is_a_fio_error() -> None:
    """A job with a non-zero error, a report without jobs and text that is not fio JSON all
    raise FioError."""
    report = json.loads(fixture("seq-write.json"))
    report["jobs"][1]["error"] = 5
    with pytest.raises(FioError, match="error 5"):
        parse_fio_json(json.dumps(report), "write")
    with pytest.raises(FioError, match="no jobs"):
        parse_fio_json(json.dumps(report | {"jobs": []}), "write")
    with pytest.raises(FioError, match="not a fio JSON"):
        parse_fio_json("fio: engine gfapi not loadable\n", "write")


def test_short_work_with_exit_zero_is_a_fio_error(tmp_path: Path) -> None:
    """fio exits 0 with job error 0 when glfs_creat fails (recorded: directory missing); the
    check against the bytes asked for turns that into FioError with fio's stderr."""
    (step,) = fio_steps(
        cell("seq-write", file_bytes=MiB), target(), tag="nodir", output_dir=tmp_path
    )
    result = parse_fio_json(fixture("glfs-creat-failed.json"), "write")
    assert result.jobs == 2 and result.io_bytes == 0
    with pytest.raises(FioError, match=r"moved 0 B(.|\n)*glfs_creat failed"):
        check_result(step, result, 2, "glfs_creat failed.\nglfs_creat failed.\n")
    with pytest.raises(FioError, match="2 jobs, 3 were asked for"):
        check_result(step, result, 3)


# -- availability and run_fio with a stand-in fio -----------------------------------------------

FAKE_FIO = """#!/bin/sh
# stand-in fio: --version, --enghelp, or copy $FAKE_FIO_DIR/<n>.json to --output; two "jobs",
# each its own process (a subshell) that runs the prerun and postrun hooks as fio's jobs do,
# burns $FAKE_BURN loop turns of CPU between them (its I/O) and as many after the postrun
# (fio's glfs_fini), and records its own CPU (times) at the ends of its I/O
case "$1" in
  --version) echo fio-3.33; exit 0;;
  --enghelp=*) echo "$FAKE_ENGHELP"; exit $FAKE_ENGHELP_RC;;
esac
echo "$@" >> "$FAKE_FIO_DIR/argv"
[ -n "$FAKE_FIO_FAIL" ] && { echo "fio: some error" >&2; echo "glfs_init failed." >&2; exit 1; }
[ -n "$FAKE_FIO_CRASH" ] && { echo "fio: pid=4242, got signal=11" >&2; kill -SEGV $$; }
pre=; post=
for a in "$@"; do
  case "$a" in
    --output=*) out="${a#--output=}";;
    --exec_prerun=*) pre="${a#*=}";;
    --exec_postrun=*) post="${a#*=}";;
  esac
done
burn() { i=0; while [ $i -lt "${FAKE_BURN:-0}" ]; do i=$((i+1)); done; }
for j in 1 2; do
  (
    [ -z "$pre" ] || sh -c "$pre > /dev/null"
    times > "$FAKE_FIO_DIR/$(basename "$out").cpu.$j.start"
    burn
    times > "$FAKE_FIO_DIR/$(basename "$out").cpu.$j.end"
    [ -z "$post" ] || sh -c "$post > /dev/null"
    burn
  ) &
done
wait
cp "$FAKE_FIO_DIR/$(basename "$out")" "$out"
"""


@pytest.fixture
def fake_fio(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    exe = bindir / "fio"
    exe.write_text(FAKE_FIO)
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bindir}:/usr/bin:/bin")
    monkeypatch.setenv("FAKE_FIO_DIR", str(tmp_path))
    monkeypatch.setenv("FAKE_ENGHELP", "volume : Name of the Glusterfs volume")
    monkeypatch.setenv("FAKE_ENGHELP_RC", "0")
    drive_fio._version.cache_clear()
    return tmp_path


def test_fio_available_says_why_not(fake_fio: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """fio_available() is None with a gfapi engine, else one line: fio missing, or fio
    without the gfapi engine (its own message)."""
    assert fio_available() is None and drive_fio.fio_version() == "fio-3.33"
    monkeypatch.setenv("FAKE_ENGHELP", "fio: engine gfapi not loadable")
    monkeypatch.setenv("FAKE_ENGHELP_RC", "1")
    assert fio_available() == "fio has no gfapi engine (fio: engine gfapi not loadable)"
    monkeypatch.setenv("PATH", str(fake_fio / "nothing-here"))
    assert fio_available() == "fio is not installed" and drive_fio.fio_version() is None


class FakeVolume:
    """Records the directory work run_fio does through gfrpc's client."""

    calls: list[tuple[str, str]] = []

    def __enter__(self) -> FakeVolume:
        return self

    def __exit__(self, *exc: object) -> None:
        self.calls.append(("close", ""))

    def makedirs(self, path: str, exist_ok: bool = False) -> None:
        self.calls.append(("makedirs", path))

    def listdir(self, path: str) -> list[str]:
        self.calls.append(("listdir", path))
        return ["f.0.0", "f.1.0"]

    def unlink(self, path: str) -> None:
        self.calls.append(("unlink", path))

    def rmdir(self, path: str) -> None:
        self.calls.append(("rmdir", path))


@pytest.fixture
def fake_volume(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    FakeVolume.calls = []
    monkeypatch.setattr(drive_fio, "_connect", lambda t: FakeVolume())
    return FakeVolume.calls


@pytest.mark.timeout(20)
def test_run_fio_turns_the_measured_report_into_a_sample(
    fake_fio: Path, fake_volume: list[tuple[str, str]], tmp_path: Path
) -> None:
    """seq-read end to end: two fio processes (layout, then read), each job held at the
    start barrier; one Sample from the read's report (bytes; wall_s and span_s both the span
    from the barrier's release to the last job's end, evidence with the job count and fio's
    own runtime), and /<tag> made before and emptied and removed after."""
    for i, name in enumerate(("seq-write.json", "seq-read.json")):
        (fake_fio / f"{i}.json").write_text(fixture(name))
    (sample,) = run_fio(
        cell("seq-read"),
        target(),
        ServerMeter([os.getpid()]),
        tag="r1-sr",
        scratch=tmp_path / "scratch",
    )
    argvs = (fake_fio / "argv").read_text().splitlines()
    assert len(argvs) == 2 and all(
        "--exec_prerun=echo pre $PPID | tee -a " in a and ".go" in a for a in argvs
    )
    assert sample.phase is None and sample.bytes_total == 8 * MiB and sample.ops_total == 8
    assert sample.value == pytest.approx(8 * MiB / sample.wall_s / 1e6)
    ev = sample.evidence
    assert ev["jobs"] == 2 and ev["io_bytes"] == 8 * MiB and ev["fio_version"] == "fio-3.33"
    assert ev["fio_runtime_ms"] == parse_fio_json(fixture("seq-read.json"), "read").runtime_ms
    assert "read back" in ev["phase_note"]
    # the value and the server are read between the barrier's release and fio's last mark
    assert ev["server_span"] == ev["wall_from"] == "io" and sample.server_cpu_s is not None
    assert sample.span_s == sample.wall_s
    assert sample.span_s is not None and 0 < sample.span_s < ev["process_span_s"]
    # and so is the machine's idle: some share of its cores, never more than it has
    assert sample.idle_cores is not None and 0 <= sample.idle_cores <= (os.cpu_count() or 1)
    assert sample.server_rss_mb and sample.server_threads
    assert fake_volume[0] == ("makedirs", "/r1-sr")
    assert [c for c in fake_volume if c[0] in ("unlink", "rmdir")] == [
        ("unlink", "/r1-sr/f.0.0"),
        ("unlink", "/r1-sr/f.1.0"),
        ("rmdir", "/r1-sr"),
    ]


def shell_cpu_s(path: Path) -> float:
    """The shell's own user + system CPU-s from the first line of its ``times`` output."""
    first = path.read_text().splitlines()[0]
    return sum(int(m) * 60 + float(sec) for m, sec in re.findall(r"(\d+)m([\d.]+)s", first))


@pytest.mark.timeout(30)
def test_fios_client_cpu_is_each_job_process_over_its_io(
    fake_fio: Path,
    fake_volume: list[tuple[str, str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """fio's own CPU figure is its job thread's (RUSAGE_THREAD) and misses libgfapi's
    threads, so the client's CPU is each job process's CPU-time clock, read at the start
    barrier and at the job's end-of-I/O mark (its postrun waits for that reading): what the
    two stand-in jobs burn between the hooks counts, what they burn after the postrun (their
    glfs_fini) does not, and fio's figure is kept as evidence."""
    monkeypatch.setenv("FAKE_BURN", "150000")  # ~0.1-0.3 CPU-s per job on this kind of machine
    (fake_fio / "0.json").write_text(fixture("seq-write.json"))
    (sample,) = run_fio(
        cell("seq-write"), target(), ServerMeter([]), tag="cpu", scratch=tmp_path / "s"
    )
    burned = [
        shell_cpu_s(fake_fio / f"0.json.cpu.{j}.end")
        - shell_cpu_s(fake_fio / f"0.json.cpu.{j}.start")
        for j in (1, 2)
    ]
    ev = sample.evidence
    assert ev["client_cpu_from"] == "job-processes"
    assert ev["fio_job_thread_cpu_s"] == round(
        parse_fio_json(fixture("seq-write.json"), "write").client_cpu_s, 3
    )
    assert all(b > 0.05 for b in burned), burned
    # times(2) counts 10 ms ticks; the clock also holds the fork of the postrun's shell
    assert sample.client_cpu_s == pytest.approx(sum(burned), abs=0.04), (sample, burned)


@pytest.mark.timeout(20)
def test_a_postrun_never_waits_once_the_window_is_closed(tmp_path: Path) -> None:
    """A job's postrun waits for its CPU to be read, but once the window has closed (fio
    overran the bench's wait, or was killed) it returns at once: fio is never held."""
    window = IoWindow(ServerMeter([]), tmp_path / "0.marks", jobs=2)
    with window:
        pass
    post = next(a for a in window.args() if a.startswith("--exec_postrun="))
    done = subprocess.run(["sh", "-c", post.split("=", 1)[1]], capture_output=True, timeout=5)
    assert done.returncode == 0 and window.client_cpu_s() is None


@pytest.mark.timeout(20)
def test_without_fios_marks_the_server_is_read_around_the_process(
    fake_fio: Path, fake_volume: list[tuple[str, str]], tmp_path: Path
) -> None:
    """When fio never ran its prerun/postrun marks, the server figures fall back to the
    readings around the whole fio process, and the evidence says so; with no server pids
    the server figures are None; the machine's idle cores are not given at all."""
    (fake_fio / "bin" / "fio").write_text(FAKE_FIO.replace("--exec_p", "--no_such_p"))
    (fake_fio / "0.json").write_text(fixture("seq-write.json"))
    (sample,) = run_fio(
        cell("seq-write"), target(), ServerMeter([]), tag="w", scratch=tmp_path / "s"
    )
    assert sample.evidence["server_span"] == "process"
    assert sample.span_s == pytest.approx(sample.evidence["process_span_s"], abs=1e-3)
    assert sample.server_cpu_s is None and sample.server_rss_mb is None
    assert sample.idle_cores is None  # around the whole process it would be fio's set-up


@pytest.mark.timeout(20)
def test_run_fio_failure_carries_stderr_and_still_cleans_up(
    fake_fio: Path,
    fake_volume: list[tuple[str, str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A non-zero fio exit is a FioError naming the status and fio's stderr tail before fio's
    command line (the bench cuts a failed run's error to its first 300 characters: fio's own
    words must survive the cut), and the files under /<tag> are removed all the same."""
    monkeypatch.setenv("FAKE_FIO_FAIL", "1")
    with pytest.raises(FioError, match=r"status 1(.|\n)*glfs_init failed") as caught:
        run_fio(cell("smallfile"), target(), ServerMeter([]), tag="r2", scratch=tmp_path / "s")
    text = str(caught.value)
    assert text.index("glfs_init failed") < text.index("fio's command: ")
    assert "glfs_init failed" in " ".join(text.split())[:300]
    assert fake_volume[-2:] == [("rmdir", "/r2"), ("close", "")]


@pytest.mark.timeout(20)
def test_a_fio_that_dies_of_a_signal_is_a_crash_and_an_exit_status_is_not(
    fake_fio: Path,
    fake_volume: list[tuple[str, str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """fio killed by SIGSEGV is FioCrashed (a FioError), with fio's note of the signal and its
    files removed all the same; an exit status of 1 is a FioError but not a crash; the bench's
    own SIGKILL (a timeout) is not a crash, a job's "got signal" note is one."""
    monkeypatch.setenv("FAKE_FIO_CRASH", "1")
    with pytest.raises(FioCrashed, match=r"status -11(.|\n)*got signal=11"):
        run_fio(cell("seq-write"), target(), ServerMeter([]), tag="c1", scratch=tmp_path / "s")
    assert fake_volume[-2:] == [("rmdir", "/c1"), ("close", "")]
    monkeypatch.delenv("FAKE_FIO_CRASH")
    monkeypatch.setenv("FAKE_FIO_FAIL", "1")
    with pytest.raises(FioError) as caught:
        run_fio(cell("seq-write"), target(), ServerMeter([]), tag="c2", scratch=tmp_path / "t")
    assert not isinstance(caught.value, FioCrashed)
    assert drive_fio.crashed(-11, "") and drive_fio.crashed(-6, "")
    assert not drive_fio.crashed(-9, "") and not drive_fio.crashed(1, "fio: some error")
    assert drive_fio.crashed(1, "fio: pid=7485, got signal=11\n")
