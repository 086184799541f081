"""The gfrpc rows of the sweep JSON files in this directory, in run order."""
import glob, json, os
here = os.path.dirname(os.path.abspath(__file__))
for f in sorted(glob.glob(f"{here}/sweep/*.json"), key=lambda x: x.rsplit("-", 1)[-1]):
    d = json.load(open(f))
    for r in d["results"]:
        if r["server"] != "gfrpc":
            continue
        runs = " / ".join(f"{v:.0f}" for v in r["runs"] if v is not None)
        lat = r.get("latency_ms") or {}
        print(f"{os.path.basename(f):18} {r['poller']:8} x{r['event_threads']}: {r['value']:5.0f} MB/s ({runs}), "
              f"p99 {lat.get('p99', 0):6.0f} ms, server RSS {r.get('server_rss_mb')} MB")
