"""The header facts of a bench run: which machine, which software, and one physical limit.

Theory of operation: a throughput figure means little without the machine it came from, so
every report opens with the CPU model and core count (``/proc/cpuinfo``, ``os.cpu_count()``),
the kernel, the Python (its version and the real path of its executable: a default source
build runs a request about 1.5x slower than a distribution's PGO build, and a venv hides which
one it is) and OpenSSL that gfrpc runs on (``ssl.OPENSSL_VERSION``: the library
the ``ssl`` module is linked against, which is the one doing gfrpc's TLS), the GlusterFS and fio
versions (their ``--version`` output; None when not installed), gfrpc's version and the date.

It also records ``aes_gcm_mb_s``: one core's AES-128-GCM rate on 16 KiB blocks, measured with
``openssl speed -seconds 1 -bytes 16384 -evp aes-128-gcm``. The "what bounds each row" text
estimates the crypto share of a TLS row's CPU from it; keeping the rate in the JSON lets a
recorded run render the same verdicts on another machine. Every probe fails soft (None).

And ``memory_reclaim``: whether the machine takes memory back behind the processes' backs
(:func:`memory_reclaim`): a virtio-balloon that reports the guest's free pages to the host
(which may then drop them, so that the guest's next use of such a page waits for the host),
or the kernel's DAMON paging out memory it finds cold. Neither shows as steal time. On our
reference VM, which has both, seq-write runs went 3-5x slower now and then, into glusterfsd
and into the gfrpc brick alike, with the server's time in the kernel's copy into new tmpfs
pages (perf); a plain writer on the same tmpfs did not reproduce it, so the cause is our best
reading, not a proof. The run's notes say when these mechanisms are present.
"""

from __future__ import annotations

import datetime
import os
import platform
import re
import shutil
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import gfrpc

AES_COMMAND = ("openssl", "speed", "-seconds", "1", "-bytes", "16384", "-evp", "aes-128-gcm")
_PROBE_TIMEOUT_S = 20.0


def _run(argv: list[str] | tuple[str, ...]) -> str | None:
    """stdout (+stderr) of a short command, or None if it is missing or fails."""
    if shutil.which(argv[0]) is None:
        return None
    try:
        done = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=_PROBE_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    return done.stdout + done.stderr


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The first ``model name`` of /proc/cpuinfo, else the platform's processor string."""
    try:
        for line in cpuinfo.read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def glusterfs_version() -> str | None:
    """``10.3`` from ``glusterfsd --version`` (or ``glusterfs``); None when not installed."""
    for prog in ("glusterfsd", "glusterfs"):
        out = _run([prog, "--version"])
        if out:
            m = re.search(r"glusterfs\s+(\S+)", out)
            if m:
                return m.group(1)
    return None


def fio_version() -> str | None:
    """``3.33`` from ``fio --version`` (prints ``fio-3.33``); None when not installed."""
    out = _run(["fio", "--version"])
    if not out:
        return None
    m = re.search(r"fio-(\S+)", out)
    return m.group(1) if m else out.strip() or None


def parse_openssl_speed(text: str) -> float | None:
    """MB/s (10^6 bytes/s) from ``openssl speed -evp aes-128-gcm -bytes 16384`` output.

    The result line reads ``AES-128-GCM  2453219.79k``: thousands of bytes per second."""
    for line in text.splitlines():
        if line.upper().startswith("AES-128-GCM"):
            m = re.search(r"([\d.]+)k\s*$", line.strip())
            if m:
                return round(float(m.group(1)) / 1000.0, 1)
    return None


def aes_gcm_rate() -> float | None:
    """One core's AES-128-GCM rate in MB/s, measured now (about one second); None if unknown."""
    out = _run(AES_COMMAND)
    return parse_openssl_speed(out) if out else None


#: virtio-balloon's VIRTIO_BALLOON_F_REPORTING feature bit (the guest reports free pages)
_BALLOON_REPORTING_BIT = 5


def memory_reclaim(sysfs: Path = Path("/sys")) -> list[str]:
    """The mechanisms found that take memory back from under running processes: a
    virtio-balloon device with free page reporting (``bus/virtio/devices/*/features``, a
    string of 0/1 by feature bit), a running DAMON with a ``pageout`` scheme."""
    found = []
    devices = sysfs / "bus" / "virtio" / "devices"
    for dev in sorted(devices.glob("*")) if devices.is_dir() else []:
        try:
            driver = (dev / "driver").resolve().name
            features = (dev / "features").read_text().strip()
        except OSError:
            continue
        if (
            driver == "virtio_balloon"
            and features[_BALLOON_REPORTING_BIT : _BALLOON_REPORTING_BIT + 1] == "1"
        ):
            found.append("virtio-balloon free page reporting")
            break
    kdamonds = sysfs / "kernel" / "mm" / "damon" / "admin" / "kdamonds"
    for kd in sorted(kdamonds.glob("[0-9]*")) if kdamonds.is_dir() else []:
        try:
            running = (kd / "state").read_text().strip() == "on"
            actions = {a.read_text().strip() for a in kd.glob("contexts/*/schemes/*/action")}
        except OSError:
            continue
        if running and "pageout" in actions:
            found.append("DAMON pageout")
            break
    return found


def memory_reclaim_note(found: list[str]) -> str:
    """The run's note for :func:`memory_reclaim`'s findings."""
    return (
        f"this machine takes memory back from running processes ({', '.join(found)}); "
        "a run that meets pages the host has taken back waits for them, which is not steal "
        "time: compare medians, and distrust a single slow run"
    )


def machine_info(*, measure_aes: bool = True) -> dict[str, Any]:
    """The header facts (see the module essay). ``measure_aes=False`` skips the one-second
    ``openssl speed`` run and records ``aes_gcm_mb_s`` as None."""
    return {
        "cpu_model": cpu_model(),
        "cores": os.cpu_count(),
        "kernel": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        # which build: a default source build runs a request ~1.5x slower than a PGO one
        "python_executable": os.path.realpath(sys.executable),
        "openssl": ssl.OPENSSL_VERSION,
        "glusterfs": glusterfs_version(),
        "fio": fio_version(),
        "gfrpc": gfrpc.__version__,
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "aes_gcm_mb_s": aes_gcm_rate() if measure_aes else None,
        "memory_reclaim": memory_reclaim(),
    }
