# Ratios of each row to fio -> glusterfsd x2 in the same run, over the bench JSONs given by a glob
# (usage: python3 ratios.py "rounds/r-*.json"); also medians of the client CPU, brick CPU per GB and p99.
import json,sys,statistics as st,glob
rows={}
for f in sorted(glob.glob(sys.argv[1])):
    d=json.load(open(f))
    ref={}
    for r in d['results']:
        if r['server']=='glusterfsd' and r['client']=='fio': ref[(r['workload'],r['tls'])]=r
    for r in d['results']:
        k=(r['client'],r['server'],r['tls'])
        rf=ref.get((r['workload'],r['tls']))
        rows.setdefault(k,[]).append((r['value']/rf['value'], r['client_cpu_s'], r['server_cpu_s'], r['server_cpu_s_per_gb'], r['latency_ms']['p99'] if r['latency_ms'] else 0))
for k,v in rows.items():
    print(k, 'ratio', ' '.join('%.2f'%x[0] for x in v), 'median %.2f'%st.median(x[0] for x in v), '| cli cpu med %.2f srv cpu/GB med %.2f p99 med %.0f'%(st.median(x[1] for x in v), st.median(x[3] for x in v), st.median(x[4] for x in v)))
