# Notes 67: bench-transport JSON, the MB/s ratio to bare sockets per poller and connection count, per tree. Usage: transport.py GLOB
import json,glob,os,sys,statistics as st
agg={}
for f in sorted(glob.glob(sys.argv[1]),key=lambda f: int(os.path.basename(f).split('-')[2].split('.')[0])):
    t=os.path.basename(f).split('-')[1]
    d=json.load(open(f))
    for r in d['rows']:
        p=r.get('poller') or r['kind']; c=r['connections']
        agg.setdefault((t,p,c),[]).append((r['mb_per_s'],r['cpu_s_per_gb'],r.get('mbps_ratio')))
for k,v in sorted(agg.items(), key=lambda kv:(kv[0][2],kv[0][1],kv[0][0])):
    print(k, 'ratio', [round(x[2],2) for x in v], 'median %.2f'%st.median(x[2] for x in v), 'MB/s', [round(x[0]) for x in v], 'CPU/GB', [round(x[1],2) for x in v])
