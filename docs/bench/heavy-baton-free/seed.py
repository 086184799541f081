"""Scratch: the seed workload (24 streams x SIZE MiB, 1 MiB writes, own connection each), gfrpc client -> gfrpc brick.
   python seed.py POLLER THREADS SIZE_MIB [tls]"""
import os, re, subprocess, sys, tempfile, threading, time, shutil, resource
from pathlib import Path
poller, nth, size = sys.argv[1], sys.argv[2], int(sys.argv[3]); tls = len(sys.argv) > 4 and sys.argv[4] == "tls"
T = "/tmp/s16"
d = Path(tempfile.mkdtemp(dir="/dev/shm")); (d / "b").mkdir(); log = d / "log"
cmd = [sys.executable, "-m", "gfrpc.cli", "brick", "--dir", str(d / "b"), "--port", "0", "--host", "127.0.0.1",
       "--volname", "mx", "--poller", poller, "--event-threads", nth]
if tls: cmd += ["--tls", "--tls-dir", T + "/brick"]
proc = subprocess.Popen(cmd, stderr=open(log, "w"))
try:
    for _ in range(200):
        m = re.search(r"ready on 127\.0\.0\.1:(\d+)", log.read_text())
        if m: break
        time.sleep(0.05)
    port = int(m.group(1))
    from gfrpc.client import Volume
    from gfrpc.client.volume import tls_context
    ctx = tls_context(T + "/client") if tls else None
    N = 24
    vols = [Volume.connect_brick("127.0.0.1", port, str(d / "b"), "mx", timeout=30, tls=ctx) for _ in range(N)]
    files = [v.open(f"/f{i}", "wb", buffering=0) for i, v in enumerate(vols)]
    rec = memoryview(bytes(1 << 20))
    def cpu():
        f = open(f"/proc/{proc.pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
    bar = threading.Barrier(N + 1)
    def run(f):
        bar.wait()
        for i in range(size):
            f.pwrite(rec, i << 20)
    ths = [threading.Thread(target=run, args=(f,)) for f in files]
    for t in ths: t.start()
    r0 = resource.getrusage(resource.RUSAGE_SELF); c0 = cpu(); t0 = time.monotonic()
    bar.wait()
    for t in ths: t.join()
    el = time.monotonic() - t0; c1 = cpu(); r1 = resource.getrusage(resource.RUSAGE_SELF)
    cl = (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
    gb = N * size / 1024
    for f in files: f.close()
    for v in vols: v.close()
    print(f"{poller}x{nth} tls={tls} MB/s {N*size*1.048576/el:7.0f}  client {cl/el:.2f} cores {cl/gb:.2f} s/GB  brick {(c1-c0)/el:.2f} cores {(c1-c0)/gb:.2f} s/GB", flush=True)
finally:
    proc.terminate(); proc.wait(); shutil.rmtree(d)
