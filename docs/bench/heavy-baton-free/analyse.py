import json, glob, sys, statistics as st, collections
pat = sys.argv[1]
res = collections.defaultdict(lambda: collections.defaultdict(list))
for f in sorted(glob.glob(pat)):
    arm = f.rsplit('-', 1)[1].split('.')[0]
    d = json.load(open(f))
    rows = d['results']
    ref = {(r['workload'], r['tls']): r['value'] for r in rows if r['server'] == 'glusterfsd' and r['client'] == 'fio' and r.get('event_threads') == 2}
    for r in rows:
        if r['server'] == 'glusterfsd':
            continue
        key = (r['workload'], 'TLS on ' if r['tls'] else 'TLS off', r['client'] + '->' + (r.get('poller') or ''))
        res[key][arm].append((r['value'] / ref[(r['workload'], r['tls'])], r['value'], r.get('server_cpu_s_per_gb') or 0))
for key in sorted(res, key=str):
    print(" ".join(key))
    for arm in sorted(res[key]):
        v = res[key][arm]
        print(f"   {arm:9s} ratio to fio->glusterfsd " + "/".join(f"{x[0]:.2f}" for x in v) + f"  med {st.median(x[0] for x in v):.2f}  MB/s med {st.median(x[1] for x in v):.0f}  srv cpu/GB med {st.median(x[2] for x in v):.2f}")
