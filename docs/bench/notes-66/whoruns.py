# Sample every process's CPU (utime+stime, all threads) every 0.2 s; over the intervals where the
# machine was busy (idle < 25 %), sum CPU by command name. Usage: whoruns.py OUT STOPFILE
import os,sys,time,collections,json
HZ=os.sysconf('SC_CLK_TCK')
def procs():
    r={}
    for d in os.listdir('/proc'):
        if not d.isdigit(): continue
        try:
            s=open(f'/proc/{d}/stat').read()
            comm=s[s.index('(')+1:s.rindex(')')]
            f=s[s.rindex(')')+2:].split()
            r[int(d)]=(comm,int(f[11])+int(f[12]))
        except (OSError,ValueError): pass
    return r
def stat():
    f=[int(x) for x in open('/proc/stat').readline().split()[1:]]
    return sum(f), f[3]+f[4], f[5]+f[6]
out,stop=sys.argv[1],sys.argv[2]
names={}; agg=collections.Counter(); busy_t=0.0; nint=0; irq=0
p0=procs(); s0=stat()
while not os.path.exists(stop):
    time.sleep(0.2)
    p1=procs(); s1=stat()
    tot=s1[0]-s0[0]; idle=s1[1]-s0[1]
    if tot and idle/tot<0.25:
        nint+=1; busy_t+=(tot-idle)/HZ; irq+=(s1[2]-s0[2])/HZ
        for pid,(c,t) in p1.items():
            if pid in p0: 
                d=t-p0[pid][1]
                if d>0:
                    c2 = 'fio' if c.startswith('fio') else c
                    if c2 in ('gfrpc','python3','python'):
                        if pid not in names:
                            try: names[pid]=c2+':'+' '.join(open(f'/proc/{pid}/cmdline').read().split('\0')[1:4])
                            except (OSError,IndexError): names[pid]=c2
                        c2=names[pid]
                    agg[c2]+=d/HZ
    p0,s0=p1,s1
json.dump({'busy_intervals':nint,'busy_cpu_s':busy_t,'irq_softirq_s':irq,'by_comm':agg.most_common(40)},open(out,'w'),indent=1)
