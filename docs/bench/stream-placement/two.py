"""Scratch (Performance notes 49): two streams that share one shard of a `sharded` x2 brick.

Four connections each write one 1 MiB record in turn (A, B, C, D), so by the placement rule
A and C land on shard 1 and B and D on the home shard; then only A and C stream 1 MiB
records for SECONDS. Prints MB/s, records per stream and the brick's cores.

    .venv/bin/python two.py sharded|pool SECONDS     (TLSDIR=DIR with brick/ and client/ certs)
"""
import os, re, subprocess, sys, tempfile, threading, time, shutil
from pathlib import Path
poller, secs = sys.argv[1], float(sys.argv[2])
tls = os.environ.get("TLSDIR")
d = Path(tempfile.mkdtemp(dir="/dev/shm")); (d / "b").mkdir(); log = d / "log"
cmd = [sys.executable, "-m", "gfrpc.cli", "brick", "--dir", str(d / "b"), "--port", "0", "--host", "127.0.0.1",
       "--volname", "mx", "--poller", poller, "--event-threads", "2"]
if tls: cmd += ["--tls", "--tls-dir", tls + "/brick"]
proc = subprocess.Popen(cmd, stderr=open(log, "w"))
for _ in range(200):
    m = re.search(r"ready on 127\.0\.0\.1:(\d+)", log.read_text())
    if m: break
    time.sleep(0.05)
port = int(m.group(1))
from gfrpc.client import Volume
vols = [Volume.connect_brick("127.0.0.1", port, str(d / "b"), "mx", timeout=30, tls=(tls + "/client" if tls else None)) for _ in range(4)]
files = [v.open(f"/f{i}", "wb", buffering=0) for i, v in enumerate(vols)]
rec = memoryview(bytes(1 << 20))
for f in files:
    f.pwrite(rec, 0)
def cpu():
    f = open(f"/proc/{proc.pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
counts = [0, 0]
end = time.monotonic() + secs
def run(k, f):
    off = 0
    while time.monotonic() < end:
        f.pwrite(rec, off); off = (off + len(rec)) % (32 << 20); counts[k] += 1
c0 = cpu(); t0 = time.monotonic()
ths = [threading.Thread(target=run, args=(k, files[i])) for k, i in enumerate((0, 2))]
for t in ths: t.start()
for t in ths: t.join()
el = time.monotonic() - t0; c1 = cpu()
for f in files: f.close()
for v in vols: v.close()
proc.terminate(); proc.wait(); shutil.rmtree(d)
print(f"{poller} XREB={os.environ.get('XREB','-')} MB/s {sum(counts)*1.048576/el:7.0f} per-stream {counts} brick cores {(c1-c0)/el:.2f}")
