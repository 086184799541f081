# Notes 66: the even-out rounds, each row over fio -> glusterfsd x2 in the same run.
# Rows over fio -> glusterfsd x2 in the same run, per tree (A: as it is, B: even-out), in run
# order; and the shape of the job runtimes: max over median (the tail), and the gap between the
# 12th and 13th fastest jobs over the median (a split in two groups of twelve).
import glob,json,re,statistics as st,sys
d0=sys.argv[1] if len(sys.argv)>1 else 'even-out'
for t in ('A','B'):
    files=sorted(glob.glob(f'{d0}/eo-{t}-*.json'), key=lambda f:int(re.findall(r'-(\d+)\.json$',f)[0]))
    rat=[];tails={'gfrpc':[],'glusterfsd':[]};gaps={'gfrpc':[],'glusterfsd':[]}
    for f in files:
        d=json.load(open(f)); R={r['server']:r for r in d['results']}
        rat.append(R['gfrpc']['value']/R['glusterfsd']['value'])
        for s,r in R.items():
            for e in r['evidence']:
                j=sorted(e['job_runtimes_ms']); m=st.median(j)
                tails[s].append(j[-1]/m); gaps[s].append((j[12]-j[11])/m)
    print(t, 'ratio', ' '.join('%.2f'%x for x in rat), '| median %.2f'%st.median(rat) if rat else '')
    for s in tails:
        if tails[s]: print('   %-10s tail max/median: median %.3f   12|13 gap/median: median %.3f max %.3f'%(s, st.median(tails[s]), st.median(gaps[s]), max(gaps[s])))
