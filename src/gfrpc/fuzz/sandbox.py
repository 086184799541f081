"""The server under test: a ``gfrpc brick`` or ``gfrpc mgmtd`` subprocess in a private sandbox.

Theory of operation. The campaign must prove two things about the server besides "it did not
die": it answers a fresh client afterwards, and it wrote nothing outside its own directory
(a path like ``../x`` or an absolute symlink target that slipped through would show up there).
The sandbox is one temporary directory::

    work/
      server.log            the server's stderr (its log)
      sandbox/cwd/          the server's working directory (empty)
      sandbox/brick/        the brick directory (for mgmtd: unused)
      sandbox/canary/       a small tree of files nobody may touch
      sandbox/tmp/          the server's /tmp (see below)

``snapshot()`` records every path under ``sandbox/`` except the brick directory (name, type,
size, mode, mtime); any difference from the first snapshot is a write outside the brick.
When we are root and ``unshare`` exists, the server runs in a private mount namespace where the
brick directory is a size-capped tmpfs (so ``FALLOCATE`` of a fuzzed length cannot fill the
real disk) and ``sandbox/tmp`` is bind-mounted over ``/tmp`` (so a file the server creates in
/tmp lands in the snapshot instead of among other processes' files); the sandbox itself then
lives in /var/tmp, which that bind mount does not hide (unless gfrpc or its interpreter is
itself below /tmp, as in a checkout there: /tmp is then left visible). The namespace and its
mounts disappear with the process; nothing is left mounted.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = ["ServerProcess", "Sandbox", "snapshot"]

_READY = re.compile(r"ready on (\S+):(\d+)")
_NS_SCRIPT = (
    'set -e; mount -t tmpfs -o size="$1" fz-brick "$2"; '
    'if [ "$3" != - ]; then mount --bind "$3" /tmp; fi; cd "$4"; shift 4; exec "$@"'
)


def _code_under_tmp() -> bool:
    """True when the interpreter or gfrpc itself lives below /tmp (a checkout there, as CI's
    may be): hiding /tmp would hide the server's own code, so /tmp is then left as it is."""
    import gfrpc

    places = (sys.prefix, os.path.realpath(sys.executable), os.path.dirname(gfrpc.__file__))
    return any(os.path.realpath(p).startswith("/tmp/") for p in places)


def snapshot(root: Path, skip: Path) -> dict[str, tuple[int, int, int, int]]:
    """``{relative path: (type bits, size, mode, mtime_ns)}`` under ``root``, minus ``skip``."""
    out: dict[str, tuple[int, int, int, int]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        if here == skip:
            dirnames[:] = []
            continue
        for name in (*dirnames, *filenames):
            p = here / name
            if p == skip:
                continue
            st = p.lstat()
            size = st.st_size if not p.is_dir() else 0
            out[str(p.relative_to(root))] = (
                st.st_mode >> 12,
                size,
                st.st_mode & 0o7777,
                st.st_mtime_ns if not p.is_dir() else 0,
            )
    return out


class Sandbox:
    """The temporary directories of one campaign (see the module docstring)."""

    def __init__(self, base: str | None = None) -> None:
        self.work = Path(tempfile.mkdtemp(prefix="gfrpc-fuzz-", dir=base))
        self.root = self.work / "sandbox"
        self.cwd, self.brick, self.canary, self.tmp = (
            self.root / n for n in ("cwd", "brick", "canary", "tmp")
        )
        for d in (self.cwd, self.brick, self.canary / "sub", self.tmp):
            d.mkdir(parents=True)
        (self.canary / "canary.txt").write_text("do not touch\n")
        (self.canary / "sub" / "deep.txt").write_text("nor this\n")
        (self.work / "certs").mkdir()
        self.baseline = snapshot(self.root, self.brick)

    def changes(self) -> list[str]:
        """Paths outside the brick directory that appeared, vanished or changed."""
        now = snapshot(self.root, self.brick)
        diff = sorted(set(now) ^ set(self.baseline))
        diff += sorted(k for k in set(now) & set(self.baseline) if now[k] != self.baseline[k])
        return diff

    def remove(self) -> None:
        shutil.rmtree(self.work, ignore_errors=True)


def sandbox_base(isolate: bool) -> str | None:
    """Where the sandbox goes: not below /tmp when /tmp is to be replaced for the server."""
    return "/var/tmp" if isolate and os.path.isdir("/var/tmp") else None


def can_isolate() -> bool:
    return os.geteuid() == 0 and shutil.which("unshare") is not None and sys.platform == "linux"


class ServerProcess:
    """A gfrpc server subprocess; ``start()`` waits for its "ready on HOST:PORT" log line."""

    def __init__(
        self,
        sandbox: Sandbox,
        args: Sequence[str],
        *,
        isolate: bool,
        tmpfs_mb: int = 1024,
        nice: int = 0,
    ) -> None:
        self.sandbox = sandbox
        self.args = list(args)
        self.isolate = isolate
        self.tmpfs_mb = tmpfs_mb
        self.nice = nice
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.log_path = sandbox.work / "server.log"
        self._log_offset = 0

    def argv(self) -> list[str]:
        cmd = [sys.executable, "-m", "gfrpc.cli", *self.args]
        if not self.isolate:
            return cmd
        s = self.sandbox
        return [
            "unshare",
            "-m",
            "--propagation",
            "private",
            "sh",
            "-c",
            _NS_SCRIPT,
            "fz",
            f"{self.tmpfs_mb}m",
            str(s.brick),
            "-" if _code_under_tmp() else str(s.tmp),
            str(s.cwd),
            *cmd,
        ]

    def start(self, timeout: float = 60.0) -> int:
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        try:
            self.proc = subprocess.Popen(
                self.argv(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=env,
                cwd=self.sandbox.cwd,
                preexec_fn=(lambda: os.nice(self.nice)) if self.nice else None,
            )
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = _READY.search(self.log_text())
            if match:
                self.port = int(match.group(2))
                return self.port
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"server did not become ready: {self.tail()}")

    def log_text(self) -> str:
        with open(self.log_path, "rb") as f:
            f.seek(self._log_offset)
            return f.read().decode("utf-8", "replace")

    def tail(self, lines: int = 15) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM and wait; returns the exit status (None if it had to be killed)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return None
        return self.proc.returncode
