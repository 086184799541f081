"""Scratch (Performance notes 49): N streams at once into one gfrpc brick, per-call times.

Each of N threads of this process has its own connection (Volume.connect_brick); released by
one barrier, each opens a new file, writes 4 records of 1 MiB and closes it, as a point of
`gfrpc bench --sweep-connections` does. Prints the wall time, the brick's CPU, and per call
(open, w1..w4, close) the duration's p50/p99/max and when the calls ended; the JSON keeps
every (start, end) pair.

    TMPDIR=/dev/shm .venv/bin/python burst.py sharded|pool|single 1000 out.json
    MODE=opens|writes (open only; or files opened before the barrier)
    SHARDLOG=FILE: start the brick through brickwrap.py (shard loads and thread CPU, 4/s)
"""
import json, os, re, subprocess, sys, tempfile, threading, time, statistics
from pathlib import Path
poller, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
mode = os.environ.get("MODE", "all")
extra = sys.argv[4:]
d = Path(tempfile.mkdtemp(dir="/dev/shm"))
(d / "b").mkdir()
log = d / "log"
cmd = [sys.executable] + (["/tmp/s15/brickwrap.py"] if os.environ.get("SHARDLOG") else ["-m", "gfrpc.cli"]) + ["brick", "--dir", str(d / "b"), "--port", "0", "--host", "127.0.0.1",
       "--volname", "mx", "--poller", poller, "--event-threads", "2"] + extra
proc = subprocess.Popen(cmd, stderr=open(log, "w"))
for _ in range(200):
    m = re.search(r"ready on 127\.0\.0\.1:(\d+)", log.read_text())
    if m: break
    time.sleep(0.05)
port = int(m.group(1))
from gfrpc.client import Volume
from concurrent.futures import ThreadPoolExecutor
with ThreadPoolExecutor(4) as ex:
    vols = list(ex.map(lambda i: Volume.connect_brick("127.0.0.1", port, str(d / "b"), "mx", timeout=30), range(n)))
rec = bytes(1 << 20)
bar = threading.Barrier(n + 1)
res = [None] * n
pre = [vols[i].open(f"/f{i}", "wb", buffering=0) for i in range(n)] if mode == "writes" else None
def run(i):
    bar.wait()
    c = time.perf_counter
    t = []
    t0 = c(); f = pre[i] if pre else vols[i].open(f"/f{i}", "wb", buffering=0); t.append((t0, c()))
    for _ in range(4 if mode != "opens" else 0):
        t0 = c(); f.write(rec); t.append((t0, c()))
    while len(t) < 5: t.append((t[-1][1], t[-1][1]))
    t0 = c(); f.close(); t.append((t0, c()))
    res[i] = t
ths = [threading.Thread(target=run, args=(i,)) for i in range(n)]
for t in ths: t.start()
def cpu():
    f = open(f"/proc/{proc.pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
C0 = cpu()
T0 = time.perf_counter(); bar.wait()
for t in ths: t.join()
T1 = time.perf_counter()
C1 = cpu()
for v in vols: v.close()
proc.terminate(); proc.wait()
import shutil; shutil.rmtree(d)
json.dump({"T0": T0, "T1": T1, "res": res}, open(out, "w"))
print(poller, "wall %.2f s brick cpu %.2f s" % (T1 - T0, C1 - C0))
allw = sorted(b - a for r in res for (a, b) in r[1:5])
q = lambda v, p: v[min(len(v) - 1, int(p * len(v)))]
print(" writes p50 %.0f p99 %.0f max %.0f ms" % (q(allw, .5) * 1e3, q(allw, .99) * 1e3, allw[-1] * 1e3))
for k, name in enumerate(["open", "w1", "w2", "w3", "w4", "close"]):
    v = sorted(r[k][1] - r[k][0] for r in res)
    e = sorted(r[k][1] - T0 for r in res)
    print(f" {name:5s} dur p50 {q(v,.5)*1e3:6.0f} p99 {q(v,.99)*1e3:6.0f} max {v[-1]*1e3:6.0f} | end-time p50 {q(e,.5)*1e3:6.0f} max {e[-1]*1e3:6.0f}")
