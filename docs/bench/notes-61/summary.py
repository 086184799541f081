"""Print the bench tables of Performance notes 61 from the JSON beside this script.

Tags: o = the tree before, n = the tree after (see scripts/abrun.sh for which commits).
Usage: python summary.py [DIR]   (DIR holds the sub-directories, default: beside this file)
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


def rows(sub):
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
            key = (r["workload"], r["phase"], "tls" if r["tls"] else "plain", tag[0])
            out[key].append((tag, r, ref))
    return out


def show(title, table, value, fmt=".2f"):
    print(f"\n{title}")
    for k, v in sorted(table.items()):
        vals = [value(r, ref) for _, r, ref in v]
        cells = " ".join(f"{t}:{x:{fmt}}" for (t, _, _), x in zip(v, vals))
        print(f"  {' '.join(k)}: {cells} | median {statistics.median(vals):{fmt}}")


for sub in sys.argv[2:] or ["smallfile"]:
    if not runs(sub):
        continue
    t = rows(sub)
    show(f"{sub}: rate / glusterfsd x2", t, lambda r, ref: r["ratio_to_reference"])
    show(
        f"{sub}: brick CPU per op, us",
        t,
        lambda r, ref: r["server_cpu_us_per_op"],
        ".0f",
    )
    show(
        f"{sub}: brick CPU per op / glusterfsd x2's",
        t,
        lambda r, ref: r["server_cpu_us_per_op"] / ref["server_cpu_us_per_op"],
    )
