"""Print the tables of Performance notes 60 from the JSON and text beside this script.

Tags: o = the tree before (fc7bf5e), n = the lone-request path; in parts/, n = as it lands
and x = with the out-queue's part limit switched off (scripts/noparts-switch.diff).
"""

import glob
import json
import re
import statistics
import sys
from collections import defaultdict
from pathlib import Path

HERE = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent


def runs(sub):
    files = glob.glob(str(HERE / sub / "*.json"))
    return sorted(files, key=lambda f: int(re.sub(r"\D", "", Path(f).stem)))


def rows(sub, key):
    out = defaultdict(list)
    for f in runs(sub):
        tag = Path(f).stem
        res = json.load(open(f))["results"]
        for r in res:
            if r["server"] != "gfrpc":
                continue
            ref = [
                x
                for x in res
                if x["server"] == "glusterfsd"
                and x["workload"] == r["workload"]
                and x["phase"] == r["phase"]
                and x["tls"] == r["tls"]
            ][0]
            out[key(r) + (tag[0],)].append((tag, r, ref))
    return out


def show(title, table, value):
    print(f"\n{title}")
    for k, v in sorted(table.items()):
        vals = [value(r, ref) for _, r, ref in v]
        cells = " ".join(f"{t}:{x:.2f}" for (t, _, _), x in zip(v, vals))
        print(f"  {k}: {cells} | median {statistics.median(vals):.2f}")


sf = rows("smallfile", lambda r: (r["phase"], "tls" if r["tls"] else "plain"))
show("smallfile, files/s / glusterfsd x2", sf, lambda r, ref: r["ratio_to_reference"])
show(
    "smallfile, brick CPU per file / glusterfsd x2's",
    sf,
    lambda r, ref: r["server_cpu_us_per_op"] / ref["server_cpu_us_per_op"],
)
st = rows("stat", lambda r: ("stat", "tls" if r["tls"] else "plain"))
show("stat (gfrpc's client), brick CPU per STAT, us", st, lambda r, ref: r["server_cpu_us_per_op"])
show(
    "stat, brick CPU per STAT / glusterfsd x2's",
    st,
    lambda r, ref: r["server_cpu_us_per_op"] / ref["server_cpu_us_per_op"],
)
show("fio TLS seq-read/seq-write, MB/s / glusterfsd x2", rows("seq", lambda r: (r["workload"],)),
     lambda r, ref: r["ratio_to_reference"])
show("fio seq-write/seq-read without TLS, MB/s / glusterfsd x2", rows("seq-plain", lambda r: (r["workload"],)),
     lambda r, ref: r["ratio_to_reference"])
show("fio TLS seq-read, part limit on (n) / off (x)", rows("parts", lambda r: (r["workload"],)),
     lambda r, ref: r["ratio_to_reference"])

print("\ntools/poller-bytecodes --cpu -n 3000 (us of the poller thread's CPU per request)")
for name in ("round1.txt", "round2-tls.txt"):
    d = defaultdict(list)
    for line in open(HERE / "cpu" / name):
        tree, phase, tls, rest = line.split(" ", 3)
        d[(phase, tls, tree)].append(float(re.search(r": ([\d.]+) us", rest).group(1)))
    for phase in ("stat", "read", "create"):
        for tls in ("plain", "--tls"):
            old, new = d.get((phase, tls, "old")), d.get((phase, tls, "wt"))
            if old and new:
                mo, mn = statistics.median(old), statistics.median(new)
                print(f"  {name} {phase:6} {tls:6} before {mo:6.1f} after {mn:6.1f} ({mn / mo - 1:+.0%})")
