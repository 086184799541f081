"""A ``gfrpc mgmtd --workdir`` that a test can restart (SIGTERM or ``kill -9``), the stock
``gluster`` CLI pointed at its socket, the gfrpc brick processes of a directory (read from
``/proc``), and client scripts run with GlusterFS's default TLS files in a private mount
namespace.

GlusterFS's FUSE client, gfapi and glusterfsd read their TLS identity from the default TLS
directory (Debian: ``/usr/lib/ssl/glusterfs.{pem,key,ca}``). :func:`client_script` bind-mounts a
copy of that directory holding the test's identity over it, inside ``unshare --mount``: nothing
outside the namespace sees the files. Unlike ``gfrpc_daemons_support.run_client_script`` it
does not turn management TLS on (no ``secure-access``): mgmtd's port 24007 stays plain, as
``client.ssl``/``server.ssl`` only cover the I/O connections.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from gfrpc_daemons_support import default_ssl_dir, run, wait_for_log

from gfrpc.services.mgmt.brick_args import flag_value
from gfrpc.testing import need
from gfrpc.testing.realgluster import cmdline, stop_pid, stop_processes_naming


class Mgmtd:
    """``python -m gfrpc.cli mgmtd --workdir W`` on ``host:24007``, restartable; one log file
    for all its lives (each start waits for one more "ready" line)."""

    def __init__(self, workdir: Path, host: str, *extra: str) -> None:
        self.workdir, self.host, self.extra = workdir, host, extra
        self.log = workdir.parent / "mgmtd.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        argv = [sys.executable, "-m", "gfrpc.cli", "mgmtd", "--workdir", str(self.workdir)]
        argv += ["--host", self.host, "--poller", "single", *self.extra]
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        self.starts += 1
        wait_for_log(self.log, rf"mgmtd ready on {re.escape(self.host)}:", self.proc, self.starts)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Send ``sig``; its exit status."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(5)

    @property
    def socket(self) -> Path:
        return self.workdir / "glusterd.socket"

    def gluster(self, *args: str, cli_log: Path | None = None) -> tuple[int, str]:
        """The stock CLI against this daemon (script mode); exit status and output."""
        log = cli_log or self.workdir.parent / "cli.log"
        argv = ["gluster", f"--glusterd-sock={self.socket}", f"--log-file={log}"]
        r = run([*argv, "--mode=script", *args], timeout=90)
        return r.returncode, r.stdout + r.stderr

    def check(self, *args: str) -> str:
        """The stock CLI, which must succeed; its output."""
        code, out = self.gluster(*args)
        assert code == 0, f"gluster {' '.join(args)} -> {code}: {out}\n{self.tail()}"
        return out

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def brick_processes(root: Path) -> dict[str, list[int]]:
    """Running ``gfrpc brick`` processes serving a directory under ``root``: path -> pids."""
    found: dict[str, list[int]] = {}
    for pid in sorted(int(p) for p in os.listdir("/proc") if p.isdigit()):
        argv = cmdline(pid)
        served = flag_value(argv, "--dir")
        if "brick" in argv and served and Path(served).is_relative_to(root):
            found.setdefault(os.path.normpath(served), []).append(pid)
    return found


def stop_bricks(root: Path) -> None:
    """Stop by pid every brick process left serving a directory under ``root`` (ours)."""
    for pids in brick_processes(root).values():
        for pid in pids:
            stop_pid(pid)


def client_script(
    tmp: Path, body: str, tls_files: Path | None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``body`` (bash, ``set -euo pipefail``). With ``tls_files`` (a directory holding
    glusterfs.pem/.key/.ca) it runs in a private mount namespace whose default TLS directory
    holds that identity. Any glusterfs client left with an argument under ``tmp`` is stopped
    by pid afterwards."""
    tmp.mkdir(parents=True, exist_ok=True)
    script = tmp / "client.sh"
    lines = ["set -euo pipefail"]
    argv = ["bash", str(script)]
    if tls_files is not None:
        need(shutil.which("unshare"), "unshare (util-linux) is not installed")
        ssl_dir = default_ssl_dir()
        overlay = tmp / "ssl-overlay"
        overlay.mkdir(exist_ok=True)
        for entry in ssl_dir.iterdir() if ssl_dir.is_dir() else []:
            target = entry.resolve()  # keep openssl.cnf, certs/ (they point elsewhere)
            link = overlay / entry.name
            if not entry.name.startswith("glusterfs.") and not target.is_relative_to(ssl_dir):
                if not link.exists():
                    link.symlink_to(target)
        for name in ("glusterfs.pem", "glusterfs.key", "glusterfs.ca"):
            shutil.copy(tls_files / name, overlay / name)
        lines.append(f"mount --bind {overlay} {ssl_dir}")
        argv = ["unshare", "--mount", "--propagation", "private", *argv]
    script.write_text("\n".join([*lines, body, ""]))
    try:
        return run(argv, timeout=timeout)
    finally:
        stop_processes_naming(tmp)


def fail_with(what: str, r: subprocess.CompletedProcess[str], *logs: Path) -> None:
    """Fail the test with a command's output and the tails of ``logs``."""
    tails = []
    for p in logs:
        try:
            tails.append(f"--- {p}\n" + "\n".join(p.read_text(errors="replace").splitlines()[-25:]))
        except OSError:
            tails.append(f"--- {p}: (none)")
    pytest.fail(f"{what} ({r.returncode}):\n{r.stdout}\n{r.stderr}\n" + "\n".join(tails))
