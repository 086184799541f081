"""Per-writer fairness: W streaming writers on one brick; the spread of their record counts."""
import os, re, shutil, signal, statistics, subprocess, sys, tempfile, time
from pathlib import Path
poller, writers, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
py = "/work/main/.venv/bin/python"
d = Path(tempfile.mkdtemp(dir="/dev/shm/s14fair"))
(d / "b").mkdir()
log = open(d / "brick.log", "w")
brick = subprocess.Popen([py, "-m", "gfrpc.cli", "brick", "--dir", str(d / "b"), "--port", "0", "--host", "127.0.0.1",
    "--volname", "mx", "--poller", poller, "--event-threads", "2", *os.environ.get("XARGS","").split(), "--max-connections", "4096"], env=dict(os.environ, PYTHONPATH=os.environ.get("SRC","/work/main/src")), stdout=log, stderr=subprocess.STDOUT)
port = None
for _ in range(200):
    m = re.search(r"ready on 127\.0\.0\.1:(\d+)", (d / "brick.log").read_text())
    if m: port = m.group(1); break
    time.sleep(0.05)
W = r'''
import sys, threading, time
from gfrpc.client import Volume
port, brick, writers, seconds = sys.argv[1:5]
writers, seconds = int(writers), float(seconds)
vols = [Volume.connect_brick("127.0.0.1", int(port), brick, "mx") for _ in range(writers)]
files = [v.open(f"/w{i}", "wb", buffering=0) for i, v in enumerate(vols)]
record = memoryview(bytes(1 << 20))
counts = [0] * writers
worst = [0.0] * writers
start = threading.Barrier(writers + 1)
def run(i):
    f, off = files[i], 0
    start.wait()
    while time.monotonic() < end:
        t = time.monotonic()
        f.pwrite(record, off)
        worst[i] = max(worst[i], time.monotonic() - t)
        off = (off + len(record)) % (8 << 20)
        counts[i] += 1
threads = [threading.Thread(target=run, args=(i,)) for i in range(writers)]
for t in threads: t.start()
end = time.monotonic() + seconds
start.wait()
for t in threads: t.join()
print(" ".join(map(str, counts)))
print(" ".join(f"{w:.3f}" for w in worst))
for f, v in zip(files, vols): f.close(); v.close()
'''
env = dict(os.environ, PYTHONPATH=os.environ.get("SRC","/work/main/src"))
out = subprocess.run([py, "-c", W, port, str((d / "b").resolve()), str(writers), str(seconds)], capture_output=True, text=True, env=env)
brick.send_signal(signal.SIGTERM); brick.wait(10)
lines = out.stdout.split("\n")
counts = list(map(int, lines[0].split())); worst = list(map(float, lines[1].split()))
c = sorted(counts)
q = lambda a, p: a[min(len(a) - 1, int(p * len(a)))]
print(" ".join(map(str, c[:15])))
print(f"{poller:8} W={writers} MB/s={sum(counts)*1.048576/seconds:7.0f} records/writer min {c[0]} p10 {q(c,.1)} med {q(c,.5)} p90 {q(c,.9)} max {c[-1]}  worst call med {statistics.median(worst):.3f} max {max(worst):.3f}")
if out.stderr.strip(): print(out.stderr[-500:])
print(open(d / "brick.log").read().count("DBG spread"), open(d / "brick.log").read().count("DBG settle")); import collections; print(collections.Counter(l.split("heavy")[0][-12:] for l in open(d / "brick.log") if "DBG" in l).most_common(3)); shutil.copy(d / "brick.log", "/tmp/s14/fair-brick.log"); shutil.rmtree(d)
