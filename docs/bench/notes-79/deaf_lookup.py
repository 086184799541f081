"""What peers that never read can make a brick hold with LOOKUPs of a real client's kind: a brick
process of the tree on PYTHONPATH (``sharded`` x2, default limits), a 64 KiB file, and DEAF
connections (8 KiB receive windows) that pass SETVOLUME, then pipeline CALLS LOOKUPs each that
ask for the file's bytes (quick-read's content key) and read nothing. Prints the brick's RSS
before, once every connection has sent its calls, and once it stopped growing, and how long an
honest client's LOOKUP then takes. Run from the work tree:

PYTHONPATH=/tmp/s/<tree>/src .venv/bin/python docs/bench/notes-79/deaf_lookup.py DEAF CALLS
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../../../tests/services"))
from brick_fops_support import ROOT, FopClient, P, setvolume_params  # noqa: E402

from gfrpc.programs import fops as fp  # noqa: E402
from gfrpc.programs import handshake as hs  # noqa: E402
from gfrpc.transport import make_poller  # noqa: E402
from gfrpc.wire import rpcmsg  # noqa: E402
from gfrpc.wire.gfdict import encode_serialized_dict  # noqa: E402
from gfrpc.wire.record import record_mark  # noqa: E402

DEAF = int(sys.argv[1]) if len(sys.argv) > 1 else 200
CALLS = int(sys.argv[2]) if len(sys.argv) > 2 else 64
ASKED = {
    "glusterfs.content": 65536,
    "security.capability": b"",
    "trusted.glusterfs.dht.linkto": b"",
}


def rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) >> 10
    return 0


def record(xid: int, prog: int, vers: int, proc: int, args: bytes) -> bytes:
    body = rpcmsg.encode_call(xid, prog, vers, proc) + args
    return record_mark(len(body)) + body


def read_record(s: socket.socket) -> bytes:
    def exactly(n: int) -> bytes:
        out = b""
        while len(out) < n:
            chunk = s.recv(n - len(out))
            if not chunk:
                raise ConnectionError("closed")
            out += chunk
        return out

    return exactly(int.from_bytes(exactly(4), "big") & 0x7FFFFFFF)


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
        honest = FopClient(f"127.0.0.1:{port}", poller, d)
        honest.setvolume()
        r = honest.create(ROOT, "f")
        honest.write(bytes(r.stat.ia_gfid), r.fd, 0, os.urandom(65536))
        honest.release(bytes(r.stat.ia_gfid), r.fd)
        lookup = fp.GfxLookupReq(pargfid=ROOT, bname="f", xdata=ASKED)
        assert "glusterfs.content" in (honest.call(P.LOOKUP, lookup).xdata or {})
        setvolume = hs.GfSetvolumeReq(dict=encode_serialized_dict(setvolume_params(d))).pack()
        lookups = b"".join(
            record(2 + i, fp.GLUSTER_FOP_PROGRAM, fp.GLUSTER_FOP_VERSION, P.LOOKUP, lookup.pack())
            for i in range(CALLS)
        )
        print(f"brick RSS at start: {rss(brick.pid)} MiB")
        deaf = []
        t0 = time.monotonic()
        for _ in range(DEAF):
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
            s.connect(("127.0.0.1", port))
            s.sendall(record(1, hs.GF_HNDSK_PROGRAM, hs.GF_HNDSK_VERSION, hs.SETVOLUME, setvolume))
            read_record(s)
            s.settimeout(5)
            s.sendall(lookups)
            deaf.append(s)
            if len(deaf) % 100 == 0:
                print(f"  {len(deaf)} connected, brick RSS {rss(brick.pid)} MiB", flush=True)
        print(
            f"{DEAF} deaf connections x {CALLS} LOOKUPs sent in {time.monotonic() - t0:.1f} s:"
            f" brick RSS {rss(brick.pid)} MiB"
        )
        last, stable = -1, 0
        while stable < 3:
            time.sleep(1)
            now = rss(brick.pid)
            stable = stable + 1 if abs(now - last) < 4 else 0
            last = now
        t = time.monotonic()
        honest.call(P.LOOKUP, lookup)
        took = (time.monotonic() - t) * 1e3
        print(f"settled: brick RSS {last} MiB; an honest LOOKUP took {took:.1f} ms")
        for s in deaf:
            s.close()
        honest.close()
        poller.stop()
    finally:
        brick.terminate()
        brick.wait()
