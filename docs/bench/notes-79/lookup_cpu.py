"""What the brick's CPU pays per LOOKUP of the kind a real client sends (xdata naming quick-read's
content and md-cache's and DHT's keys) for a 4 KiB file, answered with its bytes: a brick
process of the tree on PYTHONPATH (``sharded`` x2), one client connection making LOOKUPs one
at a time (as fio's read pass), the brick's utime+stime over N of them. Run from the work tree:

PYTHONPATH=/tmp/s/<tree>/src .venv/bin/python docs/bench/notes-79/lookup_cpu.py [N] [CLIENTS]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../../../tests/services"))
from brick_fops_support import ROOT, FopClient, P  # noqa: E402

from gfrpc.programs import fops as fp  # noqa: E402
from gfrpc.transport import make_poller  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
CLIENTS = int(sys.argv[2]) if len(sys.argv) > 2 else 1
ASKED = {
    "glusterfs.content": 65536,
    "security.capability": b"",
    "security.ima": b"",
    "trusted.glusterfs.dht.linkto": b"",
    "glusterfs.inodelk-dom-count": b"",
}


def cpu(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


with tempfile.TemporaryDirectory(dir="/dev/shm") as d:
    brick = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from gfrpc.cli import main; sys.exit(main())",
            "brick",
            "--dir",
            d,
            "--port",
            "0",
            "--host",
            "127.0.0.1",
            "--poller",
            "sharded",
            "--event-threads",
            "2",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        port = None
        while port is None:
            line = brick.stderr.readline()
            if not line:
                sys.exit("brick exited")
            if " ready on " in line:
                port = int(line.split(" ready on ")[1].split(",")[0].rsplit(":", 1)[1])
        threading.Thread(target=brick.stderr.read, daemon=True).start()  # its log, unread
        poller = make_poller("single")
        poller.start()
        clients = [FopClient(f"127.0.0.1:{port}", poller, d) for _ in range(CLIENTS)]
        for c in clients:
            c.setvolume()
        r = clients[0].create(ROOT, "f")
        clients[0].write(bytes(r.stat.ia_gfid), r.fd, 0, b"x" * 4096)
        clients[0].release(bytes(r.stat.ia_gfid), r.fd)
        req = fp.GfxLookupReq(pargfid=ROOT, bname="f", xdata=ASKED)
        assert "glusterfs.content" in (clients[0].call(P.LOOKUP, req).xdata or {})

        def run(c: FopClient) -> None:
            for _ in range(N // CLIENTS):
                c.call(P.LOOKUP, req)

        before, t = cpu(brick.pid), time.perf_counter()
        threads = [threading.Thread(target=run, args=(c,)) for c in clients]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        used, wall = cpu(brick.pid) - before, time.perf_counter() - t
        print(f"{N} LOOKUPs: brick CPU {used / N * 1e6:.1f} µs each, {N / wall:.0f}/s")
        for c in clients:
            c.close()
        poller.stop()
    finally:
        brick.terminate()
        brick.wait()
