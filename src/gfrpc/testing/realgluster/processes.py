"""Processes and files of a real GlusterFS: run a command with a time limit, stop a pid we
started (SIGTERM, grace, SIGKILL), read pid files, find who listens on a port, tail logs.

Only ever pids this kit started are stopped: never by name.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from gfrpc.testing.realgluster.base import CLI_TIMEOUT, STOP_GRACE


def run(
    argv: Sequence[str],
    *,
    timeout: float = CLI_TIMEOUT,
    check: bool = False,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """subprocess.run with a timeout always set and text output captured."""
    return subprocess.run(
        list(argv), capture_output=True, text=True, timeout=timeout, check=check, input=input
    )


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie is not alive for our purposes
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def stop_processes_naming(path: str | Path, *, program: str = "glusterfs") -> None:
    """Stop (by pid) every process whose program name starts with ``program`` and whose
    command line mentions ``path``: what a test's private tree started and left behind."""
    text = str(path)
    for pid in [int(p) for p in os.listdir("/proc") if p.isdigit()]:
        args = cmdline(pid)
        if args and Path(args[0]).name.startswith(program) and any(text in a for a in args):
            stop_pid(pid)


def stop_pid(
    pid: int, *, popen: subprocess.Popen[bytes] | None = None, grace: float = STOP_GRACE
) -> None:
    """SIGTERM, wait up to ``grace`` seconds, then SIGKILL. Only ever called on our own pids."""
    if popen is not None and popen.poll() is not None:
        return
    if not pid_alive(pid):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if popen is not None:
            if popen.poll() is not None:
                return
        elif not pid_alive(pid):
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    if popen is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            popen.wait(timeout=5)
    else:
        deadline = time.monotonic() + 5
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)


def read_pidfile(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
        return int(text) if text else None
    except (OSError, ValueError):
        return None


def listener_pids(port: int) -> list[tuple[int, str]]:
    """(pid, command) of processes listening on TCP ``port`` (via ``ss``; [] if unknown)."""
    if not shutil.which("ss"):
        return []
    try:
        out = run(["ss", "-Hltnp", f"sport = :{port}"], timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    found = []
    for part in out.split("pid=")[1:]:
        digits = part.split(",", 1)[0]
        if digits.isdigit():
            found.append((int(digits), " ".join(cmdline(int(digits)))[:200]))
    return found


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def tail(path: Path, lines: int = 40) -> str:
    try:
        with open(path, errors="replace") as f:
            data = f.readlines()
    except OSError as e:
        return f"(cannot read: {e.strerror})"
    return "".join(data[-lines:])


def collect_logs(paths: Sequence[Path], lines: int = 40) -> str:
    """Tails of the given GlusterFS logs, formatted for a failure message."""
    parts = []
    for p in paths:
        parts.append(f"----- {p} (last {lines} lines) -----\n{tail(p, lines).rstrip()}")
    return "\n".join(parts)
