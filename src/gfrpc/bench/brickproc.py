"""gfrpc's own daemons (``python -m gfrpc.cli brick|mgmtd ...``) as child processes.

:class:`Daemon` starts one with its log in a file, and ``wait_ready()`` waits for the daemon's
own "ready on HOST:PORT" line (there is nothing else to wait on) and gives the port; ``stop()``
stops it by its pid. :class:`GfrpcBrick` is a brick on 127.0.0.1 and a free port, ready when
constructed. The children find this source tree through PYTHONPATH, so they run the same code
as the caller also from a checkout that is not installed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from gfrpc.errors import GfrpcError
from gfrpc.testing.realgluster import stop_pid, tail

HOST = "127.0.0.1"
_READY = re.compile(r"ready on (\S+):(\d+)")


class DaemonError(GfrpcError):
    """A daemon we started did not come up (the message holds its log's tail)."""


def child_env() -> dict[str, str]:
    """This environment with this source tree first on PYTHONPATH."""
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[2])
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != src]
    env["PYTHONPATH"] = os.pathsep.join([src, *paths])
    return env


class Daemon:
    """``python -m gfrpc.cli ARGS`` with its log in ``log``; ``wait_ready()`` gives its port."""

    def __init__(self, args: list[str], log: Path) -> None:
        self.args, self.log = args, log
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gfrpc.cli", *args],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=child_env(),
                start_new_session=True,
            )
        self.pid = self.proc.pid
        self.port = 0

    def wait_ready(self, deadline: float) -> int:
        """The port from the daemon's ready line; DaemonError if it exits or ``deadline``
        (time.monotonic()) passes first."""
        while not self.port:
            m = _READY.search(self.log.read_text(errors="replace"))
            if m:
                self.port = int(m.group(2))
            elif self.proc.poll() is not None or time.monotonic() > deadline:
                why = "exited" if self.proc.poll() is not None else "is not ready in time"
                raise DaemonError(
                    f"`gfrpc {self.args[0]}` {why}; {self.log}:\n" + tail(self.log, 15)
                )
            else:
                time.sleep(0.05)
        return self.port

    def stop(self) -> None:
        stop_pid(self.pid, popen=self.proc)


def brick_args(
    directory: Path,
    host: str,
    volname: str,
    poller: str,
    event_threads: int,
    tls_dir: Path | None,
    *extra: str,
) -> list[str]:
    """``gfrpc brick`` arguments for ``directory`` on ``host`` and a free port; ``tls_dir``:
    the brick's TLS identity (None: no TLS); ``extra``: more flags."""
    args = ["brick", "--dir", str(directory), "--port", "0", "--host", host]
    args += ["--volname", volname, "--poller", poller, "--event-threads", str(event_threads)]
    args += extra
    if tls_dir is not None:
        args += ["--tls", "--tls-dir", str(tls_dir)]
    return args


class GfrpcBrick(Daemon):
    """A gfrpc brick on ``directory``, 127.0.0.1 and a free port, ready once constructed."""

    def __init__(
        self,
        directory: Path,
        *,
        volname: str,
        tls_dir: Path | None,
        poller: str = "pool",
        event_threads: int = 2,
        timeout: float = 30.0,
    ) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.dir, self.volname, self.tls = directory, volname, tls_dir is not None
        args = brick_args(directory, HOST, volname, poller, event_threads, tls_dir)
        super().__init__(args, directory.parent / f"{directory.name}.log")
        try:
            self.wait_ready(time.monotonic() + timeout)
        except BaseException:
            self.stop()
            raise

    def connect(self, tls: Any, poller: Any) -> Any:
        from gfrpc.client.volume import Volume

        return Volume.connect_brick(
            HOST,
            self.port,
            str(self.dir.resolve()),
            self.volname,
            tls=tls,
            poller=poller,
            timeout=30,
        )
