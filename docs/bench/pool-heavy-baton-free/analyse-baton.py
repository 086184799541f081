import json, glob, sys, statistics as st, collections
res = collections.defaultdict(list)
for f in sorted(glob.glob(sys.argv[1])):
    arm = f.rsplit('-', 1)[1].split('.')[0]
    rows = json.load(open(f))['results']
    ref = [r for r in rows if r['server'] == 'glusterfsd'][0]
    for r in rows:
        if r['server'] == 'glusterfsd': continue
        res[(arm, r.get('baton'))].append((r['value']/ref['value'], r['value'], r['server_cpu_s_per_gb']))
for k in sorted(res, key=str):
    v = res[k]
    print(k, "/".join(f"{x[0]:.2f}" for x in v), f"med {st.median(x[0] for x in v):.2f} MB/s {st.median(x[1] for x in v):.0f} s/GB {st.median(x[2] for x in v):.2f}")
