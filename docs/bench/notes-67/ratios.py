# Notes 67: each seq-write bench JSON given, one line per run (the ratios are MB/s over fio -> glusterfsd x2 in the same run), then medians per tree. Usage: ratios.py GLOB
import json,glob,os,sys,statistics as st
pat=sys.argv[1]
agg={}
for f in sorted(glob.glob(pat),key=lambda f: int(os.path.basename(f).split('-')[2].split('.')[0])):
    t=os.path.basename(f).split('-')[1]
    d=json.load(open(f))
    R={(r['client'],r['server']):r for r in d['results']}
    ref=R[('fio','glusterfsd')]['value']
    line=[os.path.basename(f)]
    for k in [('gfrpc','gfrpc'),('fio','gfrpc'),('gfrpc','glusterfsd')]:
        r=R[k]; ratio=r['value']/ref
        agg.setdefault((t,k),[]).append((ratio,r['client_cpu_s'],r['server_cpu_s_per_gb']))
        line.append('%s->%s %.2f (cli %.2f srv/GB %.2f)'%(k[0],k[1],ratio,r['client_cpu_s'],r['server_cpu_s_per_gb']))
    line.append('ref %d MB/s cli %.2f'%(ref,R[('fio','glusterfsd')]['client_cpu_s']))
    print('  '.join(line))
for (t,k),v in sorted(agg.items()):
    print(t,k,'ratio median %.2f'%st.median(x[0] for x in v),'values',' '.join('%.2f'%x[0] for x in v),'cli CPU median %.2f'%st.median(x[1] for x in v),'srv/GB %.2f'%st.median(x[2] for x in v))
