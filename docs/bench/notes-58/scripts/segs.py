"""Per phase (segments of the timeline split at gaps over 1 s, of at least 4 rows: the create
pass, the read pass and what follows, in that order): the poller thread's CPU share, run-queue wait share,
voluntary and involuntary switches per second, averaged over the segment's 0.2 s rows."""
import json, sys, subprocess
for f in sys.argv[1:]:
    out = subprocess.run([sys.executable, "/tmp/s/timeline.py", f], capture_output=True, text=True).stdout
    rows = []
    for line in out.splitlines():
        p = line.split()
        rows.append((float(p[0][:-1]), float(p[2]), float(p[4]), float(p[8]), float(p[10])))
    segs, cur = [], []
    for r in rows:
        if cur and r[0] - cur[-1][0] > 1.0:
            segs.append(cur); cur = []
        cur.append(r)
    if cur: segs.append(cur)
    segs = [s for s in segs if len(s) >= 4]
    names = ["create", "read", "after"]
    txt = []
    for name, s in zip(names, segs):
        n = len(s)
        txt.append(f"{name}: cpu {sum(r[1] for r in s)/n:.2f} wait {sum(r[2] for r in s)/n:.2f} vol/s {sum(r[3] for r in s)/n:5.0f} invol/s {sum(r[4] for r in s)/n:5.0f} ({n} rows)")
    d = json.load(open(f.replace(".jsonl", ".json")))
    rates = {r["phase"]: round(r["value"]) for r in d["results"]}
    print(f.split("/")[-1], rates, " | ".join(txt))
