"""gfrpc daemons in subprocesses for the interop tests, and real GlusterFS clients run the
way a user runs them (plain, or with management TLS in a private mount namespace).

``gfrpc_brick`` and ``gfrpc_mgmtd`` start ``python -m gfrpc.cli brick|mgmtd`` so the test's own
GIL never stalls them, wait for their "ready" log line and stop them with SIGTERM (their pid
is ours). ``run_client_script`` runs a bash script as a GlusterFS client would run; see its
docstring for TLS.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from gfrpc.testing import need
from gfrpc.testing.realgluster import stop_processes_naming


@dataclass
class GfrpcBrick:
    proc: subprocess.Popen[bytes]
    port: int
    path: Path
    log: Path

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no brick log)"


@contextmanager
def gfrpc_brick(
    workdir: Path,
    poller: str,
    *extra: str,
    host: str = "127.0.0.1",
    port: int = 0,
    name: str = "brick",
    volname: str = "fusetest",
) -> Iterator[GfrpcBrick]:
    """``gfrpc brick`` of directory ``workdir/name`` in a subprocess; yields once its "ready
    on HOST:PORT" line is logged."""
    brick = workdir / name
    brick.mkdir()
    log = workdir / f"{name}.log"
    argv = [
        sys.executable,
        "-m",
        "gfrpc.cli",
        "brick",
        "--dir",
        str(brick),
        "--port",
        str(port),
        "--host",
        host,
        "--volname",
        volname,
        "--poller",
        poller,
        *extra,
    ]
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    try:
        deadline = time.monotonic() + 20
        port = 0
        while not port:
            m = re.search(rf"ready on {re.escape(host)}:(\d+)", log.read_text(errors="replace"))
            if m:
                port = int(m.group(1))
            elif proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"gfrpc brick did not start:\n{log.read_text(errors='replace')}")
            else:
                time.sleep(0.05)
        yield GfrpcBrick(proc, port, brick, log)
    finally:
        stop_process(proc)


@contextmanager
def gfrpc_mgmtd(
    workdir: Path, *args: str, host: str = "127.0.0.2", port: int = 24007
) -> Iterator[GfrpcBrick]:
    """``gfrpc mgmtd`` in a subprocess (its ``path`` is ``workdir``); yields once ready."""
    log = workdir / "mgmtd.log"
    argv = [
        sys.executable,
        "-m",
        "gfrpc.cli",
        "mgmtd",
        "--host",
        host,
        "--port",
        str(port),
        "--poller",
        "single",
        *args,
    ]
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    try:
        wait_for_log(log, rf"mgmtd ready on {re.escape(host)}:", proc)
        yield GfrpcBrick(proc, port, workdir, log)
    finally:
        stop_process(proc)


def wait_for_log(
    log: Path, pattern: str, proc: subprocess.Popen[bytes], count: int = 1, timeout: float = 20
) -> None:
    """Wait until ``pattern`` is in ``log`` ``count`` times (a daemon's own report of what
    it did; there is nothing else to wait on from another process)."""
    deadline = time.monotonic() + timeout
    while len(re.findall(pattern, log.read_text(errors="replace"))) < count:
        if proc.poll() is not None or time.monotonic() > deadline:
            pytest.fail(
                f"{pattern!r} not logged {count} time(s):\n{log.read_text(errors='replace')}"
            )
        time.sleep(0.05)


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def run(argv: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


VOLFILE_HOST = "127.0.0.2"  # loopback, but not the address the harness's glusterd binds
SECURE_ACCESS_DIR = Path("/var/lib/glusterd")  # management TLS is on when secure-access is here


def default_ssl_dir() -> Path:
    """Where this GlusterFS build reads glusterfs.pem/.key/.ca when no option names them
    (Debian: /usr/lib/ssl; upstream: /etc/ssl), read from its socket transport."""
    candidates = sorted(Path("/usr/lib").glob("*/glusterfs/*/rpc-transport/socket.so"))
    need(bool(candidates), "GlusterFS's socket transport (rpc-transport/socket.so) not found")
    m = re.search(rb"(/[\w./-]+)/glusterfs\.pem\x00", candidates[0].read_bytes())
    need(m is not None, f"no default glusterfs.pem path in {candidates[0]}")
    assert m is not None
    return Path(m.group(1).decode())


def run_client_script(
    tmp_path: Path, body: str, tls_files: Path | None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``body`` (bash) as a GlusterFS client would run. With TLS it runs in a private
    mount namespace where ``/var/lib/glusterd/secure-access`` exists (management TLS on) and
    the default TLS directory holds the client identity ``tls_files``: nothing outside the
    namespace sees either. Any glusterfs process left with a mount point under ``tmp_path``
    is stopped by pid afterwards."""
    script = tmp_path / "client.sh"
    lines = ["set -euo pipefail"]
    if tls_files is not None:
        need(shutil.which("unshare"), "unshare (util-linux) is not installed")
        need(SECURE_ACCESS_DIR.is_dir(), f"{SECURE_ACCESS_DIR} does not exist")
        ssl_dir = default_ssl_dir()
        overlay, state = tmp_path / "ssl-overlay", tmp_path / "glusterd-state"
        overlay.mkdir()
        state.mkdir()
        for entry in ssl_dir.iterdir() if ssl_dir.is_dir() else []:
            # keep what points elsewhere (openssl.cnf, certs); the rest is not for GlusterFS
            target = entry.resolve()
            if not entry.name.startswith("glusterfs.") and not target.is_relative_to(ssl_dir):
                (overlay / entry.name).symlink_to(target)
        for name in ("glusterfs.pem", "glusterfs.key", "glusterfs.ca"):
            shutil.copy(tls_files / name, overlay / name)
        (state / "secure-access").touch()
        lines += [f"mount --bind {overlay} {ssl_dir}", f"mount --bind {state} {SECURE_ACCESS_DIR}"]
    script.write_text("\n".join([*lines, body, ""]))
    argv = ["bash", str(script)]
    if tls_files is not None:
        argv = ["unshare", "--mount", "--propagation", "private", *argv]
    try:
        return run(argv, timeout=timeout)
    finally:
        stop_processes_naming(tmp_path)


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no {path})"
