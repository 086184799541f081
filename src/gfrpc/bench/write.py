"""``gfrpc bench-write``: the gfrpc brick against the real glusterfsd, both driven by gfrpc's client.

The workload is BASELINES.md's fio run (``--ioengine=gfapi --rw=write --bs=1m --size=64m
--numjobs=24``) done with gfrpc's client library: ``--streams`` files, each written by its own
thread through its own ``Volume`` (so its own TCP/TLS connection, like fio's 24 processes with
a gfapi instance each) as ``open(path, "wb")``, ``--size-mb`` MiB of ``--record-kb`` KiB
``write()`` calls, ``close()``. All streams live in this one process and share one client
poller (``--client-poller``, ``--client-event-threads``); the client side is the same code,
process and settings for both targets, so the targets can be compared as a ratio.

Targets, on the same backing store (a tmpfs mounted under this run's temp dir, or the normal
file system with ``--store disk`` or when tmpfs cannot be mounted):

* ``gfrpc-brick``: ``python -m gfrpc.cli brick`` as a child process (``--poller``,
  ``--event-threads``), one per TLS setting, started at the beginning and stopped at the end
  of the run like the glusterfsd bricks; clients use ``Volume.connect_brick``.
* ``glusterfsd``: a private glusterd (:mod:`gfrpc.bench.realgluster`) with one one-brick
  volume per TLS setting (``server.event-threads`` = ``--event-threads``; TLS volumes with
  ``client.ssl``/``server.ssl on`` and our own ``ssl.own-cert``/``private-key``/``ca-list``);
  clients use ``Volume.connect("gluster://127.0.0.1/VOL")``: GETSPEC and the real portmapper.

Both targets use the same certificates (``gfrpc.tls.write_certs``: one CA, EC P-256 leaves
for server and client). Per cell (target x TLS x repeat): connect every stream (not timed),
then time from the first open to the last close; CPU-seconds of this process (the client,
``getrusage``) and of the server process (``/proc/PID/stat`` utime + stime; for glusterfsd
the brick pid from ``volume status``) as deltas over the same span. After the cell each file's
size is checked with a STAT and the file is unlinked (not timed). Rows are medians over
``--repeats``; the ratio compares gfrpc-brick with glusterfsd for the same TLS setting.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from gfrpc.bench import realgluster as rg
from gfrpc.bench.transport import proc_cpu, self_cpu

TARGETS = ("gfrpc-brick", "glusterfsd")
AIM = 0.8
MiB = 1 << 20
HOST = "127.0.0.1"


# -- servers ----------------------------------------------------------------------------------

class GfrpcBrick:
    """``python -m gfrpc.cli brick`` on ``directory`` as a child; ``stop()`` by its pid."""

    def __init__(self, directory: Path, *, volname: str, tls_dir: Path | None,
                 poller: str = "pool", event_threads: int = 2, timeout: float = 30.0) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.dir, self.volname, self.tls = directory, volname, tls_dir is not None
        self.log = directory.parent / f"{directory.name}.log"
        cmd = [sys.executable, "-m", "gfrpc.cli", "brick", "--dir", str(directory), "--port", "0",
               "--host", HOST, "--volname", volname, "--poller", poller,
               "--event-threads", str(event_threads)]
        if tls_dir is not None:
            cmd += ["--tls", "--tls-dir", str(tls_dir)]
        env = dict(os.environ)
        src = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         env=env, start_new_session=True)
        self.pid = self.proc.pid
        deadline = time.monotonic() + timeout
        while True:
            m = re.search(r"ready on 127\.0\.0\.1:(\d+)", self.log.read_text(errors="replace"))
            if m:
                self.port = int(m.group(1))
                return
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("gfrpc brick did not start:\n" + rg.tail(self.log, 20))
            time.sleep(0.05)

    def connect(self, tls: Any, poller: Any) -> Any:
        from gfrpc.client.volume import Volume

        return Volume.connect_brick(HOST, self.port, str(self.dir.resolve()), self.volname,
                                    tls=tls, poller=poller, timeout=30)

    def stop(self) -> None:
        rg.stop_pid(self.pid, popen=self.proc)


class GlusterTarget:
    """The real glusterfsd: one volume (plain or TLS) of our private glusterd."""

    def __init__(self, glusterd: rg.GlusterD, vol: rg.GlusterVolume) -> None:
        self.glusterd, self.vol, self.pid = glusterd, vol, vol.pid

    def connect(self, tls: Any, poller: Any) -> Any:
        from gfrpc.client.volume import Volume

        return Volume.connect(f"gluster://{HOST}/{self.vol.name}", tls=tls, poller=poller,
                              timeout=30)


# -- the workload -----------------------------------------------------------------------------

def run_streams(volumes: list[Any], server_pids: list[int], *, tag: str, file_size: int,
                record_size: int, keep: bool = False) -> dict[str, Any]:
    """One cell: each volume writes ``/<tag>-NN`` on its own thread; returns the sample."""
    record = os.urandom(record_size)
    paths = [f"/{tag}-{i:02d}" for i in range(len(volumes))]
    barrier = threading.Barrier(len(volumes) + 1)
    spans: list[tuple[float, float]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def stream(vol: Any, path: str) -> None:
        try:
            barrier.wait()
            t0 = time.perf_counter()
            with vol.open(path, "wb") as f:
                left = file_size
                while left > 0:
                    n = f.write(record if left >= record_size else record[:left])
                    left -= n
            t1 = time.perf_counter()
            with lock:
                spans.append((t0, t1))
        except BaseException as exc:  # reported below, with the others
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=stream, args=(v, p), name=f"bench-write-{i}", daemon=True)
               for i, (v, p) in enumerate(zip(volumes, paths, strict=True))]
    for t in threads:
        t.start()
    c0, s0 = self_cpu(), sum(proc_cpu(p) for p in server_pids)
    barrier.wait()
    for t in threads:
        t.join()
    c1, s1 = self_cpu(), sum(proc_cpu(p) for p in server_pids)
    if errors:
        raise RuntimeError(f"{len(errors)} stream(s) failed: {errors[0]!r}") from errors[0]
    sizes = [volumes[0].stat(p).st_size for p in paths]
    if any(s != file_size for s in sizes):
        raise RuntimeError(f"wrong file sizes after writing: {sizes} (expected {file_size})")
    if not keep:
        for p in paths:
            volumes[0].unlink(p)
    nbytes = file_size * len(volumes)
    seconds = max(e for _, e in spans) - min(s for s, _ in spans)
    client, server = c1 - c0, s1 - s0
    gb = nbytes / 1e9
    return {"bytes": nbytes, "seconds": seconds, "mb_per_s": nbytes / seconds / 1e6,
            "client_cpu_s": client, "server_cpu_s": server,
            "cpu_s_per_gb": (client + server) / gb, "server_cpu_s_per_gb": server / gb,
            "paths": paths}


def run_cell(target: Any, *, streams: int, tls_ctx: Any, poller: Any, tag: str,
             file_size: int, record_size: int, keep: bool = False) -> dict[str, Any]:
    """Connect ``streams`` volumes to ``target`` (not timed), run the streams, disconnect."""
    volumes: list[Any] = []
    try:
        for _ in range(streams):
            volumes.append(target.connect(tls_ctx, poller))
        return run_streams(volumes, [target.pid], tag=tag, file_size=file_size,
                           record_size=record_size, keep=keep)
    finally:
        for v in volumes:
            with contextlib.suppress(Exception):
                v.close()


# -- backing store ----------------------------------------------------------------------------

def mount_tmpfs(path: Path, size_bytes: int) -> bool:
    """Mount a private tmpfs at ``path``; False (and nothing mounted) if that fails."""
    path.mkdir(parents=True, exist_ok=True)
    size_mb = max(256, size_bytes // MiB)
    try:
        r = rg.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0755",
                    "gfrpc-bench-write", str(path)], timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    return r.returncode == 0 and rg.is_mounted(path, "tmpfs")


# -- the run ----------------------------------------------------------------------------------

def run_bench(args: argparse.Namespace, say: Any = None) -> dict[str, Any]:
    """Every cell ``args.repeats`` times (repeats outermost); samples + run facts + notes."""
    from gfrpc.tls import TLSOptions, make_context
    from gfrpc.transport import make_poller

    say = say or (lambda msg: None)
    tls_modes = {"on": [True], "off": [False], "both": [False, True]}[args.tls]
    file_size, record_size = int(args.size_mb * MiB), int(args.record_kb * 1024)
    tmp = Path(tempfile.mkdtemp(prefix="gfrpc-bench-write-", dir=args.tmpdir))
    store = tmp / "store"
    samples: list[dict[str, Any]] = []
    notes: list[str] = []
    info: dict[str, Any] = {"store": "disk"}
    glusterd: rg.GlusterD | None = None
    gluster: dict[bool, GlusterTarget] = {}
    bricks: dict[bool, GfrpcBrick] = {}
    poller = None
    try:
        if args.store == "tmpfs":
            # both targets' files of one cell, plus glusterd's state and headroom
            need = 2 * args.streams * file_size + 512 * MiB
            if mount_tmpfs(store, need):
                info["store"] = "tmpfs"
            else:
                notes.append("could not mount a tmpfs: both targets use the normal file system")
        store.mkdir(parents=True, exist_ok=True)
        material = rg.make_tls_material(tmp / "tls") if any(tls_modes) else None
        client_ctx = (make_context(TLSOptions.from_dir(material.client.dir), server_side=False)
                      if material else None)
        targets = list(args.targets)
        if "glusterfsd" in targets:
            try:
                glusterd = rg.GlusterD.start(parent=store, prefix="gfrpc-bench-gluster-")
                opts = {"server.event-threads": str(args.event_threads)}
                for tls in tls_modes:
                    name = f"gfrpc-bw-{'tls' if tls else 'plain'}-{tmp.name[-6:]}"
                    vol = glusterd.create_volume(name, tls=material if tls else None,
                                                 options=opts)
                    gluster[tls] = GlusterTarget(glusterd, vol)
            except (rg.GlusterUnavailable, rg.GlusterError) as exc:
                line = " ".join(str(exc).split("\n", 1)[0].split())
                notes.append(f"real GlusterFS not available, glusterfsd rows skipped: {line}")
                say(notes[-1])
                targets.remove("glusterfsd")
        if "gfrpc-brick" in targets:
            try:
                for tls in tls_modes:
                    bricks[tls] = GfrpcBrick(
                        store / f"gfrpc-brick-{'tls' if tls else 'plain'}",
                        volname="gfrpc-bench", poller=args.poller,
                        tls_dir=material.server.dir if tls and material else None,
                        event_threads=args.event_threads)
            except (RuntimeError, OSError) as exc:
                notes.append(f"gfrpc brick rows skipped: {' '.join(str(exc).split())[:300]}")
                say(notes[-1])
                targets.remove("gfrpc-brick")
        poller = make_poller(args.client_poller, args.client_event_threads)
        poller.start()
        for rep in range(args.repeats):
            for tls in tls_modes:
                order = targets if rep % 2 == 0 else targets[::-1]
                for target in order:
                    tag = f"bw-{target}-{'tls' if tls else 'plain'}-{rep}"
                    server = bricks[tls] if target == "gfrpc-brick" else gluster[tls]
                    try:
                        sample = run_cell(server, streams=args.streams,
                                          tls_ctx=client_ctx if tls else None, poller=poller,
                                          tag=tag, file_size=file_size, record_size=record_size)
                    except Exception as exc:
                        notes.append(f"{target} TLS {'on' if tls else 'off'} repeat {rep + 1} "
                                     f"failed: {' '.join(str(exc).split())[:300]}")
                        say(notes[-1])
                        continue
                    sample.update(target=target, tls=tls, repeat=rep, streams=args.streams)
                    samples.append(sample)
                    say(f"  {target:<12} TLS {'on ' if tls else 'off'} rep {rep + 1}: "
                        f"{sample['mb_per_s']:7.1f} MB/s  client {sample['client_cpu_s']:.2f} "
                        f"CPU-s, server {sample['server_cpu_s']:.2f} CPU-s")
    finally:
        if poller is not None:
            poller.stop()
        for brick in bricks.values():
            brick.stop()
        if glusterd is not None:
            try:
                glusterd.stop()
            except rg.GlusterError as exc:
                notes.append(str(exc))
        if rg.is_mounted(store):
            rg.unmount(store)
        if not rg.is_mounted(store):
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            notes.append(f"left {tmp} in place: {store} is still mounted")
    return {"samples": samples, "notes": notes, **info}


# -- report -----------------------------------------------------------------------------------

def aggregate(samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Median rows per (target, TLS), with ratios gfrpc-brick / glusterfsd."""
    groups: dict[tuple[str, bool], list[dict[str, Any]]] = {}
    for s in samples:
        groups.setdefault((s["target"], s["tls"]), []).append(s)
    rows = []
    for (target, tls), ss in groups.items():
        row: dict[str, Any] = {"target": target, "tls": tls, "streams": ss[0]["streams"],
                               "repeats": len(ss), "bytes": ss[0]["bytes"]}
        for k in ("mb_per_s", "seconds", "client_cpu_s", "server_cpu_s", "cpu_s_per_gb",
                  "server_cpu_s_per_gb"):
            row[k] = statistics.median(s[k] for s in ss)
        row["mb_per_s_all"] = [round(s["mb_per_s"], 1) for s in ss]
        rows.append(row)
    real = {r["tls"]: r for r in rows if r["target"] == "glusterfsd"}
    for r in rows:
        g = real.get(r["tls"])
        r["mbps_ratio"] = r["mb_per_s"] / g["mb_per_s"] if g else None
        r["cpu_ratio"] = r["cpu_s_per_gb"] / g["cpu_s_per_gb"] if g else None
    rows.sort(key=lambda r: (r["tls"], TARGETS.index(r["target"])))
    return rows


