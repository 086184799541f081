# Notes 67: one-cell bench JSON (gfrpc -> gfrpc), one line per run, then medians per tree. Usage: single-cell.py GLOB
import json,glob,os,sys,statistics as st
pat=sys.argv[1] if len(sys.argv)>1 else '/tmp/s/sl-*.json'
rows={}
for f in sorted(glob.glob(pat),key=lambda f: int(os.path.basename(f).split('-')[2].split('.')[0])):
    t=os.path.basename(f).split('-')[1]
    d=json.load(open(f))
    for r in d['results']:
        gb=r['value']  # MB/s
        print(os.path.basename(f), r['client'], r['server'], round(r['value']), 'cli CPU-s', r.get('client_cpu_s'), 'srv s/GB', r.get('server_cpu_s_per_gb'), 'busy', r.get('client_busy_cores'), r.get('server_busy_cores'))
        rows.setdefault((t,r['client'],r['server']),[]).append((r['value'],r.get('client_cpu_s'),r.get('server_cpu_s_per_gb')))
for k,v in sorted(rows.items()):
    print(k, 'MB/s median', round(st.median(x[0] for x in v)), 'cli CPU median', st.median(x[1] for x in v), 'srv s/GB median', st.median(x[2] for x in v))
