"""A gfrpc brick (``python -m gfrpc.cli brick``) as a child process, for benchmarks.

It binds 127.0.0.1 on a free port, logs to ``<dir>.log`` beside its directory, and is ready
when its log says so; ``stop()`` stops it by its pid.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from gfrpc.bench import realgluster_support as rg

HOST = "127.0.0.1"


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