def aim(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The issue's aim, computed (not asserted): gfrpc-brick >= 0.8x glusterfsd, TLS on."""
    mine = [r for r in rows if r["target"] == "gfrpc-brick" and r["tls"]]
    ratio = mine[0]["mbps_ratio"] if mine else None
    text = f"gfrpc brick >= {AIM}x real glusterfsd MB/s with TLS on"
    if ratio is None:
        return {"aim": text, "met": None, "ratio": None, "line": f"{text}: not measured"}
    verdict = "met" if ratio >= AIM else "not met"
    return {"aim": text, "met": ratio >= AIM, "ratio": ratio,
            "line": f"{text}: {verdict} ({ratio:.2f}x)"}


COLUMNS = ("target", "TLS", "streams", "MB/s", "wall s", "client CPU-s", "server CPU-s",
           "CPU-s/GB", "server CPU-s/GB", "MB/s vs glusterfsd", "CPU/GB vs glusterfsd")


def _cells(r: dict[str, Any]) -> list[str]:
    def x(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.2f}x"
    return [r["target"], "on" if r["tls"] else "off", str(r["streams"]), f"{r['mb_per_s']:.0f}",
            f"{r['seconds']:.2f}", f"{r['client_cpu_s']:.2f}", f"{r['server_cpu_s']:.2f}",
            f"{r['cpu_s_per_gb']:.2f}", f"{r['server_cpu_s_per_gb']:.2f}",
            x(r["mbps_ratio"]), x(r["cpu_ratio"])]


def render(meta: dict[str, Any], rows: list[dict[str, Any]], the_aim: dict[str, Any]) -> str:
    """Plain-text table, then the aim, notes and wall time."""
    table = [list(COLUMNS)] + [_cells(r) for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS))]
    lines = [
        f"gfrpc bench-write {meta['date']}: {meta['streams']} streams x {meta['size_mb']:g} MiB "
        f"in {meta['record_kb']:g} KiB writes, one connection per stream, median of "
        f"{meta['repeats']} repeat(s)",
        f"client: gfrpc Volume per stream, {meta['streams']} threads in one process, shared "
        f"{meta['client_poller']} poller x{meta['client_event_threads']}; gfrpc brick: poller "
        f"{meta['poller']} x{meta['event_threads']}; glusterfsd: server.event-threads "
        f"{meta['event_threads']}; store: {meta['store']}",
        f"Python {meta['python']}, {meta['openssl']}, {meta['cpus']} CPUs; MB = 10^6 bytes; "
        "CPU-s/GB = (client + server) CPU-seconds per 10^9 bytes", ""]
    for j, line in enumerate(table):
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(line, widths, strict=True))))
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines += ["", "Aim (computed for this run): " + the_aim["line"]]
    lines += [f"note: {n}" for n in meta.get("notes", [])]
    lines.append(f"wall time {meta['wall']:.0f} s")
    return "\n".join(lines)


