# Notes 66: each row's rate over fio -> glusterfsd x2's (same workload, phase and TLS) in the same
# run, for the runs of one process (PREFIX-1-*.json) and of two (PREFIX-2-*.json), in run order;
# with the medians of the server's CPU (us per file, or s per GB; and over glusterfsd x2's) and
# of its busy cores. Usage: python3 ratios.py two-processes/mp
import glob
import json
import re
import statistics as st
import sys

for arm in ("1", "2"):
    rows = {}
    files = sorted(
        glob.glob(f"{sys.argv[1]}-{arm}-*.json"),
        key=lambda f: int(re.findall(r"-(\d+)\.json$", f)[0]),
    )
    for f in files:
        d = json.load(open(f))
        ref = {
            (r["workload"], r["phase"], r["tls"]): r
            for r in d["results"]
            if r["client"] == "fio" and r["server"] == "glusterfsd" and r["event_threads"] == 2
        }
        for r in d["results"]:
            rf = ref[(r["workload"], r["phase"], r["tls"])]
            key = "server_cpu_us_per_op" if r["unit"] == "ops/s" else "server_cpu_s_per_gb"
            cpu, cref = r.get(key), rf.get(key)
            k = (r["workload"], r["phase"] or "", r["client"], r["server"], r["event_threads"])
            rows.setdefault(k, []).append(
                (r["value"] / rf["value"], cpu or 0, cpu / cref if cpu and cref else 0,
                 r["server_busy_cores"] or 0)
            )
    print(f"{'one process' if arm == '1' else 'two processes'}:", " ".join(f.split("/")[-1] for f in files))
    for k, v in rows.items():
        print(
            "  %-44s" % " ".join(str(x) for x in k),
            " ".join("%.2f" % x[0] for x in v),
            "| median %.2f" % st.median(x[0] for x in v),
            "| server CPU %.2f (%.2fx) busy %.2f"
            % (st.median(x[1] for x in v), st.median(x[2] for x in v), st.median(x[3] for x in v)),
        )
