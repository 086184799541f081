"""seed-beside-8/ (notes 68): gfrpc's client -> sharded x2, TLS, 24 x 32 MiB; per run the MB/s,
the client's CPU-s for the run's 768 MiB and the brick's CPU-s per GB; medians per tree."""
import json, pathlib, statistics, collections
by = collections.defaultdict(list)
for p in sorted(pathlib.Path(__file__).with_name("seed-beside-8").glob("*.json"), key=lambda p: int(p.stem.split("-")[0])):
    r = json.loads(p.read_text())["results"][0]
    t = p.stem.split("-")[1]
    by[t].append((r["value"], r["client_cpu_s"], r["server_cpu_s_per_gb"]))
    print(f"{p.stem:5} {r['value']:6.0f} MB/s  client {r['client_cpu_s']:.3f} s  brick {r['server_cpu_s_per_gb']:.2f} s/GB")
for t, v in by.items():
    print(t, "medians:", " ".join(f"{statistics.median(x[i] for x in v):.3f}" for i in range(3)))
