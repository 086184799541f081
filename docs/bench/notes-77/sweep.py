"""The gfrpc rows of the sweep JSON files in sweep/ (or the directory given), in run order."""
import glob, json, os, sys
here = os.path.dirname(os.path.abspath(__file__))
where = sys.argv[1] if len(sys.argv) > 1 else f"{here}/sweep"
for f in sorted(glob.glob(f"{where}/*.json"), key=lambda x: x.rsplit("-", 1)[-1]):
    d = json.load(open(f))
    for r in d["results"]:
        if r["server"] != "gfrpc":
            continue
        runs = " / ".join(f"{v:.0f}" for v in r["runs"] if v is not None)
        lat = r.get("latency_ms") or {}
        print(f"{os.path.basename(f):18} {r['poller']:8} x{r['event_threads']}: {r['value']:5.0f} MB/s ({runs}), "
              f"p50 / p99 / max {lat.get('p50', 0):5.0f} / {lat.get('p99', 0):5.0f} / {lat.get('max', 0):5.0f} ms, "
              f"server RSS {r.get('server_rss_mb')} MB")
