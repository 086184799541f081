import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
# poller = thread with max cpu at end
last = recs[-1]["threads"]
tid = max(last, key=lambda t: last[t][0])
prev = None
rows = []
for r in recs:
    th = r["threads"].get(tid)
    if th is None: continue
    if prev is not None and r["t"] - prev[0] >= 0.2:
        dt = r["t"] - prev[0]
        d = [a - b for a, b in zip(th, prev[1])]
        if d[0] > 0.05 * dt * 1e9:
            rows.append((r["t"], d[0]/dt/1e9, d[1]/dt/1e9, d[2]/dt, d[3]/dt, d[4]/dt))
        prev = (r["t"], th)
    elif prev is None:
        prev = (r["t"], th)
t0 = rows[0][0] if rows else 0
for t, cpu, wait, sl, v, nv in rows:
    print(f"{t-t0:6.2f}s cpu {cpu:.2f} wait {wait:.2f} slices/s {sl:7.0f} vol/s {v:7.0f} invol/s {nv:6.0f}")
