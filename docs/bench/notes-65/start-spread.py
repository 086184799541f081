# Each job's start, the spread of the starts and MB/s two ways (bytes over the longest job, and over
# the first start to the last end), from fio --write_lat_log --log_unix_epoch=1 files; usage: python3 start-spread.py DIR
import glob,collections,statistics as st,sys,json
d=sys.argv[1]
groups=collections.defaultdict(list)
for f in glob.glob(d+'/*_clat.*.log'):
    tag=f.split('/')[-1].split('_clat')[0]
    rows=[l.split(',') for l in open(f)]
    r=[(int(x[0]),int(x[1])/1e6) for x in rows]  # completion time ms epoch, latency ms
    groups[tag].append(r)
for tag,jobs in sorted(groups.items()):
    starts=[j[0][0]-j[0][1] for j in jobs]   # submission of write 0
    ends=[j[-1][0] for j in jobs]
    t0=min(starts)
    runt=[e-s for s,e in zip(starts,ends)]
    total=sum(len(j) for j in jobs)*1048576
    print('%-40s start spread %4.0f ms  job runtime max %5.0f med %5.0f  wall(first start..last end) %5.0f   MB/s by max-job %4.0f  by wall %4.0f'%(tag[:40], max(starts)-t0, max(runt), st.median(runt), max(ends)-t0, total/max(runt)/1e3, total/(max(ends)-t0)/1e3))
