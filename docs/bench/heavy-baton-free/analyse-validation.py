import json, glob, sys, statistics as st, collections
res = collections.defaultdict(lambda: collections.defaultdict(list))
for f in sorted(glob.glob(sys.argv[1])):
    arm = f.rsplit('-', 1)[1].split('.')[0]
    rows = json.load(open(f))['results']
    ref = {(r['workload'], r.get('phase'), r['tls']): r for r in rows if r['server'] == 'glusterfsd' and r['client'] == 'fio'}
    for r in rows:
        if r['server'] == 'glusterfsd':
            continue
        k = (r['workload'], r.get('phase'), r['tls'])
        if k not in ref: continue
        rf = ref[k]
        cpu = (r.get('server_cpu_us_per_op') or 0) / (rf.get('server_cpu_us_per_op') or 1) if r['workload']=='smallfile' else (r.get('server_cpu_s_per_gb') or 0)
        key = (r['workload'], r.get('phase') or '', 'TLS on ' if r['tls'] else 'TLS off', r['client'])
        res[key][arm].append((r['value'] / rf['value'], r['value'], cpu))
for key in sorted(res, key=str):
    print(" ".join(key))
    for arm in sorted(res[key]):
        v = res[key][arm]
        print(f"   {arm:5s} ratio " + "/".join(f"{x[0]:.2f}" for x in v) + f"  med {st.median(x[0] for x in v):.2f}  value med {st.median(x[1] for x in v):.0f}  cpu(ratio or s/GB) med {st.median(x[2] for x in v):.2f}")
