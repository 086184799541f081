"""Every notes-68 run of `sharded` x2 at 6 TLS connections, by code path: A's (A, and T, whose
threshold of eight others never lets a part go whole among six) against H's (whole beside four)."""
import json, pathlib, statistics
here = pathlib.Path(__file__).parent
runs = {"A's code (A, T)": [], "H (beside four)": []}
for d in ("threshold", "threshold3", "beside-8"):
    for p in sorted((here / d).glob("*.json")):
        tree = p.stem.split("-")[1]
        for r in json.loads(p.read_text())["rows"]:
            if r["kind"] == "sharded" and r["connections"] == 6:
                runs["H (beside four)" if tree == "H" else "A's code (A, T)"].append(r["mbps_ratio"])
for name, v in runs.items():
    print(f"{name}: {len(v)} runs, median {statistics.median(v):.2f}, "
          f"{min(v):.2f}-{max(v):.2f}, above 0.92: {sum(x > 0.92 for x in v)}")