def markdown(rows: list[dict[str, Any]]) -> str:
    """The table as Markdown (for the README)."""
    out = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    out += ["| " + " | ".join(_cells(r)) + " |" for r in rows]
    return "\n".join(out)


# -- command line -----------------------------------------------------------------------------

def _targets(text: str) -> list[str]:
    items = [t.strip() for t in text.split(",") if t.strip()]
    bad = [t for t in items if t not in TARGETS]
    if not items or bad:
        raise argparse.ArgumentTypeError(f"choose from {', '.join(TARGETS)} (got {text!r})")
    return items


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``gfrpc bench-write``."""
    from gfrpc.transport import POLLER_NAMES

    parser.add_argument("--streams", type=int, default=24,
                        help="files written at once, one connection each (default 24)")
    parser.add_argument("--size-mb", type=float, default=64, help="MiB per stream (default 64)")
    parser.add_argument("--record-kb", type=float, default=1024,
                        help="KiB per write() call (default 1024 = 1 MiB)")
    parser.add_argument("--targets", type=_targets, default=list(TARGETS),
                        help="comma-separated: gfrpc-brick,glusterfsd (default both)")
    parser.add_argument("--tls", choices=("on", "off", "both"), default="both",
                        help="TLS setting(s) to measure (default both)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="repeats per cell; rows are medians (default 1)")
    parser.add_argument("--poller", choices=POLLER_NAMES, default="pool",
                        help="the gfrpc brick's poller (default pool)")
    parser.add_argument("--event-threads", type=int, default=2,
                        help="gfrpc brick pool threads and glusterfsd server.event-threads "
                        "(default 2)")
    parser.add_argument("--client-poller", choices=POLLER_NAMES, default="pool",
                        help="the client's poller, shared by all streams (default pool)")
    parser.add_argument("--client-event-threads", type=int, default=2,
                        help="threads of the client's pool poller (default 2)")
    parser.add_argument("--store", choices=("tmpfs", "disk"), default="tmpfs",
                        help="backing store of both targets: a private tmpfs (default) or "
                        "the file system of --tmpdir")
    parser.add_argument("--tmpdir", default=None, help="where the run's temp dir goes")
    parser.add_argument("--json", metavar="FILE", default=None, help="also write results here")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")


def run(args: argparse.Namespace) -> int:
    """Run the benchmark, print the table; non-zero only if no cell could run."""
    import datetime
    import json

    from gfrpc.bench.report import run_info

    if args.streams < 1 or args.size_mb <= 0 or args.record_kb <= 0 or args.repeats < 1:
        print("gfrpc bench-write: --streams, --size-mb, --record-kb, --repeats must be positive",
              file=sys.stderr)
        return 2

    def say(msg: str) -> None:
        if not args.quiet:
            print(msg, file=sys.stderr, flush=True)

    def on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # runs the clean-up in run_bench's finally

    old = signal.signal(signal.SIGTERM, on_term) if threading.current_thread() is \
        threading.main_thread() else None
    t0 = time.monotonic()
    try:
        result = run_bench(args, say)
    finally:
        if old is not None:
            signal.signal(signal.SIGTERM, old)
    rows = aggregate(result["samples"])
    the_aim = aim(rows)
    meta = run_info(
        date=datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        streams=args.streams, size_mb=args.size_mb, record_kb=args.record_kb,
        repeats=args.repeats, poller=args.poller, event_threads=args.event_threads,
        client_poller=args.client_poller, client_event_threads=args.client_event_threads,
        store=result["store"], notes=result["notes"], wall=time.monotonic() - t0)
    print(render(meta, rows, the_aim) if rows else
          "gfrpc bench-write: no cell could run\n" + "\n".join(result["notes"]))
    if args.json:
        samples = [{k: v for k, v in s.items() if k != "paths"} for s in result["samples"]]
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"run": meta, "rows": rows, "aim": the_aim, "samples": samples}, f,
                      indent=2)
            f.write("\n")
    return 0 if rows else 1
