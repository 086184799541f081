# Mean fio completion latency by write index (0 = each job's first 1 MiB write), from fio --write_lat_log
# files (fio-latency-log.diff); usage: python3 write-index.py DIR...
import glob,collections,statistics as st,sys
for d in sys.argv[1:]:
    groups=collections.defaultdict(list)
    for f in glob.glob(d+'/*_clat.*.log'):
        tag=f.split('/')[-1].split('_clat')[0]
        rows=[l.split(',') for l in open(f)]
        groups[tag].append([int(r[1])/1e6 for r in rows])
    for tag,jobs in sorted(groups.items()):
        allv=sorted(v for j in jobs for v in j)
        print(d[-7:], tag[:22], 'mean %.1f'%st.mean(allv), ' '.join('%d:%.0f'%(i,st.mean(j[i] for j in jobs)) for i in range(6)), 'rest %.1f'%st.mean(v for j in jobs for v in j[6:]))
