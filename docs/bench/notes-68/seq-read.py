"""seq-read/ (notes 68): fio's TLS seq-read into sharded x2 over fio -> glusterfsd x2 in the same
run, A (b8aad09) against K (ad3f072); MB/s of both, the brick's CPU per GB and fio's CPU."""
import json, pathlib, statistics, collections
by = collections.defaultdict(list)
for p in sorted(pathlib.Path(__file__).with_name("seq-read").glob("*.json"), key=lambda p: int(p.stem.split("-")[0])):
    rows = json.loads(p.read_text())["results"]
    ref = next(r for r in rows if r["server"] == "glusterfsd")
    me = next(r for r in rows if r["server"] == "gfrpc")
    t = p.stem.split("-")[1]
    ratio = me["value"] / ref["value"]
    by[t].append(ratio)
    print(f"{p.stem:4} {ratio:.2f}x  brick {me['value']:.0f} MB/s ({me['server_cpu_s_per_gb']:.2f} s/GB, fio {me['client_cpu_s']:.2f} s)"
          f"  glusterfsd {ref['value']:.0f} ({ref['server_cpu_s_per_gb']:.2f} s/GB, fio {ref['client_cpu_s']:.2f} s)")
for t, v in by.items():
    print(t, f"median {statistics.median(v):.2f}x")
